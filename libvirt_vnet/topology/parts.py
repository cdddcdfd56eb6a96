"""The parts of a topology entry that are libvirt's own vocabulary: VLAN tags, virtual
ports, bandwidth, portgroups, DNS, routes, NAT, the bridge, DHCP and the address blocks.

Each ``load_*`` takes ``(value, path)`` and returns a :mod:`libvirt_vnet.model.libvirt`
value (or a :class:`~libvirt_vnet.model.topology.BridgeSpec`), checked.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
from collections.abc import Mapping
from typing import Any, Callable, Optional, TypeVar

from ..errors import ErrorList, InputError
from ..model import names
from ..model.libvirt import (
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
    IPDef,
    NatDef,
    PortGroupDef,
    Rate,
    RouteDef,
    VirtualPortDef,
    VirtualPortType,
    VlanDef,
    VlanTag,
)
from ..model.topology import GROUP_FWD_NAMES, GROUP_FWD_RESTRICTED, LIBVIRT_PICKS, BridgeSpec
from .reader import (
    Doc,
    IPAddr,
    IPNet,
    Problems,
    as_bool,
    as_dns_name,
    as_duid,
    as_host_mac,
    as_ifname,
    as_ip,
    as_ipv4,
    as_lease,
    as_list,
    as_mac,
    as_nonempty,
    as_port,
    as_portgroup,
    as_str,
    as_subnet,
    as_uuid,
    as_vid,
    as_zone,
    choice,
    describe,
    each,
    int_in,
    pattern,
)

T = TypeVar("T")


def load_vlan(value: Any, path: str) -> VlanDef:
    if isinstance(value, str):
        as_vid(value, path)  # explains a quoted number; anything else is no VLAN either
        raise InputError(f"expected a VLAN id, a list of them or {{tags, trunk}}, got {describe(value)}",
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
            native = t.get("native_mode", choice("native_mode", ("tagged", "untagged")))
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


def load_virtualport(value: Any, path: str) -> VirtualPortDef:
    d = Doc(value, path, "a virtualport")
    types = tuple(t.value for t in VirtualPortType)
    vtype = d.get("type", choice("virtualport type", types))
    vp = VirtualPortDef(
        type=VirtualPortType(vtype) if vtype else None,
        managerid=d.get("managerid", int_in(0, 255)),
        typeid=d.get("typeid", int_in(0, 2**24 - 1)),
        typeidversion=d.get("typeidversion", int_in(0, 255)),
        instanceid=d.get("instanceid", as_uuid),
        profileid=d.get("profileid", as_str),
        interfaceid=d.get("interfaceid", as_uuid),
    )
    d.done()
    if vp.managerid == 0:
        raise InputError("802.1Qbg reserves VSI manager ID 0", path=d.sub("managerid"),
                         hint="use the manager ID of your VSI database (1..255)")
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
    problems = Problems()
    problems.extend(d.key_errors)
    groups = []
    for name in d.value:
        group = problems.run(_portgroup, name, d.value[name], d.sub(name))
        if group is not None:
            groups.append(group)
    problems.check()
    if len([g for g in groups if g.default]) > 1:
        raise InputError("more than one portgroup has default: true", path=path)
    return tuple(groups)


def _portgroup(name: str, value: Any, path: str) -> PortGroupDef:
    p = Doc(value, path, f"portgroup {name!r}")
    problems = Problems()
    fields = {key: problems.run(p.get, key, conv) for key, conv in (
        ("default", as_bool), ("trust_guest_rx_filters", as_bool), ("vlan", load_vlan),
        ("virtualport", load_virtualport), ("bandwidth", load_bandwidth))}
    pg_name = problems.run(as_portgroup, name, path)
    problems.run(p.done)
    problems.check()
    assert pg_name is not None
    return PortGroupDef(name=pg_name, **fields)


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
        srvs.append(_dns_srv(item, p))
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


def _dns_srv(value: Any, path: str) -> DnsSrv:
    """One SRV record as libvirt takes it: port (1-65535), priority and weight describe
    the target, so they need one (libvirt refuses them without: "not permitted without
    target")."""
    s = Doc(value, path)
    srv = DnsSrv(
        service=s.need("service", pattern("SRV service name", r"[A-Za-z0-9_-]+", "ldap")),
        protocol=s.need("protocol", choice("protocol", ("tcp", "udp"))),
        domain=s.get("domain", as_dns_name), target=s.get("target", as_dns_name),
        port=s.get("port", int_in(1, 65535)), priority=s.get("priority", int_in(0, 65535)),
        weight=s.get("weight", int_in(0, 65535)),
    )
    s.done()
    given = [k for k in ("port", "priority", "weight") if getattr(srv, k) is not None]
    if given and srv.target is None:
        raise ErrorList.of([InputError(
            f"an SRV record's {key} describes its target, and there is none: libvirt refuses it",
            path=s.sub(key), hint="add target: the host that offers the service (e.g. "
            "ldap.example.com), or drop the key") for key in given])
    return srv


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


def _ordered_pair(d: Doc, key: str, conv: Callable[[Any, str], T], what: str = "") -> tuple[Optional[T], Optional[T]]:
    """``key: [first, last]`` with ``first <= last``, or ``(None, None)`` when absent."""
    d.used.add(key)
    if not d.has(key):
        return None, None
    pair = as_list(d.value[key], d.sub(key))
    if len(pair) != 2:
        raise InputError(f"{key} is [first, last]", path=d.sub(key))
    first, last = conv(pair[0], d.sub(f"{key}[0]")), conv(pair[1], d.sub(f"{key}[1]"))
    if first > last:  # type: ignore[operator]
        raise InputError(f"{what}{first} comes after {last}", path=d.sub(key))
    return first, last


def load_nat(value: Any, path: str) -> NatDef:
    d = Doc(value, path, "nat")
    start, end = _ordered_pair(d, "addresses", as_ipv4)
    pstart, pend = _ordered_pair(d, "ports", as_port, "port ")
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
        mac_table_manager=d.get("mac_table_manager", choice("mac_table_manager",
                                                             ("kernel", "libvirt"))),
        zone=d.get("zone", as_zone),
        dummy_tap=bool(d.get("dummy_tap", as_bool, False)),
        group_fwd_mask=d.get("group_fwd_mask", as_group_fwd_mask),
        multicast_snooping=d.get("multicast_snooping", as_bool),
    )
    d.done()
    return spec


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
                         f"{describe(value)}", path=path,
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
    if subnet.prefixlen == 0:
        raise InputError(
            f"{subnet} is every address: libvirt reads prefix 0 as no prefix at all and "
            f"would give the network {'a /64' if subnet.version == 6 else 'a classful netmask'} "
            "instead", path=d.sub(subnet_key), hint="give the subnet the guests really use")
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


