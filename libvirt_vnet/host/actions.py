"""Small frozen host actions: each describes itself, checks itself against one kernel
snapshot, applies itself through a :class:`Kernel`, and leaves undo records.

An action never decides policy (names, MACs, which bridge): the planner gives it fully
decided values.  ``check`` answers with a :class:`Verdict` — ``=`` satisfied, ``+``
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

This module does not import pyroute2; :mod:`.netlink` implements :class:`Kernel`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

from ..errors import ConflictError
from .snapshot import Link, Snapshot, vf_of_pci, vfs_in_use

MARK_PREFIX = "vnet:"
Undo = dict[str, Any]


class Kernel(Protocol):
    """What actions need from the kernel (netlink, plus two sysfs writes)."""

    def snapshot(self, names: Optional[set[str]] = None) -> Snapshot: ...
    def lookup(self, name: str) -> Optional[Link]: ...
    def create(self, name: str, kind: str, **attrs: Any) -> None: ...
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


def _onoff(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _diff(want: Mapping[str, Any], have: Mapping[str, Any]) -> dict[str, Any]:
    """The wanted attributes that differ (``None`` wanted means "leave as is")."""
    return {k: v for k, v in want.items() if v is not None and have.get(k) != v}


def _changes(diff: Mapping[str, Any], have: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {_onoff(have.get(k))} → {_onoff(v)}" for k, v in diff.items())


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
        """Links whose state the check reads."""
        return set()

    def provides(self) -> set[str]:
        """What this action brings into existence (links; ``vfs:<pf>``), for the checks
        of later actions in the same plan."""
        return {self.creates} if self.creates else set()

    def describe(self) -> str:
        raise NotImplementedError

    def check(self, snap: Snapshot, planned: Planned) -> Verdict:
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
        :meth:`Kernel.create` takes it), its delete record written first; then mark it."""
        guarded(rec, {"op": "delete", "name": self.name, "kind": kind, "mark": self.mark},
                lambda: kernel.create(self.name, made_as or kind, **attrs))
        kernel.set(self.name, alias=self.mark, **(then or {}))


def _must_not_exist_as_other(lk: Link, kind: str, what: str, hint: str) -> None:
    if lk.kind is not None and lk.kind != kind:
        raise ConflictError(f"{lk.name} already exists as a {lk.kind} device, not a {kind}", path=what,
                            hint=hint)


@dataclass(frozen=True)
class EnsureVlanLink(NewLink):
    """An 802.1Q VLAN device ``name`` on ``parent`` with id ``vid``."""

    name: str
    parent: str
    vid: int
    mark: str
    mtu: Optional[int] = None
    origin: str = field(default="", compare=False)

    def names(self) -> set[str]:
        return {self.name, self.parent}

    def describe(self) -> str:
        mtu = f", mtu {self.mtu}" if self.mtu else ""
        return f"vlan device {self.name} (parent {self.parent}, id {self.vid}{mtu})"

    def check(self, snap: Snapshot, planned: Planned) -> Verdict:
        parent = snap.get(self.parent)
        if parent is None and self.parent not in planned:
            if not snap.complete:
                return UNKNOWN
            raise ConflictError(f"the uplink {self.parent} of VLAN device {self.name} does not exist on this host",
                                path=self.describe(),
                                hint="fix the network's uplink (or hosts.<host>.uplinks), or create the device")
        parent_mtu = planned.mtu(self.parent, snap)
        if self.mtu and parent_mtu and parent_mtu < self.mtu:
            raise ConflictError(f"VLAN device {self.name} wants MTU {self.mtu} but its uplink {self.parent} "
                                f"has {parent_mtu}", path=self.describe(),
                                hint=f"raise the MTU of {self.parent} first, or lower the network's mtu")
        lk = snap.get(self.name)
        if lk is None:
            return Verdict("+")
        hint = f"delete it or pick another name with vlan_device: (it is not vnet's: {lk.alias or 'no mark'})"
        _must_not_exist_as_other(lk, "vlan", self.describe(), hint)
        if lk.vlan_id is None and lk.kind is None:
            return UNKNOWN
        same_parent = parent is not None and lk.link == parent.index
        if lk.vlan_id != self.vid or not same_parent:
            have_parent = snap.by_index(lk.link)
            raise ConflictError(
                f"VLAN device {self.name} exists with id {lk.vlan_id} on "
                f"{have_parent.name if have_parent else lk.link}; the topology wants id {self.vid} on {self.parent}",
                path=self.describe(),
                hint="the VLAN id and parent of a device cannot change: delete it "
                f"(ip link del {self.name}) if nothing uses it, or name this one differently with vlan_device:")
        diff = _diff({"mtu": self.mtu, "up": True}, {"mtu": lk.mtu, "up": lk.up})
        return Verdict("~", _changes(diff, {"mtu": lk.mtu, "up": lk.up})) if diff else SATISFIED

    def apply(self, kernel: Kernel, snap: Snapshot, rec: Recorder) -> None:
        lk = snap.get(self.name)
        if lk is None:
            self._create(kernel, rec, "vlan", link=self.parent, vlan_id=self.vid, up=True, then={"mtu": self.mtu})
            return
        diff = _diff({"mtu": self.mtu, "up": True}, {"mtu": lk.mtu, "up": lk.up})
        guarded(rec, {"op": "set", "name": self.name, "attrs": {k: getattr(lk, k) for k in diff}},
                lambda: kernel.set(self.name, **diff))


