"""Topology entries: one network, host, VM or NIC of the document, checked on its own.

Which keys a network accepts, and its kind-specific rules, are asked of the kind's driver
(:mod:`libvirt_vnet.drivers`); rules that need several objects are in :mod:`.consistency`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Callable, Optional

from ..drivers import registry
from ..drivers.base import COMMON_KEYS
from ..errors import InputError, VnetError
from ..model.libvirt import DomainNameDef
from ..model.topology import AccessSwitch, BridgeSpec, HostSpec, NetworkSpec, NicSpec, ShimSpec, SriovPf, VmSpec
from .parts import (
    ip_problems,
    load_bandwidth,
    load_bridge,
    load_dns,
    load_ips,
    load_nat,
    load_nic_bandwidth,
    load_portgroups,
    load_routes,
    load_virtualport,
    load_vlan,
)
from .reader import (
    Doc,
    Problems,
    as_bool,
    as_dns_name,
    as_iface,
    as_ifname,
    as_ipv4,
    as_ipv6,
    as_mac,
    as_mtu,
    as_name,
    as_pci,
    as_str,
    as_uuid,
    choice,
    describe,
    each,
    int_in,
    pattern,
    unknown_key,
)


@functools.cache
def _all_network_keys() -> frozenset[str]:
    """Every key any kind accepts (drivers are fixed for the life of the process)."""
    return frozenset(COMMON_KEYS).union(*(registry.driver_for(k).keys for k in registry.kinds()))


def _entry(name: str, value: Any, path: str, what: str, settings: set[str]) -> Doc:
    """The mapping of one named entry; a scalar under a name that is really a setting
    (``networks: {subnet: ...}``) is most often an indentation slip: say so."""
    if not isinstance(value, Mapping) and value is not None and name in settings:
        raise InputError(
            f"expected a mapping (key: value pairs) for {what} {name!r}, got {describe(value)}",
            path=path, hint=f"{name!r} is a setting, not a {what} name: is it indented one "
            f"level too little?")
    return Doc(value, path, f"{what} {name!r}")


def load_network(name: str, value: Any, path: str,
                 host_names: Optional[tuple[str, ...]]) -> NetworkSpec:
    """One network entry: every independent problem of it at once (a bad key does not
    hide a bad value next to it, nor a rule over several keys that read well)."""
    d = _entry(name, value, path, "network", set(_all_network_keys()))
    p = Problems()
    p.run(as_name, name, path)
    p.extend(d.key_errors)
    kinds = registry.kinds()
    kind = p.run(d.need, "kind", choice("kind", kinds), hint=f"one of: {', '.join(kinds)}")
    # without a kind, what the keys mean is not known: only their values are read (each
    # is read the same way by every kind that takes it), so one run reports them too
    driver = registry.driver_for(kind) if kind is not None else None
    allowed = COMMON_KEYS | set(driver.keys) if driver is not None else _all_network_keys()
    for key in d.value:
        if key in d.excused:
            continue
        takers = [k for k in kinds if key in registry.driver_for(k).keys]
        if key not in allowed and driver is not None and takers:
            p.add(InputError(
                f"{key!r} makes no sense for a network of kind {kind}", path=d.sub(key),
                hint=f"{driver.key_hint(key)}{key!r} is used by: {', '.join(takers)}"))
        elif key not in allowed:
            p.add(unknown_key(key, allowed, path))
    hosts = p.run(_network_hosts, d, host_names) or ()
    metadata = p.run(lambda: tuple(_xml_fragment(x, q) for x, q in
                                   each(d.get("metadata", lambda v, _: v, []), d.sub("metadata"))))
    loaded = p.run(load_ips, d, driver.l3 if driver is not None else False)
    ips, ip_keys = loaded if loaded is not None else ((), ())
    p.extend(ip_problems(ips, ip_keys, path))
    uplinks = p.run(lambda: tuple(as_ifname(u, q) for u, q in
                                  each(d.get("uplinks", lambda v, _: v, []), d.sub("uplinks"))))
    access = p.run(_access_switches, d)
    shim = p.run(_shim, d)
    domain = p.run(_domain, d)
    vfs = p.run(lambda: tuple(as_pci(v, q) for v, q in
                              each(d.get("vfs", lambda v, _: v, []), d.sub("vfs"))))
    options = p.run(lambda: tuple(as_str(x, q) for x, q in each(
        d.get("dnsmasq_options", lambda v, _: v, []), d.sub("dnsmasq_options"))))
    fields = {key: p.run(d.get, key, conv) for key, conv in _NETWORK_FIELDS.items()}
    if kind is None or driver is None:
        p.check()
        raise AssertionError("unreachable: a missing kind is a problem")
    spec = NetworkSpec(
        name=name, kind=kind, path=path, hosts=hosts, ips=ips, ip_keys=ip_keys,
        metadata=metadata or (), uplinks=uplinks or (), access=access or (), shim=shim,
        domain=domain, vfs=vfs or (), dnsmasq_options=options or (),
        routes=fields.pop("routes") or (), portgroups=fields.pop("portgroups") or (),
        **fields,
    )
    # the rules over several keys run even when some keys failed (their problems are
    # independent), but only what they find at a key that read well is reported: a rule
    # that met a key which failed to read (absent from the spec) would only echo it
    failed = {_key_of(e.path, path) for e in p.errors}
    rules = Problems()
    rules.run(_network_rules, spec, d)
    rules.run(driver.validate, spec)
    p.extend(e for e in rules.errors
             if not failed or (_key_of(e.path, path) not in failed | {""}))
    p.check()
    return spec


def _key_of(where: Optional[str], network: str) -> str:
    """The network key a problem's path is under (``""``: the network itself)."""
    rest = (where or "")[len(network):] if (where or "").startswith(network) else ""
    return rest.lstrip(".").split(".")[0].split("[")[0]


