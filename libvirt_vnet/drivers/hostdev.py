"""Kind ``hostdev``: an SR-IOV VF pool (by PF, or by explicit VF PCI addresses).  Each
guest NIC gets a whole VF by PCI passthrough; libvirt sets the VF's MAC and VLAN, vnet's
hooks add what libvirt does not (trust, spoof checking, link state)."""

from __future__ import annotations

from typing import Optional

from ..errors import ImportRefused, InputError, VnetError
from ..model.libvirt import ForwardDef, ForwardMode, InterfaceDef, NetworkDef
from ..model.plumbing import HostObject, VfConfig
from ..model.topology import HostSpec, NetworkSpec, NicSpec, Topology, VmSpec
from .base import (
    BY_XML,
    IMPORT_HINT,
    NOT_MINE,
    SEGMENT_KEYS,
    Driver,
    ImportedEntry,
    effective_portgroup,
    first_set,
    problems_of,
    raise_all,
    single_vlan,
)

#: what a VF takes of VLANs
_NO_TRUNK = "an SR-IOV VF (no trunking on VFs)"


class HostdevDriver(Driver):
    kind = "hostdev"
    summary = 'SR-IOV VF pool (by PF or VF PCI addresses), MAC/VLAN per VF'
    keys = SEGMENT_KEYS | {"pf", "vfs", "managed", "driver_name", "driver_model", "vlan", "portgroups",
                           "trust_guest_rx_filters"}
    attach = ("network", "hostdev")
    nic_vlan = True
    nic_vf = True
    bridge_ports = False

    def validate(self, net: NetworkSpec) -> None:
        problems: list[VnetError] = []
        if bool(net.pf) == bool(net.vfs):
            problems.append(InputError(
                "a hostdev network needs either pf (the SR-IOV NIC) or vfs (explicit VF PCI "
                "addresses)", path=net.path, hint="pf: enp3s0f0"))
        if len(set(net.vfs)) != len(net.vfs):
            dup = next(v for v in net.vfs if net.vfs.count(v) > 1)
            problems.append(InputError(f"PCI device {dup} is listed twice in the pool",
                                       path=f"{net.path}.vfs"))
        problems.extend(problems_of(single_vlan, net.vlan, f"{net.path}.vlan", _NO_TRUNK))
        for pg in net.portgroups:
            problems.extend(problems_of(single_vlan, pg.vlan,
                                        f"{net.path}.portgroups.{pg.name}.vlan", _NO_TRUNK))
            if pg.virtualport is not None or pg.bandwidth is not None:
                problems.append(InputError("VF portgroups carry only a VLAN and trust",
                                           path=f"{net.path}.portgroups.{pg.name}"))
        raise_all(problems)

    def nic_rules(self, nic: NicSpec, net: NetworkSpec, attach: str) -> None:
        super().nic_rules(nic, net, attach)
        if nic.vf is not None and net.vfs and nic.vf not in net.vfs:
            raise InputError(f"VF {nic.vf} is not in the pool of network {net.name!r}",
                             path=f"{nic.path}.vf")
        if nic.model != "virtio":
            raise InputError("a VF passed through has no emulated model", path=f"{nic.path}.model")
        for key in ("mtu", "bandwidth", "virtualport"):
            if getattr(nic, key) is not None:
                raise InputError(f"a VF passed through to the guest takes no {key}: the host "
                                 "never sees its traffic", path=f"{nic.path}.{key}")

    def pool_size(self, net: NetworkSpec, host: HostSpec) -> Optional[int]:
        if net.vfs:
            return len(net.vfs)
        return next((p.vfs for p in host.sriov if p.name == net.pf), None)

    def claims(self, net: NetworkDef) -> int:
        return BY_XML if net.forward is not None and net.forward.mode is ForwardMode.HOSTDEV else NOT_MINE

    def import_forward(self, net: NetworkDef, out: ImportedEntry) -> None:
        fwd = net.forward
        assert fwd is not None
        fpath = "/network/forward"
        if fwd.dev or fwd.interfaces:
            raise ImportRefused("a hostdev pool is a <pf> or PCI <address>es, not "
                                "network interfaces", path=f"{fpath}/interface", hint=IMPORT_HINT)
        if fwd.nat is not None:
            raise ImportRefused("<nat> is only for forward mode nat", path=f"{fpath}/nat")
        if fwd.pf:
            out.put("pf", fwd.pf, f"{fpath}/pf")
        if fwd.addresses:
            out.put("vfs", [str(a) for a in fwd.addresses], f"{fpath}/address")
        # libvirt formats an absent managed as managed='no'; the driver's default is yes
        out.put("managed", bool(fwd.managed), f"{fpath}/@managed")
        if fwd.driver_model:
            out.put("driver_model", fwd.driver_model, f"{fpath}/driver/@model")
        if fwd.driver_name:
            out.put("driver_name", fwd.driver_name, f"{fpath}/driver/@name")

    def networks(self, net: NetworkSpec, topo: Topology, host: str) -> tuple[NetworkDef, ...]:
        fwd = ForwardDef(mode=ForwardMode.HOSTDEV, pf=net.pf, addresses=net.vfs,
                         managed=True if net.managed is None else net.managed,
                         driver_name=net.driver_name, driver_model=net.driver_model)
        return (NetworkDef(
            name=net.name, uuid=self.uuid(net, topo), forward=fwd, vlan=net.vlan,
            portgroups=net.portgroups, trust_guest_rx_filters=net.trust_guest_rx_filters,
            metadata=net.metadata, vnet_metadata=self.meta(net, topo, host),
        ),)

    def nic_objects(self, nic: NicSpec, mac: str, vm: VmSpec, net: NetworkSpec,
                    topo: Topology) -> tuple[HostObject, ...]:
        pg = effective_portgroup(nic, net)
        vlan = first_set(nic.vlan, pg.vlan if pg else None, net.vlan)
        trust = first_set(nic.trust, pg.trust_guest_rx_filters if pg else None,
                          net.trust_guest_rx_filters)
        return (VfConfig(pf=net.pf, address=str(nic.vf) if nic.vf else None, mac=mac,
                         vlan=vlan.tags[0].id if vlan else None, trust=trust,
                         spoofchk=nic.spoofchk,
                         link_state=nic.link),)

    def interface(self, nic: NicSpec, mac: str, vm: VmSpec, net: NetworkSpec,
                  topo: Topology) -> InterfaceDef:
        if nic.vlan is not None:
            single_vlan(nic.vlan, f"{nic.path}.vlan", _NO_TRUNK)
        if (nic.attach or "network") == "network":
            return InterfaceDef(type="network", mac=mac, model=None, source_network=net.name,
                                source_portgroup=nic.portgroup, vlan=nic.vlan)
        if nic.vf is None:
            raise InputError("attach: hostdev needs the VF's PCI address", path=f"{nic.path}.vf",
                             hint="vf: 0000:03:10.2, or use attach: network to take any VF")
        return InterfaceDef(type="hostdev", mac=mac, model=None, source_address=nic.vf,
                            managed=True if net.managed is None else net.managed,
                            vlan=nic.vlan or net.vlan)
