"""Layer 0 → the only place input is checked: topology document → :class:`Topology`.

Accepts a YAML file, YAML text or the same structure as plain Python dicts/lists.  Every
problem becomes an :class:`~libvirt_vnet.errors.InputError` naming its place in the
document (``networks.lan.dhcp.range``) and how to fix it; all problems of one load are
reported together.  Kind-specific rules are asked of the kind's driver (the driver
declares which keys it accepts and checks its own semantics); nothing here renders XML
or touches the host.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import ipaddress
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar, Union

from . import names
from .errors import ErrorList, InputError, VnetError
from .netdef import (
    BandwidthDef,
    Bootp,
    DhcpDef,
    DhcpHost,
    DhcpRange,
    DnsDef,
    DnsForwarder,
    DnsHost,
    DnsSrv,
    DnsTxt,
    DomainNameDef,
    IPDef,
    Lease,
    NatDef,
    PciAddress,
    PortGroupDef,
    Rate,
    RouteDef,
    VirtualPortDef,
    VirtualPortType,
    VlanDef,
    VlanTag,
)
from .spec import (
    LIBVIRT_PICKS,
    AccessSwitch,
    BridgeSpec,
    HostSpec,
    NetworkSpec,
    NicSpec,
    ShimSpec,
    SriovPf,
    Topology,
    VmSpec,
)

T = TypeVar("T")
IPAddr = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPIface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]
IPNet = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

DEFAULT_HOST = "localhost"
_TOPOLOGY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")

# ------------------------------------------------------------------ readers
class Doc:
    """A mapping in the document at ``path``; tracks consumed keys."""

    def __init__(self, value: object, path: str, what: str = "this section"):
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise InputError(
                f"expected a mapping (key: value pairs) for {what}, got {_kind(value)}",
                path=path or None,
            )
        for key in value:
            if not isinstance(key, str):
                raise InputError(f"keys must be strings, got {key!r}", path=path or None)
        self.value: Mapping[str, Any] = value
        self.path = path
        self.used: set[str] = set()

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.value

    def get(self, key: str, conv: Callable[[Any, str], T], default: Optional[T] = None) -> Optional[T]:
        self.used.add(key)
        if key not in self.value or self.value[key] is None:
            return default
        return conv(self.value[key], self.sub(key))

    def need(self, key: str, conv: Callable[[Any, str], T], hint: Optional[str] = None) -> T:
        self.used.add(key)
        if key not in self.value or self.value[key] is None:
            typo = difflib.get_close_matches(key, [k for k in self.value if k != key], n=1, cutoff=0.75)
            if typo:
                hint = f"{typo[0]!r} is given: a typo for {key!r}?"
            raise InputError(f"{key!r} is required here", path=self.path or None, hint=hint)
        return conv(self.value[key], self.sub(key))

    def done(self, allowed: Optional[set[str]] = None) -> None:
        """Refuse every key not consumed (or not in ``allowed``), all at once."""
        known = allowed if allowed is not None else self.used
        unknown = [unknown_key(key, known, self.path) for key in self.value if key not in known]
        if unknown:
            raise ErrorList.of(list(unknown))


def unknown_key(key: str, known: set[str], path: str) -> InputError:
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(sorted(known))}"
    return InputError(f"unknown key {key!r}", path=f"{path}.{key}" if path else key, hint=hint)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


# ------------------------------------------------------------------ scalar converters
def as_str(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputError(f"expected text, got {_kind(value)}", path=path)
    return str(value)


def as_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"expected true or false, got {_kind(value)}", path=path,
                         hint="write true or false without quotes")
    return value


def int_in(lo: int, hi: int, unit: str = "") -> Callable[[Any, str], int]:
    def conv(value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            hint = "write the number without quotes" if isinstance(value, str) \
                and value.strip().isdigit() else None
            raise InputError(f"expected a whole number, got {_kind(value)}", path=path, hint=hint)
        if not lo <= value <= hi:
            raise InputError(f"{value} is out of range {lo}..{hi}{unit}", path=path)
        return int(value)

    return conv


as_vid = int_in(1, 4094)
as_mtu = int_in(68, 65535, " bytes")
as_port = int_in(1, 65535)
as_u32 = int_in(0, 2**32 - 1)


def as_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise InputError(f"expected a list, got {_kind(value)}", path=path)
    return list(value)


def each(value: Any, path: str) -> Iterator[tuple[Any, str]]:
    for i, item in enumerate(as_list(value, path)):
        yield item, f"{path}[{i}]"


def _checked_by(problem_of: Callable[[str], Optional[str]]) -> Callable[[Any, str], str]:
    """A converter: text that ``problem_of`` finds nothing wrong with."""

    def conv(value: Any, path: str) -> str:
        text = as_str(value, path)
        problem = problem_of(text)
        if problem:
            raise InputError(problem, path=path)
        return text

    return conv


as_name = _checked_by(names.network_name_problem)
as_dns_name = _checked_by(names.dns_name_problem)


def as_nonempty(value: Any, path: str) -> str:
    text = as_str(value, path)
    if not text.strip():
        raise InputError("this cannot be empty", path=path)
    return text


def _pattern(what: str, regex: str, example: str) -> Callable[[Any, str], str]:
    compiled = re.compile(regex)

    def conv(value: Any, path: str) -> str:
        text = as_str(value, path)
        if not compiled.fullmatch(text):
            raise InputError(f"{text!r} is not a valid {what}", path=path, hint=f"e.g. {example}")
        return text

    return conv


as_zone = _pattern("firewalld zone name", r"[A-Za-z0-9_-]+", "libvirt")
as_portgroup = _pattern("portgroup name", r"[A-Za-z0-9_.:-]+", "gold")
# DHCPv6 client identifiers, as libvirt's schema accepts them (DUID-LLT, -EN, -LL, -UUID)
as_duid = _pattern(
    "DHCPv6 DUID",
    r"0{1,2}:0?1:0{1,2}:0?[a-fA-F1-9](:[a-fA-F0-9]{1,2}){4}(:[a-fA-F0-9]{1,2}){6,8}"
    r"|0{1,2}:0?2(:[a-fA-F0-9]{1,2}){4}(:[a-fA-F0-9]{1,2}){1,124}"
    r"|0{1,2}:0?3:0{1,2}:0?[a-fA-F1-9](:[a-fA-F0-9]{1,2}){6,8}"
    r"|0{1,2}:0?4(:[a-fA-F0-9]{1,2}){16}",
    "0:3:0:1:0:16:3e:11:22:33")


def as_ifname(value: Any, path: str) -> str:
    text = as_str(value, path)
    problem = names.ifname_problem(text)
    if problem:
        raise InputError(problem, path=path,
                         hint="Linux interface names: at most 15 letters, digits, '_', '.' or '-'")
    return text


def as_mac(value: Any, path: str, *, guest: bool = True) -> str:
    try:
        mac = names.normalize_mac(as_str(value, path))
    except ValueError as exc:
        raise InputError(str(exc), path=path,
                         hint="YAML reads some MACs as numbers: quote them") from None
    problem = names.mac_problem(mac, guest=guest)
    if problem:
        raise InputError(problem, path=path, hint=names.MAC_HINT)
    return mac


def as_host_mac(value: Any, path: str) -> str:
    """A MAC in a DHCP host entry: any unicast MAC of a (possibly foreign) guest."""
    try:
        mac = names.normalize_mac(as_str(value, path))
    except ValueError as exc:
        raise InputError(str(exc), path=path) from None
    if int(mac[:2], 16) & 1:
        raise InputError(names.mac_problem(mac, guest=False) or "", path=path,
                         hint=names.MAC_HINT)
    return mac


def as_ip(value: Any, path: str) -> IPAddr:
    try:
        return ipaddress.ip_address(as_str(value, path))
    except ValueError:
        raise InputError(f"{value!r} is not an IP address", path=path) from None


def as_ipv4(value: Any, path: str) -> ipaddress.IPv4Address:
    ip = as_ip(value, path)
    if not isinstance(ip, ipaddress.IPv4Address):
        raise InputError(f"{ip} is not an IPv4 address", path=path, hint="use ip6 for IPv6")
    return ip


def as_ipv6(value: Any, path: str) -> ipaddress.IPv6Address:
    ip = as_ip(value, path)
    if not isinstance(ip, ipaddress.IPv6Address):
        raise InputError(f"{ip} is not an IPv6 address", path=path)
    return ip


def as_subnet(value: Any, path: str) -> IPNet:
    text = as_str(value, path)
    if "/" not in text:
        raise InputError(f"{text!r} has no prefix length", path=path,
                         hint="write the subnet in CIDR form, e.g. 192.168.1.0/24")
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            iface = ipaddress.ip_interface(text)
        except ValueError:
            raise InputError(f"{text!r} is not a subnet in CIDR form", path=path,
                             hint="e.g. 192.168.1.0/24 or fd00:1::/64") from None
        raise InputError(
            f"{text} has host bits set", path=path,
            hint=f"did you mean subnet {iface.network} with gateway {iface.ip}?",
        ) from None


def as_iface(value: Any, path: str) -> IPIface:
    text = as_str(value, path)
    try:
        if "/" not in text:
            raise ValueError
        return ipaddress.ip_interface(text)
    except ValueError:
        raise InputError(f"{text!r} is not an address with prefix", path=path,
                         hint="e.g. 192.168.1.5/24") from None


_PCI_RE = re.compile(r"^(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$")


def as_pci(value: Any, path: str) -> PciAddress:
    text = as_str(value, path)
    m = _PCI_RE.match(text)
    if not m or int(m.group(3), 16) > 31:
        raise InputError(f"{text!r} is not a PCI address", path=path,
                         hint="write it like lspci -D does: 0000:03:10.2")
    return PciAddress(int(m.group(1) or "0", 16), int(m.group(2), 16), int(m.group(3), 16),
                      int(m.group(4)))


_LEASE_RE = re.compile(r"^(\d+)\s*([smh])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours"}


def as_lease(value: Any, path: str) -> Lease:
    if value == "infinite":
        return Lease(expiry=0)
    text = as_str(value, path).strip()
    m = _LEASE_RE.match(text)
    if not m or int(m.group(1)) == 0:
        raise InputError(f"{value!r} is not a lease time", path=path,
                         hint="write e.g. 120s, 10m, 1h or infinite")
    lease = Lease(expiry=int(m.group(1)), unit=_UNITS[m.group(2)])
    seconds = lease.expiry * {"seconds": 1, "minutes": 60, "hours": 3600}[lease.unit or "minutes"]
    if seconds < 120:
        raise InputError(f"a lease of {text} is too short: libvirt's minimum is 2 minutes",
                         path=path, hint="e.g. 2m, 1h or infinite")
    if seconds > 2**32 - 1:
        raise InputError(f"a lease of {text} is too long", path=path, hint="use infinite")
    return lease


# ------------------------------------------------------------------ structured parts
def load_vlan(value: Any, path: str) -> VlanDef:
    if isinstance(value, str):
        as_vid(value, path)  # explains a quoted number; anything else is no VLAN either
        raise InputError(f"expected a VLAN id, a list of them or {{tags, trunk}}, got {_kind(value)}",
                         path=path)
    if isinstance(value, int) and not isinstance(value, bool):
        return VlanDef(tags=(VlanTag(as_vid(value, path)),))
    if isinstance(value, (list, tuple)):
        tags = tuple(VlanTag(as_vid(v, p)) for v, p in each(value, path))
        if not tags:
            raise InputError("a VLAN list cannot be empty", path=path)
        return VlanDef(tags=tags, trunk=True if len(tags) > 1 else None)
    d = Doc(value, path, "a VLAN (a number, a list of numbers, or {tags, trunk})")
    tags_list = []
    for item, p in each(d.need("tags", lambda v, p: v), d.sub("tags")):
        if isinstance(item, Mapping):
            t = Doc(item, p)
            native = t.get("native_mode", _choice("native_mode", ("tagged", "untagged")))
            tags_list.append(VlanTag(t.need("id", as_vid), native_mode=native))
            t.done()
        else:
            tags_list.append(VlanTag(as_vid(item, p)))
    if not tags_list:
        raise InputError("a VLAN needs at least one tag", path=d.sub("tags"))
    trunk = d.get("trunk", as_bool)
    d.done()
    if len(tags_list) > 1 and trunk is False:
        raise InputError("several tags need trunk: true", path=d.sub("trunk"))
    if len([t for t in tags_list if t.native_mode]) > 1:
        raise InputError("only one tag can be the native VLAN", path=d.sub("tags"))
    if len(tags_list) > 1 and trunk is None:
        trunk = True  # several tags are a trunk; libvirt writes trunk='yes' itself
    return VlanDef(tags=tuple(tags_list), trunk=trunk)


def _choice(what: str, options: tuple[str, ...]) -> Callable[[Any, str], str]:
    def conv(value: Any, path: str) -> str:
        text = as_str(value, path)
        if text not in options:
            close = difflib.get_close_matches(text, options, n=1)
            hint = f"did you mean {close[0]!r}?" if close else None
            raise InputError(f"{what} must be one of {', '.join(options)}; got {text!r}",
                             path=path, hint=hint)
        return text

    return conv


def load_virtualport(value: Any, path: str) -> VirtualPortDef:
    d = Doc(value, path, "a virtualport")
    types = tuple(t.value for t in VirtualPortType)
    vtype = d.get("type", _choice("virtualport type", types))
    vp = VirtualPortDef(
        type=VirtualPortType(vtype) if vtype else None,
        managerid=d.get("managerid", int_in(0, 255)),
        typeid=d.get("typeid", int_in(0, 2**24 - 1)),
        typeidversion=d.get("typeidversion", int_in(0, 255)),
        instanceid=d.get("instanceid", _uuid),
        profileid=d.get("profileid", as_str),
        interfaceid=d.get("interfaceid", _uuid),
    )
    d.done()
    allowed = {
        VirtualPortType.QBG: {"managerid", "typeid", "typeidversion", "instanceid"},
        VirtualPortType.QBH: {"profileid"},
        VirtualPortType.OPENVSWITCH: {"profileid", "interfaceid"},
        VirtualPortType.MIDONET: {"interfaceid"},
    }
    if vp.type is not None:
        for key in ("managerid", "typeid", "typeidversion", "instanceid", "profileid",
                    "interfaceid"):
            if getattr(vp, key) is not None and key not in allowed[vp.type]:
                raise InputError(f"{key} is not a parameter of {vp.type.value} virtual ports",
                                 path=d.sub(key),
                                 hint=f"{vp.type.value} takes {', '.join(sorted(allowed[vp.type]))}")
    return vp


def _uuid(value: Any, path: str) -> str:
    import uuid

    text = as_str(value, path)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise InputError(f"{text!r} is not a UUID", path=path) from None


def load_nic_bandwidth(value: Any, path: str) -> BandwidthDef:
    return load_bandwidth(value, path, floor=True)


def load_bandwidth(value: Any, path: str, floor: bool = False) -> BandwidthDef:
    """``bandwidth``: ``floor`` (guaranteed inbound rate) exists only on NICs of
    libvirt networks; libvirt refuses it on networks and portgroups."""
    d = Doc(value, path, "bandwidth")
    rates: dict[str, Rate] = {}
    for direction in ("inbound", "outbound"):
        if d.has(direction) and d.value[direction] is not None:
            r = Doc(d.value[direction], d.sub(direction))
            kb = int_in(1, 2**32 - 1, " KiB/s")
            rate = Rate(average=r.get("average", kb), peak=r.get("peak", kb),
                        burst=r.get("burst", int_in(1, 2**32 - 1, " KiB")),
                        floor=r.get("floor", kb) if direction == "inbound" else None)
            if rate.floor is not None and not floor:
                raise InputError("floor is a guarantee per NIC; libvirt refuses it here",
                                 path=r.sub("floor"), hint="set bandwidth.inbound.floor on the NICs")
            r.done({"average", "peak", "burst", "floor"} if direction == "inbound"
                   else {"average", "peak", "burst"})
            if rate.average is None and rate.floor is None:
                raise InputError("a rate needs 'average' (KiB/s)", path=r.path)
            rates[direction] = rate
        d.used.add(direction)
    d.done()
    return BandwidthDef(inbound=rates.get("inbound"), outbound=rates.get("outbound"))


def load_portgroups(value: Any, path: str) -> tuple[PortGroupDef, ...]:
    d = Doc(value, path, "portgroups (name: settings)")
    groups = []
    for name in d.value:
        p = Doc(d.value[name], d.sub(name))
        groups.append(PortGroupDef(
            name=as_portgroup(name, d.sub(name)),
            default=p.get("default", as_bool),
            trust_guest_rx_filters=p.get("trust_guest_rx_filters", as_bool),
            vlan=p.get("vlan", load_vlan),
            virtualport=p.get("virtualport", load_virtualport),
            bandwidth=p.get("bandwidth", load_bandwidth),
        ))
        p.done()
        d.used.add(name)
    if len([g for g in groups if g.default]) > 1:
        raise InputError("more than one portgroup has default: true", path=path)
    return tuple(groups)


def load_dns(value: Any, path: str) -> DnsDef:
    d = Doc(value, path, "dns")
    forwarders = []
    for item, p in each(d.get("forwarders", lambda v, p: v, []), d.sub("forwarders")):
        if isinstance(item, Mapping):
            f = Doc(item, p)
            fw = DnsForwarder(addr=f.get("addr", as_ip), domain=f.get("domain", as_dns_name))
            f.done()
            if fw.addr is None and fw.domain is None:
                raise InputError("a forwarder needs addr, domain or both", path=p)
        else:
            fw = DnsForwarder(addr=as_ip(item, p))
        forwarders.append(fw)
    hosts = []
    for item, p in each(d.get("hosts", lambda v, p: v, []), d.sub("hosts")):
        h = Doc(item, p)
        hnames = tuple(as_dns_name(n, q) for n, q in each(h.need("names", lambda v, p: v), h.sub("names")))
        if not hnames:
            raise InputError("a DNS host needs at least one name", path=h.sub("names"))
        hosts.append(DnsHost(ip=h.need("ip", as_ip), hostnames=hnames))
        h.done()
    srvs = []
    for item, p in each(d.get("srv", lambda v, p: v, []), d.sub("srv")):
        s = Doc(item, p)
        srvs.append(DnsSrv(
            service=s.need("service", _pattern("SRV service name", r"[A-Za-z0-9_-]+", "ldap")),
            protocol=s.need("protocol", _choice("protocol", ("tcp", "udp"))),
            domain=s.get("domain", as_dns_name), target=s.get("target", as_dns_name),
            port=s.get("port", int_in(0, 65535)), priority=s.get("priority", int_in(0, 65535)),
            weight=s.get("weight", int_in(0, 65535)),
        ))
        s.done()
    txts = []
    for item, p in each(d.get("txt", lambda v, p: v, []), d.sub("txt")):
        t = Doc(item, p)
        txts.append(DnsTxt(name=t.need("name", as_dns_name), value=t.need("value", as_str)))
        t.done()
    dns = DnsDef(enable=d.get("enable", as_bool),
                 forward_plain_names=d.get("forward_plain_names", as_bool),
                 forwarders=tuple(forwarders), hosts=tuple(hosts), srvs=tuple(srvs),
                 txts=tuple(txts))
    d.done()
    if dns.enable is False and (dns.forwarders or dns.hosts or dns.srvs or dns.txts
                                or dns.forward_plain_names is not None):
        raise InputError(
            "DNS is disabled (enable: false) but records or forwarders are given",
            path=path, hint="remove the records, or enable DNS",
        )
    return dns


def load_routes(value: Any, path: str) -> tuple[RouteDef, ...]:
    routes = []
    for item, p in each(value, path):
        r = Doc(item, p, "a route {to, via, metric}")
        net = r.need("to", as_subnet)
        via = r.need("via", as_ip)
        if net.version != via.version:
            raise InputError(f"route to {net} via {via} mixes IPv4 and IPv6", path=p)
        routes.append(RouteDef(network=net, gateway=via, metric=r.get("metric", int_in(1, 2**32 - 1))))
        r.done()
    return tuple(routes)


def load_nat(value: Any, path: str) -> NatDef:
    d = Doc(value, path, "nat")
    start = end = None
    if d.has("addresses"):
        pair = as_list(d.value["addresses"], d.sub("addresses"))
        if len(pair) != 2:
            raise InputError("addresses is [first, last]", path=d.sub("addresses"))
        start, end = as_ipv4(pair[0], d.sub("addresses[0]")), as_ipv4(pair[1], d.sub("addresses[1]"))
        if start > end:
            raise InputError(f"{start} comes after {end}", path=d.sub("addresses"))
    d.used.add("addresses")
    pstart = pend = None
    if d.has("ports"):
        pair = as_list(d.value["ports"], d.sub("ports"))
        if len(pair) != 2:
            raise InputError("ports is [first, last]", path=d.sub("ports"))
        pstart, pend = as_port(pair[0], d.sub("ports[0]")), as_port(pair[1], d.sub("ports[1]"))
        if pstart > pend:
            raise InputError(f"port {pstart} comes after {pend}", path=d.sub("ports"))
    d.used.add("ports")
    nat = NatDef(address_start=start, address_end=end, port_start=pstart, port_end=pend,
                 ipv6=d.get("ipv6", as_bool))
    d.done()
    return nat


def load_bridge(value: Any, path: str) -> BridgeSpec:
    if isinstance(value, str):
        return BridgeSpec(name=as_ifname(value, path))
    d = Doc(value, path, "bridge")
    mac = None
    if d.has("mac"):
        raw = d.value["mac"]
        mac = LIBVIRT_PICKS if raw == LIBVIRT_PICKS else as_mac(raw, d.sub("mac"), guest=False)
    d.used.add("mac")
    spec = BridgeSpec(
        name=d.get("name", as_ifname),
        mac=mac,
        stp=d.get("stp", as_bool),
        delay=d.get("delay", int_in(0, 300, " seconds")),
        mac_table_manager=d.get("mac_table_manager", _choice("mac_table_manager",
                                                             ("kernel", "libvirt"))),
        zone=d.get("zone", as_zone),
        dummy_tap=bool(d.get("dummy_tap", as_bool, False)),
        group_fwd_mask=d.get("group_fwd_mask", as_group_fwd_mask),
        multicast_snooping=d.get("multicast_snooping", as_bool),
    )
    d.done()
    return spec


#: ``bridge.group_fwd_mask`` by name: bit X stands for 01:80:C2:00:00:0X
GROUP_FWD_NAMES = {"stp": 0, "pause": 1, "lacp": 2, "802.1x": 3, "eapol": 3, "lldp": 14}
#: bits the kernel refuses in a bridge's group_fwd_mask (BR_GROUPFWD_RESTRICTED)
GROUP_FWD_RESTRICTED = 0x0007
_GROUP_FWD_HINT = ("0x4000 (or [lldp]) forwards LLDP, 0x8 (or [802.1x]) EAPOL; bits 0-2 (STP, "
                   "pause frames, LACP) can never be forwarded by a Linux bridge")


def as_group_fwd_mask(value: Any, path: str) -> int:
    """``bridge.group_fwd_mask``: the mask (0..65535, e.g. 0x4000) or a list of names
    (``[lldp, 802.1x]``); bit X forwards 01:80:C2:00:00:0X instead of consuming it."""
    if isinstance(value, (list, tuple)):
        mask = 0
        for item, p in each(value, path):
            text = as_str(item, p).lower()
            if text not in GROUP_FWD_NAMES:
                close = difflib.get_close_matches(text, list(GROUP_FWD_NAMES), n=1)
                known = ", ".join(n for n, bit in GROUP_FWD_NAMES.items() if bit > 2)
                raise InputError(
                    f"unknown link-local protocol {text!r}", path=p,
                    hint=(f"did you mean {close[0]!r}? " if close else "") + f"known: {known}; "
                    "or give the mask as a number (bit X forwards 01:80:C2:00:00:0X)")
            mask |= 1 << GROUP_FWD_NAMES[text]
    elif isinstance(value, str):
        try:
            number = int(value.strip(), 0)
        except ValueError:
            number = None
        raise InputError(f"expected a number (0..0xffff) or a list of protocols, got "
                         f"{_kind(value)}", path=path,
                         hint=f"write {value.strip()} without quotes" if number is not None
                         else _GROUP_FWD_HINT)
    elif isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= 0xFFFF:
        raise InputError(f"{value} is out of range 0..0xffff", path=path,
                         hint="the mask has 16 bits, bit X for 01:80:C2:00:00:0X; " + _GROUP_FWD_HINT)
    else:
        mask = int_in(0, 0xFFFF)(value, path)
    restricted = mask & GROUP_FWD_RESTRICTED
    if restricted:
        what = [f"{bit} ({name})" for name, bit in GROUP_FWD_NAMES.items() if restricted & (1 << bit)]
        raise InputError(
            f"group_fwd_mask {mask:#x} sets bit{'s' if len(what) > 1 else ''} {', '.join(what)}, "
            "which the kernel refuses: a Linux bridge never forwards 01:80:C2:00:00:00-02",
            path=path, hint=_GROUP_FWD_HINT)
    return mask


def load_dhcp(value: Any, path: str, subnet: IPNet, gateway: IPAddr) -> Optional[DhcpDef]:
    """``dhcp``: true, false, or settings.  Without ``range``/``ranges`` the dynamic
    range is every address above the gateway; ``ranges: []`` means reservations only."""
    if value is False:
        return None
    if value is True:
        value = {}
    d = Doc(value, path, "dhcp (true, false, or settings)")
    default_lease = d.get("lease", as_lease)
    ranges = []
    if d.has("range") and d.has("ranges"):
        raise InputError("give either range or ranges, not both", path=path)
    raw_ranges: list[tuple[Any, str]] = []
    if d.has("range"):
        raw_ranges = [(d.value["range"], d.sub("range"))]
    elif d.has("ranges"):
        raw_ranges = list(each(d.value["ranges"], d.sub("ranges")))
    d.used.update({"range", "ranges"})
    for item, p in raw_ranges:
        lease = default_lease
        if isinstance(item, Mapping):
            rd = Doc(item, p)
            start, end = rd.need("start", as_ip), rd.need("end", as_ip)
            lease = rd.get("lease", as_lease, default_lease)
            rd.done()
        else:
            pair = as_list(item, p)
            if len(pair) != 2:
                raise InputError("a DHCP range is [first, last]", path=p)
            start, end = as_ip(pair[0], f"{p}[0]"), as_ip(pair[1], f"{p}[1]")
        ranges.append(DhcpRange(start=start, end=end, lease=lease))
    hosts = []
    for item, p in each(d.get("hosts", lambda v, p: v, []), d.sub("hosts")):
        h = Doc(item, p, "a DHCP host {mac, ip, name}")
        host = DhcpHost(ip=h.need("ip", as_ip), mac=h.get("mac", as_host_mac),
                        id=h.get("id", as_duid), name=h.get("name", as_dns_name),
                        lease=h.get("lease", as_lease))
        h.done()
        if host.mac is not None and host.id is not None:
            raise InputError("a DHCP host is matched by mac or by id, not both", path=p)
        if subnet.version == 4 and host.mac is None and host.name is None:
            raise InputError("an IPv4 DHCP host needs a mac or a name", path=p)
        if subnet.version == 6 and host.id is None and host.name is None:
            raise InputError("an IPv6 DHCP host needs an id (DUID) or a name", path=p)
        if subnet.version == 6 and host.mac is not None:
            raise InputError("IPv6 DHCP hosts are matched by id (DUID) or name, not mac",
                             path=f"{p}.mac")
        hosts.append(host)
    bootp = None
    if d.has("bootp"):
        b = Doc(d.value["bootp"], d.sub("bootp"))
        bootp = Bootp(file=b.need("file", as_nonempty), server=b.get("server", as_dns_name))
        b.done()
    d.used.add("bootp")
    d.done()
    if not d.has("range") and not d.has("ranges"):
        ranges.append(dataclasses.replace(default_range(subnet, gateway), lease=default_lease))
    return DhcpDef(ranges=tuple(ranges), hosts=tuple(hosts), bootp=bootp)


def same_64k_block(a: IPAddr, b: IPAddr) -> bool:
    """libvirt refuses a DHCP range whose ends differ in more than the last 16 bits."""
    return int(a) >> 16 == int(b) >> 16


def default_range(subnet: IPNet, gateway: IPAddr) -> DhcpRange:
    """The larger side of the subnet around the gateway (libvirt's default network uses
    .2-.254 with gateway .1), without the network and broadcast addresses, and inside
    the gateway's 64K block (libvirt's limit on a range)."""
    first = subnet.network_address + 1
    last = subnet.broadcast_address - (1 if subnet.version == 4 else 0)
    block_first = type(gateway)(int(gateway) & ~0xFFFF)
    block_last = type(gateway)(int(gateway) | 0xFFFF)
    if int(gateway) - int(first) > int(last) - int(gateway):
        return DhcpRange(start=max(first, block_first), end=gateway - 1)
    return DhcpRange(start=gateway + 1, end=min(last, block_last))


def load_ip(d: Doc, subnet_key: str, gateway_key: str, dhcp_key: str,
            dhcp_default: bool, extra: bool = True, family: Optional[int] = None) -> Optional[IPDef]:
    """One ``<ip>`` from the keys ``subnet``/``gateway``/``dhcp`` (or their v6 twins)."""
    subnet = d.get(subnet_key, as_subnet)
    if subnet is None:
        for key in (gateway_key, dhcp_key):
            if d.has(key):
                raise InputError(f"{key} needs {subnet_key}", path=d.sub(key))
        return None
    if subnet_key == "subnet6" and subnet.version != 6:
        raise InputError(f"{subnet} is not an IPv6 subnet", path=d.sub(subnet_key),
                         hint="IPv4 subnets go in subnet")
    if family == 4 and subnet.version != 4:
        raise InputError(f"{subnet} is not an IPv4 subnet", path=d.sub(subnet_key),
                         hint="IPv6 subnets go in subnet6 (with gateway6, dhcp6)")
    if subnet.num_addresses < 4 and subnet.version == 4:
        raise InputError(f"{subnet} is too small for a network with a gateway",
                         path=d.sub(subnet_key), hint="use a /30 or larger")
    gateway = d.get(gateway_key, as_ip) or (subnet.network_address + 1)
    if gateway not in subnet or gateway in (subnet.network_address,) or (
            subnet.version == 4 and gateway == subnet.broadcast_address):
        raise InputError(f"gateway {gateway} is not a host address of {subnet}",
                         path=d.sub(gateway_key))
    dhcp = None
    d.used.add(dhcp_key)
    if d.has(dhcp_key):
        dhcp = load_dhcp(d.value[dhcp_key], d.sub(dhcp_key), subnet, gateway)
    elif dhcp_default:
        dhcp = DhcpDef(ranges=(default_range(subnet, gateway),))
    tftp = d.get("tftp", as_nonempty) if extra else None
    local_ptr = d.get("local_ptr", as_bool) if extra else None
    iface = ipaddress.ip_interface(f"{gateway}/{subnet.prefixlen}")
    return IPDef(interface=iface, local_ptr=local_ptr, tftp_root=tftp, dhcp=dhcp)


def load_ips(d: Doc, l3: bool) -> tuple[IPDef, ...]:
    ips: list[IPDef] = []
    v4 = load_ip(d, "subnet", "gateway", "dhcp", dhcp_default=l3, family=4)
    if v4 is not None:
        ips.append(v4)
    else:
        for key in ("tftp", "local_ptr"):
            if d.has(key):
                raise InputError(f"{key} needs subnet", path=d.sub(key))
    v6 = load_ip(d, "subnet6", "gateway6", "dhcp6", dhcp_default=False, extra=False)
    if v6 is not None:
        ips.append(v6)
    if d.has("ips"):
        for item, p in each(d.value["ips"], d.sub("ips")):
            sub = Doc(item, p, "an address block {subnet, gateway, dhcp}")
            ip = load_ip(sub, "subnet", "gateway", "dhcp", dhcp_default=False)
            if ip is None:
                raise InputError("'subnet' is required here", path=p)
            sub.done({"subnet", "gateway", "dhcp", "tftp", "local_ptr"})
            ips.append(ip)
    d.used.add("ips")
    return tuple(ips)


def check_ips(ips: tuple[IPDef, ...], path: str) -> None:
    """libvirt's rules on a network's addresses, with our own on DHCP ranges."""
    seen_dhcp: dict[int, bool] = {}
    for ip in ips:
        net = ip.interface.network
        if ip.dhcp is None:
            continue
        if seen_dhcp.get(ip.interface.version):
            raise InputError(
                f"DHCP is enabled on two IPv{ip.interface.version} subnets; libvirt runs it on one",
                path=path, hint="keep dhcp on one subnet per address family")
        seen_dhcp[ip.interface.version] = True
        for r in ip.dhcp.ranges:
            where = f"{path}.dhcp.range" if ip.interface.version == 4 else f"{path}.dhcp6.range"
            if r.start not in net or r.end not in net:
                raise InputError(f"DHCP range {r.start}-{r.end} is not inside {net}", path=where)
            if int(r.start) > int(r.end):
                raise InputError(f"DHCP range starts at {r.start}, after its end {r.end}",
                                 path=where)
            if not same_64k_block(r.start, r.end):
                raise InputError(
                    f"DHCP range {r.start}-{r.end} is too large: libvirt allows ranges whose "
                    "ends differ only in the last 16 bits (at most 65536 addresses)",
                    path=where, hint="split it into several ranges (dhcp.ranges)")
            if int(r.start) <= int(ip.interface.ip) <= int(r.end):
                raise InputError(
                    f"DHCP range {r.start}-{r.end} covers the gateway {ip.interface.ip}",
                    path=where, hint=f"start the range after {ip.interface.ip}")
            if net.version == 4 and (r.start == net.network_address or r.end == net.broadcast_address):
                raise InputError("a DHCP range cannot include the network or broadcast address",
                                 path=where)
        dhcp_key = "dhcp" if ip.interface.version == 4 else "dhcp6"
        for i, h in enumerate(ip.dhcp.hosts):
            where = f"{path}.{dhcp_key}.hosts[{i}].ip"
            if h.ip is not None and h.ip not in net:
                raise InputError(f"DHCP host address {h.ip} is not inside {net}", path=where)
            if h.ip == ip.interface.ip:
                raise InputError(f"DHCP host address {h.ip} is the gateway", path=where)


# ------------------------------------------------------------------ network, vm, host
COMMON_KEYS = {"kind", "host", "hosts", "uuid", "metadata"}


def _drivers() -> Any:
    from .drivers import registry

    return registry


@functools.cache
def _all_network_keys() -> frozenset[str]:
    """Every key any kind accepts (drivers are fixed for the life of the process)."""
    registry = _drivers()
    return frozenset(COMMON_KEYS).union(*(registry.driver_for(k).keys for k in registry.kinds()))


def _entry(name: str, value: Any, path: str, what: str, settings: set[str]) -> Doc:
    """The mapping of one named entry; a scalar under a name that is really a setting
    (``networks: {subnet: ...}``) is most often an indentation slip: say so."""
    if not isinstance(value, Mapping) and value is not None and name in settings:
        raise InputError(
            f"expected a mapping (key: value pairs) for {what} {name!r}, got {_kind(value)}",
            path=path, hint=f"{name!r} is a setting, not a {what} name: is it indented one "
            f"level too little?")
    return Doc(value, path, f"{what} {name!r}")


def load_network(name: str, value: Any, path: str, host_names: tuple[str, ...]) -> NetworkSpec:
    registry = _drivers()
    d = _entry(name, value, path, "network", set(_all_network_keys()))
    as_name(name, path)
    kinds = registry.kinds()
    kind = d.need("kind", _choice("kind", kinds),
                  hint=f"one of: {', '.join(kinds)}")
    driver = registry.driver_for(kind)
    allowed = COMMON_KEYS | set(driver.keys)
    misplaced: list[VnetError] = []
    for key in d.value:
        if key not in allowed:
            takers = [k for k in kinds if key in registry.driver_for(k).keys]
            if takers:
                misplaced.append(InputError(
                    f"{key!r} makes no sense for a network of kind {kind}",
                    path=d.sub(key),
                    hint=f"{driver.key_hint(key)}{key!r} is used by: {', '.join(takers)}",
                ))
            else:
                misplaced.append(unknown_key(key, allowed, path))
    if misplaced:
        raise ErrorList.of(misplaced)
    hosts: tuple[str, ...] = ()
    if d.has("host") and d.has("hosts"):
        raise InputError("give either host or hosts", path=path)
    if d.has("host"):
        hosts = (d.need("host", as_name),)
    elif d.has("hosts"):
        hosts = tuple(as_name(h, p) for h, p in each(d.need("hosts", lambda v, p: v), d.sub("hosts")))
    d.used.update({"host", "hosts"})
    for h in hosts:
        if h not in host_names:
            raise InputError(f"host {h!r} is not defined under hosts", path=d.sub("host"),
                             hint=f"hosts are: {', '.join(host_names)}")
    metadata: tuple[str, ...] = ()
    if d.has("metadata"):
        metadata = tuple(_xml_fragment(x, p) for x, p in each(d.value["metadata"], d.sub("metadata")))
    d.used.add("metadata")
    ips = load_ips(d, driver.l3)
    check_ips(ips, path)
    uplinks = tuple(as_ifname(u, p) for u, p in each(d.get("uplinks", lambda v, p: v, []), d.sub("uplinks")))
    access: list[AccessSwitch] = []
    if d.has("access"):
        a = Doc(d.value["access"], d.sub("access"), "access switches (name: settings)")
        for sw in a.value:
            s = Doc(a.value[sw], a.sub(sw))
            access.append(AccessSwitch(name=as_name(sw, a.sub(sw)), path=a.sub(sw),
                                       bridge=s.get("bridge", load_bridge) or BridgeSpec()))
            s.done()
        if not access:
            raise InputError("a two-tier network needs at least one access switch",
                             path=d.sub("access"))
    d.used.add("access")
    shim = None
    if d.has("shim"):
        raw = d.value["shim"]
        if raw is True:
            shim = ShimSpec()
        elif raw is not False:
            s = Doc(raw, d.sub("shim"), "shim (true or {name, address})")
            shim = ShimSpec(name=s.get("name", as_ifname), address=s.get("address", as_iface))
            s.done()
    d.used.add("shim")
    domain = None
    if d.has("domain"):
        raw = d.value["domain"]
        if isinstance(raw, str):
            domain = DomainNameDef(name=as_dns_name(raw, d.sub("domain")))
        else:
            dd = Doc(raw, d.sub("domain"))
            domain = DomainNameDef(name=dd.need("name", as_dns_name),
                                   local_only=dd.get("local_only", as_bool))
            dd.done()
    d.used.add("domain")
    vfs = tuple(as_pci(v, p) for v, p in each(d.get("vfs", lambda v, p: v, []), d.sub("vfs")))
    spec = NetworkSpec(
        name=name, kind=kind, path=path, hosts=hosts,
        uuid=d.get("uuid", _uuid), ips=ips,
        bridge=d.get("bridge", load_bridge), mtu=d.get("mtu", as_mtu), domain=domain,
        dns=d.get("dns", load_dns), routes=d.get("routes", load_routes, ()) or (),
        bandwidth=d.get("bandwidth", load_bandwidth), nat=d.get("nat", load_nat),
        uplink=d.get("uplink", as_ifname), uplinks=uplinks,
        vlan=d.get("vlan", load_vlan), virtualport=d.get("virtualport", load_virtualport),
        portgroups=d.get("portgroups", load_portgroups, ()) or (),
        trust_guest_rx_filters=d.get("trust_guest_rx_filters", as_bool),
        port_isolated=d.get("port_isolated", as_bool), ipv6=d.get("ipv6", as_bool),
        metadata=metadata,
        dnsmasq_options=tuple(as_str(x, p) for x, p in
                              each(d.get("dnsmasq_options", lambda v, p: v, []),
                                   d.sub("dnsmasq_options"))),
        mode=d.get("mode", as_str), pf=d.get("pf", as_ifname), vfs=vfs,
        managed=d.get("managed", as_bool),
        driver_name=d.get("driver_name", _choice("driver_name", ("vfio", "kvm", "xen"))),
        driver_model=d.get("driver_model", _pattern("driver model", r"[A-Za-z0-9_.-]+", "vfio-pci-igb")),
        vlan_device=d.get("vlan_device", as_ifname), upstream=d.get("upstream", as_str),
        access=tuple(access), hairpin=d.get("hairpin", as_bool), shim=shim,
    )
    d.done(allowed)
    for route in spec.routes:
        if not any(ip.interface.version == route.gateway.version and route.gateway in ip.interface.network
                   for ip in spec.ips):
            raise InputError(f"route gateway {route.gateway} is not on any subnet of this network",
                             path=d.sub("routes"), hint="the next hop must be directly reachable")
    if spec.uplink and spec.uplinks:
        raise InputError("give either uplink or uplinks", path=path)
    driver.check(spec)
    return spec


def _xml_fragment(value: Any, path: str) -> str:
    from lxml import etree

    text = as_str(value, path)
    try:
        el = etree.fromstring(text)
    except etree.XMLSyntaxError as exc:
        raise InputError(f"not well-formed XML: {exc}", path=path) from None
    if etree.QName(el).namespace is None:
        raise InputError("a metadata element needs its own XML namespace", path=path,
                         hint='e.g. <app:info xmlns:app="https://example.com/app">…</app:info>')
    return text


def load_host(name: str, value: Any, path: str) -> HostSpec:
    d = _entry(name, value, path, "host", {"uri", "uplinks", "sriov"})
    as_name(name, path)
    uplinks = tuple(as_ifname(u, p) for u, p in each(d.get("uplinks", lambda v, p: v, []), d.sub("uplinks")))
    if len(set(uplinks)) != len(uplinks):
        raise InputError("an uplink is listed twice", path=d.sub("uplinks"))
    sriov = []
    if d.has("sriov"):
        s = Doc(d.value["sriov"], d.sub("sriov"), "sriov (pf: {vfs: N})")
        for pf in s.value:
            p = Doc(s.value[pf], s.sub(pf))
            sriov.append(SriovPf(name=as_ifname(pf, s.sub(pf)), vfs=p.need("vfs", int_in(0, 256))))
            p.done()
    d.used.add("sriov")
    host = HostSpec(name=name, path=path, uri=d.get("uri", as_str, "qemu:///system") or "",
                    uplinks=uplinks, sriov=tuple(sriov))
    d.done()
    return host


NIC_KEYS = {"network", "mac", "model", "attach", "portgroup", "access", "ip", "ip6", "vf",
            "vlan", "trust", "spoofchk", "mtu", "bandwidth", "port_isolated", "link",
            "virtualport"}
_MODELS = ("virtio", "e1000", "e1000e", "rtl8139", "igb", "vmxnet3", "ne2k_pci", "pcnet")


def load_nic(value: Any, path: str, index: int) -> NicSpec:
    if isinstance(value, str):
        value = {"network": value}
    d = Doc(value, path, "a NIC {network, mac, ...}")
    nic = NicSpec(
        index=index, path=path,
        network=d.need("network", as_name),
        mac=d.get("mac", as_mac),
        model=d.get("model", _choice("model", _MODELS), "virtio") or "virtio",
        attach=d.get("attach", _choice("attach", ("network", "bridge", "direct", "hostdev"))),
        portgroup=d.get("portgroup", as_name), access=d.get("access", as_name),
        ip=d.get("ip", as_ipv4), ip6=d.get("ip6", as_ipv6), vf=d.get("vf", as_pci),
        vlan=d.get("vlan", load_vlan), trust=d.get("trust", as_bool),
        spoofchk=d.get("spoofchk", as_bool), mtu=d.get("mtu", as_mtu),
        bandwidth=d.get("bandwidth", load_nic_bandwidth),
        port_isolated=d.get("port_isolated", as_bool),
        link=d.get("link", _choice("link", ("up", "down"))),
        virtualport=d.get("virtualport", load_virtualport),
    )
    d.done(NIC_KEYS)
    return nic


def load_vm(name: str, value: Any, path: str, host_names: tuple[str, ...]) -> VmSpec:
    d = _entry(name, value, path, "VM", {"host", "nics", *NIC_KEYS})
    as_name(name, path)
    host = d.get("host", as_name)
    if host is None:
        if len(host_names) != 1:
            raise InputError("this topology has several hosts: say which one runs the VM",
                             path=d.sub("host"), hint=f"host: one of {', '.join(host_names)}")
        host = host_names[0]
    elif host not in host_names:
        raise InputError(f"host {host!r} is not defined under hosts", path=d.sub("host"),
                         hint=f"hosts are: {', '.join(host_names)}")
    nics = tuple(load_nic(v, p, i) for i, (v, p) in
                 enumerate(each(d.get("nics", lambda v, p: v, []), d.sub("nics"))))
    d.done({"host", "nics"})
    return VmSpec(name=name, path=path, host=host, nics=nics)


# ------------------------------------------------------------------ whole topology
def _collect(errors: list[VnetError], fn: Callable[[], T]) -> Optional[T]:
    try:
        return fn()
    except ErrorList as exc:
        errors.extend(exc.errors)
    except VnetError as exc:
        errors.append(exc)
    return None


def load(data: Any, source: str = "<topology>") -> Topology:
    """Check a topology given as plain data and return the model (or raise)."""
    top = Doc(data, "", "the topology document")
    errors: list[VnetError] = []
    name = top.need("name", as_str, hint="give the topology a name, e.g. name: office")
    if not _TOPOLOGY_NAME.match(name):
        raise InputError(f"{name!r} is not a usable topology name", path="name",
                         hint="letters, digits, '.', '_' and '-', at most 63 characters")
    hosts: list[HostSpec] = []
    if top.has("hosts") and top.value["hosts"]:
        hd = Doc(top.value["hosts"], "hosts", "hosts (name: settings)")
        for hname in hd.value:
            h = _collect(errors, functools.partial(load_host, hname, hd.value[hname], hd.sub(hname)))
            if h:
                hosts.append(h)
    else:
        hosts.append(HostSpec(name=DEFAULT_HOST, path="hosts"))
    top.used.add("hosts")
    host_names = tuple(h.name for h in hosts)
    networks: list[NetworkSpec] = []
    nd = Doc(top.get("networks", lambda v, p: v, {}), "networks", "networks (name: settings)")
    for nname in nd.value:
        n = _collect(errors, functools.partial(load_network, nname, nd.value[nname], nd.sub(nname),
                                               host_names))
        if n:
            networks.append(n)
    vms: list[VmSpec] = []
    vd = Doc(top.get("vms", lambda v, p: v, {}), "vms", "vms (name: settings)")
    for vname in vd.value:
        v = _collect(errors, functools.partial(load_vm, vname, vd.value[vname], vd.sub(vname), host_names))
        if v:
            vms.append(v)
    top.used.add("$schema")
    _collect(errors, lambda: top.done({"name", "hosts", "networks", "vms", "$schema"}))
    if errors:
        raise ErrorList.of(errors)
    topo = Topology(name=name, hosts=tuple(hosts), networks=tuple(networks), vms=tuple(vms),
                    source=source)
    from .checks import check_topology

    problems = check_topology(topo)
    if problems:
        raise ErrorList.of(problems)
    return topo


def _yaml_loader() -> Any:
    """PyYAML's safe loader, stricter where YAML 1.1 surprises network engineers:
    a key given twice is an error (not "last one wins"), and an integer with a leading
    zero (``vlan: 010``, octal 8 in YAML 1.1) is an error, not a silent conversion."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        pass

    def mapping(loader: Any, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, Any] = {}
        for key_node, _value in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is given twice in this mapping (first at line "
                    f"{seen[key].start_mark.line + 1})", key_node.start_mark)
            if isinstance(key, (str, int, float, bool)):
                seen[key] = key_node
        return loader.construct_mapping(node, deep=deep)

    def integer(loader: Any, node: Any) -> Any:
        text = str(node.value).replace("_", "")
        digits = text.lstrip("+-")
        if len(digits) > 1 and digits.startswith("0") and digits.isdigit():
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value} has a leading zero, which YAML reads as an octal "
                f"number ({int(digits, 8) if set(digits) <= set('01234567') else 'invalid'}); "
                f"write {int(digits)}", node.start_mark)
        return loader.construct_yaml_int(node)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    StrictLoader.add_constructor("tag:yaml.org,2002:int", integer)
    return StrictLoader


def load_yaml_text(text: str, source: str = "<string>") -> Topology:
    import yaml

    if not text.strip():
        raise InputError("the topology is empty", path=source,
                         hint="start with: name: office, then networks: and vms:")
    try:
        data = yaml.load(text, Loader=_yaml_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        hint = None
        if "\t" in problem or "'\\t'" in problem:
            hint = "YAML indents with spaces, not tabs"
        elif "mapping values are not allowed" in problem:
            hint = "a ':' inside a value needs quotes (e.g. MAC addresses), or the indentation is off"
        raise InputError(f"not valid YAML: {problem}", path=where, hint=hint) from None
    return load(data, source)


def load_file(path: Union[str, Path]) -> Topology:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the topology: {exc.strerror}", path=str(p)) from None
    except UnicodeDecodeError:
        raise InputError("the topology is not UTF-8 text", path=str(p)) from None
    return load_yaml_text(text, str(p))