#: the network keys read by one converter each (the others have their own readers above)
_NETWORK_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "uuid": as_uuid, "bridge": load_bridge, "mtu": as_mtu, "dns": load_dns,
    "routes": load_routes, "bandwidth": load_bandwidth, "nat": load_nat,
    "uplink": as_ifname, "vlan": load_vlan, "virtualport": load_virtualport,
    "portgroups": load_portgroups, "trust_guest_rx_filters": as_bool,
    "port_isolated": as_bool, "ipv6": as_bool, "mode": as_str, "pf": as_ifname,
    "managed": as_bool, "driver_name": choice("driver_name", ("vfio", "kvm", "xen")),
    "driver_model": pattern("driver model", r"[A-Za-z0-9_.-]+", "vfio-pci-igb"),
    "vlan_device": as_ifname, "upstream": as_str, "hairpin": as_bool,
}


def _network_hosts(d: Doc, host_names: Optional[tuple[str, ...]]) -> tuple[str, ...]:
    hosts: tuple[str, ...] = ()
    d.used.update({"host", "hosts"})
    if d.has("host") and d.has("hosts"):
        raise InputError("give either host or hosts", path=d.path)
    if d.has("host"):
        hosts = (d.need("host", as_name),)
    elif d.has("hosts"):
        hosts = tuple(as_name(h, p) for h, p in each(d.need("hosts", lambda v, p: v), d.sub("hosts")))
    for h in hosts:
        if host_names is not None and h not in host_names:
            raise InputError(f"host {h!r} is not defined under hosts", path=d.sub("host"),
                             hint=f"hosts are: {', '.join(host_names)}")
    return hosts


def _access_switches(d: Doc) -> tuple[AccessSwitch, ...]:
    d.used.add("access")
    if not d.has("access"):
        return ()
    a = Doc(d.value["access"], d.sub("access"), "access switches (name: settings)")
    p = Problems()
    p.extend(a.key_errors)
    access: list[AccessSwitch] = []
    for sw in a.value:
        found = p.run(_access_switch, sw, a.value[sw], a.sub(sw))
        if found is not None:
            access.append(found)
    p.check()
    if not access:
        raise InputError("a two-tier network needs at least one access switch", path=a.path)
    return tuple(access)


