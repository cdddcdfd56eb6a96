"""Kind ``two-tier``: access switches joined to an aggregation switch, routed/NATed out
(the seed's faithful network A_V0).

libvirt side: the aggregation bridge is a libvirt network of mode ``upstream`` (nat by
default: it holds the gateway address, DHCP and DNS); each access switch is a bridge of
vnet's with a ``forward mode='bridge'`` network named ``<network>-<switch>``.  Host side:
the access bridges (MAC pinned) and one veth pair per access switch linking it to the
aggregation bridge — one broadcast domain across both tiers, as on real switches.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from ..errors import ImportRefused, InputError
from ..model import names
from ..model.libvirt import ForwardDef, ForwardMode, InterfaceDef, NetworkDef
from ..model.plumbing import HostBridge, HostObject, NetworkMeta, PortFlags, VethLink
from ..model.topology import GROUP_FWD_RESTRICTED, LIBVIRT_PICKS, AccessSwitch, NetworkSpec, NicSpec, Topology, VmSpec
from ._l3 import L3_KEYS, L3Driver
from .base import (
    BY_METADATA,
    IMPORT_HINT,
    NOT_MINE,
    Device,
    ImportedEntry,
    ImportPart,
    bridge_network,
    libvirt_bridge_name,
    nic_interface,
    port_flags,
    raise_all,
)

_MODES = {"nat": ForwardMode.NAT, "route": ForwardMode.ROUTE, "open": ForwardMode.OPEN,
          "isolated": None}


class TwoTierDriver(L3Driver):
    kind = "two-tier"
    summary = 'access bridges joined by veth to an aggregation network (NAT/route out)'
    keys = L3_KEYS | {"upstream", "access", "uplink", "nat", "hairpin"}
    attach = ("network", "bridge")
    start_note = ("net-start the aggregation network first — its bridge is libvirt's and the access "
                  "switches' veth links join it — then the access networks")
    vnet_bridge_hint = ("set it on the access switches' bridges (access.<switch>.bridge), "
                        "which vnet creates; the aggregation bridge is libvirt's")

    def validate(self, net: NetworkSpec) -> None:
        problems = self.l3_problems(net)
        upstream = net.upstream or "nat"
        if upstream not in _MODES:
            problems.append(InputError(
                f"upstream must be one of {', '.join(_MODES)}; got {upstream!r}",
                path=f"{net.path}.upstream"))
        if not net.access:
            problems.append(InputError("a two-tier network needs its access switches",
                                       path=f"{net.path}.access", hint="access: {sw1: {}, sw2: {}}"))
        if upstream in _MODES and net.uplink and upstream not in ("nat", "route"):
            problems.append(InputError(f"an {upstream} aggregation network takes no uplink",
                                       path=f"{net.path}.uplink"))
        if upstream in _MODES and net.nat and upstream != "nat":
            problems.append(InputError("nat settings need upstream: nat", path=f"{net.path}.nat"))
        problems.extend(InputError(
            "access bridges are vnet's: only name, mac, stp, delay, dummy_tap, "
            "group_fwd_mask and multicast_snooping apply", path=f"{sw.path}.bridge")
            for sw in net.access if sw.bridge.mac_table_manager or sw.bridge.zone)
        raise_all(problems)

    # ---- import: the aggregation network and the access networks, together, into one entry
    def claims(self, net: NetworkDef) -> int:
        """Only by vnet's metadata: libvirt's XML alone looks like a nat (or route, open,
        isolated) network and kind-bridge networks."""
        meta = net.vnet_metadata
        return BY_METADATA if meta is not None and meta.kind == self.kind else NOT_MINE

    def import_part(self, net: NetworkDef) -> Optional[ImportPart]:
        meta = net.vnet_metadata
        assert meta is not None and meta.kind == self.kind
        mode = net.forward.mode if net.forward is not None else None
        if net.name == meta.name:
            if mode not in _MODES.values():
                raise ImportRefused(
                    f"vnet's metadata says this is the aggregation network of two-tier network "
                    f"{meta.name!r}, but it forwards in mode {mode.value if mode else 'none'}",
                    path="/network/forward", hint=_META_HINT)
            if meta.objects:
                raise ImportRefused("the aggregation network of a two-tier network has no host "
                                    "objects in vnet's metadata (its bridge is libvirt's)",
                                    path="/network/metadata/vnet:network", hint=_META_HINT)
            return ImportPart(entry=meta.name, main=True)
        if net.name.startswith(meta.name + "-") and mode is ForwardMode.BRIDGE:
            return ImportPart(entry=meta.name, main=False)
        raise ImportRefused(
            f"vnet's metadata says this network is part of two-tier network {meta.name!r}, but "
            f"it is neither its aggregation network {meta.name!r} nor an access network "
            f"{meta.name}-<switch> (forward mode bridge)", path="/network/name", hint=_META_HINT)

    def import_forward(self, net: NetworkDef, out: ImportedEntry) -> None:
        super().import_forward(net, out)
        mode = net.forward.mode if net.forward is not None else None
        out.put("upstream", next(k for k, m in _MODES.items() if m is mode), "/network/forward/@mode")

    def import_parts(self, main: NetworkDef, parts: list[NetworkDef], out: ImportedEntry) -> None:
        """Each access network becomes ``access.<switch>`` (its UUID, and its bridge as
        vnet's metadata describes it); the port flags, the same on every switch, become
        the network's ``hairpin``."""
        if not parts:
            raise ImportRefused(
                f"this is the aggregation network of two-tier network {main.name!r}: import its "
                f"access networks ({main.name}-<switch>) with it", path="/network",
                hint="vnet import AGG.xml ACCESS1.xml ...; or vnet import --connect URI (every network)")
        agg = main.bridge.name if main.bridge is not None else None
        access: dict[str, Any] = {}
        hairpins: dict[Optional[bool], str] = {}
        for part in sorted(parts, key=lambda p: p.name):
            sw = part.name[len(main.name) + 1:]
            switch, hairpin = _access_entry(main, part, sw, agg)
            access[sw] = switch
            hairpins.setdefault(hairpin, part.name)
        if len(hairpins) > 1:
            raise ImportRefused(
                "the access switches' ports differ in hairpin ("
                + ", ".join(f"{n}: {'unset' if h is None else h}" for h, n in hairpins.items())
                + "): a two-tier network sets it on all of them", path="/network/metadata/vnet:network",
                hint=IMPORT_HINT)
        (hairpin,) = hairpins
        if hairpin is not None:
            out.put("hairpin", hairpin, "/network/metadata/vnet:network/vnet:port-flags")
        out.put("access", access, "/network/metadata/vnet:network")

    def nic_rules(self, nic: NicSpec, net: NetworkSpec, attach: str) -> None:
        if nic.access is not None and nic.access not in {a.name for a in net.access}:
            raise InputError(f"network {net.name!r} has no access switch {nic.access!r}",
                             path=f"{nic.path}.access",
                             hint=f"access switches: {', '.join(a.name for a in net.access)}")

    def needs_ip(self, net: NetworkSpec) -> bool:
        return (net.upstream or "nat") in ("nat", "route", "open")

    def forward(self, net: NetworkSpec) -> Optional[ForwardDef]:
        """The aggregation network forwards as its ``upstream`` says."""
        mode = _MODES[net.upstream or "nat"]
        return None if mode is None else ForwardDef(mode=mode, dev=net.uplink, nat=net.nat)

    def access_bridge(self, net: NetworkSpec, sw: AccessSwitch) -> str:
        return sw.bridge.name or names.derive_ifname("acc-", f"{net.name}-{sw.name}")

    def access_network(self, net: NetworkSpec, sw: AccessSwitch) -> str:
        return f"{net.name}-{sw.name}"

    def libvirt_names(self, net: NetworkSpec) -> tuple[str, ...]:
        return (net.name, *(self.access_network(net, sw) for sw in net.access))

    def bridge_names(self, net: NetworkSpec) -> tuple[str, ...]:
        return (libvirt_bridge_name(net), *(self.access_bridge(net, sw) for sw in net.access))

    def devices(self, net: NetworkSpec) -> tuple[Device, ...]:
        out = [Device(libvirt_bridge_name(net), "bridge", "bridge", True)]
        for sw in net.access:
            at = f"access.{sw.name}"
            br = self.access_bridge(net, sw)
            out.append(Device(br, "access bridge", f"{at}.bridge", True))
            if sw.bridge.dummy_tap:
                out.append(Device(names.dummy_tap_name(br), "dummy tap", f"{at}.bridge.dummy_tap", True))
            veth = self.veth(net, sw)
            out += [Device(veth.name, "veth end", at, True), Device(veth.peer, "veth end", at, True)]
        out += [d for d in super().devices(net) if not d.creates]
        return tuple(out)

    def given_uuids(self, net: NetworkSpec) -> dict[str, str]:
        given = super().given_uuids(net)
        given.update({self.access_network(net, sw): sw.uuid for sw in net.access if sw.uuid})
        return given

    def veth(self, net: NetworkSpec, sw: AccessSwitch) -> VethLink:
        """The veth pair from the access bridge up into the aggregation bridge."""
        key = f"{net.name}-{sw.name}"
        return VethLink(name=names.derive_ifname("vu-", key), peer=names.derive_ifname("va-", key),
                        bridge=self.access_bridge(net, sw), peer_bridge=libvirt_bridge_name(net),
                        mtu=net.mtu)

    def host_objects(self, net: NetworkSpec, topo: Topology, host: str) -> tuple[HostObject, ...]:
        return tuple(obj for sw in net.access for obj in self.switch_objects(net, sw, topo))

    def switch_objects(self, net: NetworkSpec, sw: AccessSwitch, topo: Topology) -> tuple[HostObject, ...]:
        """One access switch: its bridge, and the veth link from it into the aggregation
        bridge (which libvirt creates when the aggregation network starts)."""
        agg = libvirt_bridge_name(net)
        br = self.access_bridge(net, sw)
        b = sw.bridge
        mac = None if b.mac == "libvirt" else (
            b.mac or names.derive_mac(topo.name, "network", net.name, "access", sw.name))
        assert agg == self.veth(net, sw).peer_bridge
        return (
            HostBridge(name=br, mac=mac, stp=bool(b.stp), delay=b.delay or 0, mtu=net.mtu,
                       dummy_tap=names.dummy_tap_name(br) if b.dummy_tap else None,
                       group_fwd_mask=b.group_fwd_mask, multicast_snooping=b.multicast_snooping),
            self.veth(net, sw),
            *port_flags(net, br),
        )

    def networks(self, net: NetworkSpec, topo: Topology, host: str) -> tuple[NetworkDef, ...]:
        """The aggregation network (its bridge is libvirt's: its metadata lists nothing
        to build) and one bridge network per access switch, whose metadata lists that
        switch's plumbing — what the network hook builds when it starts."""
        (agg,) = super().networks(net, topo, host)
        out = [dataclasses.replace(agg, vnet_metadata=NetworkMeta(topology=topo.name, name=net.name,
                                                                 kind=self.kind))]
        for sw in net.access:
            sub = dataclasses.replace(net, name=self.access_network(net, sw), uuid=sw.uuid,
                                      bridge=None, bandwidth=None, portgroups=(), metadata=(),
                                      port_isolated=None, trust_guest_rx_filters=None)
            nd = bridge_network(sub, topo, host, self, self.access_bridge(net, sw))
            out.append(dataclasses.replace(nd, vnet_metadata=NetworkMeta(
                topology=topo.name, name=net.name, kind=self.kind, objects=self.switch_objects(net, sw, topo))))
        return tuple(out)

    def nic_objects(self, nic: NicSpec, mac: str, vm: VmSpec, net: NetworkSpec,
                    topo: Topology) -> tuple[HostObject, ...]:
        return self.switch_objects(net, self.switch_for(nic, net), topo)

    def switch_for(self, nic: NicSpec, net: NetworkSpec) -> AccessSwitch:
        for sw in net.access:
            if sw.name == (nic.access or net.access[0].name):
                return sw
        raise InputError(f"network {net.name!r} has no access switch {nic.access!r}",
                         path=f"{nic.path}.access",
                         hint=f"access switches: {', '.join(s.name for s in net.access)}")

    def interface(self, nic: NicSpec, mac: str, vm: VmSpec, net: NetworkSpec,
                  topo: Topology) -> InterfaceDef:
        sw = self.switch_for(nic, net)
        if (nic.attach or "network") == "bridge":
            return nic_interface(nic, "bridge", mac, source_bridge=self.access_bridge(net, sw))
        return nic_interface(nic, "network", mac, source_network=self.access_network(net, sw))


_META_HINT = ("vnet's metadata and the network disagree (edited by hand?): restore one, or remove "
              "the <vnet:network> element to import the network by libvirt's XML alone")
_ACCESS_ONLY = ("mtu", "mac", "domain", "dns", "vlan", "bandwidth", "virtualport", "portgroups", "ips",
                "routes", "port_isolated", "ipv6", "trust_guest_rx_filters", "metadata",
                "dnsmasq_options")


def _access_entry(main: NetworkDef, part: NetworkDef, sw: str,
                  agg: Optional[str]) -> tuple[dict[str, Any], Optional[bool]]:
    """``access.<sw>`` from one access network, and its hairpin flag (``None``: unset)."""
    def refuse(message: str, where: str = "/network") -> ImportRefused:
        return ImportRefused(f"access network {part.name!r}: {message}", path=where, hint=IMPORT_HINT)

    problem = names.network_name_problem(sw)
    if problem:
        raise refuse(f"its switch name: {problem}", "/network/name")
    fwd = part.forward
    assert fwd is not None
    if fwd.dev or fwd.interfaces or fwd.pf or fwd.addresses or fwd.nat or fwd.managed is not None \
            or fwd.driver_name or fwd.driver_model:
        raise refuse("an access network forwards to its bridge and nothing else", "/network/forward")
    for key in _ACCESS_ONLY:
        if getattr(part, key) not in (None, ()):
            raise refuse(f"an access network carries nothing but its bridge, not {key}", f"/network/{key}")
    b = part.bridge
    if b is None or not b.name or b.stp is not None or b.delay is not None or b.zone \
            or b.mac_table_manager:
        raise refuse("its <bridge> must name vnet's access bridge and say nothing else", "/network/bridge")
    meta = part.vnet_metadata
    assert meta is not None
    where = "/network/metadata/vnet:network"
    bridges = [o for o in meta.objects if isinstance(o, HostBridge)]
    veths = [o for o in meta.objects if isinstance(o, VethLink)]
    flags = [o for o in meta.objects if isinstance(o, PortFlags)]
    if len(bridges) != 1 or len(veths) != 1 or len(flags) > 1 or len(meta.objects) != 2 + len(flags):
        raise refuse("vnet's metadata must list its bridge, its veth link and at most its port "
                     "flags", where)
    br, veth = bridges[0], veths[0]
    key = f"{main.name}-{sw}"
    expected = VethLink(name=names.derive_ifname("vu-", key), peer=names.derive_ifname("va-", key),
                        bridge=b.name, peer_bridge=agg, mtu=main.mtu)
    if br.name != b.name:
        raise refuse(f"vnet's metadata describes bridge {br.name!r}, the network uses {b.name!r}", where)
    if br.mtu != main.mtu or veth != expected:
        raise refuse("its veth link (or MTU) is not the one vnet derives for switch "
                     f"{sw!r} of {main.name!r} into {agg!r}: {veth}", f"{where}/vnet:veth")
    hairpin = None
    if flags:
        flag = flags[0]
        if flag.bridge != b.name or flag.isolated is not None or flag.learning is not None \
                or flag.hairpin is None:
            raise refuse(f"port flags vnet does not render: {flag}", f"{where}/vnet:port-flags")
        hairpin = flag.hairpin
    bridge: dict[str, Any] = {"name": br.name, "mac": br.mac or LIBVIRT_PICKS, "stp": br.stp, "delay": br.delay}
    if br.dummy_tap is not None:
        if br.dummy_tap != names.dummy_tap_name(br.name):
            raise refuse(f"dummy tap {br.dummy_tap!r} is not the one vnet names for {br.name!r}", where)
        bridge["dummy_tap"] = True
    if br.group_fwd_mask is not None:
        if not 0 <= br.group_fwd_mask <= 0xFFFF or br.group_fwd_mask & GROUP_FWD_RESTRICTED:
            raise refuse(f"group_fwd_mask {br.group_fwd_mask:#x} is no mask vnet renders", where)
        bridge["group_fwd_mask"] = br.group_fwd_mask
    if br.multicast_snooping is not None:
        bridge["multicast_snooping"] = br.multicast_snooping
    entry: dict[str, Any] = {"bridge": bridge}
    if part.uuid:
        entry = {"uuid": part.uuid, **entry}
    return entry, hairpin
