"""The topology model: what the network engineer drew.

Frozen dataclasses produced only by :mod:`libvirt_vnet.topology` (the one place input is
checked).  Sub-structures that are already libvirt's own vocabulary (DNS, DHCP,
bandwidth, VLAN tags, virtual ports, portgroups, routes) reuse the classes of
:mod:`libvirt_vnet.model.libvirt`; what is a *design* choice (which kind, which uplink,
which host, which bridge MAC) lives here and is turned into libvirt definitions by
drivers.  Every object keeps ``path``, its place in the topology document, for error
messages.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import Optional

from .libvirt import (
    BandwidthDef,
    DnsDef,
    DomainNameDef,
    IPDef,
    NatDef,
    PciAddress,
    PortGroupDef,
    RouteDef,
    VirtualPortDef,
    VlanDef,
)

#: the value of ``bridge.mac`` meaning "let libvirt pick one when the network is defined"
LIBVIRT_PICKS = "libvirt"

#: ``bridge.group_fwd_mask`` by name: bit X stands for 01:80:C2:00:00:0X
GROUP_FWD_NAMES = {"stp": 0, "pause": 1, "lacp": 2, "802.1x": 3, "eapol": 3, "lldp": 14}
#: bits the kernel refuses in a bridge's group_fwd_mask (BR_GROUPFWD_RESTRICTED)
GROUP_FWD_RESTRICTED = 0x0007


@dataclass(frozen=True)
class SriovPf:
    """``hosts.<h>.sriov.<pf>``: an SR-IOV physical function and how many VFs to create."""

    name: str
    vfs: int


@dataclass(frozen=True)
class HostSpec:
    """``hosts.<name>``: a libvirt host."""

    name: str
    path: str
    uri: str = "qemu:///system"
    uplinks: tuple[str, ...] = ()
    sriov: tuple[SriovPf, ...] = ()


@dataclass(frozen=True)
class BridgeSpec:
    """``networks.<n>.bridge``.  ``mac`` is a MAC, :data:`LIBVIRT_PICKS`, or ``None``
    (the driver derives a stable one).  ``dummy_tap`` asks for the legacy
    ``<bridge>-nic`` tap holding the low MAC (for bridges vnet creates, old kernels).
    ``group_fwd_mask`` (bit X: forward 01:80:C2:00:00:0X, e.g. 0x4000 for LLDP) and
    ``multicast_snooping`` are kernel bridge settings libvirt has no XML for: only bridges
    vnet creates take them (``None``: the kernel's default)."""

    name: Optional[str] = None
    mac: Optional[str] = None
    stp: Optional[bool] = None
    delay: Optional[int] = None
    mac_table_manager: Optional[str] = None
    zone: Optional[str] = None
    dummy_tap: bool = False
    group_fwd_mask: Optional[int] = None
    multicast_snooping: Optional[bool] = None


@dataclass(frozen=True)
class AccessSwitch:
    """``networks.<n>.access.<sw>`` of a two-tier network: one access bridge joined to
    the aggregation bridge by a veth uplink.  ``uuid`` pins the UUID of its libvirt
    network ``<network>-<switch>`` (derived from the topology when ``None``)."""

    name: str
    path: str
    bridge: BridgeSpec
    uuid: Optional[str] = None


@dataclass(frozen=True)
class ShimSpec:
    """``networks.<n>.shim``: a host macvlan so the host reaches macvtap guests."""

    name: Optional[str] = None
    address: Optional[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = None


@dataclass(frozen=True)
class NetworkSpec:
    """``networks.<name>``.  Which fields a kind accepts is declared by its driver.
    ``ip_keys`` says where each of ``ips`` was given (``subnet``, ``subnet6``, ``ips[0]``)."""

    name: str
    kind: str
    path: str
    hosts: tuple[str, ...] = ()
    uuid: Optional[str] = None
    ips: tuple[IPDef, ...] = ()
    ip_keys: tuple[str, ...] = ()
    bridge: Optional[BridgeSpec] = None
    mtu: Optional[int] = None
    domain: Optional[DomainNameDef] = None
    dns: Optional[DnsDef] = None
    routes: tuple[RouteDef, ...] = ()
    bandwidth: Optional[BandwidthDef] = None
    nat: Optional[NatDef] = None
    uplink: Optional[str] = None
    uplinks: tuple[str, ...] = ()
    vlan: Optional[VlanDef] = None
    virtualport: Optional[VirtualPortDef] = None
    portgroups: tuple[PortGroupDef, ...] = ()
    trust_guest_rx_filters: Optional[bool] = None
    port_isolated: Optional[bool] = None
    ipv6: Optional[bool] = None
    metadata: tuple[str, ...] = ()
    dnsmasq_options: tuple[str, ...] = ()
    mode: Optional[str] = None
    pf: Optional[str] = None
    vfs: tuple[PciAddress, ...] = ()
    managed: Optional[bool] = None
    driver_name: Optional[str] = None
    driver_model: Optional[str] = None
    vlan_device: Optional[str] = None
    upstream: Optional[str] = None
    access: tuple[AccessSwitch, ...] = ()
    hairpin: Optional[bool] = None
    shim: Optional[ShimSpec] = None

    def on_host(self, host: str) -> bool:
        return not self.hosts or host in self.hosts

    def ip_key(self, i: int) -> str:
        """The place of ``ips[i]`` under this network (``subnet`` when unknown)."""
        return self.ip_keys[i] if i < len(self.ip_keys) else "subnet"


@dataclass(frozen=True)
class NicSpec:
    """``vms.<vm>.nics[i]``."""

    index: int
    path: str
    network: str
    mac: Optional[str] = None
    model: str = "virtio"
    attach: Optional[str] = None
    portgroup: Optional[str] = None
    access: Optional[str] = None
    ip: Optional[ipaddress.IPv4Address] = None
    ip6: Optional[ipaddress.IPv6Address] = None
    vf: Optional[PciAddress] = None
    vlan: Optional[VlanDef] = None
    trust: Optional[bool] = None
    spoofchk: Optional[bool] = None
    mtu: Optional[int] = None
    bandwidth: Optional[BandwidthDef] = None
    port_isolated: Optional[bool] = None
    link: Optional[str] = None
    virtualport: Optional[VirtualPortDef] = None


@dataclass(frozen=True)
class VmSpec:
    """``vms.<name>``."""

    name: str
    path: str
    host: str
    nics: tuple[NicSpec, ...] = ()


@dataclass(frozen=True)
class Topology:
    """A whole topology document, checked."""

    name: str
    hosts: tuple[HostSpec, ...]
    networks: tuple[NetworkSpec, ...]
    vms: tuple[VmSpec, ...]
    source: str = "<topology>"

    def host(self, name: str) -> HostSpec:
        return next(h for h in self.hosts if h.name == name)

    @functools.cached_property
    def _networks_by_name(self) -> dict[str, NetworkSpec]:
        return {n.name: n for n in self.networks}

    def network(self, name: str) -> NetworkSpec:
        return self._networks_by_name[name]

    def networks_on(self, host: str) -> tuple[NetworkSpec, ...]:
        return tuple(n for n in self.networks if n.on_host(host))
