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
from typing import Optional

from ..errors import InputError
from ..model import names
from ..model.libvirt import ForwardDef, ForwardMode, InterfaceDef, NetworkDef
from ..model.plumbing import HostBridge, HostObject, NetworkMeta, VethLink
from ..model.topology import AccessSwitch, NetworkSpec, NicSpec, Topology, VmSpec
from ._l3 import L3_KEYS, L3Driver
from .base import NOT_MINE, Device, bridge_network, libvirt_bridge_name, nic_interface, port_flags

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
        super().validate(net)
        upstream = net.upstream or "nat"
        if upstream not in _MODES:
            raise InputError(f"upstream must be one of {', '.join(_MODES)}; got {upstream!r}",
                             path=f"{net.path}.upstream")
        if not net.access:
            raise InputError("a two-tier network needs its access switches",
                             path=f"{net.path}.access", hint="access: {sw1: {}, sw2: {}}")
        if net.uplink and upstream not in ("nat", "route"):
            raise InputError(f"an {upstream} aggregation network takes no uplink",
                             path=f"{net.path}.uplink")
        if net.nat and upstream != "nat":
            raise InputError("nat settings need upstream: nat", path=f"{net.path}.nat")
        for sw in net.access:
            if sw.bridge.mac_table_manager or sw.bridge.zone:
                raise InputError("access bridges are vnet's: only name, mac, stp, delay, "
                                 "dummy_tap, group_fwd_mask and multicast_snooping apply",
                                 path=f"{sw.path}.bridge")

    def claims(self, net: NetworkDef) -> int:
        return NOT_MINE  # imported per libvirt network: the aggregation one as its forward mode says

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
