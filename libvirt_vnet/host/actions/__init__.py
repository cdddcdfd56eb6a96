"""Small frozen host actions: each describes itself, assesses itself against one kernel
snapshot (``assess``), applies itself through a :class:`Kernel`, and leaves undo records.

An action never decides policy (names, MACs, which bridge): the planner gives it fully
decided values.  ``assess`` answers with a :class:`Verdict` — ``=`` satisfied, ``+``
create, ``~`` change, ``?`` cannot tell from this snapshot (sysfs) — or raises
:class:`~libvirt_vnet.errors.ConflictError` when the host holds something incompatible
that vnet must not replace.  ``apply`` records the undo of every kernel change *before*
making it (write-ahead), so a crash at any point leaves records that restore the host.

Undo records are plain JSON dicts (they are persisted):

- ``{"op": "delete", "name", "kind", "mark"}`` — delete the link if it still carries
  ``mark`` (or no mark at all: killed between create and marking);
- ``{"op": "set", "name", "attrs"}`` — link attributes back (``master: null`` frees it);
- ``{"op": "port", "name", "attrs"}`` — bridge-port flags back;
- ``{"op": "vf", "pf", "vf", "attrs"}`` — VF settings back;
- ``{"op": "numvfs", "pf", "count"}`` — the PF's VF count back.

Modules: :mod:`.base` (the contract), :mod:`.links`, :mod:`.ports`, :mod:`.sriov`, :mod:`.undo`.
None imports pyroute2; :mod:`libvirt_vnet.host.netlink` implements :class:`Kernel`.
"""

from __future__ import annotations

from .base import (
    MARK_PREFIX,
    SATISFIED,
    UNKNOWN,
    Action,
    Kernel,
    NewLink,
    Planned,
    Recorder,
    Undo,
    Verdict,
    guarded,
    owned,
)
from .links import EnsureBridge, EnsureMacvlan, EnsureTap, EnsureVethPair, EnsureVlanLink
from .ports import SetMaster, SetPortFlags
from .sriov import EnsureNumVfs, SetVf
from .undo import check_undo, replay

__all__ = [
    "MARK_PREFIX",
    "SATISFIED",
    "UNKNOWN",
    "Action",
    "EnsureBridge",
    "EnsureMacvlan",
    "EnsureNumVfs",
    "EnsureTap",
    "EnsureVethPair",
    "EnsureVlanLink",
    "Kernel",
    "NewLink",
    "Planned",
    "Recorder",
    "SetMaster",
    "SetPortFlags",
    "SetVf",
    "Undo",
    "Verdict",
    "check_undo",
    "guarded",
    "owned",
    "replay",
]
