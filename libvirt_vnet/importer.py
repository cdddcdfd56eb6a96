"""Layer: import — turns an existing libvirt network (:class:`NetworkDef`) into a
topology entry (a plain dict) that the loader accepts and that renders back to the same
network.

The entry is plain data (str/int/bool/list/dict) in the topology document's own
vocabulary, ready to be dumped as YAML.  Everything the network says is carried over:
what vnet cannot say (or could only say by changing the network) is refused with
:class:`~libvirt_vnet.errors.ImportRefused`, naming the element — never dropped.

Besides mapping fields one to one, the importer switches off what the loader and the
drivers would otherwise *add*: DHCP on the ``subnet`` shorthand (``dhcp: false``), a
derived bridge MAC (``bridge.mac: libvirt``), ``managed='yes'`` on hostdev pools.
"""

from __future__ import annotations

from typing import Any, Optional

from .drivers.base import COMMON_KEYS
from .errors import ImportRefused
from .model.libvirt import (
    BandwidthDef,
    DhcpDef,
    DnsDef,
    ForwardMode,
    IPDef,
    Lease,
    NetworkDef,
    PortGroupDef,
    Rate,
    VirtualPortDef,
    VirtualPortType,
    VlanDef,
)
from .model.plumbing import BridgeUplink, HostBridge, MacvlanShim, NetworkMeta, PortFlags, VlanDevice
from .model.topology import GROUP_FWD_RESTRICTED, LIBVIRT_PICKS

__all__ = ["import_xml", "network_to_entry"]


_MACVTAP_MODES = {
    ForwardMode.PRIVATE: "private",
    ForwardMode.VEPA: "vepa",
    ForwardMode.PASSTHROUGH: "passthrough",
}

_HINT = "vnet refuses what it cannot reproduce rather than dropping it"


