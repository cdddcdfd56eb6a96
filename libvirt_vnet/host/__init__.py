"""The host engine: the kernel side of a topology (VLAN devices, bridges, veth links,
bridge-port flags, the macvlan shim, SR-IOV VFs).  It knows only the plumbing contract
(:mod:`libvirt_vnet.model.plumbing`), never topologies, drivers or libvirt.

Modules, importing one way:

- :mod:`.snapshot` — what the kernel has, read once (sysfs, or netlink through
  :mod:`.netlink`); plain frozen data.
- :mod:`.actions` — small frozen actions; each describes itself, assesses itself against
  a snapshot, applies itself through a :class:`~.actions.Kernel` and leaves undo
  records that teardown replays.
- :mod:`.planner` — host objects of the plumbing contract → ordered list of actions.
- :mod:`.state` — undo records, holders (reference counts) and the write-ahead
  journal under ``/run/libvirt-vnet``, behind one file lock.
- :mod:`.executor` — plan (dry run), apply (skip satisfied, roll back on failure,
  verify with a bounded poll) and destroy.
- :mod:`.netlink` — the only module that imports pyroute2.
"""
