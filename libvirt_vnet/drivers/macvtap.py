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
from typing import Any, Optional

from ..errors import ImportRefused, InputError, VnetError
from ..model import names
from ..model.derived import nics_by_network
from ..model.libvirt import ForwardDef, ForwardMode, InterfaceDef, NetworkDef, VirtualPortDef, VirtualPortType
from ..model.plumbing import HostObject, MacvlanShim
from ..model.topology import HostSpec, NetworkSpec, NicSpec, Topology, VmSpec
from .base import (
    BY_XML,
    IMPORT_HINT,
    NOT_MINE,
    SEGMENT_KEYS,
    VDP,
    Device,
    Driver,
    ImportedEntry,
    Requirement,
    effective_portgroup,
    first_set,
    nic_interface,
    raise_all,
)

MODES = ("vepa", "bridge", "private", "passthrough")
#: what libvirt needs of a virtual port of each type to start a guest on it
_REQUIRED = {VirtualPortType.QBG: ("managerid", "typeid", "typeidversion"),
             VirtualPortType.QBH: ("profileid",)}


def _shown(value: object) -> object:
    return value.value if isinstance(value, VirtualPortType) else value


#: forward modes only this kind has (mode bridge with an interface pool is this kind's too)
_IMPORTED_MODES = {ForwardMode.PRIVATE: "private", ForwardMode.VEPA: "vepa", ForwardMode.PASSTHROUGH: "passthrough"}


