"""Kind ``vlan-bridge``: one 802.1Q VLAN of a host uplink as its own broadcast domain.

Host side (built by vnet's hooks/plumbing, since libvirt does not): VLAN device
``<uplink>.<vid>`` enslaved to a bridge with a pinned MAC; libvirt side: a
``forward mode='bridge'`` network on that bridge (the seed's B_V1/B_V2 mapping).
"""

from __future__ import annotations

from typing import Any, Optional

from ..errors import ImportRefused, InputError, VnetError
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
    raise_all,
    single_vlan,
)


class VlanBridgeDriver(Driver):
    kind = "vlan-bridge"
    summary = 'one 802.1Q VLAN of an uplink: VLAN device eth0.N + bridge brN (host side)'
    keys = SEGMENT_KEYS | {"uplink", "vlan", "vlan_device", "bridge", "mtu", "bandwidth",
                           "portgroups", "port_isolated", "trust_guest_rx_filters", "hairpin"}
    attach = ("network", "bridge")

    def validate(self, net: NetworkSpec) -> None:
        problems: list[VnetError] = []
        if not net.uplink:
            problems.append(InputError(
                "a vlan-bridge network needs the uplink that carries the VLAN",
                path=f"{net.path}.uplink", hint="uplink: eth0"))
        vid: Optional[int] = None
        if net.vlan is None:
            problems.append(InputError("a vlan-bridge network needs its VLAN id",
                                       path=f"{net.path}.vlan", hint="vlan: 10"))
        else:
            try:
                vid = single_vlan(net.vlan, f"{net.path}.vlan", "a vlan-bridge network")
            except InputError as exc:
                problems.append(exc)
        if net.uplink and vid is not None and not net.vlan_device \
                and names.vlan_device_name(net.uplink, vid) is None:
            problems.append(InputError(
                f"the VLAN device name {net.uplink}.{vid} is longer than 15 bytes",
                path=f"{net.path}.vlan_device", hint="name it yourself: vlan_device: vl10"))
        if net.bridge and net.bridge.mac_table_manager:
            problems.append(InputError("mac_table_manager applies to bridges libvirt creates",
                                       path=f"{net.path}.bridge.mac_table_manager"))
        problems.extend(InputError(
            f"portgroup {pg.name!r}: the VLAN is fixed by the VLAN device; a portgroup here "
            "can only carry bandwidth or trust settings", path=f"{net.path}.portgroups.{pg.name}")
            for pg in net.portgroups if pg.vlan is not None or pg.virtualport is not None)
        raise_all(problems)

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
        meta = net.vnet_metadata
        return BY_METADATA if meta is not None and meta.kind == self.kind else NOT_MINE

    def import_forward(self, net: NetworkDef, out: ImportedEntry) -> None:
        fwd = net.forward
        if fwd is None or fwd.mode is not ForwardMode.BRIDGE:
            raise _refuse("a vlan-bridge network forwards in mode bridge", "/network/forward")
        super().import_forward(net, out)

    def import_bridge(self, net: NetworkDef, out: ImportedEntry) -> None:
        for key, value in _keys_from_meta(net).items():
            out.put(key, value, "/network/metadata/vnet:network")

    def other_interface(self, attach: str, nic: NicSpec, mac: str, vm: VmSpec,
                        net: NetworkSpec, topo: Topology) -> InterfaceDef:
        return nic_interface(nic, "bridge", mac, source_bridge=self.bridge_name(net))


def _refuse(message: str, path: str = "/network/metadata/vnet:network") -> ImportRefused:
    return ImportRefused(
        f"vnet's metadata says kind vlan-bridge, but {message}", path=path,
        hint="the network was changed after vnet rendered it: restore it, or remove the "
        "<vnet:network> element to import it by libvirt's XML alone")


def _keys_from_meta(net: NetworkDef) -> dict[str, Any]:
    """The vlan-bridge keys rebuilt from vnet's own metadata, or a refusal saying where
    the metadata and the network disagree (the network would import as something else)."""
    meta = net.vnet_metadata
    assert meta is not None and meta.kind == "vlan-bridge"
    if net.bridge is None or not net.bridge.name:
        raise _refuse("the network has no bridge name", "/network/bridge")
    b = net.bridge
    if b.stp is not None or b.delay is not None or b.zone or b.mac_table_manager or net.mac is not None:
        raise _refuse("the <bridge> (or <mac>) says more than its name: the bridge is vnet's, "
                      "its settings are in the metadata", "/network/bridge")
    if net.vlan is not None or net.virtualport is not None:
        raise _refuse("the VLAN is the VLAN device's, not a <vlan> or <virtualport> of the network",
                      "/network/vlan" if net.vlan is not None else "/network/virtualport")
    devs = [o for o in meta.objects if isinstance(o, VlanDevice)]
    bridges = [o for o in meta.objects if isinstance(o, HostBridge)]
    links = [o for o in meta.objects if isinstance(o, BridgeUplink)]
    flags = [o for o in meta.objects if isinstance(o, PortFlags)]
    if len(devs) != 1 or len(bridges) != 1 or len(links) != 1 or len(flags) > 1 \
            or len(meta.objects) != 3 + len(flags):
        raise _refuse("the metadata must list one VLAN device, one bridge, the device in the bridge "
                      f"and at most the port flags, not: {', '.join(type(o).__name__ for o in meta.objects)}")
    dev, br, link = devs[0], bridges[0], links[0]
    if br.name != b.name or link.device != dev.name or link.bridge != br.name:
        raise _refuse(f"the metadata's bridge {br.name!r} (with {link.device!r} in {link.bridge!r}) is "
                      f"not the network's bridge {b.name!r} holding VLAN device {dev.name!r}")
    if dev.mtu != net.mtu or br.mtu != net.mtu:
        raise _refuse("the VLAN device and the bridge have different MTUs")
    flag = flags[0] if flags else None
    if flag is not None and (flag.bridge != br.name or flag.isolated is not None
                             or flag.learning is not None or flag.hairpin is None):
        raise _refuse(f"port flags vnet does not render: {flag}")
    bridge: dict[str, Any] = {"name": br.name, "mac": br.mac or LIBVIRT_PICKS,
                              "stp": br.stp, "delay": br.delay}
    if br.dummy_tap is not None:
        if br.dummy_tap != names.dummy_tap_name(br.name):
            raise _refuse(f"dummy tap {br.dummy_tap!r} is not the one vnet names for {br.name!r}")
        bridge["dummy_tap"] = True
    if br.group_fwd_mask is not None:
        if not 0 <= br.group_fwd_mask <= 0xFFFF or br.group_fwd_mask & GROUP_FWD_RESTRICTED:
            raise _refuse(f"group_fwd_mask {br.group_fwd_mask:#x} is no mask vnet renders")
        bridge["group_fwd_mask"] = br.group_fwd_mask
    if br.multicast_snooping is not None:
        bridge["multicast_snooping"] = br.multicast_snooping
    out: dict[str, Any] = {"uplink": dev.parent, "vlan": dev.vid, "bridge": bridge}
    if dev.name != names.vlan_device_name(dev.parent, dev.vid):
        out["vlan_device"] = dev.name
    if flag is not None:
        out["hairpin"] = flag.hairpin
    return out
