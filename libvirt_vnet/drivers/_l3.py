"""Shared mapping of the kinds whose bridge, addresses and DHCP/DNS libvirt manages:
nat, route, open and isolated (libvirt's own ``default`` network is a nat one)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Optional

from ..errors import InputError
from ..model.derived import nic_macs, nics_by_network
from ..model.libvirt import (
    BridgeDef,
    DhcpHost,
    ForwardDef,
    ForwardMode,
    InterfaceDef,
    IPDef,
    NetworkDef,
)
from ..model.topology import NetworkSpec, NicSpec, Topology, VmSpec
from .base import VNET_BRIDGE_SETTINGS, VNET_BRIDGES, Driver, libvirt_bridge_name, nic_interface, pinned_mac

L3_KEYS = frozenset({
    "subnet", "gateway", "dhcp", "tftp", "local_ptr", "subnet6", "gateway6", "dhcp6", "ips",
    "bridge", "mtu", "domain", "dns", "routes", "bandwidth", "port_isolated", "ipv6",
    "trust_guest_rx_filters", "dnsmasq_options", "portgroups",
})


class L3Driver(Driver):
    l3 = True
    keys = L3_KEYS
    attach = ("network", "bridge")
    forward_mode: ClassVar[Optional[ForwardMode]] = None
    #: advice when a setting only vnet can apply is given for libvirt's bridge
    vnet_bridge_hint: ClassVar[str] = (
        f"use a bridge vnet creates ({VNET_BRIDGES}), or set it on the host once libvirt "
        "has started the network")

    def needs_ip(self, net: NetworkSpec) -> bool:
        return self.forward_mode in (ForwardMode.NAT, ForwardMode.ROUTE, ForwardMode.OPEN)

    def check(self, net: NetworkSpec) -> None:
        if not net.ips:
            if self.needs_ip(net):
                raise InputError(
                    f"a {self.kind} network needs an address: libvirt forwards for a subnet",
                    path=net.path, hint="add subnet: 192.168.100.0/24 (or subnet6)")
            for key in ("dns", "domain", "routes", "dnsmasq_options"):
                if getattr(net, key):
                    raise InputError(
                        f"{key} needs a subnet: without an address libvirt runs no dnsmasq "
                        "on this network", path=f"{net.path}.{key}",
                        hint="add subnet: ..., or drop the key")
        b = net.bridge
        if b is not None and b.dummy_tap:
            raise InputError(
                "dummy_tap is for bridges vnet creates; libvirt pins this bridge's MAC itself",
                path=f"{net.path}.bridge.dummy_tap",
                hint="leave it out: the network's <mac> keeps the bridge address stable")
        for key in VNET_BRIDGE_SETTINGS:
            if b is not None and getattr(b, key) is not None:
                raise InputError(
                    f"{key} is for bridges vnet creates: libvirt creates this bridge and its "
                    "<bridge> has no setting for it", path=f"{net.path}.bridge.{key}",
                    hint=self.vnet_bridge_hint)
        for pg in net.portgroups:
            if pg.vlan is not None or pg.virtualport is not None:
                raise InputError(
                    f"portgroup {pg.name!r}: VLANs and virtual ports need a bridge that "
                    f"supports them, not a {self.kind} network",
                    path=f"{net.path}.portgroups.{pg.name}")
        if net.nat is not None and net.nat.ipv6 and not any(
                ip.interface.version == 6 for ip in net.ips):
            raise InputError("nat.ipv6 needs an IPv6 subnet (subnet6)",
                             path=f"{net.path}.nat.ipv6")

    def bridge_names(self, net: NetworkSpec) -> tuple[str, ...]:
        return (libvirt_bridge_name(net),)

    def forward(self, net: NetworkSpec) -> Optional[ForwardDef]:
        if self.forward_mode is None:
            return None
        return ForwardDef(mode=self.forward_mode, dev=net.uplink, nat=net.nat)

    def reserved_ips(self, net: NetworkSpec, topo: Topology) -> tuple[IPDef, ...]:
        """The network's addresses with a DHCP host entry for every NIC with an ip."""
        macs = nic_macs(topo)
        wanted: list[DhcpHost] = []
        for vm, nic in nics_by_network(topo).get(net.name, ()):
            if nic.ip is not None:
                wanted.append(DhcpHost(ip=nic.ip, mac=macs[(vm.name, nic.index)], name=vm.name))
            if nic.ip6 is not None:  # DHCPv6 has no MAC: matched by the client's host name
                wanted.append(DhcpHost(ip=nic.ip6, name=vm.name))
        if not wanted:
            return net.ips
        out = []
        for ip in net.ips:
            mine = tuple(h for h in wanted if h.ip in ip.interface.network)
            if mine and ip.dhcp is not None:  # the loader made sure DHCP is on there
                ip = dataclasses.replace(ip, dhcp=dataclasses.replace(
                    ip.dhcp, hosts=ip.dhcp.hosts + mine))
            out.append(ip)
        return tuple(out)

    def networks(self, net: NetworkSpec, topo: Topology, host: str) -> tuple[NetworkDef, ...]:
        b = net.bridge
        bridge = BridgeDef(
            name=libvirt_bridge_name(net),
            stp=b.stp if b and b.stp is not None else True,
            delay=b.delay if b and b.delay is not None else 0,
            mac_table_manager=b.mac_table_manager if b else None,
            zone=b.zone if b else None,
        )
        return (NetworkDef(
            name=net.name, uuid=self.uuid(net, topo), forward=self.forward(net), bridge=bridge,
            mtu=net.mtu, mac=pinned_mac(net, topo), domain=net.domain, dns=net.dns,
            bandwidth=net.bandwidth, portgroups=net.portgroups,
            ips=self.reserved_ips(net, topo), routes=net.routes,
            port_isolated=net.port_isolated, ipv6=net.ipv6,
            trust_guest_rx_filters=net.trust_guest_rx_filters, metadata=net.metadata,
            dnsmasq_options=net.dnsmasq_options, vnet_metadata=self.meta(net, topo, host),
        ),)

    def other_interface(self, attach: str, nic: NicSpec, mac: str, vm: VmSpec,
                        net: NetworkSpec, topo: Topology) -> InterfaceDef:
        return nic_interface(nic, "bridge", mac, source_bridge=libvirt_bridge_name(net))