@dataclass(frozen=True)
class EnsureBridge(NewLink):
    """A Linux bridge with a pinned MAC (it never follows its lowest port)."""

    name: str
    mark: str
    mac: Optional[str] = None
    stp: bool = False
    delay: int = 0  # seconds, libvirt's unit
    mtu: Optional[int] = None
    group_fwd_mask: Optional[int] = None
    multicast_snooping: Optional[bool] = None
    origin: str = field(default="", compare=False)

    def names(self) -> set[str]:
        return {self.name}

    def describe(self) -> str:
        delay = f"delay {self.delay}"
        if self.effective_delay != self.delay:
            delay += f" (the kernel's {self.effective_delay} with STP)"
        bits = [f"mac {self.mac}" if self.mac else "mac picked by the kernel", f"stp {_onoff(self.stp)}", delay]
        if self.mtu:
            bits.append(f"mtu {self.mtu}")
        if self.group_fwd_mask is not None:
            bits.append(f"group_fwd_mask {self.group_fwd_mask:#x}")
        if self.multicast_snooping is not None:
            bits.append(f"multicast_snooping {_onoff(self.multicast_snooping)}")
        return f"bridge {self.name} ({', '.join(bits)})"

    @property
    def effective_delay(self) -> int:
        """With STP on, the kernel keeps the forward delay within 2..30 s (it clamps when STP
        starts and refuses other values): libvirt's usual ``stp='on' delay='0'`` is 2 s."""
        return min(max(self.delay, 2), 30) if self.stp else self.delay

    def _want(self, lk: Optional[Link] = None) -> dict[str, Any]:
        want = {"mac": self.mac, "stp": self.stp, "forward_delay": self.effective_delay * 100, "mtu": self.mtu,
                "group_fwd_mask": self.group_fwd_mask, "multicast_snooping": self.multicast_snooping,
                "up": True}
        if self.stp and lk is not None and lk.bridge is not None and lk.bridge.stp:
            # with STP running, the kernel reports the root bridge's delay, not the one
            # configured here: set it when STP starts, never compare it
            want["forward_delay"] = None
        return want

    @staticmethod
    def _have(lk: Link) -> dict[str, Any]:
        b = lk.bridge
        return {"mac": lk.mac, "mtu": lk.mtu, "up": lk.up,
                "stp": b.stp if b else None, "forward_delay": b.forward_delay if b else None,
                "group_fwd_mask": b.group_fwd_mask if b else None,
                "multicast_snooping": b.multicast_snooping if b else None}

    def check(self, snap: Snapshot, planned: Planned) -> Verdict:
        lk = snap.get(self.name)
        if lk is None:
            return Verdict("+")
        if lk.bridge is None:
            raise ConflictError(f"{self.name} already exists and is not a bridge ({lk.kind or 'unknown kind'})",
                                path=self.describe(), hint="name the bridge differently in the topology (bridge: "
                                "{name: ...}), or remove that device")
        if not owned(lk):
            raise ConflictError(
                f"a bridge named {self.name} already exists and vnet did not create it",
                path=self.describe(),
                hint="name vnet's bridge differently (bridge: {name: ...}); to put guests on that existing "
                "bridge as it is, use a network of kind bridge")
        have = self._have(lk)
        diff = _diff(self._want(lk), have)
        if self.mac and lk.mac_pinned is False:
            diff["mac"] = self.mac
        return Verdict("~", _changes(diff, have)) if diff else SATISFIED

    def apply(self, kernel: Kernel, snap: Snapshot, rec: Recorder) -> None:
        lk = snap.get(self.name)
        want = self._want(lk)
        if lk is None:
            attrs = {k: v for k, v in want.items() if v is not None and k != "mtu"}
            self._create(kernel, rec, "bridge", then={"mtu": self.mtu}, **attrs)
            return
        have = self._have(lk)
        diff = _diff(want, have)
        if self.mac and lk.mac_pinned is False:
            diff["mac"] = self.mac
        guarded(rec, {"op": "set", "name": self.name, "attrs": {k: have[k] for k in diff}},
                lambda: kernel.set(self.name, **diff))