# ------------------------------------------------------------------ small pieces
def _prune(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` without ``None`` values and empty lists/tuples (dicts are kept as given)."""
    return {k: v for k, v in d.items() if v is not None and v != [] and v != ()}


def _lease(lease: Optional[Lease]) -> Optional[str]:
    if lease is None:
        return None
    if lease.expiry == 0:
        return "infinite"
    unit = lease.unit or "minutes"  # libvirt's default unit
    if unit not in ("seconds", "minutes", "hours"):
        raise ImportRefused(f"lease unit {unit!r} is not one of seconds, minutes, hours",
                            path="/network/ip/dhcp/lease")
    return f"{lease.expiry}{unit[0]}"


def _rate(rate: Rate) -> dict[str, Any]:
    return _prune({"average": rate.average, "peak": rate.peak, "burst": rate.burst,
                   "floor": rate.floor})


def _bandwidth(bw: BandwidthDef) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if bw.inbound is not None:
        out["inbound"] = _rate(bw.inbound)
    if bw.outbound is not None:
        out["outbound"] = _rate(bw.outbound)
    return out


def _vlan(vlan: VlanDef, path: str) -> Any:
    """The most natural loader form that reads back to exactly ``vlan``."""
    if not vlan.tags:
        raise ImportRefused("<vlan> without any <tag>", path=path,
                            hint="libvirt needs at least one tag; remove the element")
    native = any(t.native_mode for t in vlan.tags)
    ids = [t.id for t in vlan.tags]
    if not native:
        if len(ids) == 1 and vlan.trunk is None:
            return ids[0]
        if len(ids) > 1 and vlan.trunk is True:
            return ids  # the loader's list form means trunk: true
    tags = [_prune({"id": t.id, "native_mode": t.native_mode}) for t in vlan.tags]
    return _prune({"tags": tags, "trunk": vlan.trunk})


def _virtualport(vp: VirtualPortDef) -> dict[str, Any]:
    return _prune({
        "type": vp.type.value if vp.type is not None else None,
        "managerid": vp.managerid, "typeid": vp.typeid, "typeidversion": vp.typeidversion,
        "instanceid": vp.instanceid, "profileid": vp.profileid, "interfaceid": vp.interfaceid,
    })


def _portgroups(groups: tuple[PortGroupDef, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pg in groups:
        path = f"/network/portgroup[@name='{pg.name}']"
        if pg.name in out:
            raise ImportRefused(f"portgroup {pg.name!r} appears twice", path=path)
        out[pg.name] = _prune({
            "default": pg.default,
            "trust_guest_rx_filters": pg.trust_guest_rx_filters,
            "vlan": _vlan(pg.vlan, f"{path}/vlan") if pg.vlan is not None else None,
            "virtualport": _virtualport(pg.virtualport) if pg.virtualport is not None else None,
            "bandwidth": _bandwidth(pg.bandwidth) if pg.bandwidth is not None else None,
        })
    return out


def _dns(dns: DnsDef) -> dict[str, Any]:
    forwarders: list[Any] = []
    for fw in dns.forwarders:
        if fw.domain is None and fw.addr is not None:
            forwarders.append(str(fw.addr))
        elif fw.addr is None and fw.domain is None:
            raise ImportRefused("a DNS <forwarder> without addr or domain",
                                path="/network/dns/forwarder", hint=_HINT)
        else:
            forwarders.append(_prune({"addr": str(fw.addr) if fw.addr else None,
                                      "domain": fw.domain}))
    return _prune({
        "enable": dns.enable,
        "forward_plain_names": dns.forward_plain_names,
        "forwarders": forwarders,
        "hosts": [{"ip": str(h.ip), "names": list(h.hostnames)} for h in dns.hosts],
        "srv": [_prune({"service": s.service, "protocol": s.protocol, "domain": s.domain,
                        "target": s.target, "port": s.port, "priority": s.priority,
                        "weight": s.weight}) for s in dns.srvs],
        "txt": [{"name": t.name, "value": t.value} for t in dns.txts],
    })


def _dhcp(dhcp: DhcpDef) -> dict[str, Any]:
    """A DHCP block as the loader's dict form.  ``ranges`` is always given, empty when
    the block has none (reservations or bootp only, or an empty ``<dhcp/>``): without
    it the loader adds a default dynamic range."""
    out: dict[str, Any] = {}
    out["ranges"] = [_prune({"start": str(r.start), "end": str(r.end), "lease": _lease(r.lease)})
                     for r in dhcp.ranges]
    if dhcp.hosts:
        out["hosts"] = [_prune({"mac": h.mac, "id": h.id, "name": h.name,
                                "ip": str(h.ip) if h.ip is not None else None,
                                "lease": _lease(h.lease)}) for h in dhcp.hosts]
    if dhcp.bootp is not None:
        out["bootp"] = _prune({"file": dhcp.bootp.file, "server": dhcp.bootp.server})
    return out


def _ip_keys(ip: IPDef, path: str, *, subnet: str, gateway: str, dhcp: str,
             extra: bool, dhcp_default: bool) -> dict[str, Any]:
    iface = ip.interface
    net = iface.network
    if iface.ip == net.network_address or (
            net.version == 4 and net.prefixlen < 31 and iface.ip == net.broadcast_address):
        raise ImportRefused(f"the host address {iface.ip} is not a host address of {net}",
                            path=path, hint="vnet's subnet/gateway cannot express it")
    out: dict[str, Any] = {subnet: str(net), gateway: str(iface.ip)}
    if ip.dhcp is not None:
        out[dhcp] = _dhcp(ip.dhcp)
    elif dhcp_default:
        out[dhcp] = False  # the shorthand turns DHCP on by default
    if ip.tftp_root is not None or ip.local_ptr is not None:
        if not extra:
            raise ImportRefused("tftp/localPtr cannot be expressed here", path=path)
        if ip.tftp_root is not None:
            out["tftp"] = ip.tftp_root
        if ip.local_ptr is not None:
            out["local_ptr"] = ip.local_ptr
    return out


def _ips(ips: tuple[IPDef, ...]) -> dict[str, Any]:
    """``<ip>`` elements as ``subnet``/``subnet6`` shorthands plus an ``ips`` list.

    The loader builds addresses in the order [subnet, subnet6, *ips], and libvirt keeps
    (and formats) them in document order, so a shorthand is used only where it keeps
    the order: ``subnet`` for the first IPv4 when it is the first ``<ip>``, ``subnet6``
    for the first IPv6 when it comes right after (and has no tftp/localPtr, which the
    IPv6 shorthand cannot say).  Everything else goes into ``ips``.
    """
    out: dict[str, Any] = {}
    rest = list(enumerate(ips))
    if rest and rest[0][1].interface.version == 4:
        i, ip = rest.pop(0)
        out.update(_ip_keys(ip, f"/network/ip[{i + 1}]", subnet="subnet", gateway="gateway",
                            dhcp="dhcp", extra=True, dhcp_default=True))
    if rest and rest[0][1].interface.version == 6 and rest[0][1].tftp_root is None \
            and rest[0][1].local_ptr is None:
        i, ip = rest.pop(0)
        out.update(_ip_keys(ip, f"/network/ip[{i + 1}]", subnet="subnet6", gateway="gateway6",
                            dhcp="dhcp6", extra=False, dhcp_default=False))
    if rest:
        out["ips"] = [_ip_keys(ip, f"/network/ip[{i + 1}]", subnet="subnet", gateway="gateway",
                               dhcp="dhcp", extra=True, dhcp_default=False)
                      for i, ip in rest]
    return out


# ------------------------------------------------------------------ kind
def _vlan_bridge_from_meta(net: NetworkDef) -> Optional[dict[str, Any]]:
    """The vlan-bridge keys rebuilt from vnet's own metadata, or ``None`` when the
    metadata does not describe this network exactly (then the forward mode decides)."""
    meta = net.vnet_metadata
    if not isinstance(meta, NetworkMeta) or meta.kind != "vlan-bridge":
        return None
    fwd = net.forward
    if fwd is None or fwd.mode is not ForwardMode.BRIDGE or fwd.dev or fwd.interfaces \
            or fwd.pf or fwd.addresses or fwd.nat or fwd.managed is not None \
            or fwd.driver_model or fwd.driver_name or net.bridge is None or not net.bridge.name \
            or net.vlan is not None or net.virtualport is not None:
        return None
    if net.bridge.stp is not None or net.bridge.delay is not None or net.bridge.zone \
            or net.bridge.mac_table_manager or net.mac is not None:
        return None
    devs = [o for o in meta.objects if isinstance(o, VlanDevice)]
    bridges = [o for o in meta.objects if isinstance(o, HostBridge)]
    links = [o for o in meta.objects if isinstance(o, BridgeUplink)]
    flags = [o for o in meta.objects if isinstance(o, PortFlags)]
    if len(devs) != 1 or len(bridges) != 1 or len(links) != 1 or len(flags) > 1:
        return None
    if len(meta.objects) != 3 + len(flags):
        return None
    dev, br, link = devs[0], bridges[0], links[0]
    if br.name != net.bridge.name or link.device != dev.name or link.bridge != br.name:
        return None
    if dev.mtu != net.mtu or br.mtu != net.mtu:
        return None
    flag = flags[0] if flags else None
    if flag is not None and (flag.bridge != br.name or flag.isolated is not None
                             or flag.learning is not None or flag.hairpin is None):
        return None
    from .model import names

    bridge: dict[str, Any] = {"name": br.name, "mac": br.mac or LIBVIRT_PICKS,
                              "stp": br.stp, "delay": br.delay}
    if br.dummy_tap is not None:
        if br.dummy_tap != names.dummy_tap_name(br.name):
            return None
        bridge["dummy_tap"] = True
    if br.group_fwd_mask is not None:
        if not 0 <= br.group_fwd_mask <= 0xFFFF or br.group_fwd_mask & GROUP_FWD_RESTRICTED:
            return None  # not a mask vnet renders: not vnet's description of this network
        bridge["group_fwd_mask"] = br.group_fwd_mask
    if br.multicast_snooping is not None:
        bridge["multicast_snooping"] = br.multicast_snooping
    out: dict[str, Any] = {"uplink": dev.parent, "vlan": dev.vid, "bridge": bridge}
    if dev.name != names.vlan_device_name(dev.parent, dev.vid):
        out["vlan_device"] = dev.name
    if flag is not None:
        out["hairpin"] = flag.hairpin
    return out


def _kind(net: NetworkDef) -> str:
    fwd = net.forward
    if fwd is None:
        return "isolated"
    mode = fwd.mode
    if mode in (ForwardMode.NAT, ForwardMode.ROUTE, ForwardMode.OPEN):
        return str(mode.value)
    if mode is ForwardMode.HOSTDEV:
        return "hostdev"
    if mode in _MACVTAP_MODES:
        return "macvtap"
    # mode bridge
    if net.virtualport is not None and net.virtualport.type is VirtualPortType.OPENVSWITCH:
        return "openvswitch"
    if fwd.interfaces or fwd.dev:
        if net.bridge is not None and net.bridge.name:
            raise ImportRefused(
                "a forward mode='bridge' network with both a bridge name and forward "
                "interfaces", path="/network/forward",
                hint="libvirt uses one or the other; keep the one you mean")
        return "macvtap"
    if net.bridge is not None and net.bridge.name:
        return "bridge"
    raise ImportRefused(
        "a forward mode='bridge' network needs a bridge name or forward interfaces",
        path="/network/forward", hint="add <bridge name='br0'/> or <interface dev='eth0'/>")


# ------------------------------------------------------------------ network
def network_to_entry(net: NetworkDef) -> tuple[str, dict[str, Any]]:
    """``(network name, topology entry)`` for ``net``; see the module docstring."""
    from .drivers import registry

    vlan_bridge = _vlan_bridge_from_meta(net)
    kind = "vlan-bridge" if vlan_bridge is not None else _kind(net)
    driver = registry.driver_for(kind)
    entry: dict[str, Any] = {"kind": kind}
    where: dict[str, str] = {}  # entry key -> the XML it came from, for refusals

    def put(key: str, value: Any, path: str) -> None:
        entry[key] = value
        where[key] = path

    if net.uuid:
        put("uuid", net.uuid, "/network/uuid")
    fwd = net.forward

    # ---- forward
    if fwd is not None:
        fpath = "/network/forward"
        if kind in ("nat", "route", "open"):
            if fwd.interfaces:
                raise ImportRefused(
                    "a second forward device: libvirt's nat/route/open networks take one "
                    f"<forward dev>, not <interface> {', '.join(fwd.interfaces)}",
                    path=f"{fpath}/interface", hint=_HINT)
            l3_extra: tuple[tuple[str, object], ...] = (
                ("pf", fwd.pf), ("address", fwd.addresses), ("driver", fwd.driver_model or fwd.driver_name))
            for what, value in l3_extra:
                if value:
                    raise ImportRefused(f"<{what}> is not allowed in forward mode "
                                        f"{fwd.mode.value}", path=f"{fpath}/{what}")
            if fwd.managed is not None:
                raise ImportRefused(f"managed applies to hostdev pools, not forward mode "
                                    f"{fwd.mode.value}", path=fpath, hint=_HINT)
            if fwd.dev and kind == "open":
                raise ImportRefused("forward mode='open' takes no dev; libvirt refuses it",
                                    path=f"{fpath}/@dev", hint=f"remove dev='{fwd.dev}'")
            if fwd.dev:
                put("uplink", fwd.dev, f"{fpath}/@dev")
            if fwd.nat is not None:
                nat = fwd.nat
                if (nat.address_start is None) != (nat.address_end is None):
                    raise ImportRefused("<nat><address> needs both start and end",
                                        path=f"{fpath}/nat/address")
                if (nat.port_start is None) != (nat.port_end is None):
                    raise ImportRefused("<nat><port> needs both start and end",
                                        path=f"{fpath}/nat/port")
                nd: dict[str, Any] = {}
                if nat.address_start is not None:
                    nd["addresses"] = [str(nat.address_start), str(nat.address_end)]
                if nat.port_start is not None:
                    nd["ports"] = [nat.port_start, nat.port_end]
                if nat.ipv6 is not None:
                    nd["ipv6"] = nat.ipv6
                put("nat", nd, f"{fpath}/nat")
        elif kind == "hostdev":
            if fwd.dev or fwd.interfaces:
                raise ImportRefused("a hostdev pool is a <pf> or PCI <address>es, not "
                                    "network interfaces", path=f"{fpath}/interface",
                                    hint=_HINT)
            if fwd.nat is not None:
                raise ImportRefused("<nat> is only for forward mode nat", path=f"{fpath}/nat")
            if fwd.pf:
                put("pf", fwd.pf, f"{fpath}/pf")
            if fwd.addresses:
                put("vfs", [str(a) for a in fwd.addresses], f"{fpath}/address")
            # libvirt formats an absent managed as managed='no'; the driver's default is yes
            put("managed", bool(fwd.managed), f"{fpath}/@managed")
            if fwd.driver_model:
                put("driver_model", fwd.driver_model, f"{fpath}/driver/@model")
            if fwd.driver_name:
                put("driver_name", fwd.driver_name, f"{fpath}/driver/@name")
        elif kind == "macvtap":
            if fwd.nat is not None:
                raise ImportRefused("<nat> is only for forward mode nat", path=f"{fpath}/nat")
            if fwd.managed is not None:
                raise ImportRefused(
                    f"managed applies to hostdev pools; libvirt ignores it in forward mode "
                    f"{fwd.mode.value}", path=f"{fpath}/@managed", hint=_HINT)
            if fwd.driver_model or fwd.driver_name:
                raise ImportRefused(f"<driver> applies to hostdev pools, not forward "
                                    f"mode {fwd.mode.value}", path=f"{fpath}/driver")
            put("mode", _MACVTAP_MODES.get(fwd.mode, "bridge"), f"{fpath}/@mode")
            pool = list(fwd.interfaces)
            if fwd.dev:
                if pool and pool[0] != fwd.dev:
                    raise ImportRefused(
                        f"<forward dev='{fwd.dev}'> does not match the first <interface> "
                        f"{pool[0]!r}", path=f"{fpath}/@dev",
                        hint="libvirt requires them to match")
                if not pool:
                    pool = [fwd.dev]
            if len(pool) == 1:
                put("uplink", pool[0], f"{fpath}/interface")
            elif pool:
                put("uplinks", pool, f"{fpath}/interface")
            if fwd.pf:
                put("pf", fwd.pf, f"{fpath}/pf")
            if fwd.addresses:
                put("vfs", [str(a) for a in fwd.addresses], f"{fpath}/address")
        elif kind in ("bridge", "openvswitch", "vlan-bridge"):
            bridge_extra: tuple[tuple[str, object], ...] = (
                ("dev", fwd.dev), ("interface", fwd.interfaces), ("pf", fwd.pf),
                ("address", fwd.addresses), ("nat", fwd.nat), ("driver", fwd.driver_model or fwd.driver_name),
                ("managed", fwd.managed))
            for what, value in bridge_extra:
                if value is not None and value != ():
                    raise ImportRefused(f"{what} cannot be used on a {kind} network",
                                        path=f"{fpath}/{what}", hint=_HINT)

    # ---- bridge
    b = net.bridge
    if vlan_bridge is not None:
        for key, value in vlan_bridge.items():
            put(key, value, "/network/metadata/vnet:network")
    elif driver.l3:
        if b is None or not b.name:
            raise ImportRefused(
                "the network has no bridge name; vnet would name the bridge itself",
                path="/network/bridge",
                hint="add <bridge name='virbrN'/> as libvirt shows it (virsh net-dumpxml)")
        put("bridge", _prune({
            "name": b.name, "stp": b.stp, "delay": b.delay,
            "mac_table_manager": b.mac_table_manager, "zone": b.zone,
            # no <mac>: tell the driver not to pin one, libvirt picks it at define time
            "mac": net.mac if net.mac is not None else LIBVIRT_PICKS,
        }), "/network/bridge")
    else:
        if net.mac is not None:
            raise ImportRefused(
                f"<mac> on a {kind} network: only bridges libvirt creates take a MAC",
                path="/network/mac", hint=_HINT)
        if b is not None:
            fixed: tuple[tuple[str, object], ...] = (
                ("stp", b.stp), ("delay", b.delay), ("zone", b.zone))
            for attr, setting in fixed:
                if setting is not None:
                    raise ImportRefused(
                        f"bridge {attr} only applies to bridges libvirt creates (nat, route, "
                        f"open, isolated), not to a {kind} network",
                        path=f"/network/bridge/@{attr}", hint=_HINT)
            bd = _prune({"name": b.name, "mac_table_manager": b.mac_table_manager})
            if bd:
                put("bridge", bd, "/network/bridge")

    # ---- addresses
    if net.ips:
        if not driver.l3:
            mode = fwd.mode.value if fwd is not None else "none"
            raise ImportRefused(
                f"libvirt's network driver refuses <ip> on forward mode {mode} networks",
                path="/network/ip",
                hint="addresses belong to nat, route, open and isolated networks; "
                "remove the <ip> elements")
        for key, value in _ips(net.ips).items():
            put(key, value, "/network/ip")

    # ---- the rest, field by field
    if net.mtu is not None:
        put("mtu", net.mtu, "/network/mtu")
    if net.domain is not None:
        dom: Any = net.domain.name if net.domain.local_only is None else {
            "name": net.domain.name, "local_only": net.domain.local_only}
        put("domain", dom, "/network/domain")
    if net.dns is not None:
        put("dns", _dns(net.dns), "/network/dns")
    if net.routes:
        put("routes", [_prune({"to": str(r.network), "via": str(r.gateway), "metric": r.metric})
                       for r in net.routes], "/network/route")
    if net.bandwidth is not None:
        put("bandwidth", _bandwidth(net.bandwidth), "/network/bandwidth")
    if net.vlan is not None:
        put("vlan", _vlan(net.vlan, "/network/vlan"), "/network/vlan")
    if net.virtualport is not None:
        vp = _virtualport(net.virtualport)
        if kind == "openvswitch" and set(vp) == {"type"}:
            pass  # the openvswitch driver always writes <virtualport type='openvswitch'/>
        else:
            put("virtualport", vp, "/network/virtualport")
    if net.portgroups:
        put("portgroups", _portgroups(net.portgroups), "/network/portgroup")
    if net.port_isolated is not None:
        put("port_isolated", net.port_isolated, "/network/port/@isolated")
    if net.ipv6 is not None:
        put("ipv6", net.ipv6, "/network/@ipv6")
    if net.trust_guest_rx_filters is not None:
        put("trust_guest_rx_filters", net.trust_guest_rx_filters,
            "/network/@trustGuestRxFilters")
    if net.metadata:
        put("metadata", list(net.metadata), "/network/metadata")
    if net.dnsmasq_options:
        put("dnsmasq_options", list(net.dnsmasq_options), "/network/dnsmasq:options")
    _carry_host_objects(net, kind, entry, where)

    # ---- everything must be something this kind takes
    allowed = COMMON_KEYS | set(driver.keys)
    for key in entry:
        if key not in allowed:
            mode = fwd.mode.value if fwd is not None else "none"
            raise ImportRefused(
                f"this network imports as vnet kind {kind} (forward mode {mode}), which "
                f"cannot carry it (the {key!r} setting is not one of a {kind} network's)",
                path=where.get(key, "/network"), hint=_HINT)
    return net.name, entry


def _carry_host_objects(net: NetworkDef, kind: str, entry: dict[str, Any],
                        where: dict[str, str]) -> None:
    """Settings only vnet's metadata records (not libvirt's XML) that the imported kind
    can still say: a bridge network's hairpin flag, a macvtap network's host shim.  The
    rest of vnet's metadata is derived from the topology and rendered afresh."""
    meta = net.vnet_metadata
    if not isinstance(meta, NetworkMeta) or kind == "vlan-bridge":
        return
    path = "/network/metadata/vnet:network"
    if kind == "bridge" and net.bridge is not None:
        flags = [o for o in meta.objects if isinstance(o, PortFlags)
                 and o.bridge == net.bridge.name and o.hairpin is not None]
        if len(flags) == 1:
            entry["hairpin"] = flags[0].hairpin
            where["hairpin"] = path
    if kind == "macvtap":
        shims = [o for o in meta.objects if isinstance(o, MacvlanShim)]
        if len(shims) == 1:
            shim: dict[str, Any] = {"name": shims[0].name}
            if shims[0].address:
                shim["address"] = shims[0].address
            entry["shim"] = shim
            where["shim"] = path


def import_xml(text: str | bytes, source: str) -> tuple[str, dict[str, Any]]:
    """Parse a ``<network>`` document (strictly) and import it; refusals name
    ``source`` and the element."""
    from .libvirtxml.network import parse_network_string

    try:
        return network_to_entry(parse_network_string(text, source))
    except ImportRefused as exc:
        if exc.path is not None and not exc.path.startswith(source):
            exc.path = f"{source}:{exc.path}"
        elif exc.path is None:
            exc.path = source
        raise
