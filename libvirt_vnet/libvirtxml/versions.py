"""Version-aware rendering: which libvirt release introduced each feature we emit.

A rendered document is checked against the target libvirt version (from the
connection's ``getLibVersion()`` or ``--libvirt-version``; default 9.0, Debian 12's).
A feature newer than the target is refused with the version it needs — never silently
dropped (libvirt's own parser drops unknown elements, which is how configurations rot).
Versions are from libvirt's formatnetwork/formatdomain docs and NEWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import ErrorList, UnsupportedError
from ..model.libvirt import ForwardMode, InterfaceDef, NetworkDef


@dataclass(frozen=True, order=True)
class LibvirtVersion:
    major: int
    minor: int
    micro: int = 0

    @classmethod
    def parse(cls, text: str) -> LibvirtVersion:
        try:
            parts = [int(p) for p in text.strip().split(".")]
            if not 1 <= len(parts) <= 3 or any(p < 0 for p in parts):
                raise ValueError
        except ValueError:
            raise UnsupportedError(f"{text!r} is not a libvirt version",
                                   hint="write it like 9.0 or 10.7.0") from None
        parts += [0] * (3 - len(parts))
        return cls(parts[0], parts[1], parts[2])

    @classmethod
    def from_number(cls, number: int) -> LibvirtVersion:
        """From ``virConnect.getLibVersion()`` (major*1e6 + minor*1e3 + micro)."""
        return cls(number // 1_000_000, number // 1000 % 1000, number % 1000)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.micro}"


DEFAULT_TARGET = LibvirtVersion(9, 0, 0)


@dataclass(frozen=True)
class Feature:
    name: str
    since: LibvirtVersion
    used: Callable[[NetworkDef], bool]


def _linux_bridge_vlan(n: NetworkDef) -> bool:
    fwd = n.forward
    if fwd is None or fwd.mode is not ForwardMode.BRIDGE or n.virtualport is not None:
        return False
    return n.vlan is not None or any(pg.vlan is not None for pg in n.portgroups)


V = LibvirtVersion
NETWORK_FEATURES = (
    Feature("<port isolated> on a network", V(6, 1), lambda n: n.port_isolated is not None),
    Feature("<mtu> on a network", V(3, 1), lambda n: n.mtu is not None),
    Feature("<bridge zone> (firewalld zone)", V(5, 1), lambda n: bool(n.bridge and n.bridge.zone)),
    Feature("forward mode 'open'", V(2, 2),
            lambda n: bool(n.forward and n.forward.mode is ForwardMode.OPEN)),
    Feature("<nat ipv6='yes'>", V(6, 5),
            lambda n: bool(n.forward and n.forward.nat and n.forward.nat.ipv6)),
    Feature("DHCP <lease> times", V(6, 3), lambda n: any(
        ip.dhcp and (any(r.lease for r in ip.dhcp.ranges) or any(h.lease for h in ip.dhcp.hosts))
        for ip in n.ips)),
    Feature("<dns enable>", V(2, 2), lambda n: bool(n.dns and n.dns.enable is not None)),
    Feature("<ip localPtr>", V(3, 0), lambda n: any(ip.local_ptr is not None for ip in n.ips)),
    Feature("<metadata> on a network", V(2, 1),
            lambda n: bool(n.metadata) or n.vnet_metadata is not None),
    Feature("dnsmasq:options", V(5, 6), lambda n: bool(n.dnsmasq_options)),
    Feature("<forward><driver model> (VFIO variant driver)", V(10, 0),
            lambda n: bool(n.forward and n.forward.driver_model)),
    Feature("<vlan> on a plain Linux bridge network", V(11, 0), _linux_bridge_vlan),
)

#: (feature, since, used by (interface, whether its libvirt network puts the NIC's VLAN on a
#: plain Linux bridge port))
INTERFACE_FEATURES: tuple[tuple[str, LibvirtVersion, Callable[[InterfaceDef, bool], bool]], ...] = (
    ("<port isolated> on an interface", V(6, 1), lambda i, lb: i.port_isolated is not None),
    ("<mtu> on an interface", V(3, 1), lambda i, lb: i.mtu is not None),
    # a VLAN tag on a guest port of a plain Linux bridge, named directly or through a
    # bridge-kind libvirt network (Open vSwitch ports carry a virtualport)
    ("<vlan> on a Linux bridge interface", V(11, 0),
     lambda i, lb: i.vlan is not None and i.virtualport is None and (i.type == "bridge" or lb)),
)


def _refuse(what: str, feature: str, since: LibvirtVersion, target: LibvirtVersion,
            path: str) -> UnsupportedError:
    return UnsupportedError(
        f"{what} uses {feature}, which needs libvirt >= {since}; the target is libvirt {target}",
        path=path, hint="remove it, or render for a newer libvirt with --libvirt-version")


def check_network(net: NetworkDef, target: LibvirtVersion, path: str) -> None:
    """Refuse (all at once) the features of ``net`` newer than ``target``."""
    found = [_refuse(f"network {net.name!r}", f.name, f.since, target, path)
             for f in NETWORK_FEATURES if target < f.since and f.used(net)]
    if found:
        raise ErrorList.of(list(found))


def check_interface(iface: InterfaceDef, linux_bridge_vlan: bool, target: LibvirtVersion, path: str) -> None:
    """Refuse (all at once) what a NIC uses beyond ``target``; ``linux_bridge_vlan``: its
    network applies a NIC's VLAN on a plain Linux bridge port (a ``bridge`` kind network)."""
    found = [_refuse("this NIC", name, since, target, path)
             for name, since, used in INTERFACE_FEATURES if target < since and used(iface, linux_bridge_vlan)]
    if found:
        raise ErrorList.of(list(found))
