"""libvirt-level definitions: typed, frozen, decided values.

These dataclasses map one-to-one onto libvirt's network XML (formatnetwork) and domain
``<interface>`` XML (formatdomain).  Each class names the element it maps to.  Nothing
here decides defaults or validates input: drivers decide, :mod:`libvirt_vnet.topology`
validates, and :mod:`libvirt_vnet.libvirtxml` formats and parses.  Field values use
libvirt's own words.  ``None`` always means "attribute absent: libvirt's default applies".
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field
from typing import Optional, Union

from .plumbing import NetworkMeta

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


class ForwardMode(str, enum.Enum):
    """``<forward mode=...>``."""

    NAT = "nat"
    ROUTE = "route"
    OPEN = "open"
    BRIDGE = "bridge"
    PRIVATE = "private"
    VEPA = "vepa"
    PASSTHROUGH = "passthrough"
    HOSTDEV = "hostdev"


class VirtualPortType(str, enum.Enum):
    """``<virtualport type=...>``."""

    QBG = "802.1Qbg"
    QBH = "802.1Qbh"
    OPENVSWITCH = "openvswitch"
    MIDONET = "midonet"


@dataclass(frozen=True)
class PciAddress:
    """``<address type='pci' domain=.. bus=.. slot=.. function=../>``."""

    domain: int
    bus: int
    slot: int
    function: int

    def __str__(self) -> str:
        return f"{self.domain:04x}:{self.bus:02x}:{self.slot:02x}.{self.function:x}"


@dataclass(frozen=True)
class NatDef:
    """``<forward><nat ipv6=..><address start end/><port start end/></nat>``."""

    address_start: Optional[IPAddress] = None
    address_end: Optional[IPAddress] = None
    port_start: Optional[int] = None
    port_end: Optional[int] = None
    ipv6: Optional[bool] = None


@dataclass(frozen=True)
class ForwardDef:
    """``<forward mode dev managed><interface dev/><pf dev/><address/><nat/></forward>``."""

    mode: ForwardMode
    dev: Optional[str] = None
    interfaces: tuple[str, ...] = ()
    pf: Optional[str] = None
    addresses: tuple[PciAddress, ...] = ()
    managed: Optional[bool] = None
    driver_name: Optional[str] = None
    driver_model: Optional[str] = None
    nat: Optional[NatDef] = None


@dataclass(frozen=True)
class BridgeDef:
    """``<bridge name stp delay macTableManager zone/>``."""

    name: Optional[str] = None
    stp: Optional[bool] = None
    delay: Optional[int] = None
    mac_table_manager: Optional[str] = None
    zone: Optional[str] = None


@dataclass(frozen=True)
class Lease:
    """``<lease expiry unit/>`` (expiry 0 means infinite)."""

    expiry: int
    unit: Optional[str] = None


@dataclass(frozen=True)
class DhcpRange:
    """``<range start end><lease/></range>``."""

    start: IPAddress
    end: IPAddress
    lease: Optional[Lease] = None


@dataclass(frozen=True)
class DhcpHost:
    """``<host mac id name ip><lease/></host>``."""

    ip: Optional[IPAddress] = None
    mac: Optional[str] = None
    id: Optional[str] = None
    name: Optional[str] = None
    lease: Optional[Lease] = None


@dataclass(frozen=True)
class Bootp:
    """``<bootp file server/>``."""

    file: str
    server: Optional[str] = None


@dataclass(frozen=True)
class DhcpDef:
    """``<dhcp>`` inside an ``<ip>``."""

    ranges: tuple[DhcpRange, ...] = ()
    hosts: tuple[DhcpHost, ...] = ()
    bootp: Optional[Bootp] = None


@dataclass(frozen=True)
class IPDef:
    """``<ip family address netmask|prefix localPtr><tftp/><dhcp/></ip>``.

    ``interface`` holds the host's own address on the network plus the prefix, e.g.
    ``192.168.122.1/24``: IPv4 is formatted with ``netmask``, IPv6 with ``prefix``.
    """

    interface: ipaddress.IPv4Interface | ipaddress.IPv6Interface
    local_ptr: Optional[bool] = None
    tftp_root: Optional[str] = None
    dhcp: Optional[DhcpDef] = None

    @property
    def family(self) -> str:
        return "ipv6" if self.interface.version == 6 else "ipv4"


@dataclass(frozen=True)
class RouteDef:
    """``<route family address prefix|netmask gateway metric/>``."""

    network: IPNetwork
    gateway: IPAddress
    metric: Optional[int] = None


@dataclass(frozen=True)
class DnsForwarder:
    """``<forwarder addr domain/>``."""

    addr: Optional[IPAddress] = None
    domain: Optional[str] = None


@dataclass(frozen=True)
class DnsHost:
    """``<host ip><hostname>..</hostname></host>``."""

    ip: IPAddress
    hostnames: tuple[str, ...]


@dataclass(frozen=True)
class DnsSrv:
    """``<srv service protocol domain target port priority weight/>``."""

    service: str
    protocol: str
    domain: Optional[str] = None
    target: Optional[str] = None
    port: Optional[int] = None
    priority: Optional[int] = None
    weight: Optional[int] = None


@dataclass(frozen=True)
class DnsTxt:
    """``<txt name value/>``."""

    name: str
    value: str


@dataclass(frozen=True)
class DnsDef:
    """``<dns enable forwardPlainNames>``."""

    enable: Optional[bool] = None
    forward_plain_names: Optional[bool] = None
    forwarders: tuple[DnsForwarder, ...] = ()
    hosts: tuple[DnsHost, ...] = ()
    srvs: tuple[DnsSrv, ...] = ()
    txts: tuple[DnsTxt, ...] = ()


@dataclass(frozen=True)
class DomainNameDef:
    """``<domain name localOnly/>``."""

    name: str
    local_only: Optional[bool] = None


@dataclass(frozen=True)
class Rate:
    """``<inbound|outbound average peak burst floor/>`` (kbytes/s, kbytes)."""

    average: Optional[int] = None
    peak: Optional[int] = None
    burst: Optional[int] = None
    floor: Optional[int] = None


@dataclass(frozen=True)
class BandwidthDef:
    """``<bandwidth><inbound/><outbound/></bandwidth>``."""

    inbound: Optional[Rate] = None
    outbound: Optional[Rate] = None


@dataclass(frozen=True)
class VlanTag:
    """``<tag id nativeMode/>``."""

    id: int
    native_mode: Optional[str] = None


@dataclass(frozen=True)
class VlanDef:
    """``<vlan trunk><tag/>...</vlan>``."""

    tags: tuple[VlanTag, ...]
    trunk: Optional[bool] = None


@dataclass(frozen=True)
class VirtualPortDef:
    """``<virtualport type><parameters .../></virtualport>``."""

    type: Optional[VirtualPortType] = None
    managerid: Optional[int] = None
    typeid: Optional[int] = None
    typeidversion: Optional[int] = None
    instanceid: Optional[str] = None
    profileid: Optional[str] = None
    interfaceid: Optional[str] = None


@dataclass(frozen=True)
class PortGroupDef:
    """``<portgroup name default trustGuestRxFilters>``."""

    name: str
    default: Optional[bool] = None
    trust_guest_rx_filters: Optional[bool] = None
    vlan: Optional[VlanDef] = None
    virtualport: Optional[VirtualPortDef] = None
    bandwidth: Optional[BandwidthDef] = None


@dataclass(frozen=True)
class NetworkDef:
    """A whole ``<network>`` document.

    ``metadata`` holds foreign ``<metadata>`` children as serialized XML, kept verbatim;
    ``vnet_metadata`` is this project's own element (the plumbing contract,
    :mod:`libvirt_vnet.model.plumbing`).
    """

    name: str
    uuid: Optional[str] = None
    forward: Optional[ForwardDef] = None
    bridge: Optional[BridgeDef] = None
    mtu: Optional[int] = None
    mac: Optional[str] = None
    domain: Optional[DomainNameDef] = None
    dns: Optional[DnsDef] = None
    vlan: Optional[VlanDef] = None
    bandwidth: Optional[BandwidthDef] = None
    virtualport: Optional[VirtualPortDef] = None
    portgroups: tuple[PortGroupDef, ...] = ()
    ips: tuple[IPDef, ...] = ()
    routes: tuple[RouteDef, ...] = ()
    port_isolated: Optional[bool] = None
    ipv6: Optional[bool] = None
    trust_guest_rx_filters: Optional[bool] = None
    metadata: tuple[str, ...] = ()
    dnsmasq_options: tuple[str, ...] = ()
    vnet_metadata: Optional[NetworkMeta] = field(default=None, compare=False)


@dataclass(frozen=True)
class InterfaceDef:
    """A domain ``<interface type=...>`` element.

    ``type`` is libvirt's: ``network``, ``bridge``, ``direct`` or ``hostdev``.
    """

    type: str
    mac: str
    model: Optional[str] = "virtio"
    source_network: Optional[str] = None
    source_portgroup: Optional[str] = None
    source_bridge: Optional[str] = None
    source_dev: Optional[str] = None
    source_mode: Optional[str] = None
    source_address: Optional[PciAddress] = None
    managed: Optional[bool] = None
    vlan: Optional[VlanDef] = None
    virtualport: Optional[VirtualPortDef] = None
    bandwidth: Optional[BandwidthDef] = None
    mtu: Optional[int] = None
    trust_guest_rx_filters: Optional[bool] = None
    port_isolated: Optional[bool] = None
    link_state: Optional[str] = None
    alias: Optional[str] = None
