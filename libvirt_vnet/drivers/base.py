"""The driver contract and the helpers all kinds share."""

from __future__ import annotations

from typing import Any, ClassVar, Optional, TypeVar

from ..errors import InputError
from ..model import names
from ..model.libvirt import BridgeDef, ForwardDef, InterfaceDef, NetworkDef, PortGroupDef, VlanDef
from ..model.plumbing import HostObject, NetworkMeta, PortFlags
from ..model.topology import LIBVIRT_PICKS, NetworkSpec, NicSpec, Topology, VmSpec

T = TypeVar("T")

#: topology keys every kind accepts (besides those its driver declares in ``keys``)
COMMON_KEYS = frozenset({"kind", "host", "hosts", "uuid", "metadata"})
#: keys with meaning on every kind that holds guests on a Linux bridge
SEGMENT_KEYS = frozenset({"subnet", "gateway", "subnet6", "gateway6"})

#: ``bridge`` settings libvirt has no XML for: vnet sets them on the bridges it creates
VNET_BRIDGE_SETTINGS = ("group_fwd_mask", "multicast_snooping")
#: the kinds (and parts) whose bridges vnet creates, for hints
VNET_BRIDGES = "kind vlan-bridge, or the access switches of kind two-tier"


class Driver:
    """Base of all drivers.  Subclasses set the class attributes and override what
    differs; every method is pure."""

    kind: ClassVar[str] = ""
    #: one line for ``vnet kinds``: what the kind maps onto
    summary: ClassVar[str] = ""
    #: said after ``vnet render`` for networks of this kind (e.g. an order to start them in)
    start_note: ClassVar[str] = ""
    #: topology keys (besides kind/host/hosts/uuid/metadata) this kind accepts
    keys: ClassVar[frozenset[str]] = frozenset()
    #: does libvirt give this network addresses (``<ip>``, DHCP, DNS)?
    l3: ClassVar[bool] = False
    #: NIC ``attach`` values this kind supports; the first is the default
    attach: ClassVar[tuple[str, ...]] = ("network",)
    #: per-key advice when a key is used on the wrong kind
    hints: ClassVar[dict[str, str]] = {}
    #: can guests of this kind take a NIC ``vlan``?
    nic_vlan: ClassVar[bool] = False

    def key_hint(self, key: str) -> str:
        hint = self.hints.get(key)
        return f"{hint}; " if hint else ""

    # ---- checks (called by the loader) -------------------------------------------
    def check(self, net: NetworkSpec) -> None:
        """Kind-specific rules; raise :class:`InputError`."""

    # ---- naming ---------------------------------------------------------------
    def bridge_names(self, net: NetworkSpec) -> tuple[str, ...]:
        """Bridges this network uses on a host (checked for clashes)."""
        return ()

    def libvirt_names(self, net: NetworkSpec) -> tuple[str, ...]:
        """libvirt network names this network defines."""
        return (net.name,)

    # ---- rendering ------------------------------------------------------------
    def host_objects(self, net: NetworkSpec, topo: Topology, host: str) -> tuple[HostObject, ...]:
        return ()

    def networks(self, net: NetworkSpec, topo: Topology, host: str) -> tuple[NetworkDef, ...]:
        raise NotImplementedError

    def interface(self, nic: NicSpec, mac: str, vm: VmSpec, net: NetworkSpec,
                  topo: Topology) -> InterfaceDef:
        attach = nic.attach or self.attach[0]
        if attach == "network":
            return nic_interface(nic, "network", mac, source_network=net.name,
                                 source_portgroup=nic.portgroup)
        return self.other_interface(attach, nic, mac, vm, net, topo)

    def other_interface(self, attach: str, nic: NicSpec, mac: str, vm: VmSpec,
                        net: NetworkSpec, topo: Topology) -> InterfaceDef:
        raise NotImplementedError(attach)

    def nic_objects(self, nic: NicSpec, mac: str, vm: VmSpec, net: NetworkSpec,
                    topo: Topology) -> tuple[HostObject, ...]:
        """Host objects one NIC needs (the network's own, plus per-NIC ones)."""
        return self.host_objects(net, topo, vm.host)

    # ---- shared building blocks ------------------------------------------------
    def meta(self, net: NetworkSpec, topo: Topology, host: str) -> NetworkMeta:
        return NetworkMeta(topology=topo.name, name=net.name, kind=self.kind,
                           objects=self.host_objects(net, topo, host))

    def uuid(self, net: NetworkSpec, topo: Topology, suffix: str = "") -> str:
        if net.uuid and not suffix:
            return net.uuid
        return names.derive_uuid(topo.name, net.name + suffix)