def load_ips(d: Doc, l3: bool) -> tuple[tuple[IPDef, ...], tuple[str, ...]]:
    """The network's address blocks, and the key each was given under."""
    ips: list[IPDef] = []
    keys: list[str] = []
    v4 = load_ip(d, "subnet", "gateway", "dhcp", dhcp_default=l3, family=4)
    if v4 is not None:
        ips.append(v4)
        keys.append("subnet")
    else:
        for key in ("tftp", "local_ptr"):
            if d.has(key):
                raise InputError(f"{key} needs subnet", path=d.sub(key))
    v6 = load_ip(d, "subnet6", "gateway6", "dhcp6", dhcp_default=False, extra=False)
    if v6 is not None:
        ips.append(v6)
        keys.append("subnet6")
    if d.has("ips"):
        for i, (item, p) in enumerate(each(d.value["ips"], d.sub("ips"))):
            sub = Doc(item, p, "an address block {subnet, gateway, dhcp}")
            ip = load_ip(sub, "subnet", "gateway", "dhcp", dhcp_default=False)
            if ip is None:
                raise InputError("'subnet' is required here", path=p)
            sub.done({"subnet", "gateway", "dhcp", "tftp", "local_ptr"})
            ips.append(ip)
            keys.append(f"ips[{i}]")
    d.used.add("ips")
    return tuple(ips), tuple(keys)


