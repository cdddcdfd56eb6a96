"""Kind ``macvtap``: guests sit directly on host uplinks through macvtap, in mode
``vepa`` (802.1Qbg edge: all traffic hairpins through the adjacent switch),
``bridge`` (guests on one uplink talk inside the host), ``private`` (guests never talk
to each other) or ``passthrough`` (one guest owns the uplink or a VF).

libvirt side: a network with an interface pool (``<forward mode=...><interface/>``),
or ``type='direct'`` interfaces straight on the uplink.  Host side, optional: a macvlan
"shim" so the host itself can reach its guests (macvtap never delivers host↔guest).
"""

from __future__ import annotations

import dataclasses

from ..errors import InputError
from ..model import names
from ..model.derived import nics_by_network
from ..model.libvirt import ForwardDef, ForwardMode, InterfaceDef, NetworkDef, VirtualPortType
from ..model.plumbing import HostObject, MacvlanShim
from ..model.topology import NetworkSpec, NicSpec, Topology, VmSpec
from .base import SEGMENT_KEYS, Driver, effective_portgroup, first_set, nic_interface

MODES = ("vepa", "bridge", "private", "passthrough")


class MacvtapDriver(Driver):
    kind = "macvtap"
    summary = 'guests directly on uplinks: mode vepa (802.1Qbg), bridge, private, passthrough'
    keys = SEGMENT_KEYS | {"mode", "uplink", "uplinks", "pf", "virtualport", "portgroups",
                           "vlan", "trust_guest_rx_filters", "shim"}
    hints = {"vfs": "libvirt's network driver lists devices by PCI address only in hostdev "
             "pools: use kind hostdev, or pf: for a macvtap pool of the PF's VFs"}
    attach = ("network", "direct")
    nic_vlan = True

    def check(self, net: NetworkSpec) -> None:
        if net.mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}; got {net.mode!r}",
                             path=f"{net.path}.mode",
                             hint="vepa for an 802.1Qbg edge, bridge for guest-to-guest on the host")
        sources = [k for k in ("uplink", "uplinks", "pf") if getattr(net, k)]
        if len(sources) != 1:
            raise InputError(
                "a macvtap network needs exactly one of uplink, uplinks, pf"
                + (f" (got {', '.join(sources)})" if sources else ""),
                path=net.path, hint="uplink: eth1")
        if len(set(net.uplinks)) != len(net.uplinks):
            dup = next(u for u in net.uplinks if net.uplinks.count(u) > 1)
            raise InputError(f"interface {dup!r} is listed twice in the pool",
                             path=f"{net.path}.uplinks")
        tagged = [net.vlan] + [pg.vlan for pg in net.portgroups]
        if net.mode != "passthrough" and any(v is not None for v in tagged):
            raise InputError(
                f"libvirt applies VLAN tags to macvtap devices only in passthrough mode, not {net.mode}",
                path=f"{net.path}.vlan",
                hint="tag on the adjacent switch port, or use a vlan-bridge network per VLAN")
        if net.virtualport is not None and net.virtualport.type is None:
            raise InputError("a network's virtualport needs its type",
                             path=f"{net.path}.virtualport.type",
                             hint="802.1Qbg for a VEPA edge, 802.1Qbh for a port profile")
        vps = [net.virtualport] + [pg.virtualport for pg in net.portgroups]
        for vp in vps:
            if vp is not None and vp.type in (VirtualPortType.OPENVSWITCH, VirtualPortType.MIDONET):
                raise InputError(f"{vp.type.value} virtual ports need kind openvswitch",
                                 path=f"{net.path}.virtualport")
        if net.shim is not None and net.mode not in ("bridge", "vepa"):
            raise InputError(
                f"a host shim cannot reach guests in {net.mode} mode",
                path=f"{net.path}.shim",
                hint="private mode forbids guest↔host traffic, passthrough gives the "
                "device away; use mode bridge (or vepa with a hairpin switch)")
        if net.shim is not None and not (net.uplink or len(net.uplinks) == 1):
            raise InputError("a shim needs one uplink to sit on", path=f"{net.path}.shim")
        for pg in net.portgroups:
            if pg.bandwidth is not None:
                raise InputError(
                    f"libvirt shapes traffic only on bridges, not in a {net.mode} macvtap pool",
                    path=f"{net.path}.portgroups.{pg.name}.bandwidth")

    def pool(self, net: NetworkSpec) -> tuple[str, ...]:
        return (net.uplink,) if net.uplink else net.uplinks

    def host_objects(self, net: NetworkSpec, topo: Topology, host: str) -> tuple[HostObject, ...]:
        if net.shim is None:
            return ()
        parent = self.pool(net)[0]
        name = net.shim.name or names.derive_ifname("shim-", net.name)
        addr = str(net.shim.address) if net.shim.address else None
        return (MacvlanShim(name=name, parent=parent, address=addr),)

    def networks(self, net: NetworkSpec, topo: Topology, host: str) -> tuple[NetworkDef, ...]:
        fwd = ForwardDef(mode=ForwardMode(net.mode or "vepa"), interfaces=self.pool(net),
                         pf=net.pf)
        return (NetworkDef(
            name=net.name, uuid=self.uuid(net, topo), forward=fwd, vlan=net.vlan,
            virtualport=net.virtualport, portgroups=net.portgroups,
            trust_guest_rx_filters=net.trust_guest_rx_filters, metadata=net.metadata,
            vnet_metadata=self.meta(net, topo, host),
        ),)

    def other_interface(self, attach: str, nic: NicSpec, mac: str, vm: VmSpec,
                        net: NetworkSpec, topo: Topology) -> InterfaceDef:
        pool = self.pool(net)
        if not pool:
            raise InputError("attach: direct needs a named uplink; this pool is a PF/VF pool",
                             path=f"{nic.path}.attach", hint="use attach: network")
        dev = pool[0]
        if net.mode == "passthrough":  # each guest owns its device: the k-th takes pool[k]
            direct = [n for v, n in nics_by_network(topo).get(net.name, ())
                      if v.host == vm.host and n.attach == "direct"]
            dev = pool[direct.index(nic)]  # the loader checked the pool is large enough
        # a direct NIC bypasses the libvirt network: carry what it would have applied
        pg = effective_portgroup(nic, net)
        iface = nic_interface(nic, "direct", mac, source_dev=dev, source_mode=net.mode)
        return dataclasses.replace(
            iface,
            virtualport=first_set(nic.virtualport, pg.virtualport if pg else None, net.virtualport),
            vlan=first_set(nic.vlan, pg.vlan if pg else None, net.vlan),
            trust_guest_rx_filters=first_set(
                nic.trust, pg.trust_guest_rx_filters if pg else None, net.trust_guest_rx_filters),
        )