def nic_interface(nic: NicSpec, type: str, mac: str, **source: Any) -> InterfaceDef:
    """An interface of ``type`` carrying the NIC's own options; ``source`` sets the
    ``source_*`` fields (and may override ``model``)."""
    fields: dict[str, Any] = {"model": nic.model}
    fields.update(source)
    return InterfaceDef(
        type=type, mac=mac, vlan=nic.vlan, virtualport=nic.virtualport,
        bandwidth=nic.bandwidth, mtu=nic.mtu, trust_guest_rx_filters=nic.trust,
        port_isolated=nic.port_isolated, link_state=nic.link, **fields,
    )


def effective_portgroup(nic: NicSpec, net: NetworkSpec) -> Optional[PortGroupDef]:
    """The portgroup libvirt applies to a NIC: the one it names, else the default one."""
    for pg in net.portgroups:
        if pg.name == nic.portgroup or (nic.portgroup is None and pg.default):
            return pg
    return None


def first_set(*values: Optional[T]) -> Optional[T]:
    """The first value that is not ``None`` (``False`` counts as set)."""
    return next((v for v in values if v is not None), None)


def libvirt_bridge_name(net: NetworkSpec) -> str:
    """The bridge of a network whose bridge libvirt creates."""
    if net.bridge and net.bridge.name:
        return net.bridge.name
    return names.derive_ifname("vbr-", net.name)


def pinned_mac(net: NetworkSpec, topo: Topology, host: Optional[str] = None) -> Optional[str]:
    """The bridge MAC: given, derived (stable), or ``None`` when libvirt should pick.

    ``host`` goes into the derivation for bridges on a segment that several hosts
    share (a VLAN): two hosts' bridges on one wire must not have one MAC."""
    mac = net.bridge.mac if net.bridge else None
    if mac == LIBVIRT_PICKS:
        return None
    parts = (topo.name, "network", net.name, "bridge") + ((host,) if host else ())
    return mac or names.derive_mac(*parts)


def port_flags(net: NetworkSpec, bridge: str) -> tuple[HostObject, ...]:
    if net.hairpin is None:
        return ()
    return (PortFlags(bridge=bridge, hairpin=net.hairpin),)


def single_vlan(vlan: Optional[VlanDef], path: str, what: str) -> Optional[int]:
    if vlan is None:
        return None
    if len(vlan.tags) != 1 or vlan.trunk:
        raise InputError(f"{what} takes exactly one VLAN id, not a trunk", path=path)
    return vlan.tags[0].id


def bridge_network(net: NetworkSpec, topo: Topology, host: str, driver: Driver,
                   bridge: Optional[str], **extra: object) -> NetworkDef:
    """A ``forward mode='bridge'`` network on ``bridge``.  No ``<mtu>``: libvirt allows it
    only on networks whose bridge it creates (the MTU of vnet's bridges is host-side)."""
    from ..model.libvirt import ForwardMode

    return NetworkDef(
        name=net.name, uuid=driver.uuid(net, topo),
        forward=ForwardDef(mode=ForwardMode.BRIDGE),
        bridge=BridgeDef(name=bridge,
                         mac_table_manager=net.bridge.mac_table_manager if net.bridge else None)
        if bridge else None,
        bandwidth=net.bandwidth, portgroups=net.portgroups,
        port_isolated=net.port_isolated, trust_guest_rx_filters=net.trust_guest_rx_filters,
        metadata=net.metadata, vnet_metadata=driver.meta(net, topo, host), **extra,  # type: ignore[arg-type]
    )


def refuse_bridge_settings(net: NetworkSpec, owner: str) -> None:
    """For bridges vnet does not create: only the name (and macTableManager) apply."""
    b = net.bridge
    if b is None:
        return
    for key in ("mac", "stp", "delay", "zone"):
        if getattr(b, key) is not None:
            raise InputError(
                f"bridge.{key} cannot be set here: {owner}",
                path=f"{net.path}.bridge.{key}",
                hint="configure that bridge on the host, or use a kind whose bridge vnet "
                "or libvirt creates (nat, route, open, isolated, vlan-bridge, two-tier)")
    if b.dummy_tap:
        raise InputError(f"bridge.dummy_tap cannot be set here: {owner}",
                         path=f"{net.path}.bridge.dummy_tap")
    for key in VNET_BRIDGE_SETTINGS:
        if getattr(b, key) is not None:
            raise InputError(
                f"bridge.{key} cannot be set here: {owner}",
                path=f"{net.path}.bridge.{key}",
                hint=f"vnet sets it only on bridges it creates ({VNET_BRIDGES}); "
                "otherwise configure that bridge on the host")