@dataclass(frozen=True)
class EnsureVethPair(NewLink):
    """A veth pair ``name`` ↔ ``peer``, both up."""

    name: str
    peer: str
    mark: str
    mtu: Optional[int] = None
    origin: str = field(default="", compare=False)

    def names(self) -> set[str]:
        return {self.name, self.peer}

    def describe(self) -> str:
        return f"veth pair {self.name} ↔ {self.peer}"

    def provides(self) -> set[str]:
        return {self.name, self.peer}

    def check(self, snap: Snapshot, planned: Planned) -> Verdict:
        a, b = snap.get(self.name), snap.get(self.peer)
        if a is None and b is None:
            return Verdict("+")
        hint = "rename or delete that device, or change the topology's names"
        for lk in (a, b):
            if lk is not None:
                _must_not_exist_as_other(lk, "veth", self.describe(), hint)
                if not owned(lk):
                    raise ConflictError(f"{lk.name} already exists and vnet did not create it",
                                        path=self.describe(), hint=hint)
        if a is None or b is None or a.link != b.index or b.link != a.index:
            raise ConflictError(f"{self.name} and {self.peer} exist but are not one veth pair",
                                path=self.describe(), hint=hint)
        todo = [f"bring up {n.name}" for n in (a, b) if not n.up]
        todo += [f"{n.name} mtu {n.mtu} → {self.mtu}" for n in (a, b) if self.mtu and n.mtu != self.mtu]
        return Verdict("~", ", ".join(todo)) if todo else SATISFIED

    def apply(self, kernel: Kernel, snap: Snapshot, rec: Recorder) -> None:
        a = snap.get(self.name)
        if a is None:
            self._create(kernel, rec, "veth", peer=self.peer, up=True, mtu=self.mtu)
            kernel.set(self.peer, alias=self.mark, up=True)
            return
        for name in (self.name, self.peer):
            lk = snap.get(name)
            assert lk is not None
            attrs = _diff({"up": True, "mtu": self.mtu}, {"up": lk.up, "mtu": lk.mtu})
            if attrs:
                guarded(rec, {"op": "set", "name": name, "attrs": {k: getattr(lk, k) for k in attrs}},
                        lambda name=name, attrs=attrs: kernel.set(name, **attrs))  # type: ignore[misc]


@dataclass(frozen=True)
class EnsureTap(NewLink):
    """The legacy dummy TAP ``<bridge>-nic`` holding the bridge's MAC (stays down)."""

    name: str
    mac: Optional[str]
    mark: str
    mtu: Optional[int] = None
    origin: str = field(default="", compare=False)

    def names(self) -> set[str]:
        return {self.name}

    def describe(self) -> str:
        return f"dummy tap {self.name} (mac {self.mac or 'random'})"

    def check(self, snap: Snapshot, planned: Planned) -> Verdict:
        lk = snap.get(self.name)
        if lk is None:
            return Verdict("+")
        _must_not_exist_as_other(lk, "tun", self.describe(), "rename or delete that device")
        if not owned(lk):
            raise ConflictError(f"{self.name} already exists and vnet did not create it", path=self.describe(),
                                hint="delete it, or turn dummy_tap off")
        diff = _diff({"mac": self.mac, "mtu": self.mtu}, {"mac": lk.mac, "mtu": lk.mtu})
        return Verdict("~", _changes(diff, {"mac": lk.mac, "mtu": lk.mtu})) if diff else SATISFIED

    def apply(self, kernel: Kernel, snap: Snapshot, rec: Recorder) -> None:
        lk = snap.get(self.name)
        if lk is None:
            self._create(kernel, rec, "tun", made_as="tap", mac=self.mac, then={"mtu": self.mtu})
            return
        diff = _diff({"mac": self.mac, "mtu": self.mtu}, {"mac": lk.mac, "mtu": lk.mtu})
        guarded(rec, {"op": "set", "name": self.name, "attrs": {k: getattr(lk, k) for k in diff}},
                lambda: kernel.set(self.name, **diff))


