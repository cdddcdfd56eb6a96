"""Preflight: can this host give a network what it needs beyond devices?  Read-only.

Some needs are no device vnet could create: an 802.1Qbg (VDP) virtual port needs lldpad
running — libvirt finds it through ``/var/run/lldpad.pid`` and waits for its answers —
and an uplink that is, or sits on, a physical NIC.  libvirt walks the uplink's chain of
lower devices (``IFLA_LINK``) to the physical one; on a veth the chain is a cycle (the
peer's link is the veth again) and libvirt loops forever holding the daemon (issue 10:
``virsh start`` hung, the daemon log grew by tens of thousands of "Unable to get VLAN"
lines).  So this module says, before anything starts, what is missing.

The API is plain values, like the rest of :mod:`libvirt_vnet.host` (it knows no
topology, driver or libvirt)::

    problems = check(["eth1"], VDP)            # [] when the host can do it
    for p in problems:
        print(p)                               # "802.1Qbg VDP: eth1: ...\\n  hint: ..."

:func:`check` reads sysfs, ``/proc`` and the lldpad pid file under ``root`` (``/``; tests
give a fake tree) and never writes, starts or signals anything, never imports pyroute2
or libvirt: the hooks may call it on a domain's start.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

#: the need of an 802.1Qbg virtual port: VDP through lldpad, on a physical uplink
VDP = "802.1Qbg VDP"
NEEDS = (VDP,)

_LLDPAD_PIDFILES = ("var/run/lldpad.pid", "run/lldpad.pid")  # libvirt reads the first
_LLDPAD_SOCKETS = ("var/run/lldpad.sock", "run/lldpad.sock")
_LLDPAD_BINARIES = ("usr/sbin/lldpad", "sbin/lldpad", "usr/bin/lldpad", "bin/lldpad")
_INSTALL_HINT = "install and start it: apt install lldpad && systemctl enable --now lldpad"
#: lower devices followed at most (a VLAN on a bond on a NIC is three)
_MAX_CHAIN = 8


@dataclass(frozen=True)
class Problem:
    """Why the host cannot give ``need`` (to ``device``; ``None``: the host as a whole)."""

    need: str
    device: Optional[str]
    message: str
    hint: str

    def __str__(self) -> str:
        where = f"{self.device}: " if self.device else ""
        return f"{self.need}: {where}{self.message}\n  hint: {self.hint}"


def check(devices: Iterable[str], need: str, root: Path = Path("/")) -> list[Problem]:
    """Every reason the host cannot give ``need`` to ``devices`` (uplink names), in order:
    the host-wide ones (lldpad) first, then one per device.  ``[]``: go ahead."""
    if need not in NEEDS:
        raise ValueError(f"unknown need {need!r}; known: {', '.join(NEEDS)}")
    problems = lldpad_problems(root)
    for name in dict.fromkeys(devices):
        problem = vdp_uplink_problem(name, root)
        if problem:
            missing = device_kind(name, root) == "missing"
            problems.append(Problem(VDP, name, problem, _MISSING_HINT if missing else _UPLINK_HINT))
    return problems


_UPLINK_HINT = ("802.1Qbg needs a physical NIC (or a VLAN device on one) whose adjacent switch "
                "speaks VDP; use macvtap without a virtualport on this uplink")
_MISSING_HINT = ("name the host's physical NIC that faces the VDP switch (ip -br link lists "
                 "them), or run this where that NIC is")


def lldpad_problems(root: Path = Path("/")) -> list[Problem]:
    """lldpad installed and running (its pid file naming a live process, its control
    socket, or a process called lldpad)."""
    installed = any((root / b).is_file() for b in _LLDPAD_BINARIES)
    if _lldpad_running(root):
        return []
    if not installed:
        return [Problem(VDP, None, "lldpad is not installed: 802.1Qbg ports are set up by "
                        "lldpad's VDP, and libvirt waits for it when a guest starts", _INSTALL_HINT)]
    return [Problem(VDP, None, "lldpad is installed but not running (no live pid in "
                    "/var/run/lldpad.pid): libvirt cannot set up an 802.1Qbg port without it",
                    "systemctl enable --now lldpad")]


def _lldpad_running(root: Path) -> bool:
    for rel in _LLDPAD_PIDFILES:
        try:
            pid = int((root / rel).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if pid > 0 and _comm(root, pid) == "lldpad":
            return True
    if any((root / rel).is_socket() for rel in _LLDPAD_SOCKETS):
        return True
    try:
        pids = [e for e in os.listdir(root / "proc") if e.isdigit()]
    except OSError:
        return False
    return any(_comm(root, int(pid)) == "lldpad" for pid in pids)


def _comm(root: Path, pid: int) -> Optional[str]:
    try:
        return (root / "proc" / str(pid) / "comm").read_text().strip()
    except OSError:
        return None


# ---------------------------------------------------------------- the uplink
def device_kind(name: str, root: Path = Path("/")) -> str:
    """What ``name`` is, from sysfs: ``missing``, ``physical`` (it has a device: PCI, USB,
    an SR-IOV VF), the kernel's device type (``bridge``, ``vlan``, ``bond``, ``macvlan``,
    ``vxlan``, ...), ``tap``, ``stacked`` (a macvlan, macvtap, ipvlan ... on a lower
    device), ``veth`` (a virtual Ethernet device whose link is its peer), ``loopback`` or
    ``virtual`` (a dummy and the like)."""
    base = root / "sys" / "class" / "net" / name
    if not base.exists():
        return "missing"
    if (base / "device").exists():
        return "physical"
    devtype = _uevent(base).get("DEVTYPE")
    if devtype:
        return devtype
    if (base / "bridge").is_dir():
        return "bridge"
    if (base / "tun_flags").exists():
        return "tap"
    if _read_int(base / "type") == 772:  # ARPHRD_LOOPBACK
        return "loopback"
    if _lower_link(base):
        return "stacked"  # a macvlan, macvtap, ipvlan ... on another device
    if _read_int(base / "iflink") not in (None, _read_int(base / "ifindex")):
        return "veth"
    return "virtual"


def _lower_link(base: Path) -> Optional[str]:
    """The device sysfs names as the one ``base`` sits on (``lower_<name>``)."""
    try:
        return next((e[len("lower_"):] for e in sorted(os.listdir(base)) if e.startswith("lower_")), None)
    except OSError:
        return None


def vdp_uplink_problem(name: str, root: Path = Path("/")) -> Optional[str]:
    """Why libvirt cannot run VDP for a macvtap guest on uplink ``name``, or ``None``.

    libvirt follows the uplink's lower devices to the physical one: that chain must end,
    and end at a physical NIC (VLAN devices on the way are fine: libvirt sends their
    VLAN id with the association)."""
    seen: list[str] = []
    current: Optional[str] = name
    while current is not None:
        if current in seen:
            loop = " -> ".join([*seen, current])
            return (f"its chain of lower devices is a loop ({loop}): libvirt would follow it "
                    "forever and hang the daemon")
        seen.append(current)
        if len(seen) > _MAX_CHAIN:
            return f"its chain of lower devices is longer than {_MAX_CHAIN} ({' -> '.join(seen)})"
        kind = device_kind(current, root)
        if kind == "missing":
            return ("the device does not exist on this host" if current == name
                    else f"its lower device {current!r} is not in this network namespace")
        if kind == "veth":
            return (f"{_named(current, name)}is a veth: libvirt follows its link to the peer "
                    "and back forever, hanging the daemon (VDP needs a physical NIC)")
        if kind == "physical":
            return None
        if kind == "stacked":
            return (f"{_named(current, name)}is a device stacked on {_lower(current, root)!r} "
                    "(a macvlan or the like), not a physical NIC: there is no switch port for VDP")
        if kind != "vlan":
            return f"{_named(current, name)}is a {kind} device, not a physical NIC: there is no switch port for VDP"
        current = _lower(current, root)
    return None


def _named(current: str, start: str) -> str:
    return "" if current == start else f"its lower device {current!r} "


def _lower(name: str, root: Path) -> Optional[str]:
    """The device ``name`` sits on (a VLAN device's parent), by its iflink."""
    base = root / "sys" / "class" / "net"
    iflink = _read_int(base / name / "iflink")
    if iflink is None or iflink == _read_int(base / name / "ifindex"):
        return None
    lower = _lower_link(base / name)
    if lower:
        return lower
    try:
        candidates = sorted(os.listdir(base))
    except OSError:
        return None
    for other in candidates:
        if _read_int(base / other / "ifindex") == iflink:
            return other
    return f"ifindex {iflink}"  # a link to a device this namespace does not show


def _uevent(base: Path) -> dict[str, str]:
    try:
        lines = (base / "uevent").read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _read_int(path: Path) -> Optional[int]:
    try:
        return int(path.read_text().strip(), 0)
    except (OSError, ValueError):
        return None


def missing_devices(names: Iterable[str], root: str = "/") -> list[str]:
    """The names with no network device on this host (sysfs of this network namespace)."""
    base = Path(root) / "sys/class/net"
    return [n for n in dict.fromkeys(names) if not (base / n).exists()]