class MacvtapDriver(Driver):
    kind = "macvtap"
    summary = 'guests directly on uplinks: mode vepa (802.1Qbg), bridge, private, passthrough'
    keys = SEGMENT_KEYS | {"mode", "uplink", "uplinks", "pf", "virtualport", "portgroups",
                           "vlan", "trust_guest_rx_filters", "shim"}
    hints = {"vfs": "libvirt's network driver lists devices by PCI address only in hostdev "
             "pools: use kind hostdev, or pf: for a macvtap pool of the PF's VFs"}
    attach = ("network", "direct")
    nic_vlan = True
    bridge_ports = False

    def validate(self, net: NetworkSpec) -> None:
        problems: list[VnetError] = []
        if net.mode not in MODES:
            problems.append(InputError(
                f"mode must be one of {', '.join(MODES)}; got {net.mode!r}" if net.mode
                else f"a macvtap network needs its mode: one of {', '.join(MODES)}",
                path=f"{net.path}.mode",
                hint="vepa for an 802.1Qbg edge, bridge for guest-to-guest on the host"))
        sources = [k for k in ("uplink", "uplinks", "pf") if getattr(net, k)]
        if len(sources) != 1:
            problems.append(InputError(
                "a macvtap network needs exactly one of uplink, uplinks, pf"
                + (f" (got {', '.join(sources)})" if sources else ""),
                path=net.path, hint="uplink: eth1"))
        if len(set(net.uplinks)) != len(net.uplinks):
            dup = next(u for u in net.uplinks if net.uplinks.count(u) > 1)
            problems.append(InputError(f"interface {dup!r} is listed twice in the pool",
                                       path=f"{net.path}.uplinks"))
        if net.mode in MODES:  # the rules of a mode, once it is known
            problems.extend(self._mode_problems(net, net.mode))
        if net.virtualport is not None and net.virtualport.type is None:
            problems.append(InputError("a network's virtualport needs its type",
                                       path=f"{net.path}.virtualport.type",
                                       hint="802.1Qbg for a VEPA edge, 802.1Qbh for a port profile"))
        problems.extend(InputError(f"{vp.type.value} virtual ports need kind openvswitch",
                                   path=f"{net.path}.virtualport")
                        for vp in [net.virtualport] + [pg.virtualport for pg in net.portgroups]
                        if vp is not None and vp.type in (VirtualPortType.OPENVSWITCH, VirtualPortType.MIDONET))
        problems.extend(InputError(
            "an 802.1Qbg instance ID names the port of one guest; on a network or "
            "portgroup every guest would share it", path=f"{where}.instanceid",
            hint="leave it out (libvirt makes one per guest), or give it on the NIC")
            for vp, where in [(net.virtualport, f"{net.path}.virtualport")] + [
                (pg.virtualport, f"{net.path}.portgroups.{pg.name}.virtualport") for pg in net.portgroups]
            if vp is not None and vp.instanceid is not None)
        if net.shim is not None and sources and not (net.uplink or len(net.uplinks) == 1):
            problems.append(InputError("a shim needs one uplink to sit on", path=f"{net.path}.shim"))
        raise_all(problems)

    @staticmethod
    def _mode_problems(net: NetworkSpec, mode: str) -> list[VnetError]:
        """What macvtap devices in ``mode`` cannot do."""
        problems: list[VnetError] = []
        tagged = [net.vlan] + [pg.vlan for pg in net.portgroups]
        if mode != "passthrough" and any(v is not None for v in tagged):
            problems.append(InputError(
                f"libvirt applies VLAN tags to macvtap devices only in passthrough mode, not {mode}",
                path=f"{net.path}.vlan",
                hint="tag on the adjacent switch port, or use a vlan-bridge network per VLAN"))
        if net.shim is not None and mode not in ("bridge", "vepa"):
            problems.append(InputError(
                f"a host shim cannot reach guests in {mode} mode", path=f"{net.path}.shim",
                hint="private mode forbids guest↔host traffic, passthrough gives the "
                "device away; use mode bridge (or vepa with a hairpin switch)"))
        problems.extend(InputError(
            f"libvirt shapes traffic only on bridges, not in a {mode} macvtap pool",
            path=f"{net.path}.portgroups.{pg.name}.bandwidth")
            for pg in net.portgroups if pg.bandwidth is not None)
        return problems

    def nic_rules(self, nic: NicSpec, net: NetworkSpec, attach: str) -> None:
        super().nic_rules(nic, net, attach)
        if nic.vlan is not None and net.mode != "passthrough":
            raise InputError("libvirt applies VLAN tags to macvtap devices only in passthrough mode",
                             path=f"{nic.path}.vlan")
        port = self.nic_virtualport(nic, net, attach)
        if port is None or port.type is None:
            return
        missing = [k for k in _REQUIRED.get(port.type, ()) if getattr(port, k) is None]
        if missing:
            raise InputError(
                f"the NIC's {port.type.value} virtual port has no {', '.join(missing)}: libvirt "
                "refuses to start the guest without " + ("them" if len(missing) > 1 else "it"),
                path=f"{nic.path}.virtualport",
                hint="give " + ", ".join(_REQUIRED[port.type]) + " on the network, its portgroup "
                "or the NIC" + (" (a direct NIC takes only its own, or the network's)" if attach == "direct" else ""))

    def nic_virtualport(self, nic: NicSpec, net: NetworkSpec, attach: str) -> Optional[VirtualPortDef]:
        """The virtual port libvirt gives the NIC: a direct NIC's own (or the one vnet
        copies from its portgroup or network); a network NIC's, its portgroup's and the
        network's merged as libvirt merges them when the guest starts
        (virNetDevVPortProfileMerge3: a parameter given twice must agree)."""
        pg = effective_portgroup(nic, net)
        layers = [(vp, where) for vp, where in (
            (nic.virtualport, "the NIC"), (pg.virtualport if pg else None, f"portgroup {pg.name!r}" if pg else ""),
            (net.virtualport, "the network")) if vp is not None]
        if attach == "direct" or len(layers) < 2:
            return layers[0][0] if layers else None
        merged: dict[str, tuple[object, str]] = {}
        for vp, where in layers:
            for key, value in dataclasses.asdict(vp).items():
                if value is None:
                    continue
                if key in merged and merged[key][0] != value:
                    theirs, there = merged[key]
                    raise InputError(
                        f"the NIC's virtual port gets {key} {_shown(theirs)} from {there} and "
                        f"{_shown(value)} from {where}: libvirt refuses to merge them when the "
                        "guest starts", path=f"{nic.path}.virtualport",
                        hint=f"give {key} in one place only (e.g. the common parts on the network, "
                        "the VSI type on each portgroup)")
                merged.setdefault(key, (value, where))
        return VirtualPortDef(**{k: v for k, (v, _) in merged.items()})  # type: ignore[arg-type]

    def host_requirements(self, net: NetworkSpec, topo: Topology, host: str) -> tuple[Requirement, ...]:
        """An 802.1Qbg port (the network's, a portgroup's or a NIC's) needs VDP on every
        device of the pool (the PF of a VF pool)."""
        ports = [(net.virtualport, f"{net.path}.virtualport")]
        ports += [(pg.virtualport, f"{net.path}.portgroups.{pg.name}.virtualport") for pg in net.portgroups]
        ports += [(nic.virtualport, f"{nic.path}.virtualport")
                  for vm, nic in nics_by_network(topo).get(net.name, ()) if vm.host == host]
        path = next((p for vp, p in ports if vp is not None and vp.type is VirtualPortType.QBG), None)
        if path is None:
            return ()
        devices = self.pool(net) or ((net.pf,) if net.pf else ())
        return tuple(Requirement(VDP, dev, path) for dev in devices)

    def pool_size(self, net: NetworkSpec, host: HostSpec) -> Optional[int]:
        if net.mode != "passthrough":
            return None
        if not net.pf:
            return len(net.uplinks) or 1
        return next((p.vfs for p in host.sriov if p.name == net.pf), None)

    def host_nic_problems(self, net: NetworkSpec, host: HostSpec, nics: list[NicSpec]) -> list[InputError]:
        problems = super().host_nic_problems(net, host, nics)
        if net.mode == "passthrough":
            ways = {nic.attach or "network" for nic in nics}
            if {"network", "direct"} <= ways:  # another attach is refused where NICs are checked
                problems.append(InputError(
                    "in passthrough mode libvirt hands pool devices to network NICs without "
                    "knowing about direct ones: attach all NICs of this pool the same way",
                    path=next(n.path for n in nics if (n.attach or "network") == "direct"),
                    hint="attach: network everywhere lets libvirt pick free devices"))
        return problems

    def pool(self, net: NetworkSpec) -> tuple[str, ...]:
        return (net.uplink,) if net.uplink else net.uplinks

    def shim_name(self, net: NetworkSpec) -> str:
        assert net.shim is not None
        return net.shim.name or names.derive_ifname("shim-", net.name)

    def devices(self, net: NetworkSpec) -> tuple[Device, ...]:
        shim = (Device(self.shim_name(net), "shim", "shim.name" if net.shim.name else "shim", True),) \
            if net.shim is not None else ()
        return (*super().devices(net), *shim)

    def host_objects(self, net: NetworkSpec, topo: Topology, host: str) -> tuple[HostObject, ...]:
        if net.shim is None:
            return ()
        parent = self.pool(net)[0]
        name = self.shim_name(net)
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

    # ---- import
    def claims(self, net: NetworkDef) -> int:
        fwd = net.forward
        if fwd is None:
            return NOT_MINE
        if fwd.mode in _IMPORTED_MODES:
            return BY_XML
        if fwd.mode is not ForwardMode.BRIDGE or not (fwd.interfaces or fwd.dev) or (
                net.virtualport is not None and net.virtualport.type is VirtualPortType.OPENVSWITCH):
            return NOT_MINE
        if net.bridge is not None and net.bridge.name:
            raise ImportRefused(
                "a forward mode='bridge' network with both a bridge name and forward "
                "interfaces", path="/network/forward",
                hint="libvirt uses one or the other; keep the one you mean")
        return BY_XML

    def import_forward(self, net: NetworkDef, out: ImportedEntry) -> None:
        fwd = net.forward
        assert fwd is not None
        fpath = "/network/forward"
        if fwd.nat is not None:
            raise ImportRefused("<nat> is only for forward mode nat", path=f"{fpath}/nat")
        if fwd.managed is not None:
            raise ImportRefused(
                f"managed applies to hostdev pools; libvirt ignores it in forward mode "
                f"{fwd.mode.value}", path=f"{fpath}/@managed", hint=IMPORT_HINT)
        if fwd.driver_model or fwd.driver_name:
            raise ImportRefused(f"<driver> applies to hostdev pools, not forward "
                                f"mode {fwd.mode.value}", path=f"{fpath}/driver")
        out.put("mode", _IMPORTED_MODES.get(fwd.mode, "bridge"), f"{fpath}/@mode")
        pool = list(fwd.interfaces)
        if fwd.dev:
            if pool and pool[0] != fwd.dev:
                raise ImportRefused(
                    f"<forward dev='{fwd.dev}'> does not match the first <interface> "
                    f"{pool[0]!r}", path=f"{fpath}/@dev",
                    hint="libvirt requires them to match")
            if not pool:
                pool = [fwd.dev]
        if len(pool) == 1:
            out.put("uplink", pool[0], f"{fpath}/interface")
        elif pool:
            out.put("uplinks", pool, f"{fpath}/interface")
        if fwd.pf:
            out.put("pf", fwd.pf, f"{fpath}/pf")
        if fwd.addresses:
            out.put("vfs", [str(a) for a in fwd.addresses], f"{fpath}/address")

    def import_host_objects(self, net: NetworkDef, out: ImportedEntry) -> None:
        """The host shim, which only vnet's metadata records."""
        meta = net.vnet_metadata
        shims = [o for o in meta.objects if isinstance(o, MacvlanShim)] if meta is not None else []
        if len(shims) == 1:
            shim: dict[str, Any] = {"name": shims[0].name}
            if shims[0].address:
                shim["address"] = shims[0].address
            out.put("shim", shim, "/network/metadata/vnet:network")

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
