"""Kind ``bridge``: guests join a Linux bridge that already exists on the host (made by
the admin, e.g. br0 holding eth0).  vnet neither creates nor changes that bridge."""

from __future__ import annotations

from ..errors import InputError
from ..model.libvirt import InterfaceDef, NetworkDef
from ..model.plumbing import HostObject
from ..model.topology import NetworkSpec, NicSpec, Topology, VmSpec
from .base import (
    SEGMENT_KEYS,
    Driver,
    bridge_network,
    nic_interface,
    port_flags,
    refuse_bridge_settings,
)


class BridgeDriver(Driver):
    kind = "bridge"
    summary = 'guests join an existing host bridge (e.g. br0 holding eth0)'
    keys = SEGMENT_KEYS | {"bridge", "vlan", "bandwidth", "portgroups", "port_isolated",
                           "trust_guest_rx_filters", "hairpin"}
    attach = ("network", "bridge")
    nic_vlan = True
    hints = {"mtu": "libvirt sets no MTU on bridges it does not create: set it on the host bridge",
             "uplink": "an existing bridge already holds its uplink; to have vnet build "
             "VLAN device + bridge, use kind vlan-bridge"}

    def check(self, net: NetworkSpec) -> None:
        if net.bridge is None or not net.bridge.name:
            raise InputError("a bridge network needs the name of the existing host bridge",
                             path=f"{net.path}.bridge", hint="bridge: br0")
        refuse_bridge_settings(net, f"vnet does not manage the existing bridge {net.bridge.name}")

    def bridge_names(self, net: NetworkSpec) -> tuple[str, ...]:
        return ()  # the user's bridge; several networks may share it

    def host_objects(self, net: NetworkSpec, topo: Topology, host: str) -> tuple[HostObject, ...]:
        assert net.bridge and net.bridge.name
        return port_flags(net, net.bridge.name)

    def networks(self, net: NetworkSpec, topo: Topology, host: str) -> tuple[NetworkDef, ...]:
        assert net.bridge and net.bridge.name
        return (bridge_network(net, topo, host, self, net.bridge.name, vlan=net.vlan),)

    def other_interface(self, attach: str, nic: NicSpec, mac: str, vm: VmSpec,
                        net: NetworkSpec, topo: Topology) -> InterfaceDef:
        assert net.bridge and net.bridge.name
        return nic_interface(nic, "bridge", mac, source_bridge=net.bridge.name)
