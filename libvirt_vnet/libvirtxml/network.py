"""libvirt network XML: format a :class:`NetworkDef`, and parse one back.

Formatting is pure (definition in, lxml element out), deterministic (fixed element and
attribute order, libvirt's own order) and starts from ``xml_templates/network.xml``.
Parsing is strict: any element or attribute this module does not map is refused with
its path, so an import never loses data silently.  Both directions live here, side by
side, and a round-trip test keeps them in step.
"""

from __future__ import annotations

import ipaddress
from typing import Optional

from lxml import etree

from ..errors import ImportRefused
from ..model.libvirt import (
    Bootp,
    BridgeDef,
    DhcpDef,
    DhcpHost,
    DhcpRange,
    DnsDef,
    DnsForwarder,
    DnsHost,
    DnsSrv,
    DnsTxt,
    DomainNameDef,
    ForwardDef,
    ForwardMode,
    IPDef,
    Lease,
    NatDef,
    NetworkDef,
    PortGroupDef,
    RouteDef,
)
from . import metadata as vnetmeta
from .common import (
    Reader,
    format_bandwidth,
    format_pci,
    format_virtualport,
    format_vlan,
    parse_bandwidth,
    parse_ip_address,
    parse_pci,
    parse_untrusted,
    parse_virtualport,
    parse_vlan,
    set_attr,
    sub,
)
from .skeletons import skeleton

DNSMASQ_NS = "http://libvirt.org/schemas/network/dnsmasq/1.0"


def _parse_lease(r: Reader) -> Optional[Lease]:
    c = r.child("lease")
    if c is None:
        return None
    lease = Lease(expiry=c.conv("expiry", int) or 0, unit=c.attr("unit"))
    c.done()
    return lease


def _format_lease(parent: etree._Element, lease: Optional[Lease]) -> None:
    if lease is not None:
        sub(parent, "lease", expiry=lease.expiry, unit=lease.unit)


def format_network(net: NetworkDef) -> etree._Element:
    """The ``<network>`` element for ``net`` (a fresh tree)."""
    root = skeleton("network.xml")
    if net.dnsmasq_options:
        # the dnsmasq namespace must be declared on the root, as libvirt does
        new = etree.Element("network", nsmap={"dnsmasq": DNSMASQ_NS})
        new.extend(list(root))
        root = new
    set_attr(root, "ipv6", net.ipv6)
    set_attr(root, "trustGuestRxFilters", net.trust_guest_rx_filters)
    root.find("name").text = net.name  # type: ignore[union-attr]
    if net.uuid:
        sub(root, "uuid").text = net.uuid
    if net.metadata or net.vnet_metadata is not None:
        md = sub(root, "metadata")
        for raw in net.metadata:
            md.append(etree.fromstring(raw))
        if net.vnet_metadata is not None:
            md.append(vnetmeta.network_meta_element(net.vnet_metadata))
    fwd = net.forward
    if fwd is not None:
        el = sub(root, "forward", mode=fwd.mode.value, dev=fwd.dev, managed=fwd.managed)
        if fwd.driver_name or fwd.driver_model:
            sub(el, "driver", name=fwd.driver_name, model=fwd.driver_model)
        if fwd.nat is not None:
            nat = sub(el, "nat", ipv6=fwd.nat.ipv6)
            if fwd.nat.address_start is not None:
                sub(nat, "address", start=fwd.nat.address_start, end=fwd.nat.address_end)
            if fwd.nat.port_start is not None:
                sub(nat, "port", start=fwd.nat.port_start, end=fwd.nat.port_end)
        if fwd.pf:
            sub(el, "pf", dev=fwd.pf)
        for dev in fwd.interfaces:
            sub(el, "interface", dev=dev)
        for addr in fwd.addresses:
            format_pci(el, addr)
    if net.bridge is not None:
        b = net.bridge
        stp = None if b.stp is None else ("on" if b.stp else "off")
        sub(
            root,
            "bridge",
            name=b.name,
            stp=stp,
            delay=b.delay,
            macTableManager=b.mac_table_manager,
            zone=b.zone,
        )
    if net.mtu is not None:
        sub(root, "mtu", size=net.mtu)
    if net.mac is not None:
        sub(root, "mac", address=net.mac)
    if net.domain is not None:
        sub(root, "domain", name=net.domain.name, localOnly=net.domain.local_only)
    if net.dns is not None:
        _format_dns(root, net.dns)
    if net.vlan is not None:
        format_vlan(root, net.vlan)
    if net.bandwidth is not None:
        format_bandwidth(root, net.bandwidth)
    if net.virtualport is not None:
        format_virtualport(root, net.virtualport)
    if net.port_isolated is not None:
        sub(root, "port", isolated=net.port_isolated)
    for pg in net.portgroups:
        el = sub(root, "portgroup", name=pg.name, default=pg.default,
                  trustGuestRxFilters=pg.trust_guest_rx_filters)
        if pg.vlan is not None:
            format_vlan(el, pg.vlan)
        if pg.virtualport is not None:
            format_virtualport(el, pg.virtualport)
        if pg.bandwidth is not None:
            format_bandwidth(el, pg.bandwidth)
    for ip in net.ips:
        _format_ip(root, ip)
    for route in net.routes:
        attrs: dict[str, object] = {}
        if route.network.version == 6:
            attrs = {"family": "ipv6", "address": route.network.network_address,
                     "prefix": route.network.prefixlen}
        else:
            attrs = {"address": route.network.network_address, "netmask": route.network.netmask}
        sub(root, "route", **attrs, gateway=route.gateway, metric=route.metric)
    if net.dnsmasq_options:
        opts = etree.SubElement(root, f"{{{DNSMASQ_NS}}}options")
        for value in net.dnsmasq_options:
            etree.SubElement(opts, f"{{{DNSMASQ_NS}}}option").set("value", value)
    return root