@dataclass(frozen=True)
class SetMaster(Action):
    """Enslave ``device`` to ``bridge`` (and bring it up unless ``up`` is ``None``)."""

    device: str
    bridge: str
    up: Optional[bool] = True
    origin: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        return f"master:{self.device}"

    def names(self) -> set[str]:
        return {self.device, self.bridge}

    def describe(self) -> str:
        return f"port {self.device} in bridge {self.bridge}"

    def check(self, snap: Snapshot, planned: Planned) -> Verdict:
        br_lk = snap.get(self.bridge)
        vnet_bridge = isinstance(planned.get(self.bridge), EnsureBridge) or (br_lk is not None and owned(br_lk))
        br_mtu = planned.mtu(self.bridge, snap) if vnet_bridge else None
        dev_mtu = planned.mtu(self.device, snap)
        if br_mtu and dev_mtu and dev_mtu < br_mtu:
            raise ConflictError(f"{self.device} has MTU {dev_mtu}, smaller than the MTU {br_mtu} of "
                                f"bridge {self.bridge}", path=self.describe(),
                                hint=f"raise the MTU of {self.device} or lower the network's mtu")
        if self.bridge not in planned and snap.get(self.bridge) is None:
            if not snap.complete:
                return UNKNOWN
            raise ConflictError(f"bridge {self.bridge} does not exist on this host", path=self.describe(),
                                hint="if it is the bridge of a libvirt network, start that network first "
                                "(virsh net-start), then apply again")
        if self.device in planned:
            return Verdict("+")
        lk = snap.get(self.device)
        if lk is None:
            if not snap.complete:
                return UNKNOWN
            raise ConflictError(f"{self.device} does not exist on this host", path=self.describe(),
                                hint="fix the uplink's name in the topology, or create the device first")
        if lk.master == self.bridge and (self.up is None or lk.up == self.up):
            return SATISFIED
        current = snap.get(lk.master) if lk.master else None
        if lk.master not in (None, self.bridge) and not (current is not None and owned(current)):
            raise ConflictError(f"{self.device} is already a port of {lk.master}", path=self.describe(),
                                hint=f"vnet does not take a device out of a bridge it did not make; "
                                f"remove it from {lk.master} first")
        if lk.master != self.bridge and not owned(lk):
            if lk.addresses is None:
                return UNKNOWN  # sysfs does not show addresses: let netlink decide
            local = [a for a in lk.addresses if not a.startswith("fe80:")]
            if local:
                raise ConflictError(
                    f"{self.device} has the address{'es' if len(local) > 1 else ''} {', '.join(local)}: as a "
                    f"port of {self.bridge} it would stop answering on {'them' if len(local) > 1 else 'it'}",
                    path=self.describe(),
                    hint=f"move the addresses to the bridge {self.bridge} (the usual br0 setup), or "
                    "remove them, then apply again — this is how hosts lose their management access")
        return Verdict("~", f"master {lk.master or 'none'} → {self.bridge}")

    def apply(self, kernel: Kernel, snap: Snapshot, rec: Recorder) -> None:
        lk = snap.get(self.device)
        old: dict[str, Any] = {"master": lk.master if lk else None}
        if self.up is not None:
            old["up"] = lk.up if lk else False
        attrs: dict[str, Any] = {"master": self.bridge}
        if self.up is not None and (lk is None or lk.up != self.up):  # a link made by this plan is up
            attrs["up"] = self.up
        guarded(rec, {"op": "set", "name": self.device, "attrs": old, "expect": {"master": self.bridge}},
                lambda: kernel.set(self.device, **attrs))


