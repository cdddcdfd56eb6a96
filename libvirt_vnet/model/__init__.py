"""The model: frozen, typed values that every other part of vnet passes around.

- :mod:`.topology` — what the network engineer drew (hosts, networks, VMs, NICs), as
  checked by :mod:`libvirt_vnet.topology`;
- :mod:`.libvirt` — libvirt's own vocabulary: network and interface definitions that map
  one-to-one onto libvirt's XML;
- :mod:`.plumbing` — the contract between drivers and the host engine: the host objects
  (VLAN devices, bridges, veth links, port flags, VFs) a network or NIC needs, carried in
  vnet's ``<metadata>`` so the hooks can read them;
- :mod:`.names` — naming and addressing rules; :mod:`.derived` — values derived from a
  whole topology (stable NIC MACs, the NICs of each network).

The model imports nothing from the rest of the package, and does no I/O.
"""