def _format_dns(root: etree._Element, dns: DnsDef) -> None:
    el = sub(root, "dns", enable=dns.enable, forwardPlainNames=dns.forward_plain_names)
    for fw in dns.forwarders:
        sub(el, "forwarder", domain=fw.domain, addr=fw.addr)
    for txt in dns.txts:
        sub(el, "txt", name=txt.name, value=txt.value)
    for srv in dns.srvs:
        sub(el, "srv", service=srv.service, protocol=srv.protocol, domain=srv.domain,
             target=srv.target, port=srv.port, priority=srv.priority, weight=srv.weight)
    for host in dns.hosts:
        hel = sub(el, "host", ip=host.ip)
        for name in host.hostnames:
            sub(hel, "hostname").text = name


def _format_ip(root: etree._Element, ip: IPDef) -> None:
    iface = ip.interface
    if iface.version == 6:
        el = sub(root, "ip", family="ipv6", address=iface.ip, prefix=iface.network.prefixlen)
    else:
        el = sub(root, "ip", address=iface.ip, netmask=iface.network.netmask)
    set_attr(el, "localPtr", ip.local_ptr)
    if ip.tftp_root:
        sub(el, "tftp", root=ip.tftp_root)
    if ip.dhcp is not None:
        d = sub(el, "dhcp")
        for r in ip.dhcp.ranges:
            _format_lease(sub(d, "range", start=r.start, end=r.end), r.lease)
        for h in ip.dhcp.hosts:
            _format_lease(sub(d, "host", mac=h.mac, id=h.id, name=h.name, ip=h.ip), h.lease)
        if ip.dhcp.bootp is not None:
            sub(d, "bootp", file=ip.dhcp.bootp.file, server=ip.dhcp.bootp.server)


def _classful_prefix(addr: ipaddress.IPv4Address) -> int:
    first = int(addr) >> 24
    return 8 if first < 128 else 16 if first < 192 else 24


def _parse_ip(r: Reader) -> IPDef:
    family = r.attr("family")
    address = r.conv("address", parse_ip_address)
    if address is None:
        raise ImportRefused("<ip> without an address", path=r.path)
    if family not in (None, "ipv4", "ipv6") or (family == "ipv6") != (address.version == 6):
        raise ImportRefused(f"family {family!r} does not match address {address}", path=r.path)
    netmask = r.attr("netmask")
    prefix = r.conv("prefix", int)
    try:
        if prefix is not None:
            iface = ipaddress.ip_interface(f"{address}/{prefix}")
        elif netmask is not None:
            iface = ipaddress.ip_interface(f"{address}/{netmask}")
        elif isinstance(address, ipaddress.IPv4Address):
            iface = ipaddress.ip_interface(f"{address}/{_classful_prefix(address)}")
        else:
            iface = ipaddress.ip_interface(f"{address}/64")
    except ValueError as exc:
        raise ImportRefused(str(exc), path=r.path) from None
    local_ptr = r.yesno("localPtr")
    tftp = r.child("tftp")
    tftp_root = None
    if tftp is not None:
        tftp_root = tftp.need("root")
        tftp.done()
    dhcp = None
    d = r.child("dhcp")
    if d is not None:
        ranges = []
        for rr in d.children("range"):
            start, end = rr.conv("start", parse_ip_address), rr.conv("end", parse_ip_address)
            if start is None or end is None:
                raise ImportRefused("<range> needs start and end", path=rr.path)
            ranges.append(DhcpRange(start=start, end=end, lease=_parse_lease(rr)))
            rr.done()
        hosts = []
        for h in d.children("host"):
            hosts.append(DhcpHost(ip=h.conv("ip", parse_ip_address), mac=h.attr("mac"), id=h.attr("id"),
                                  name=h.attr("name"), lease=_parse_lease(h)))
            h.done()
        bootp = None
        b = d.child("bootp")
        if b is not None:
            bootp = Bootp(file=b.need("file"), server=b.attr("server"))
            b.done()
        d.done()
        dhcp = DhcpDef(ranges=tuple(ranges), hosts=tuple(hosts), bootp=bootp)
    r.done()
    return IPDef(interface=iface, local_ptr=local_ptr, tftp_root=tftp_root, dhcp=dhcp)


