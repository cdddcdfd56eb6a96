"""libvirt's XML: the libvirt-level model (:mod:`libvirt_vnet.model.libvirt`) formatted into
documents and parsed back, strictly.

- :mod:`.network` — ``<network>`` documents; :mod:`.interface` — a domain's
  ``<interface>`` elements and merging them into a domain document;
- :mod:`.metadata` — vnet's own ``<metadata>`` element (the plumbing contract), readable
  with the standard library's ElementTree, which the hooks use;
- :mod:`.common` — pieces both share; :mod:`.skeletons` — the static documents in
  ``xml_templates/`` formatting starts from;
- :mod:`.versions` — which libvirt release introduced each feature (refused, never
  dropped, for an older target); :mod:`.relaxng` — validation against libvirt's schemas.

Formatting is pure and deterministic.  This package never imports the drivers, the
topology reader or the host engine.
"""