def _access_switch(name: str, value: Any, path: str) -> AccessSwitch:
    s = Doc(value, path, f"access switch {name!r}")
    p = Problems()
    p.run(as_name, name, path)
    bridge = p.run(s.get, "bridge", load_bridge)
    uuid = p.run(s.get, "uuid", as_uuid)
    p.run(s.done)
    p.check()
    return AccessSwitch(name=name, path=path, bridge=bridge or BridgeSpec(), uuid=uuid)


def _shim(d: Doc) -> Optional[ShimSpec]:
    d.used.add("shim")
    raw = d.value.get("shim")
    if raw is None or raw is False:
        return None
    if raw is True:
        return ShimSpec()
    s = Doc(raw, d.sub("shim"), "shim (true or {name, address})")
    shim = ShimSpec(name=s.get("name", as_ifname), address=s.get("address", as_iface))
    s.done()
    return shim


def _domain(d: Doc) -> Optional[DomainNameDef]:
    d.used.add("domain")
    raw = d.value.get("domain")
    if raw is None:
        return None
    if isinstance(raw, str):
        return DomainNameDef(name=as_dns_name(raw, d.sub("domain")))
    dd = Doc(raw, d.sub("domain"))
    domain = DomainNameDef(name=dd.need("name", as_dns_name), local_only=dd.get("local_only", as_bool))
    dd.done()
    return domain


def _network_rules(spec: NetworkSpec, d: Doc) -> None:
    """Rules over several keys of one network that every kind shares."""
    for route in spec.routes:
        if not any(ip.interface.version == route.gateway.version and route.gateway in ip.interface.network
                   for ip in spec.ips):
            raise InputError(f"route gateway {route.gateway} is not on any subnet of this network",
                             path=d.sub("routes"), hint="the next hop must be directly reachable")
    if spec.uplink and spec.uplinks:
        raise InputError("give either uplink or uplinks", path=spec.path)


def _xml_fragment(value: Any, path: str) -> str:
    """One element for the network's ``<metadata>``: well-formed, in its own namespace,
    without a DTD or entities (which could pull a host file into the rendered XML)."""
    from lxml import etree

    text = as_str(value, path)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        el = etree.fromstring(text, parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise InputError(f"not well-formed XML: {exc}", path=path) from None
    if getattr(el.getroottree().docinfo, "doctype", "") or any(isinstance(x, etree._Entity) for x in el.iter()):
        raise InputError("a metadata element cannot have a <!DOCTYPE> or entities", path=path,
                         hint="write the text itself instead of &name;")
    if etree.QName(el).namespace is None:
        raise InputError("a metadata element needs its own XML namespace", path=path,
                         hint='e.g. <app:info xmlns:app="https://example.com/app">…</app:info>')
    return text


def load_host(name: str, value: Any, path: str) -> HostSpec:
    d = _entry(name, value, path, "host", {"uri", "uplinks", "sriov"})
    p = Problems()
    p.run(as_name, name, path)
    uplinks = p.run(_host_uplinks, d) or ()
    sriov = p.run(_sriov, d) or ()
    uri = p.run(d.get, "uri", as_str, "qemu:///system")
    p.run(d.done)
    p.check()
    return HostSpec(name=name, path=path, uri=uri or "", uplinks=uplinks, sriov=sriov)


def _host_uplinks(d: Doc) -> tuple[str, ...]:
    uplinks = tuple(as_ifname(u, p) for u, p in each(d.get("uplinks", lambda v, p: v, []), d.sub("uplinks")))
    if len(set(uplinks)) != len(uplinks):
        raise InputError("an uplink is listed twice", path=d.sub("uplinks"))
    return uplinks


def _sriov(d: Doc) -> tuple[SriovPf, ...]:
    d.used.add("sriov")
    if not d.has("sriov"):
        return ()
    s = Doc(d.value["sriov"], d.sub("sriov"), "sriov (pf: {vfs: N})")
    p = Problems()
    p.extend(s.key_errors)
    pfs = []
    for pf in s.value:
        found = p.run(_sriov_pf, pf, s.value[pf], s.sub(pf))
        if found is not None:
            pfs.append(found)
    p.check()
    return tuple(pfs)


def _sriov_pf(name: str, value: Any, path: str) -> SriovPf:
    p = Doc(value, path, f"PF {name!r} ({{vfs: N}})")
    problems = Problems()
    pf = problems.run(as_ifname, name, path)
    vfs = problems.run(p.need, "vfs", int_in(0, 256))
    problems.run(p.done)
    problems.check()
    assert pf is not None and vfs is not None
    return SriovPf(name=pf, vfs=vfs)


NIC_KEYS = {"network", "mac", "model", "attach", "portgroup", "access", "ip", "ip6", "vf",
            "vlan", "trust", "spoofchk", "mtu", "bandwidth", "port_isolated", "link",
            "virtualport"}
_MODELS = ("virtio", "e1000", "e1000e", "rtl8139", "igb", "vmxnet3", "ne2k_pci", "pcnet")
#: the NIC keys besides network, each read by one converter
_NIC_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "mac": as_mac, "model": choice("model", _MODELS),
    "attach": choice("attach", ("network", "bridge", "direct", "hostdev")),
    "portgroup": as_name, "access": as_name, "ip": as_ipv4, "ip6": as_ipv6, "vf": as_pci,
    "vlan": load_vlan, "trust": as_bool, "spoofchk": as_bool, "mtu": as_mtu,
    "bandwidth": load_nic_bandwidth, "port_isolated": as_bool,
    "link": choice("link", ("up", "down")), "virtualport": load_virtualport,
}