_PORT_FLAGS = ("hairpin", "isolated", "learning")


def _port_have(lk: Link) -> dict[str, Any]:
    p = lk.port
    return {"hairpin": p.hairpin if p else None, "isolated": p.isolated if p else None,
            "learning": p.learning if p else None}


@dataclass(frozen=True)
class SetPortFlags(Action):
    """Bridge-port flags of one port (``port``), or of the guests' ports of ``bridge`` when
    ``port`` is ``None``: its tap devices that vnet did not create (libvirt's ``vnetN``).
    Other ports — the user's uplink, containers' veths — are never touched that way."""

    bridge: str
    port: Optional[str] = None
    hairpin: Optional[bool] = None
    isolated: Optional[bool] = None
    learning: Optional[bool] = None
    #: ports left alone (the uplinks the plan enslaves)
    skip: tuple[str, ...] = ()
    origin: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        return f"port:{self.port}" if self.port else f"ports:{self.bridge}"

    def names(self) -> set[str]:
        return {self.bridge} | ({self.port} if self.port else set())

    def _want(self) -> dict[str, Any]:
        return {"hairpin": self.hairpin, "isolated": self.isolated, "learning": self.learning}

    def describe(self) -> str:
        flags = ", ".join(f"{k} {_onoff(v)}" for k, v in self._want().items() if v is not None)
        where = f"port {self.port} of {self.bridge}" if self.port else f"guest ports of {self.bridge}"
        return f"{where}: {flags}"

    def ports(self, snap: Snapshot) -> list[Link]:
        if self.port:
            lk = snap.get(self.port)
            return [lk] if lk is not None and lk.port is not None else []
        return [lk for lk in snap.ports_of(self.bridge)
                if lk.kind == "tun" and not owned(lk) and lk.name not in self.skip]

    def check(self, snap: Snapshot, planned: Planned) -> Verdict:
        if self.port and self.port not in planned:
            lk = snap.get(self.port)
            if lk is None or lk.master != self.bridge:
                if lk is None and not snap.complete:
                    return UNKNOWN
                raise ConflictError(f"{self.port} is not a port of bridge {self.bridge}", path=self.describe(),
                                    hint="add it to the bridge first")
        changes = []
        for lk in self.ports(snap):
            diff = _diff(self._want(), _port_have(lk))
            if diff:
                changes.append(f"{lk.name}: {_changes(diff, _port_have(lk))}")
        if self.port and self.port in planned:
            return Verdict("+")
        return Verdict("~", "; ".join(changes)) if changes else SATISFIED

    def apply(self, kernel: Kernel, snap: Snapshot, rec: Recorder) -> None:
        targets = self.ports(snap)
        if self.port and not targets:  # enslaved earlier in this plan: fresh defaults
            targets = [Link(name=self.port, index=0, mac="", mtu=0, up=True)]
        for lk in targets:
            have = _port_have(lk)
            diff = _diff(self._want(), have)
            if not diff:
                continue
            old = {k: (have[k] if have[k] is not None else {"hairpin": False, "isolated": False,
                                                              "learning": True}[k]) for k in diff}
            guarded(rec, {"op": "port", "name": lk.name, "attrs": old, "expect": diff},
                    lambda lk=lk, diff=diff: kernel.set_port(lk.name, **diff))  # type: ignore[misc]