def _parse_route(r: Reader) -> RouteDef:
    r.attr("family")
    address = r.need("address")
    prefix = r.attr("prefix")
    netmask = r.attr("netmask")
    gateway = r.conv("gateway", parse_ip_address)
    try:
        mask = prefix if prefix is not None else netmask
        network = ipaddress.ip_network(f"{address}/{mask}" if mask else address, strict=False)
    except ValueError as exc:
        raise ImportRefused(str(exc), path=r.path) from None
    if gateway is None:
        raise ImportRefused("<route> needs a gateway", path=r.path)
    route = RouteDef(network=network, gateway=gateway, metric=r.conv("metric", int))
    r.done()
    return route


def _parse_dns(r: Reader) -> DnsDef:
    enable = r.yesno("enable")
    fpn = r.yesno("forwardPlainNames")
    forwarders = []
    for f in r.children("forwarder"):
        forwarders.append(DnsForwarder(addr=f.conv("addr", parse_ip_address), domain=f.attr("domain")))
        f.done()
    hosts = []
    for h in r.children("host"):
        names = []
        for n in h.children("hostname"):
            names.append(n.text())
            n.done()
        ip = h.conv("ip", parse_ip_address)
        if ip is None:
            raise ImportRefused("<host> needs an ip", path=h.path)
        hosts.append(DnsHost(ip=ip, hostnames=tuple(names)))
        h.done()
    srvs = []
    for s in r.children("srv"):
        srvs.append(DnsSrv(service=s.need("service"), protocol=s.need("protocol"),
                           domain=s.attr("domain"), target=s.attr("target"),
                           port=s.conv("port", int), priority=s.conv("priority", int),
                           weight=s.conv("weight", int)))
        s.done()
    txts = []
    for t in r.children("txt"):
        txts.append(DnsTxt(name=t.need("name"), value=t.need("value")))
        t.done()
    r.done()
    return DnsDef(enable=enable, forward_plain_names=fpn, forwarders=tuple(forwarders),
                  hosts=tuple(hosts), srvs=tuple(srvs), txts=tuple(txts))


def _parse_forward(r: Reader) -> ForwardDef:
    mode = r.conv("mode", ForwardMode) or ForwardMode.NAT
    dev = r.attr("dev")
    managed = r.yesno("managed")
    driver = r.child("driver")
    driver_name = driver_model = None
    if driver is not None:
        driver_name = driver.attr("name")
        driver_model = driver.attr("model")
        driver.done()
    nat = None
    n = r.child("nat")
    if n is not None:
        ipv6 = n.yesno("ipv6")
        a = n.child("address")
        p = n.child("port")
        a_start = a_end = None
        p_start = p_end = None
        if a is not None:
            a_start, a_end = a.conv("start", parse_ip_address), a.conv("end", parse_ip_address)
            a.done()
        if p is not None:
            p_start, p_end = p.conv("start", int), p.conv("end", int)
            p.done()
        n.done()
        nat = NatDef(address_start=a_start, address_end=a_end, port_start=p_start,
                     port_end=p_end, ipv6=ipv6)
    pf = None
    pfs = r.children("pf")
    if len(pfs) > 1:
        raise ImportRefused("only one <pf> is allowed", path=r.path)
    if pfs:
        pf = pfs[0].need("dev")
        pfs[0].done()
    interfaces = []
    for i in r.children("interface"):
        interfaces.append(i.need("dev"))
        i.done()
    addresses = tuple(parse_pci(a) for a in r.children("address"))
    r.done()
    if dev is not None and mode in (ForwardMode.NAT, ForwardMode.ROUTE) and interfaces == [dev]:
        interfaces = []  # libvirt's formatter repeats dev as <interface>: same meaning
    if dev is not None and interfaces and interfaces[0] == dev and mode not in (
            ForwardMode.NAT, ForwardMode.ROUTE):
        dev = None  # for pools libvirt formats dev as the first pool member
    return ForwardDef(mode=mode, dev=dev, interfaces=tuple(interfaces), pf=pf,
                      addresses=addresses, managed=managed, driver_name=driver_name, driver_model=driver_model,
                      nat=nat)


