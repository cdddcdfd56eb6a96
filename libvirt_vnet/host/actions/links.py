"""Actions that create a link and mark it as vnet's: VLAN device, bridge, veth pair, the
legacy dummy tap, the macvlan shim."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ...errors import ConflictError
from ..snapshot import Link, Snapshot
from .base import (
    SATISFIED,
    UNKNOWN,
    Kernel,
    NewLink,
    Planned,
    Recorder,
    Verdict,
    describe_changes,
    diff_attrs,
    guarded,
    must_not_exist_as_other,
    onoff,
    owned,
)


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

    def assess(self, snap: Snapshot, planned: Planned) -> Verdict:
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
        must_not_exist_as_other(lk, "vlan", self.describe(), hint, snap)
        if lk.vlan_id is None and lk.kind is None and not snap.complete:
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
        diff = diff_attrs({"mtu": self.mtu, "up": True}, {"mtu": lk.mtu, "up": lk.up})
        return Verdict("~", describe_changes(diff, {"mtu": lk.mtu, "up": lk.up})) if diff else SATISFIED

    def apply(self, kernel: Kernel, snap: Snapshot, rec: Recorder) -> None:
        lk = snap.get(self.name)
        if lk is None:
            self._create(kernel, rec, "vlan", link=self.parent, vlan_id=self.vid, up=True, then={"mtu": self.mtu})
            return
        diff = diff_attrs({"mtu": self.mtu, "up": True}, {"mtu": lk.mtu, "up": lk.up})
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
        bits = [f"mac {self.mac}" if self.mac else "mac picked by the kernel", f"stp {onoff(self.stp)}", delay]
        if self.mtu:
            bits.append(f"mtu {self.mtu}")
        if self.group_fwd_mask is not None:
            bits.append(f"group_fwd_mask {self.group_fwd_mask:#x}")
        if self.multicast_snooping is not None:
            bits.append(f"multicast_snooping {onoff(self.multicast_snooping)}")
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

    def assess(self, snap: Snapshot, planned: Planned) -> Verdict:
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
        diff = diff_attrs(self._want(lk), have)
        if self.mac and lk.mac_pinned is False:
            diff["mac"] = self.mac
        return Verdict("~", describe_changes(diff, have)) if diff else SATISFIED

    def apply(self, kernel: Kernel, snap: Snapshot, rec: Recorder) -> None:
        lk = snap.get(self.name)
        want = self._want(lk)
        if lk is None:
            attrs = {k: v for k, v in want.items() if v is not None and k != "mtu"}
            self._create(kernel, rec, "bridge", then={"mtu": self.mtu}, **attrs)
            return
        have = self._have(lk)
        diff = diff_attrs(want, have)
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

    @property
    def peer_mark(self) -> str:
        """Each end carries its own mark: ``vnet:<topology>:<peer>`` for the peer."""
        head, sep, tail = self.mark.rpartition(":")
        return f"{head}{sep}{self.peer}" if sep and tail == self.name else self.mark

    def provides(self) -> set[str]:
        return {self.name, self.peer}

    def assess(self, snap: Snapshot, planned: Planned) -> Verdict:
        a, b = snap.get(self.name), snap.get(self.peer)
        if a is None and b is None:
            return Verdict("+")
        hint = "rename or delete that device, or change the topology's names"
        for lk in (a, b):
            if lk is not None:
                must_not_exist_as_other(lk, "veth", self.describe(), hint, snap)
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
            kernel.set(self.peer, alias=self.peer_mark, up=True)
            return
        for name in (self.name, self.peer):
            lk = snap.get(name)
            assert lk is not None
            attrs = diff_attrs({"up": True, "mtu": self.mtu}, {"up": lk.up, "mtu": lk.mtu})
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

    def assess(self, snap: Snapshot, planned: Planned) -> Verdict:
        lk = snap.get(self.name)
        if lk is None:
            return Verdict("+")
        must_not_exist_as_other(lk, "tun", self.describe(), "rename or delete that device", snap)
        if not owned(lk):
            raise ConflictError(f"{self.name} already exists and vnet did not create it", path=self.describe(),
                                hint="delete it, or turn dummy_tap off")
        diff = diff_attrs({"mac": self.mac, "mtu": self.mtu}, {"mac": lk.mac, "mtu": lk.mtu})
        return Verdict("~", describe_changes(diff, {"mac": lk.mac, "mtu": lk.mtu})) if diff else SATISFIED

    def apply(self, kernel: Kernel, snap: Snapshot, rec: Recorder) -> None:
        lk = snap.get(self.name)
        if lk is None:
            self._create(kernel, rec, "tun", made_as="tap", mac=self.mac, then={"mtu": self.mtu})
            return
        diff = diff_attrs({"mac": self.mac, "mtu": self.mtu}, {"mac": lk.mac, "mtu": lk.mtu})
        guarded(rec, {"op": "set", "name": self.name, "attrs": {k: getattr(lk, k) for k in diff}},
                lambda: kernel.set(self.name, **diff))


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

    def assess(self, snap: Snapshot, planned: Planned) -> Verdict:
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
        must_not_exist_as_other(lk, "macvlan", self.describe(), "rename or delete that device", snap)
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
