"""Import: turns an existing libvirt network (:class:`NetworkDef`) into a
topology entry (a plain dict) that the loader accepts and that renders back to the same
network.

The entry is plain data (str/int/bool/list/dict) in the topology document's own
vocabulary, ready to be dumped as YAML.  Everything the network says is carried over:
what vnet cannot say (or could only say by changing the network) is refused with
:class:`~libvirt_vnet.errors.ImportRefused`, naming the element — never dropped.

What vnet's own metadata says must come back as it was: the kind it names must claim the
network, and the entry must render the same host objects (otherwise the network is
refused, never imported as what libvirt's XML alone looks like).  A kind that renders one
entry as several libvirt networks (two-tier) is imported from all of them together
(:class:`TopologyImport`, :func:`parts_to_entry`).

Besides mapping fields one to one, the importer switches off what the loader and the
drivers would otherwise *add*: DHCP on the ``subnet`` shorthand (``dhcp: false``), a
derived bridge MAC (``bridge.mac: libvirt``), ``managed='yes'`` on hostdev pools.
"""

from __future__ import annotations

from typing import Any, Optional

from .drivers import registry
from .drivers.base import COMMON_KEYS, IMPORT_HINT, NOT_MINE, ImportedEntry, prune
from .errors import ImportRefused
from .model.libvirt import (
    BandwidthDef,
    DhcpDef,
    DnsDef,
    IPDef,
    Lease,
    NetworkDef,
    PortGroupDef,
    Rate,
    VirtualPortDef,
    VlanDef,
)

__all__ = ["TopologyImport", "import_xml", "network_to_entry", "parts_to_entry"]