def dhcp_key(ip_key: str) -> str:
    """Where the DHCP settings of the address block given at ``ip_key`` are."""
    return {"subnet": "dhcp", "subnet6": "dhcp6"}.get(ip_key, f"{ip_key}.dhcp")


def ip_problems(ips: tuple[IPDef, ...], keys: tuple[str, ...], path: str) -> list[InputError]:
    """libvirt's and dnsmasq's rules on a network's addresses, with our own on DHCP
    ranges and hosts: every problem of every address block."""
    problems: list[InputError] = []
    seen_dhcp: dict[int, str] = {}
    for ip, key in zip(ips, keys):
        if ip.dhcp is None:
            continue
        where = f"{path}.{dhcp_key(key)}"
        version = ip.interface.version
        if version in seen_dhcp:
            problems.append(InputError(
                f"DHCP is enabled on two IPv{version} subnets ({seen_dhcp[version]} and {key}); "
                "libvirt runs it on one", path=where,
                hint="keep dhcp on one subnet per address family"))
        seen_dhcp.setdefault(version, key)
        net = ip.interface.network
        if version == 6 and net.prefixlen < 64:
            problems.append(InputError(
                f"DHCPv6 on {net}: dnsmasq serves DHCPv6 only on prefixes of /64 or longer "
                "(it refuses the range and the network does not start)", path=where,
                hint="use a /64 for the guests, or dhcp6: false"))
        for r in ip.dhcp.ranges:
            problems.extend(_range_problems(r, ip, f"{where}.range"))
        problems.extend(_host_problems(ip, f"{where}.hosts"))
    return problems


def _range_problems(r: DhcpRange, ip: IPDef, where: str) -> list[InputError]:
    net = ip.interface.network
    if r.start not in net or r.end not in net:
        return [InputError(f"DHCP range {r.start}-{r.end} is not inside {net}", path=where)]
    if int(r.start) > int(r.end):
        return [InputError(f"DHCP range starts at {r.start}, after its end {r.end}", path=where)]
    problems = []
    if not same_64k_block(r.start, r.end):
        problems.append(InputError(
            f"DHCP range {r.start}-{r.end} is too large: libvirt allows ranges whose "
            "ends differ only in the last 16 bits (at most 65536 addresses)",
            path=where, hint="split it into several ranges (dhcp.ranges)"))
    if int(r.start) <= int(ip.interface.ip) <= int(r.end):
        problems.append(InputError(
            f"DHCP range {r.start}-{r.end} covers the gateway {ip.interface.ip}",
            path=where, hint=f"start the range after {ip.interface.ip}"))
    ends = [names.host_address_problem(a, net) for a in (r.start, r.end)]
    if any(ends):
        problems.append(InputError(
            "a DHCP range cannot include the network or broadcast address: "
            + "; ".join(e for e in ends if e), path=where))
    return problems


def _host_problems(ip: IPDef, where: str) -> list[InputError]:
    """Each static host on a host address of the block, and no two hosts with one address
    or one client key (mac, DUID, or the name when it has neither: what dnsmasq matches)."""
    assert ip.dhcp is not None
    net = ip.interface.network
    problems = []
    taken: dict[str, int] = {}
    for i, h in enumerate(ip.dhcp.hosts):
        at = f"{where}[{i}]"
        if h.ip is not None:
            problem = (f"DHCP host address {h.ip} is not inside {net}" if h.ip not in net
                       else f"DHCP host address {h.ip} is the gateway" if h.ip == ip.interface.ip
                       else names.host_address_problem(h.ip, net))
            if problem:
                problems.append(InputError(problem, path=f"{at}.ip"))
        client = ("mac", h.mac) if h.mac else ("id", h.id) if h.id else ("name", h.name)
        for field, value in (("ip", str(h.ip) if h.ip is not None else None), client):
            if value is None:
                continue
            seen = taken.setdefault(f"{field}={value.lower()}", i)
            if seen != i:
                problems.append(InputError(
                    f"DHCP host {field} {value} is also given at {where}[{seen}]",
                    path=f"{at}.{field}", hint="one reservation per client and per address"))
    return problems