@dataclass(frozen=True)
class EnsureMacvlan(NewLink):
    """A host macvlan (the "shim") on ``parent`` so the host reaches macvtap guests."""

    name: str
    parent: str
    mark: str
    mode: str = "bridge"
    address: Optional[str] = None  # ip/prefix
    origin: str = field(default="", compare=False)

    def names(self) -> set[str]:
        return {self.name, self.parent}

    def describe(self) -> str:
        addr = f", address {self.address}" if self.address else ""
        return f"macvlan shim {self.name} (on {self.parent}, mode {self.mode}{addr})"

    def check(self, snap: Snapshot, planned: Planned) -> Verdict:
        parent = snap.get(self.parent)
        if parent is None and self.parent not in planned:
            if not snap.complete:
                return UNKNOWN
            raise ConflictError(f"the uplink {self.parent} of shim {self.name} does not exist on this host",
                                path=self.describe(), hint="fix the network's uplink")
        if parent is not None and parent.master:
            raise ConflictError(f"{self.parent} is a port of bridge {parent.master}: a macvlan cannot sit on a "
                                "bridge port", path=self.describe(),
                                hint=f"guests on {parent.master} are reached through the bridge itself; "
                                "drop shim:, or give the bridge the host address")
        if parent is not None and snap.complete:
            owner = next((o for o in snap.links.values() if o.link == parent.index and o.name != self.name
                          and o.macvlan_mode in ("passthru", "source")), None)
            if owner is not None:
                raise ConflictError(f"{owner.name} holds {self.parent} in {owner.macvlan_mode} mode: no other "
                                    "macvlan can sit on it", path=self.describe(),
                                    hint="a passthrough uplink belongs to one guest; put the shim on another "
                                    "uplink, or drop shim:")
        lk = snap.get(self.name)
        if lk is None:
            return Verdict("+")
        _must_not_exist_as_other(lk, "macvlan", self.describe(), "rename or delete that device")
        if not owned(lk):
            raise ConflictError(f"{self.name} already exists and vnet did not create it", path=self.describe(),
                                hint="name the shim differently (shim: {name: ...})")
        if parent is None or lk.link != parent.index or (lk.macvlan_mode not in (None, self.mode)):
            raise ConflictError(f"shim {self.name} exists on another parent or in another mode",
                                path=self.describe(), hint=f"delete it (ip link del {self.name}) and apply again")
        if lk.kind is None or (self.address and lk.addresses is None):
            return UNKNOWN  # sysfs shows no IPv4 addresses: netlink decides
        todo = []
        if not lk.up:
            todo.append("bring up")
        if self.address and self.address not in (lk.addresses or ()):
            todo.append(f"add address {self.address}")
        return Verdict("~", ", ".join(todo)) if todo else SATISFIED

    def apply(self, kernel: Kernel, snap: Snapshot, rec: Recorder) -> None:
        lk = snap.get(self.name)
        if lk is None:
            self._create(kernel, rec, "macvlan", link=self.parent, mode=self.mode, up=True)
        elif not lk.up:
            guarded(rec, {"op": "set", "name": self.name, "attrs": {"up": False}},
                    lambda: kernel.set(self.name, up=True))
        if self.address and (lk is None or lk.addresses is None or self.address not in lk.addresses):
            address = self.address
            guarded(rec, {"op": "deladdr", "name": self.name, "address": address},
                    lambda: kernel.add_address(self.name, address))


@dataclass(frozen=True)
class EnsureNumVfs(Action):
    """``sriov_numvfs`` of a PF.  Changing a non-zero count needs 0 first (kernel rule),
    which would pull VFs from under running guests: that is a conflict, not a change."""

    pf: str
    count: int
    origin: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        return f"numvfs:{self.pf}"

    def names(self) -> set[str]:
        return {self.pf}

    def describe(self) -> str:
        return f"{self.count} VFs on {self.pf}"

    def provides(self) -> set[str]:
        return {f"vfs:{self.pf}"}

    def check(self, snap: Snapshot, planned: Planned) -> Verdict:
        lk = snap.get(self.pf)
        if lk is None:
            if not snap.complete:
                return UNKNOWN
            raise ConflictError(f"the PF {self.pf} does not exist on this host", path=self.describe(),
                                hint="fix hosts.<host>.sriov")
        if lk.numvfs is None:
            raise ConflictError(f"{self.pf} is not an SR-IOV device (it has no sriov_numvfs)",
                                path=self.describe(), hint="name the physical function of an SR-IOV NIC")
        if lk.totalvfs is not None and self.count > lk.totalvfs:
            raise ConflictError(f"{self.pf} supports at most {lk.totalvfs} VFs, not {self.count}",
                                path=self.describe(), hint=f"set vfs: {lk.totalvfs} or fewer")
        if lk.numvfs == self.count:
            return SATISFIED
        if lk.numvfs != 0:
            raise ConflictError(f"{self.pf} has {lk.numvfs} VFs; the topology wants {self.count}",
                                path=self.describe(),
                                hint=f"the kernel changes a VF count only through 0: when no guest uses them, "
                                f"echo 0 > /sys/class/net/{self.pf}/device/sriov_numvfs, then apply again")
        return Verdict("+", f"sriov_numvfs 0 → {self.count}")

    def apply(self, kernel: Kernel, snap: Snapshot, rec: Recorder) -> None:
        guarded(rec, {"op": "numvfs", "pf": self.pf, "count": 0}, lambda: kernel.set_numvfs(self.pf, self.count))