def _parse_portgroup(r: Reader) -> PortGroupDef:
    name = r.need("name")
    default = r.yesno("default")
    trust = r.yesno("trustGuestRxFilters")
    vlan = r.child("vlan")
    vp = r.child("virtualport")
    bw = r.child("bandwidth")
    r.done()
    return PortGroupDef(
        name=name, default=default, trust_guest_rx_filters=trust,
        vlan=parse_vlan(vlan) if vlan else None,
        virtualport=parse_virtualport(vp) if vp else None,
        bandwidth=parse_bandwidth(bw) if bw else None,
    )


def parse_network(root: etree._Element) -> NetworkDef:
    """Strictly parse a ``<network>`` element (see the module docstring)."""
    if root.tag != "network":
        raise ImportRefused(f"expected a <network> document, got <{root.tag}>", path="/")
    r = Reader(root, "/network")
    r.attr("connections")  # live-only status, not configuration
    ipv6 = r.yesno("ipv6")
    trust = r.yesno("trustGuestRxFilters")
    name_el = r.child("name")
    if name_el is None or not name_el.text():
        raise ImportRefused("the network has no <name>", path="/network")
    name = name_el.text()
    uuid_el = r.child("uuid")
    uuid = uuid_el.text() if uuid_el else None
    metadata: list[str] = []
    vnet_meta = None
    md = r.child("metadata")
    if md is not None:
        for child in md.el:
            if not isinstance(child.tag, str):
                continue
            if child.tag == vnetmeta.q("network"):
                try:
                    vnet_meta = vnetmeta.network_meta_from(child)
                except (ValueError, TypeError) as exc:  # TypeError: an object missing a field
                    raise ImportRefused(f"vnet's metadata cannot be read: {exc}",
                                        path=f"{md.path}/vnet:network") from None
            else:
                c = etree.fromstring(etree.tostring(child))
                c.tail = None
                metadata.append(etree.tostring(c, encoding="unicode"))
        md.used_children = set(range(len(md.el)))
    fwd = r.child("forward")
    br = r.child("bridge")
    bridge = None
    if br is not None:
        bridge = BridgeDef(name=br.attr("name"), stp=br.yesno("stp", "on", "off"),
                           delay=br.conv("delay", int),
                           mac_table_manager=br.attr("macTableManager"), zone=br.attr("zone"))
        br.done()
    mtu_el = r.child("mtu")
    mtu = mtu_el.conv("size", int) if mtu_el else None
    if mtu_el:
        mtu_el.done()
    mac_el = r.child("mac")
    mac = mac_el.attr("address") if mac_el else None
    if mac_el:
        mac_el.done()
    dom_el = r.child("domain")
    domain = None
    if dom_el is not None:
        domain = DomainNameDef(name=dom_el.need("name"), local_only=dom_el.yesno("localOnly"))
        dom_el.done()
    dns_el = r.child("dns")
    vlan_el = r.child("vlan")
    bw_el = r.child("bandwidth")
    vp_el = r.child("virtualport")
    port_el = r.child("port")
    port_isolated = None
    if port_el is not None:
        port_isolated = port_el.yesno("isolated")
        port_el.done()
    portgroups = tuple(_parse_portgroup(p) for p in r.children("portgroup"))
    ips = tuple(_parse_ip(i) for i in r.children("ip"))
    routes = tuple(_parse_route(x) for x in r.children("route"))
    dnsmasq: list[str] = []
    opts = r.child(f"{{{DNSMASQ_NS}}}options")
    if opts is not None:
        for o in opts.children(f"{{{DNSMASQ_NS}}}option"):
            dnsmasq.append(o.need("value"))
            o.done()
        opts.done()
    net = NetworkDef(
        name=name,
        uuid=uuid,
        forward=_parse_forward(fwd) if fwd else None,
        bridge=bridge,
        mtu=mtu,
        mac=mac.lower() if mac else None,
        domain=domain,
        dns=_parse_dns(dns_el) if dns_el else None,
        vlan=parse_vlan(vlan_el) if vlan_el else None,
        bandwidth=parse_bandwidth(bw_el) if bw_el else None,
        virtualport=parse_virtualport(vp_el) if vp_el else None,
        portgroups=portgroups,
        ips=ips,
        routes=routes,
        port_isolated=port_isolated,
        ipv6=ipv6,
        trust_guest_rx_filters=trust,
        metadata=tuple(metadata),
        dnsmasq_options=tuple(dnsmasq),
        vnet_metadata=vnet_meta,
    )
    r.done()
    return net


def parse_network_string(text: str | bytes, source: str = "<string>") -> NetworkDef:
    """A ``<network>`` document from outside (see :func:`.common.parse_untrusted`), strictly."""
    return parse_network(parse_untrusted(text, source, remove_comments=True))
