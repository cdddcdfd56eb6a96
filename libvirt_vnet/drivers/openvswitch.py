"""Kind ``openvswitch``: guests on an existing Open vSwitch bridge
(``<virtualport type='openvswitch'>``), with VLAN access ports or trunks per portgroup.
XML only: vnet does not manage OVS itself."""

from __future__ import annotations

import dataclasses
from typing import Optional

from ..errors import InputError, VnetError
from ..model.libvirt import ForwardMode, InterfaceDef, NetworkDef, VirtualPortDef, VirtualPortType
from ..model.topology import NetworkSpec, NicSpec, Topology, VmSpec
from .base import (
    BY_XML,
    NOT_MINE,
    SEGMENT_KEYS,
    Driver,
    bridge_network,
    nic_interface,
    raise_all,
    refuse_bridge_settings,
)


class OpenvswitchDriver(Driver):
    kind = "openvswitch"
    summary = 'guests on an Open vSwitch bridge, VLANs/trunks per portgroup (XML only)'
    keys = SEGMENT_KEYS | {"bridge", "vlan", "virtualport", "portgroups", "bandwidth"}
    attach = ("network", "bridge")
    nic_vlan = True
    bridge_ports = False
    hints = {"mtu": "set the MTU on the OVS bridge (ovs-vsctl), or per NIC with nics[].mtu"}

    def validate(self, net: NetworkSpec) -> None:
        problems: list[VnetError] = []
        if net.bridge is None or not net.bridge.name:
            problems.append(InputError(
                "an openvswitch network needs the OVS bridge's name",
                path=f"{net.path}.bridge", hint="bridge: ovsbr0 (see ovs-vsctl list-br)"))
        problems.extend(refuse_bridge_settings(net, "Open vSwitch bridges are configured with ovs-vsctl"))
        if net.bridge is not None and net.bridge.mac_table_manager:
            problems.append(InputError("mac_table_manager applies to Linux bridges",
                                       path=f"{net.path}.bridge.mac_table_manager"))
        vp = net.virtualport
        if vp is not None and vp.type not in (None, VirtualPortType.OPENVSWITCH):
            problems.append(InputError("an openvswitch network's virtualport is of type openvswitch",
                                       path=f"{net.path}.virtualport.type"))
        raise_all(problems)

    def claims(self, net: NetworkDef) -> int:
        fwd, vp = net.forward, net.virtualport
        return BY_XML if fwd is not None and fwd.mode is ForwardMode.BRIDGE and vp is not None \
            and vp.type is VirtualPortType.OPENVSWITCH else NOT_MINE

    def implied_virtualport(self, vp: VirtualPortDef) -> bool:
        """The driver always writes ``<virtualport type='openvswitch'/>``."""
        return vp == VirtualPortDef(type=VirtualPortType.OPENVSWITCH)

    def existing_bridge(self, net: NetworkSpec) -> Optional[str]:
        return net.bridge.name if net.bridge else None

    def virtualport(self, net: NetworkSpec) -> VirtualPortDef:
        vp = net.virtualport or VirtualPortDef()
        return VirtualPortDef(type=VirtualPortType.OPENVSWITCH, profileid=vp.profileid,
                              interfaceid=vp.interfaceid)

    def networks(self, net: NetworkSpec, topo: Topology, host: str) -> tuple[NetworkDef, ...]:
        name = net.bridge.name if net.bridge else None
        return (bridge_network(net, topo, host, self, name, vlan=net.vlan,
                               virtualport=self.virtualport(net)),)

    def other_interface(self, attach: str, nic: NicSpec, mac: str, vm: VmSpec,
                        net: NetworkSpec, topo: Topology) -> InterfaceDef:
        if net.bridge is None or not net.bridge.name:
            raise InputError("attach: bridge needs the network's OVS bridge name",
                             path=f"{net.path}.bridge", hint="bridge: ovsbr0")
        iface = nic_interface(nic, "bridge", mac, source_bridge=net.bridge.name)
        return dataclasses.replace(
            iface, vlan=nic.vlan or net.vlan,
            virtualport=nic.virtualport or VirtualPortDef(type=VirtualPortType.OPENVSWITCH))
