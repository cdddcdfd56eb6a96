"""The action contract: :class:`Action`, its :class:`Verdict`, the :class:`Kernel` it applies
itself through, the :class:`Recorder` of write-ahead undo records, and the helpers the
actions share.  See :mod:`libvirt_vnet.host.actions` for the rules every action keeps."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol

from ...errors import ConflictError
from ..snapshot import Link, Snapshot

MARK_PREFIX = "vnet:"
Undo = dict[str, Any]


class Kernel(Protocol):
    """What actions need from the kernel (netlink, plus two sysfs writes)."""

    def snapshot(self, names: Optional[set[str]] = None) -> Snapshot: ...
    def lookup(self, name: str) -> Optional[Link]: ...
    def create(self, name: str, kind: str, **attrs: Any) -> Optional[int]: ...
    def set(self, name: str, **attrs: Any) -> None: ...
    def set_port(self, name: str, **flags: Any) -> None: ...
    def delete(self, name: str) -> None: ...
    def add_address(self, name: str, cidr: str) -> None: ...
    def del_address(self, name: str, cidr: str) -> None: ...
    def set_vf(self, pf: str, vf: int, **attrs: Any) -> None: ...
    def set_numvfs(self, pf: str, count: int) -> None: ...


class Recorder(Protocol):
    """Where ``apply`` writes undo records before each kernel change."""

    def record(self, undo: Undo) -> None: ...
    def cancel(self) -> None: ...


def guarded(rec: Recorder, undo: Undo, change: Callable[[], None]) -> None:
    """Record ``undo``, then make the change.  A create that fails made nothing (and an
    EEXIST means the device is someone else's): its delete record is cancelled.  A failed
    change of attributes may have applied some of them before the failing one (the kernel
    goes attribute by attribute), so its record stays: restoring old values is harmless."""
    rec.record(undo)
    try:
        change()
    except BaseException:
        if undo["op"] == "delete":
            rec.cancel()
        raise


@dataclass(frozen=True)
class Verdict:
    sign: str  # "=", "+", "~", "?"
    detail: str = ""

    @property
    def needed(self) -> bool:
        return self.sign in ("+", "~")


SATISFIED = Verdict("=")
UNKNOWN = Verdict("?")


def owned(link: Link) -> bool:
    return link.alias.startswith(MARK_PREFIX)


def onoff(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def diff_attrs(want: Mapping[str, Any], have: Mapping[str, Any]) -> dict[str, Any]:
    """The wanted attributes that differ (``None`` wanted means "leave as is")."""
    return {k: v for k, v in want.items() if v is not None and have.get(k) != v}


def describe_changes(diff: Mapping[str, Any], have: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {onoff(have.get(k))} → {onoff(v)}" for k, v in diff.items())


class Planned(dict[str, "Action"]):
    """Links that earlier actions of the same plan create (name → creating action)."""

    def mtu(self, name: str, snap: Snapshot) -> Optional[int]:
        act = self.get(name)
        if act is not None:
            return getattr(act, "mtu", None)
        lk = snap.get(name)
        return lk.mtu if lk else None


class Action:
    """Base of all actions.  Subclasses are frozen dataclasses."""

    #: the shared object this action ensures (reference-counted across holders)
    @property
    def key(self) -> str:
        raise NotImplementedError

    @property
    def creates(self) -> Optional[str]:
        """The link this action creates, if any."""
        return None

    #: where in the topology the action comes from (error messages); not part of equality
    origin: str = ""

    def placed(self, origin: str) -> Action:
        """This action, remembering where in the topology it comes from."""
        new: Action = dataclasses.replace(self, origin=origin)  # type: ignore[type-var]
        return new

    def names(self) -> set[str]:
        """Links whose state :meth:`assess` reads."""
        return set()

    def provides(self) -> set[str]:
        """What this action brings into existence (links; ``vfs:<pf>``), for the assessment
        of later actions in the same plan."""
        return {self.creates} if self.creates else set()

    def describe(self) -> str:
        raise NotImplementedError

    def assess(self, snap: Snapshot, planned: Planned) -> Verdict:
        raise NotImplementedError

    def apply(self, kernel: Kernel, snap: Snapshot, rec: Recorder) -> None:
        raise NotImplementedError

    def adopt(self, snap: Snapshot) -> list[Undo]:
        """Undo records for a satisfied object no holder has recorded yet."""
        return []


class NewLink(Action):
    """Base of the actions that create the link ``name`` and mark it with ``mark``."""

    name: str
    mark: str

    @property
    def key(self) -> str:
        return f"link:{self.name}"

    @property
    def creates(self) -> Optional[str]:
        return self.name

    def adopt(self, snap: Snapshot) -> list[Undo]:
        """A link that carries this action's mark was made by vnet (a lost state
        directory, a crash): undo records as if this run had made it."""
        lk = snap.get(self.name)
        if lk is not None and lk.alias == self.mark:
            return [{"op": "delete", "name": lk.name, "kind": lk.kind, "mark": self.mark}]
        return []

    def _create(self, kernel: Kernel, rec: Recorder, kind: str, *, made_as: Optional[str] = None,
                then: Optional[dict[str, Any]] = None, **attrs: Any) -> None:
        """Create the link (``kind`` as the kernel reports it, ``made_as`` as
        :meth:`Kernel.create` takes it), its delete record written first; then mark it.

        The kernel cannot set the ifalias in the creating RTM_NEWLINK (it applies
        IFLA_IFALIAS only to existing links), so a run killed between creating and
        marking leaves an unmarked link.  The creation therefore asks for an interface
        index picked here and written in the delete record first: a rollback deletes an
        unmarked link only when its index is that one — a same-named device the user
        made meanwhile has another, and is left alone."""
        ifindex = new_ifindex()
        undo = {"op": "delete", "name": self.name, "kind": kind, "mark": self.mark, "ifindex": ifindex}
        made: list[Optional[int]] = []
        guarded(rec, undo, lambda: made.append(kernel.create(self.name, made_as or kind, ifindex=ifindex, **attrs)))
        if made and made[0] is not None and made[0] != ifindex:
            # the kernel chose the index (tuntap's ioctl): record the real one before marking
            rec.cancel()
            rec.record({**undo, "ifindex": made[0]})
        kernel.set(self.name, alias=self.mark, **(then or {}))


def new_ifindex() -> int:
    """A random interface index, far above the ones the kernel hands out in order (a
    clash makes the creation fail with EBUSY, which rolls back cleanly)."""
    import secrets

    return (1 << 24) + secrets.randbelow(1 << 30)


def must_not_exist_as_other(lk: Link, kind: str, what: str, hint: str, snap: Optional[Snapshot] = None) -> None:
    """A device of another kind under the wanted name is a conflict.  With a complete
    (netlink) snapshot, no kind at all means a plain device — a physical NIC, ``lo`` —
    which is never of the kind wanted either."""
    if lk.kind is not None and lk.kind != kind:
        raise ConflictError(f"{lk.name} already exists as a {lk.kind} device, not a {kind}", path=what,
                            hint=hint)
    if lk.kind is None and snap is not None and snap.complete:
        raise ConflictError(f"{lk.name} already exists as a plain device (a physical NIC or loopback), "
                            f"not a {kind}", path=what, hint=hint)