@dataclass(frozen=True)
class SetVf(Action):
    """Settings of one VF of ``pf`` (index ``vf``, or found by ``pci`` or by ``mac``)."""

    pf: Optional[str] = None
    vf: Optional[int] = None
    pci: Optional[str] = None
    mac: Optional[str] = None
    vlan: Optional[int] = None
    qos: Optional[int] = None
    trust: Optional[bool] = None
    spoofchk: Optional[bool] = None
    link_state: Optional[str] = None
    origin: str = field(default="", compare=False)

    def _where(self) -> str:
        if self.vf is not None:
            return f"VF {self.vf} of {self.pf}"
        return f"VF {self.pci}" if self.pci else f"VF with mac {self.mac} on {self.pf}"

    @property
    def key(self) -> str:
        return f"vf:{self.pf}:{self.vf}" if self.vf is not None else f"vf:{self.pci or self.mac}"

    def names(self) -> set[str]:
        return {self.pf} if self.pf else set()

    def _want(self) -> dict[str, Any]:
        return {"mac": self.mac, "vlan": self.vlan, "qos": self.qos, "trust": self.trust,
                "spoofchk": self.spoofchk, "link_state": self.link_state}

    def describe(self) -> str:
        bits = ", ".join(f"{k} {_onoff(v)}" for k, v in self._want().items() if v is not None)
        return f"{self._where()}: {bits}"

    def resolve(self, snap: Snapshot) -> tuple[str, int]:
        """(PF, VF index), from the index, the VF's PCI address, or its MAC."""
        pf, vf = self.pf, self.vf
        if vf is None and self.pci:
            found = vf_of_pci(self.pci)
            if found is None:
                raise ConflictError(f"{self.pci} is not an SR-IOV VF on this host", path=self.describe(),
                                    hint="check the VF's PCI address (lspci -D)")
            if pf is not None and found[0] != pf:
                raise ConflictError(f"{self.pci} is a VF of {found[0]}, not of {pf}", path=self.describe(),
                                    hint="fix the NIC's vf: or the network's pf:")
            pf, vf = found
        if pf is None:
            raise ConflictError("cannot tell which PF this VF belongs to", path=self.describe())
        lk = snap.get(pf)
        if lk is None:
            raise ConflictError(f"the PF {pf} does not exist on this host", path=self.describe(), hint="fix pf:")
        if vf is None:
            match = [v.vf for v in lk.vfs or () if v.mac == self.mac]
            if len(match) != 1:
                raise ConflictError(f"no single VF of {pf} has mac {self.mac} (libvirt sets it when the guest "
                                    "starts)", path=self.describe(), hint="give the VF by PCI address (vf:)")
            vf = match[0]
        return pf, vf

    def _state(self, snap: Snapshot) -> Optional[tuple[str, int, dict[str, Any]]]:
        """(PF, VF, current settings), or ``None`` when this snapshot cannot tell."""
        if not snap.complete:
            lk = snap.get(self.pf) if self.pf else None
            if lk is None or lk.vfs is None:
                return None
        pf, vf = self.resolve(snap)
        vfs = snap.links[pf].vfs or ()
        st = next((v for v in vfs if v.vf == vf), None)
        if st is None:
            raise ConflictError(f"{pf} has no VF {vf} ({len(vfs)} VFs)", path=self.describe(),
                                hint=f"set hosts.<host>.sriov.{pf}.vfs")
        return pf, vf, {"mac": st.mac, "vlan": st.vlan, "qos": st.qos, "trust": st.trust,
                        "spoofchk": st.spoofchk, "link_state": st.link_state}

    def _await_vfs(self, kernel: Kernel, timeout: float = 5.0) -> Snapshot:
        """A fresh snapshot; VFs created a moment ago (sriov_numvfs) appear asynchronously,
        so wait for the PF to list them, a bounded time."""
        deadline = time.monotonic() + timeout
        while True:
            snap = kernel.snapshot({self.pf} if self.pf else None)
            lk = snap.get(self.pf) if self.pf else None
            ready = lk is not None and lk.vfs is not None and (self.vf is None or len(lk.vfs) > self.vf)
            if ready or self.pf is None or time.monotonic() > deadline:
                return snap
            time.sleep(0.05)

    def check(self, snap: Snapshot, planned: Planned) -> Verdict:
        if (self.pf and f"vfs:{self.pf}" in planned) or (
                self.pf is None and any(k.startswith("vfs:") for k in planned)):
            return Verdict("~", "after the VFs are created")
        got = self._state(snap)
        if got is None:
            return UNKNOWN
        _, _, have = got
        diff = _diff(self._want(), have)
        return Verdict("~", _changes(diff, have)) if diff else SATISFIED

    def apply(self, kernel: Kernel, snap: Snapshot, rec: Recorder) -> None:
        lk = snap.get(self.pf) if self.pf else None
        if lk is None or lk.vfs is None or (self.vf is not None and len(lk.vfs) <= self.vf):
            snap = self._await_vfs(kernel)
        got = self._state(snap)
        assert got is not None
        pf, vf, have = got
        diff = _diff(self._want(), have)
        if "vlan" in diff or "qos" in diff:  # the kernel sets both together
            diff.setdefault("vlan", have["vlan"])
            diff.setdefault("qos", have["qos"] if self.qos is None else self.qos)
        guarded(rec, {"op": "vf", "pf": pf, "vf": vf, "attrs": {k: have[k] for k in diff}},
                lambda: kernel.set_vf(pf, vf, **diff))


