"""SR-IOV actions: a PF's VF count, and the settings of one VF."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

from ...errors import ConflictError
from ..snapshot import Snapshot, vf_of_pci
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
)


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

    def assess(self, snap: Snapshot, planned: Planned) -> Verdict:
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
        bits = ", ".join(f"{k} {onoff(v)}" for k, v in self._want().items() if v is not None)
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

    def assess(self, snap: Snapshot, planned: Planned) -> Verdict:
        if (self.pf and f"vfs:{self.pf}" in planned) or (
                self.pf is None and any(k.startswith("vfs:") for k in planned)):
            return Verdict("~", "after the VFs are created")
        got = self._state(snap)
        if got is None:
            return UNKNOWN
        _, _, have = got
        diff = diff_attrs(self._want(), have)
        return Verdict("~", describe_changes(diff, have)) if diff else SATISFIED

    def apply(self, kernel: Kernel, snap: Snapshot, rec: Recorder) -> None:
        lk = snap.get(self.pf) if self.pf else None
        if lk is None or lk.vfs is None or (self.vf is not None and len(lk.vfs) <= self.vf):
            snap = self._await_vfs(kernel)
        got = self._state(snap)
        assert got is not None
        pf, vf, have = got
        diff = diff_attrs(self._want(), have)
        if "vlan" in diff or "qos" in diff:  # the kernel sets both together
            diff.setdefault("vlan", have["vlan"])
            diff.setdefault("qos", have["qos"] if self.qos is None else self.qos)
        guarded(rec, {"op": "vf", "pf": pf, "vf": vf, "attrs": {k: have[k] for k in diff}},
                lambda: kernel.set_vf(pf, vf, **diff))
