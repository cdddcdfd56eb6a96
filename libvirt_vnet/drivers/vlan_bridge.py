"""Kind ``vlan-bridge``: one 802.1Q VLAN of a host uplink as its own broadcast domain.

Host side (built by vnet's hooks/plumbing, since libvirt does not): VLAN device
``<uplink>.<vid>`` enslaved to a bridge with a pinned MAC; libvirt side: a
``forward mode='bridge'`` network on that bridge (the seed's B_V1/B_V2 mapping).
"""

from __future__ import annotations

from typing import Any, Optional

from ..errors import InputError
from ..model import names
from ..model.libvirt import ForwardMode, InterfaceDef, NetworkDef
from ..model.plumbing import BridgeUplink, HostBridge, HostObject, PortFlags, VlanDevice
from ..model.topology import GROUP_FWD_RESTRICTED, LIBVIRT_PICKS, NetworkSpec, NicSpec, Topology, VmSpec
from .base import (
    BY_METADATA,
    NOT_MINE,
    SEGMENT_KEYS,
    Device,
    Driver,
    ImportedEntry,
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

    def validate(self, net: NetworkSpec) -> None:
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

    def vlan_segment(self, net: NetworkSpec) -> Optional[tuple[str, int]]:
        return (net.uplink, self.vid(net)) if net.uplink and net.vlan else None

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

    def devices(self, net: NetworkSpec) -> tuple[Device, ...]:
        br = self.bridge_name(net)
        tap = (Device(names.dummy_tap_name(br), "dummy tap", "bridge.dummy_tap", True),) \
            if net.bridge and net.bridge.dummy_tap else ()
        vlan = Device(self.vlan_device(net), "VLAN device",
                      "vlan_device" if net.vlan_device else "vlan", True)
        return (*super().devices(net), vlan, *tap)

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

    # ---- import: what vnet rendered, from its metadata (libvirt's XML alone looks like kind bridge)
    def claims(self, net: NetworkDef) -> int:
        return BY_METADATA if _keys_from_meta(net) is not None else NOT_MINE

    def import_bridge(self, net: NetworkDef, out: ImportedEntry) -> None:
        for key, value in (_keys_from_meta(net) or {}).items():
            out.put(key, value, "/network/metadata/vnet:network")

    def other_interface(self, attach: str, nic: NicSpec, mac: str, vm: VmSpec,
                        net: NetworkSpec, topo: Topology) -> InterfaceDef:
        return nic_interface(nic, "bridge", mac, source_bridge=self.bridge_name(net))


def _keys_from_meta(net: NetworkDef) -> Optional[dict[str, Any]]:
    """The vlan-bridge keys rebuilt from vnet's own metadata, or ``None`` when the
    metadata does not describe this network exactly (then the forward mode decides)."""
    meta = net.vnet_metadata
    if meta is None or meta.kind != "vlan-bridge":
        return None
    fwd = net.forward
    if fwd is None or fwd.mode is not ForwardMode.BRIDGE or fwd.dev or fwd.interfaces \
            or fwd.pf or fwd.addresses or fwd.nat or fwd.managed is not None \
            or fwd.driver_model or fwd.driver_name or net.bridge is None or not net.bridge.name \
            or net.vlan is not None or net.virtualport is not None:
        return None
    if net.bridge.stp is not None or net.bridge.delay is not None or net.bridge.zone \
            or net.bridge.mac_table_manager or net.mac is not None:
        return None
    devs = [o for o in meta.objects if isinstance(o, VlanDevice)]
    bridges = [o for o in meta.objects if isinstance(o, HostBridge)]
    links = [o for o in meta.objects if isinstance(o, BridgeUplink)]
    flags = [o for o in meta.objects if isinstance(o, PortFlags)]
    if len(devs) != 1 or len(bridges) != 1 or len(links) != 1 or len(flags) > 1:
        return None
    if len(meta.objects) != 3 + len(flags):
        return None
    dev, br, link = devs[0], bridges[0], links[0]
    if br.name != net.bridge.name or link.device != dev.name or link.bridge != br.name:
        return None
    if dev.mtu != net.mtu or br.mtu != net.mtu:
        return None
    flag = flags[0] if flags else None
    if flag is not None and (flag.bridge != br.name or flag.isolated is not None
                             or flag.learning is not None or flag.hairpin is None):
        return None
    bridge: dict[str, Any] = {"name": br.name, "mac": br.mac or LIBVIRT_PICKS,
                              "stp": br.stp, "delay": br.delay}
    if br.dummy_tap is not None:
        if br.dummy_tap != names.dummy_tap_name(br.name):
            return None
        bridge["dummy_tap"] = True
    if br.group_fwd_mask is not None:
        if not 0 <= br.group_fwd_mask <= 0xFFFF or br.group_fwd_mask & GROUP_FWD_RESTRICTED:
            return None  # not a mask vnet renders: not vnet's description of this network
        bridge["group_fwd_mask"] = br.group_fwd_mask
    if br.multicast_snooping is not None:
        bridge["multicast_snooping"] = br.multicast_snooping
    out: dict[str, Any] = {"uplink": dev.parent, "vlan": dev.vid, "bridge": bridge}
    if dev.name != names.vlan_device_name(dev.parent, dev.vid):
        out["vlan_device"] = dev.name
    if flag is not None:
        out["hairpin"] = flag.hairpin
    return out
