"""Topology entries: one network, host, VM or NIC of the document, checked on its own.

Which keys a network accepts, and its kind-specific rules, are asked of the kind's driver
(:mod:`libvirt_vnet.drivers`); rules that need several objects are in :mod:`.consistency`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ..drivers import registry
from ..drivers.base import COMMON_KEYS
from ..errors import ErrorList, InputError, VnetError
from ..model.libvirt import DomainNameDef
from ..model.topology import AccessSwitch, BridgeSpec, HostSpec, NetworkSpec, NicSpec, ShimSpec, SriovPf, VmSpec
from .parts import (
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
    validate_ips,
)
from .reader import (
    Doc,
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


def load_network(name: str, value: Any, path: str, host_names: tuple[str, ...]) -> NetworkSpec:
    d = _entry(name, value, path, "network", set(_all_network_keys()))
    as_name(name, path)
    kinds = registry.kinds()
    kind = d.need("kind", choice("kind", kinds),
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
    validate_ips(ips, path)
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
        uuid=d.get("uuid", as_uuid), ips=ips,
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
        driver_name=d.get("driver_name", choice("driver_name", ("vfio", "kvm", "xen"))),
        driver_model=d.get("driver_model", pattern("driver model", r"[A-Za-z0-9_.-]+", "vfio-pci-igb")),
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
    driver.validate(spec)
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
        model=d.get("model", choice("model", _MODELS), "virtio") or "virtio",
        attach=d.get("attach", choice("attach", ("network", "bridge", "direct", "hostdev"))),
        portgroup=d.get("portgroup", as_name), access=d.get("access", as_name),
        ip=d.get("ip", as_ipv4), ip6=d.get("ip6", as_ipv6), vf=d.get("vf", as_pci),
        vlan=d.get("vlan", load_vlan), trust=d.get("trust", as_bool),
        spoofchk=d.get("spoofchk", as_bool), mtu=d.get("mtu", as_mtu),
        bandwidth=d.get("bandwidth", load_nic_bandwidth),
        port_isolated=d.get("port_isolated", as_bool),
        link=d.get("link", choice("link", ("up", "down"))),
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
