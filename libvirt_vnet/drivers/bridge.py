"""Kind ``bridge``: guests join a Linux bridge that already exists on the host (made by
the admin, e.g. br0 holding eth0).  vnet neither creates nor changes that bridge."""

from __future__ import annotations

from typing import Optional

from ..errors import ImportRefused, InputError, VnetError
from ..model.libvirt import ForwardMode, InterfaceDef, NetworkDef, VirtualPortType
from ..model.plumbing import HostObject, PortFlags
from ..model.topology import NetworkSpec, NicSpec, Topology, VmSpec
from .base import (
    BY_XML,
    NOT_MINE,
    SEGMENT_KEYS,
    Driver,
    ImportedEntry,
    bridge_network,
    nic_interface,
    port_flags,
    raise_all,
    refuse_bridge_settings,
)


class BridgeDriver(Driver):
    kind = "bridge"
    summary = 'guests join an existing host bridge (e.g. br0 holding eth0)'
    keys = SEGMENT_KEYS | {"bridge", "vlan", "bandwidth", "portgroups", "port_isolated",
                           "trust_guest_rx_filters", "hairpin"}
    attach = ("network", "bridge")
    nic_vlan = True
    nic_vlan_on_linux_bridge = True
    hints = {"mtu": "libvirt sets no MTU on bridges it does not create: set it on the host bridge",
             "uplink": "an existing bridge already holds its uplink; to have vnet build "
             "VLAN device + bridge, use kind vlan-bridge"}

    def validate(self, net: NetworkSpec) -> None:
        problems: list[VnetError] = []
        if net.bridge is None or not net.bridge.name:
            problems.append(InputError("a bridge network needs the name of the existing host bridge",
                                       path=f"{net.path}.bridge", hint="bridge: br0"))
        name = f" {net.bridge.name}" if net.bridge is not None and net.bridge.name else ""
        problems.extend(refuse_bridge_settings(net, f"vnet does not manage the existing bridge{name}"))
        raise_all(problems)

    def bridge_names(self, net: NetworkSpec) -> tuple[str, ...]:
        return ()  # the user's bridge; several networks may share it

    def existing_bridge(self, net: NetworkSpec) -> Optional[str]:
        return net.bridge.name if net.bridge else None

    def claims(self, net: NetworkDef) -> int:
        """A ``forward mode='bridge'`` network on a named host bridge (an interface pool
        is macvtap's, an Open vSwitch virtual port openvswitch's)."""
        fwd, vp = net.forward, net.virtualport
        if fwd is None or fwd.mode is not ForwardMode.BRIDGE or fwd.interfaces or fwd.dev or (
                vp is not None and vp.type is VirtualPortType.OPENVSWITCH):
            return NOT_MINE
        if net.bridge is None or not net.bridge.name:
            raise ImportRefused(
                "a forward mode='bridge' network needs a bridge name or forward interfaces",
                path="/network/forward", hint="add <bridge name='br0'/> or <interface dev='eth0'/>")
        return BY_XML

    def import_host_objects(self, net: NetworkDef, out: ImportedEntry) -> None:
        """The hairpin flag of the bridge's guest ports, which only vnet's metadata records."""
        meta = net.vnet_metadata
        if meta is None or net.bridge is None:
            return
        flags = [o for o in meta.objects if isinstance(o, PortFlags)
                 and o.bridge == net.bridge.name and o.hairpin is not None]
        if len(flags) == 1:
            out.put("hairpin", flags[0].hairpin, "/network/metadata/vnet:network")

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