def load_nic(value: Any, path: str, index: int) -> NicSpec:
    """One NIC: every bad key and value of it at once."""
    if isinstance(value, str):
        value = {"network": value}
    d = Doc(value, path, "a NIC {network, mac, ...}")
    p = Problems()
    network = p.run(d.need, "network", as_name)
    fields: dict[str, Any] = {key: p.run(d.get, key, conv) for key, conv in _NIC_FIELDS.items()}
    p.run(d.done, NIC_KEYS)
    p.check()
    assert network is not None
    fields["model"] = fields["model"] or "virtio"
    return NicSpec(index=index, path=path, network=network, **fields)


def load_vm(name: str, value: Any, path: str, host_names: Optional[tuple[str, ...]]) -> VmSpec:
    """One VM: the problems of its host and of each of its NICs, all at once."""
    vm, problems = load_vm_parts(name, value, path, host_names)
    problems.check()
    assert vm is not None
    return vm


def load_vm_parts(name: str, value: Any, path: str,
                  host_names: Optional[tuple[str, ...]]) -> tuple[Optional[VmSpec], Problems]:
    """The VM with the NICs that loaded (``None`` when not even its host is known), and
    every problem found: a broken NIC leaves the VM's other NICs to the rules across
    entries (a MAC given twice, a full pool)."""
    p = Problems()
    try:
        d = _entry(name, value, path, "VM", {"host", "nics", *NIC_KEYS})
    except VnetError as exc:
        p.add(exc)
        return None, p
    p.run(as_name, name, path)
    host = p.run(_vm_host, d, host_names)
    nics: list[NicSpec] = []
    raw = p.run(lambda: list(each(d.get("nics", lambda v, _: v, []), d.sub("nics"))))
    for i, (v, q) in enumerate(raw or ()):
        nic = p.run(load_nic, v, q, i)
        if nic is not None:
            nics.append(nic)
    p.run(d.done, {"host", "nics"})
    vm = None if host is None else VmSpec(name=name, path=path, host=host, nics=tuple(nics))
    return vm, p


def _vm_host(d: Doc, host_names: Optional[tuple[str, ...]]) -> str:
    """The VM's host (``""`` when it cannot be known: the hosts section is unreadable)."""
    host = d.get("host", as_name)
    if host_names is None:
        return host or ""
    if host is None:
        if len(host_names) != 1:
            raise InputError("this topology has several hosts: say which one runs the VM",
                             path=d.sub("host"), hint=f"host: one of {', '.join(host_names)}")
        return host_names[0]
    if host not in host_names:
        raise InputError(f"host {host!r} is not defined under hosts", path=d.sub("host"),
                         hint=f"hosts are: {', '.join(host_names)}")
    return host
