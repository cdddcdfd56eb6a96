"""Actions on bridge ports: enslaving a device, and the port flags (hairpin, isolated,
learning) of one port or of a bridge's guest ports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ...errors import ConflictError
from ..snapshot import Link, Snapshot
from .base import (
    SATISFIED,
    UNKNOWN,
    Action,
    Kernel,
    Planned,
    Recorder,
    Verdict,
    describe_changes,
    diff_attrs,
    guarded,
    onoff,
    owned,
)
from .links import EnsureBridge


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

    def assess(self, snap: Snapshot, planned: Planned) -> Verdict:
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


def port_have(lk: Link) -> dict[str, Any]:
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
        flags = ", ".join(f"{k} {onoff(v)}" for k, v in self._want().items() if v is not None)
        where = f"port {self.port} of {self.bridge}" if self.port else f"guest ports of {self.bridge}"
        return f"{where}: {flags}"

    def ports(self, snap: Snapshot) -> list[Link]:
        if self.port:
            lk = snap.get(self.port)
            return [lk] if lk is not None and lk.port is not None else []
        return [lk for lk in snap.ports_of(self.bridge)
                if lk.kind == "tun" and not owned(lk) and lk.name not in self.skip]

    def assess(self, snap: Snapshot, planned: Planned) -> Verdict:
        if self.port and self.port not in planned:
            lk = snap.get(self.port)
            if lk is None or lk.master != self.bridge:
                if lk is None and not snap.complete:
                    return UNKNOWN
                raise ConflictError(f"{self.port} is not a port of bridge {self.bridge}", path=self.describe(),
                                    hint="add it to the bridge first")
        changes = []
        for lk in self.ports(snap):
            diff = diff_attrs(self._want(), port_have(lk))
            if diff:
                changes.append(f"{lk.name}: {describe_changes(diff, port_have(lk))}")
        if self.port and self.port in planned:
            return Verdict("+")
        return Verdict("~", "; ".join(changes)) if changes else SATISFIED

    def apply(self, kernel: Kernel, snap: Snapshot, rec: Recorder) -> None:
        targets = self.ports(snap)
        if self.port and not targets:  # enslaved earlier in this plan: fresh defaults
            targets = [Link(name=self.port, index=0, mac="", mtu=0, up=True)]
        for lk in targets:
            have = port_have(lk)
            diff = diff_attrs(self._want(), have)
            if not diff:
                continue
            old = {k: (have[k] if have[k] is not None else {"hairpin": False, "isolated": False,
                                                              "learning": True}[k]) for k in diff}
            guarded(rec, {"op": "port", "name": lk.name, "attrs": old, "expect": diff},
                    lambda lk=lk, diff=diff: kernel.set_port(lk.name, **diff))  # type: ignore[misc]
