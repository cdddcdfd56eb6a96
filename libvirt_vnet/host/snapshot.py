"""Kernel state, read once: the links a plan talks about and their attributes.

Two readers fill the same frozen :class:`Snapshot`: :func:`read_sysfs` (cheap, no
pyroute2 import; what the hooks' fast path uses) and the netlink reader in
:mod:`.netlink` (complete: link kinds, VFs, addresses).  sysfs cannot tell every kind
(a veth looks like any other device) nor see VF settings or IP addresses; those fields
are ``None`` there, and an action that needs them answers "unknown", which sends the
executor to netlink.  This module never changes the host.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional

SYSFS_NET = "/sys/class/net"
IFF_UP = 0x1
#: ``addr_assign_type``: the MAC was set by the user (pinned: a bridge keeps it)
NET_ADDR_SET = 3


@dataclass(frozen=True)
class BridgeAttrs:
    stp: bool
    forward_delay: int  # centiseconds, as the kernel keeps it
    group_fwd_mask: int
    multicast_snooping: bool


@dataclass(frozen=True)
class PortAttrs:
    hairpin: bool
    isolated: Optional[bool]
    learning: bool


@dataclass(frozen=True)
class VfState:
    vf: int
    mac: str
    vlan: int
    qos: int
    spoofchk: Optional[bool]
    trust: Optional[bool]
    link_state: Optional[str]  # auto / enable / disable


@dataclass(frozen=True)
class Link:
    name: str
    index: int
    mac: str
    mtu: int
    up: bool
    alias: str = ""
    #: ``None`` when the reader cannot tell (sysfs: veth, macvlan, dummy look alike)
    kind: Optional[str] = None
    master: Optional[str] = None
    #: IFLA_LINK / iflink: the parent of a VLAN or macvlan, the peer of a veth
    link: Optional[int] = None
    vlan_id: Optional[int] = None
    macvlan_mode: Optional[str] = None
    mac_pinned: Optional[bool] = None
    bridge: Optional[BridgeAttrs] = None
    port: Optional[PortAttrs] = None
    #: addresses as ``ip/prefix``; ``None`` when not read
    addresses: Optional[tuple[str, ...]] = None
    numvfs: Optional[int] = None
    totalvfs: Optional[int] = None
    #: VF settings of a PF; ``None`` when not read
    vfs: Optional[tuple[VfState, ...]] = None


@dataclass(frozen=True)
class Snapshot:
    """The links that matter, by name.  ``complete`` is true for the netlink reader:
    then a missing name really is missing and unknown fields are really absent."""

    links: dict[str, Link] = field(default_factory=dict)
    complete: bool = False
    source: str = "sysfs"

    def get(self, name: str) -> Optional[Link]:
        return self.links.get(name)

    def by_index(self, index: Optional[int]) -> Optional[Link]:
        if index is None:
            return None
        return next((lk for lk in self.links.values() if lk.index == index), None)

    def ports_of(self, bridge: str) -> list[Link]:
        return sorted((lk for lk in self.links.values() if lk.master == bridge), key=lambda lk: lk.index)


def _read(path: str, dir_fd: Optional[int] = None) -> Optional[str]:
    """A sysfs attribute (raw os calls, relative to the link's directory when given: a
    re-apply reads thousands of them)."""
    try:
        fd = os.open(path, os.O_RDONLY, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        return os.read(fd, 4096).decode(errors="replace").strip()
    except OSError:
        return None
    finally:
        os.close(fd)


def read_int(path: str, dir_fd: Optional[int] = None) -> Optional[int]:
    raw = _read(path, dir_fd)
    try:
        return int(raw, 0) if raw is not None else None
    except ValueError:
        return None


def sysfs_matches_netns(root: str = SYSFS_NET) -> bool:
    """Is the sysfs we see the one of our network namespace?  A process that entered a
    namespace without remounting /sys (``unshare --net``) sees the old one: compare the
    names with ``/proc/self/net/dev``, which always follows the calling process."""
    try:
        with open("/proc/self/net/dev") as f:
            procnames = {line.split(":", 1)[0].strip() for line in f.readlines()[2:]}
        return procnames == set(os.listdir(root))
    except OSError:
        return False


def _vlans() -> dict[str, tuple[int, str]]:
    """VLAN devices of our namespace: name -> (id, parent), from /proc/self/net/vlan."""
    out: dict[str, tuple[int, str]] = {}
    try:
        with open("/proc/self/net/vlan/config") as f:
            for line in f.readlines()[2:]:
                parts = [p.strip() for p in line.split("|")]
                if len(parts) == 3 and parts[1].isdigit():
                    out[parts[0]] = (int(parts[1]), parts[2])
    except OSError:
        pass
    return out


def vf_of_pci(pci: str) -> Optional[tuple[str, int]]:
    """The PF name and VF index of the VF at PCI address ``pci`` (sysfs ``virtfn*``)."""
    physfn = f"/sys/bus/pci/devices/{pci}/physfn"
    try:
        pfs = os.listdir(f"{physfn}/net")
        for entry in os.listdir(physfn):
            if entry.startswith("virtfn") and os.path.basename(os.readlink(f"{physfn}/{entry}")) == pci:
                return pfs[0], int(entry[len("virtfn"):])
    except (OSError, IndexError, ValueError):
        return None
    return None


def vfs_in_use(pf: str, root: str = SYSFS_NET) -> list[str]:
    """PCI addresses of ``pf``'s VFs bound to vfio-pci (handed to guests)."""
    device = f"{root}/{pf}/device"
    busy = []
    try:
        entries = os.listdir(device)
    except OSError:
        return []
    for entry in sorted(entries):
        if entry.startswith("virtfn"):
            driver = f"{device}/{entry}/driver"
            if os.path.islink(driver) and os.path.basename(os.readlink(driver)) == "vfio-pci":
                busy.append(os.path.basename(os.readlink(f"{device}/{entry}")))
    return busy


