"""Kind ``vlan-bridge``: one 802.1Q VLAN of a host uplink as its own broadcast domain.

Host side (built by vnet's hooks/plumbing, since libvirt does not): VLAN device
``<uplink>.<vid>`` enslaved to a bridge with a pinned MAC; libvirt side: a
``forward mode='bridge'`` network on that bridge (the seed's B_V1/B_V2 mapping).
"""

from __future__ import annotations

from ..errors import InputError
from ..model import names
from ..model.libvirt import InterfaceDef, NetworkDef
from ..model.plumbing import BridgeUplink, HostBridge, HostObject, VlanDevice
from ..model.topology import NetworkSpec, NicSpec, Topology, VmSpec
from .base import (
    SEGMENT_KEYS,
    Driver,
    bridge_network,
    nic_interface,
    pinned_mac,
    port_flags,
    single_vlan,
)


class VlanBridgeDriver(Driver):
    kind = "vlan-bridge"
    summary = 'one 802.1Q VLAN of an uplink: VLAN device eth0.N + bridge brN (host side)'
    keys = SEGMENT_KEYS | {"uplink", "vlan", "vlan_device", "bridge", "mtu", "bandwidth",
                           "portgroups", "port_isolated", "trust_guest_rx_filters", "hairpin"}
    attach = ("network", "bridge")

    def check(self, net: NetworkSpec) -> None:
        if not net.uplink:
            raise InputError("a vlan-bridge network needs the uplink that carries the VLAN",
                             path=f"{net.path}.uplink", hint="uplink: eth0")
        if net.vlan is None:
            raise InputError("a vlan-bridge network needs its VLAN id", path=f"{net.path}.vlan",
                             hint="vlan: 10")
        vid = single_vlan(net.vlan, f"{net.path}.vlan", "a vlan-bridge network")
        if not net.vlan_device and names.vlan_device_name(net.uplink, vid or 0) is None:
            raise InputError(
                f"the VLAN device name {net.uplink}.{vid} is longer than 15 bytes",
                path=f"{net.path}.vlan_device", hint="name it yourself: vlan_device: vl10")
        if net.bridge and net.bridge.mac_table_manager:
            raise InputError("mac_table_manager applies to bridges libvirt creates",
                             path=f"{net.path}.bridge.mac_table_manager")
        for pg in net.portgroups:
            if pg.vlan is not None or pg.virtualport is not None:
                raise InputError(
                    f"portgroup {pg.name!r}: the VLAN is fixed by the VLAN device; a "
                    "portgroup here can only carry bandwidth or trust settings",
                    path=f"{net.path}.portgroups.{pg.name}")

    def vid(self, net: NetworkSpec) -> int:
        assert net.vlan is not None
        return net.vlan.tags[0].id

    def bridge_name(self, net: NetworkSpec) -> str:
        if net.bridge and net.bridge.name:
            return net.bridge.name
        return f"br{self.vid(net)}"

    def vlan_device(self, net: NetworkSpec) -> str:
        assert net.uplink
        return net.vlan_device or names.vlan_device_name(net.uplink, self.vid(net)) or ""

    def bridge_names(self, net: NetworkSpec) -> tuple[str, ...]:
        return (self.bridge_name(net),)

    def host_objects(self, net: NetworkSpec, topo: Topology, host: str) -> tuple[HostObject, ...]:
        assert net.uplink
        br = self.bridge_name(net)
        b = net.bridge
        dev = self.vlan_device(net)
        return (
            VlanDevice(name=dev, parent=net.uplink, vid=self.vid(net), mtu=net.mtu),
            HostBridge(name=br, mac=pinned_mac(net, topo, host),
                       stp=bool(b.stp) if b and b.stp is not None else False,
                       delay=b.delay if b and b.delay is not None else 0, mtu=net.mtu,
                       dummy_tap=names.dummy_tap_name(br) if b and b.dummy_tap else None,
                       group_fwd_mask=b.group_fwd_mask if b else None,
                       multicast_snooping=b.multicast_snooping if b else None),
            BridgeUplink(device=dev, bridge=br),
            *port_flags(net, br),
        )

    def networks(self, net: NetworkSpec, topo: Topology, host: str) -> tuple[NetworkDef, ...]:
        return (bridge_network(net, topo, host, self, self.bridge_name(net)),)

    def other_interface(self, attach: str, nic: NicSpec, mac: str, vm: VmSpec,
                        net: NetworkSpec, topo: Topology) -> InterfaceDef:
        return nic_interface(nic, "bridge", mac, source_bridge=self.bridge_name(net))