# ------------------------------------------------------------------ small pieces


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
    return prune({"average": rate.average, "peak": rate.peak, "burst": rate.burst,
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
    tags = [prune({"id": t.id, "native_mode": t.native_mode}) for t in vlan.tags]
    return prune({"tags": tags, "trunk": vlan.trunk})


def _virtualport(vp: VirtualPortDef) -> dict[str, Any]:
    return prune({
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
        out[pg.name] = prune({
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
                                path="/network/dns/forwarder", hint=IMPORT_HINT)
        else:
            forwarders.append(prune({"addr": str(fw.addr) if fw.addr else None,
                                      "domain": fw.domain}))
    return prune({
        "enable": dns.enable,
        "forward_plain_names": dns.forward_plain_names,
        "forwarders": forwarders,
        "hosts": [{"ip": str(h.ip), "names": list(h.hostnames)} for h in dns.hosts],
        "srv": [prune({"service": s.service, "protocol": s.protocol, "domain": s.domain,
                        "target": s.target, "port": s.port, "priority": s.priority,
                        "weight": s.weight}) for s in dns.srvs],
        "txt": [{"name": t.name, "value": t.value} for t in dns.txts],
    })


def _dhcp(dhcp: DhcpDef) -> dict[str, Any]:
    """A DHCP block as the loader's dict form.  ``ranges`` is always given, empty when
    the block has none (reservations or bootp only, or an empty ``<dhcp/>``): without
    it the loader adds a default dynamic range."""
    out: dict[str, Any] = {}
    out["ranges"] = [prune({"start": str(r.start), "end": str(r.end), "lease": _lease(r.lease)})
                     for r in dhcp.ranges]
    if dhcp.hosts:
        out["hosts"] = [prune({"mac": h.mac, "id": h.id, "name": h.name,
                                "ip": str(h.ip) if h.ip is not None else None,
                                "lease": _lease(h.lease)}) for h in dhcp.hosts]
    if dhcp.bootp is not None:
        out["bootp"] = prune({"file": dhcp.bootp.file, "server": dhcp.bootp.server})
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


# ------------------------------------------------------------------ network
def kind_of(net: NetworkDef) -> str:
    """The kind whose driver claims ``net`` most strongly (vnet's own metadata over
    libvirt's XML alone); refused when none does, or two do equally — and when vnet's
    metadata names a kind that does not claim the network (what vnet rendered must come
    back as what it was, or not at all: never as another kind, silently)."""
    best: list[str] = []
    strength = NOT_MINE
    for kind in registry.kinds():
        claim = registry.driver_for(kind).claims(net)
        if claim > strength:
            best, strength = [kind], claim
        elif claim == strength and claim != NOT_MINE:
            best.append(kind)
    meta = net.vnet_metadata
    if meta is not None and meta.kind:
        if meta.kind not in registry.kinds():
            raise ImportRefused(f"vnet's metadata says kind {meta.kind!r}, which this vnet does not know",
                                path="/network/metadata/vnet:network",
                                hint="install the driver of that kind, or remove the <vnet:network> "
                                "element to import the network by libvirt's XML alone")
        if meta.kind not in best:
            mode = net.forward.mode.value if net.forward is not None else "none"
            raise ImportRefused(
                f"vnet's metadata says kind {meta.kind}, but this forward mode {mode} network "
                f"is not one kind {meta.kind} renders" + (f" (it looks like kind {best[0]})" if best else ""),
                path="/network/metadata/vnet:network",
                hint="the network was changed after vnet rendered it: restore it, or remove the "
                "<vnet:network> element to import it by libvirt's XML alone")
    if not best:
        mode = net.forward.mode.value if net.forward is not None else "none"
        raise ImportRefused(f"no network kind of vnet maps a forward mode {mode} network like this one",
                            path="/network/forward", hint=IMPORT_HINT)
    if len(best) > 1:
        raise ImportRefused(f"kinds {', '.join(best)} all claim this network", path="/network",
                            hint="a third-party driver overlaps a built-in kind: tell its author")
    return best[0]


def network_to_entry(net: NetworkDef) -> tuple[str, dict[str, Any]]:
    """``(network name, topology entry)`` for ``net``; see the module docstring.  A network
    that is one of several making up an entry (a two-tier network's) is refused: those
    are imported together, by :class:`TopologyImport`."""
    kind = kind_of(net)
    driver = registry.driver_for(kind)
    part = driver.import_part(net)
    if part is not None:
        raise ImportRefused(
            f"this is one of the libvirt networks of {kind} network {part.entry!r}: import them "
            "together", path="/network",
            hint=f"vnet import {part.entry}.xml {part.entry}-<switch>.xml ...; or vnet import --connect URI")
    out = _entry_of(net, kind)
    _only_keys_of(kind, net, out)
    return net.name, out.entry


def parts_to_entry(entry: str, nets: list[NetworkDef]) -> tuple[str, dict[str, Any]]:
    """One topology entry from the libvirt networks that make it up (all claimed by one
    kind, whose :meth:`~libvirt_vnet.drivers.base.Driver.import_part` names ``entry``):
    the main one imported field by field, the others added by the kind's
    :meth:`~libvirt_vnet.drivers.base.Driver.import_parts`."""
    kinds = {kind_of(n) for n in nets}
    assert len(kinds) == 1, kinds
    (kind,) = kinds
    driver = registry.driver_for(kind)
    mains = [n for n in nets if (p := driver.import_part(n)) is not None and p.main]
    if len(mains) != 1:
        raise ImportRefused(
            f"{kind} network {entry!r}: its main libvirt network ({entry!r}) is "
            + ("missing: import it together with " if not mains else "given twice, with ")
            + ", ".join(sorted(n.name for n in nets if n not in mains)), path="/network",
            hint="vnet import needs every libvirt network of the entry, each once")
    topologies = sorted({n.vnet_metadata.topology for n in nets if n.vnet_metadata is not None})
    if len(topologies) > 1:
        raise ImportRefused(f"{kind} network {entry!r}: its libvirt networks were rendered for "
                            f"different topologies ({', '.join(map(repr, topologies))})",
                            path="/network/metadata/vnet:network",
                            hint="import each topology's networks into a topology of its own")
    out = _entry_of(mains[0], kind)
    driver.import_parts(mains[0], [n for n in nets if n is not mains[0]], out)
    _only_keys_of(kind, mains[0], out)
    return entry, out.entry


def _entry_of(net: NetworkDef, kind: str) -> ImportedEntry:
    """The entry of ``net`` as kind ``kind``, field by field."""
    driver = registry.driver_for(kind)
    out = ImportedEntry(entry={"kind": kind})
    put = out.put
    if net.uuid:
        put("uuid", net.uuid, "/network/uuid")
    fwd = net.forward
    driver.import_forward(net, out)
    driver.import_bridge(net, out)

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
        put("routes", [prune({"to": str(r.network), "via": str(r.gateway), "metric": r.metric})
                       for r in net.routes], "/network/route")
    if net.bandwidth is not None:
        put("bandwidth", _bandwidth(net.bandwidth), "/network/bandwidth")
    if net.vlan is not None:
        put("vlan", _vlan(net.vlan, "/network/vlan"), "/network/vlan")
    if net.virtualport is not None and not driver.implied_virtualport(net.virtualport):
        put("virtualport", _virtualport(net.virtualport), "/network/virtualport")
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
    driver.import_host_objects(net, out)
    return out


def _only_keys_of(kind: str, net: NetworkDef, out: ImportedEntry) -> None:
    """Everything imported must be something ``kind`` takes."""
    allowed = COMMON_KEYS | set(registry.driver_for(kind).keys)
    for key in out.entry:
        if key not in allowed:
            mode = net.forward.mode.value if net.forward is not None else "none"
            raise ImportRefused(
                f"this network imports as vnet kind {kind} (forward mode {mode}), which "
                f"cannot carry it (the {key!r} setting is not one of a {kind} network's)",
                path=out.where.get(key, "/network"), hint=IMPORT_HINT)


def _named(exc: ImportRefused, source: str) -> ImportRefused:
    if exc.path is not None and not exc.path.startswith(source):
        exc.path = f"{source}:{exc.path}"
    elif exc.path is None:
        exc.path = source
    return exc


def import_xml(text: str | bytes, source: str) -> tuple[str, dict[str, Any]]:
    """Parse a ``<network>`` document (strictly) and import it; refusals name
    ``source`` and the element."""
    from .libvirtxml.network import parse_network_string

    try:
        return network_to_entry(parse_network_string(text, source))
    except ImportRefused as exc:
        raise _named(exc, source) from None


def reproduction_problems(topology_name: str, name: str, entry: dict[str, Any],
                          originals: dict[str, NetworkDef]) -> list[str]:
    """How the libvirt networks the entry renders differ from ``originals`` (by libvirt
    name) in vnet's metadata — its host objects, kind and entry — or in which networks
    there are: what vnet's metadata says must come back exactly, or the import is refused."""
    from . import topology

    topo = topology.load({"name": topology_name, "networks": {name: entry}}, "<import>")
    spec = topo.network(name)
    driver = registry.driver_for(spec.kind)
    rendered = {nd.name: nd for nd in driver.networks(spec, topo, topo.hosts[0].name)}
    problems = []
    if set(rendered) != set(originals):
        problems.append(f"the entry renders libvirt networks {', '.join(sorted(rendered))}, "
                        f"not {', '.join(sorted(originals))}")
    for lv, original in sorted(originals.items()):
        want, got = original.vnet_metadata, rendered[lv].vnet_metadata if lv in rendered else None
        if want is None or got is None:
            continue
        if (want.kind, want.objects) != (got.kind, got.objects) or (len(originals) > 1 and want.name != got.name):
            problems.append(f"{lv}: vnet's metadata lists {_objects(want.objects)}, the imported "
                            f"entry would render {_objects(got.objects)}")
    return problems


def _objects(objects: tuple[Any, ...]) -> str:
    return "; ".join(repr(o) for o in objects) or "no host objects"


class TopologyImport:
    """libvirt network documents imported, one by one, into one topology document: each
    entry must load on its own (a refusal names the document it came from), and
    :meth:`document` loads them all together (overlapping subnets, shared bridges).

    A network that is one part of an entry of several (a two-tier network's aggregation
    and access networks) waits until :meth:`document`, which builds the entry from all
    its parts — refusing an entry whose parts are incomplete.  Without a ``name``, the
    topology takes the one vnet's metadata gives all imported networks (so a re-import
    renders back the same), else ``imported``."""

    def __init__(self, name: Optional[str] = None):
        self.given_name = name
        self.entries: dict[str, Any] = {}
        #: network name → the document it came from
        self.sources: dict[str, str] = {}
        #: (kind, entry) → [(libvirt network, source)] of entries made of several networks
        self.parts: dict[tuple[str, str], list[tuple[NetworkDef, str]]] = {}
        self._topologies: set[str] = set()
        #: entry → the libvirt networks it was built from (entries of several networks)
        self.assembled: dict[str, list[str]] = {}

    @property
    def name(self) -> str:
        import re

        if self.given_name:
            return self.given_name
        if len(self._topologies) == 1:
            (name,) = self._topologies
            if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", name):
                return name
        return "imported"

    def add(self, text: str | bytes, source: str) -> str:
        """Import one ``<network>`` document; returns the network's name."""
        from .libvirtxml.network import parse_network_string

        net = parse_network_string(text, source)
        try:
            kind = kind_of(net)
            part = registry.driver_for(kind).import_part(net)
        except ImportRefused as exc:
            raise _named(exc, source) from None
        self._claim(net.name, source)
        if net.vnet_metadata is not None and net.vnet_metadata.topology:
            self._topologies.add(net.vnet_metadata.topology)
        if part is not None:
            self.parts.setdefault((kind, part.entry), []).append((net, source))
            return net.name
        try:
            key, entry = network_to_entry(net)
        except ImportRefused as exc:
            raise _named(exc, source) from None
        self._load_alone(key, entry, {net.name: net}, source)
        self.entries[key] = entry
        return key

    def _claim(self, lv: str, source: str) -> None:
        if lv in self.sources:
            raise ImportRefused(f"network {lv!r} is also in {self.sources[lv]}", path=source,
                                hint="a topology holds one network per name: import them "
                                "into separate topologies")
        self.sources[lv] = source

    def _load_alone(self, key: str, entry: dict[str, Any], originals: dict[str, NetworkDef],
                    source: str) -> None:
        """The entry loads on its own, and renders back what vnet's metadata said."""
        from . import topology
        from .errors import ErrorList, VnetError

        try:
            topology.load({"name": self.name, "networks": {key: entry}}, source)
        except VnetError as exc:
            found = exc.errors if isinstance(exc, ErrorList) else [exc]
            raise ErrorList.of([ImportRefused(e.message, path=f"{source} (as {e.path})", hint=e.hint)
                                for e in found]) from None
        meta_names = {n.vnet_metadata.topology for n in originals.values() if n.vnet_metadata}
        problems = reproduction_problems(next(iter(meta_names)) if len(meta_names) == 1 else self.name,
                                         key, entry, originals)
        if problems:
            raise ErrorList.of([ImportRefused(p, path=source, hint=IMPORT_HINT) for p in problems])

    def _assemble(self) -> None:
        """The entries made of several libvirt networks, from all their parts."""
        for (_kind, entry_name), parts in sorted(self.parts.items()):
            sources = ", ".join(src for _, src in parts)
            nets = [net for net, _ in parts]
            try:
                key, entry = parts_to_entry(entry_name, nets)
            except ImportRefused as exc:
                raise _named(exc, sources) from None
            if key in self.entries:
                raise ImportRefused(f"network {key!r} is also in {self.sources[key]}", path=sources)
            self._load_alone(key, entry, {n.name: n for n in nets}, sources)
            self.entries[key] = entry
            self.assembled[key] = sorted(n.name for n in nets)
        self.parts.clear()

    def document(self) -> dict[str, Any]:
        """The topology document of everything added, checked as a whole."""
        from . import topology

        self._assemble()
        doc = {"name": self.name, "networks": dict(self.entries)}
        topology.load(doc, "<import>")
        return doc
