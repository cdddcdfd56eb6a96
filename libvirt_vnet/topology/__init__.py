"""Topology input: the only place where what the user wrote is checked.

A topology document (YAML, or the same structure as Python data) becomes a
:class:`~libvirt_vnet.model.topology.Topology`, or an error naming every problem's place
and how to fix it.  :mod:`.reader` holds the document reader and scalar converters,
:mod:`.parts` the parts in libvirt's vocabulary (DHCP, DNS, VLANs, ...), :mod:`.entries`
one network, host, VM or NIC, :mod:`.consistency` the rules across objects, and
:mod:`.document` the whole document; ``schema.json`` is its JSON Schema for editors.
Nothing here renders XML or touches the host.
"""

from __future__ import annotations

from .document import load, load_file, load_yaml_bytes, load_yaml_text

__all__ = ["load", "load_file", "load_yaml_bytes", "load_yaml_text"]