def _still_ours(lk: Link, undo: Undo) -> dict[str, Any]:
    """The attributes of a ``set``/``port`` record to restore — none when the link no
    longer shows what vnet set (``expect``): the user moved their uplink into another
    bridge, a tap name now belongs to another guest.  Such a link is left as it is."""
    expect = undo.get("expect") or {}
    have = {"master": lk.master, "up": lk.up, "mtu": lk.mtu, "mac": lk.mac, **_port_have(lk)}
    if any(have.get(k) != v for k, v in expect.items()):
        return {}
    return dict(undo["attrs"])


def replay(kernel: Kernel, undo: Undo, *, unmarked_ok: bool = False) -> None:
    """Carry out one undo record.  Deletion is guarded by ownership: only a link that
    still carries the mark vnet gave it is deleted — or, with ``unmarked_ok`` (rolling
    back an apply that was interrupted between creating a link and marking it), one with
    no mark at all and the kind vnet created.  Anything else is left and logged."""
    import errno
    import logging

    log = logging.getLogger("libvirt_vnet.host")
    op = undo["op"]
    try:
        if op == "delete":
            lk = kernel.lookup(undo["name"])
            if lk is None:
                return
            if lk.alias == undo["mark"] or (unmarked_ok and lk.alias == "" and lk.kind == undo.get("kind")):
                kernel.delete(undo["name"])
            else:
                log.warning("not deleting %s: it does not carry vnet's mark %r (alias %r)",
                            undo["name"], undo["mark"], lk.alias)
        elif op in ("set", "port"):
            lk = kernel.lookup(undo["name"])
            if lk is None:
                return
            attrs = _still_ours(lk, undo)
            if not attrs:
                log.warning("%s changed since vnet set %s: leaving it as it is", undo["name"],
                            ", ".join(sorted(undo.get("expect") or {})))
            else:
                (kernel.set if op == "set" else kernel.set_port)(undo["name"], **attrs)
        elif op == "vf":
            kernel.set_vf(undo["pf"], undo["vf"], **undo["attrs"])
        elif op == "numvfs":
            busy = vfs_in_use(undo["pf"])
            if busy:  # removing VFs would pull them out of running guests (or block on vfio)
                raise OSError(errno.EBUSY, f"{undo['pf']} keeps its VFs: {', '.join(busy)} still bound to "
                              "vfio-pci (guests using them?)")
            kernel.set_numvfs(undo["pf"], undo["count"])
        elif op == "deladdr":
            kernel.del_address(undo["name"], undo["address"])
        else:
            raise ValueError(f"unknown undo record {undo!r}")
    except OSError as exc:
        if exc.errno in (errno.ENODEV, errno.ENOENT, errno.EADDRNOTAVAIL):
            log.info("undo %s: %s is already gone", op, undo.get("name") or undo.get("pf"))
            return
        raise