def read_link(name: str, root: str = SYSFS_NET, vlans: Optional[dict[str, tuple[int, str]]] = None) -> Optional[Link]:
    """One link from sysfs, or ``None`` if it does not exist.  Reads only the files that
    exist for the link's type, relative to the link's directory (a re-apply of a big plan
    reads thousands of links)."""
    try:
        d = os.open(f"{root}/{name}", os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        return _link_at(name, d, vlans or {})
    finally:
        os.close(d)


def _link_at(name: str, d: int, vlans: dict[str, tuple[int, str]]) -> Optional[Link]:
    entries = set(os.listdir(d))
    index = read_int("ifindex", d)
    if index is None:
        return None
    iflink = read_int("iflink", d)
    master = os.path.basename(os.readlink("master", dir_fd=d)) if "master" in entries else None
    bridge = None
    kind: Optional[str]
    if "bridge" in entries:
        kind = "bridge"
        bridge = BridgeAttrs(stp=(read_int("bridge/stp_state", d) or 0) != 0,
                             forward_delay=read_int("bridge/forward_delay", d) or 0,
                             group_fwd_mask=read_int("bridge/group_fwd_mask", d) or 0,
                             multicast_snooping=bool(read_int("bridge/multicast_snooping", d)))
    elif "tun_flags" in entries:
        kind = "tun"
    else:
        uevent = _read("uevent", d) or ""
        devtype = next((line[8:] for line in uevent.splitlines() if line.startswith("DEVTYPE=")), None)
        kind = devtype if devtype in ("vlan", "macvtap", "macvlan", "vxlan", "bond") else None
        if kind is None and "macvtap" in entries:
            kind = "macvtap"
        elif kind is None and iflink != index and any(e.startswith("lower_") for e in entries):
            kind = "macvlan"  # a macvlan's uevent has no DEVTYPE; it is the upper device of its parent
    port = None
    if "brport" in entries:
        iso = read_int("brport/isolated", d)
        port = PortAttrs(hairpin=bool(read_int("brport/hairpin_mode", d)),
                         isolated=None if iso is None else bool(iso),
                         learning=bool(read_int("brport/learning", d)))
    return Link(
        name=name, index=index, mac=(_read("address", d) or "").lower(), mtu=read_int("mtu", d) or 0,
        up=bool((read_int("flags", d) or 0) & IFF_UP), alias=_read("ifalias", d) or "",
        kind=kind, master=master, link=None if iflink == index else iflink,
        vlan_id=vlans.get(name, (None, ""))[0],
        mac_pinned=read_int("addr_assign_type", d) == NET_ADDR_SET if bridge else None,
        bridge=bridge, port=port,
        numvfs=read_int("device/sriov_numvfs", d) if "device" in entries else None,
        totalvfs=read_int("device/sriov_totalvfs", d) if "device" in entries else None,
    )


def read_sysfs(names: set[str], root: str = SYSFS_NET) -> Snapshot:
    """The named links (and the ports of named bridges) from sysfs."""
    links: dict[str, Link] = {}
    vlans = _vlans()
    for name in sorted(names):
        if name in links:  # read already, as a port of a bridge
            continue
        lk = read_link(name, root, vlans)
        if lk is None:
            continue
        links[name] = lk
        if lk.bridge is not None:
            try:
                ports = os.listdir(f"{root}/{name}/brif")
            except OSError:
                ports = []
            for p in ports:
                if p not in links and (plk := read_link(p, root, vlans)) is not None:
                    links[p] = plk
    return Snapshot(links=links, complete=False, source="sysfs")


class SysfsPortKernel:
    """The one kind of change sysfs does as well as netlink: a bridge port's flags
    (``brport/hairpin_mode``, ``isolated``, ``learning``).  The executor uses it when a run
    changes nothing else — a VM's taps getting hairpin on every start — so that the hook
    path never imports pyroute2 for it.  Every other change raises: the executor must take
    the netlink kernel for those."""

    _FILES = {"hairpin": "hairpin_mode", "isolated": "isolated", "learning": "learning"}

    def __init__(self, names: Optional[set[str]] = None, root: str = SYSFS_NET):
        self.names = names
        self.root = root

    def __enter__(self) -> SysfsPortKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def snapshot(self, names: Optional[set[str]] = None) -> Snapshot:
        names = names if names is not None else self.names
        return read_sysfs(set(os.listdir(self.root)) if names is None else names, self.root)

    def lookup(self, name: str) -> Optional[Link]:
        return read_link(name, self.root, _vlans())

    def set_port(self, name: str, **flags: Any) -> None:
        for key, value in flags.items():
            with open(f"{self.root}/{name}/brport/{self._FILES[key]}", "w") as f:
                f.write("1" if value else "0")

    def __getattr__(self, name: str) -> Any:
        raise NotImplementedError(f"sysfs kernel: {name} needs netlink")
