"""The driver contract and the helpers all kinds share.

A driver owns everything about its kind: the topology keys it takes and their rules
(:meth:`Driver.validate`, :meth:`Driver.validate_nic`), naming, the libvirt networks and
interfaces it maps to, the host objects it needs, and the way back — which libvirt
networks it recognises (:meth:`Driver.claims`) and how it turns one into a topology entry
(:meth:`Driver.import_forward`, :meth:`Driver.import_bridge`, ...) — or, for a kind that
renders one entry as several libvirt networks, which entry a network is part of
(:meth:`Driver.import_part`) and how the parts complete it (:meth:`Driver.import_parts`).
Drivers import only the model and the errors; they print nothing and touch no host.  Adding a kind is one
module (and a third-party kind, registered under the ``libvirt_vnet.drivers`` entry point,
gets validation and import too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Optional, TypeVar

from ..errors import ErrorList, ImportRefused, InputError, VnetError
from ..model import names
from ..model.libvirt import BridgeDef, ForwardDef, InterfaceDef, NetworkDef, PortGroupDef, VirtualPortDef, VlanDef
from ..model.plumbing import HostObject, NetworkMeta, PortFlags
from ..model.topology import LIBVIRT_PICKS, HostSpec, NetworkSpec, NicSpec, Topology, VmSpec

T = TypeVar("T")

#: topology keys every kind accepts (besides those its driver declares in ``keys``)
COMMON_KEYS = frozenset({"kind", "host", "hosts", "uuid", "metadata"})
#: keys with meaning on every kind that holds guests on a Linux bridge
SEGMENT_KEYS = frozenset({"subnet", "gateway", "subnet6", "gateway6"})

#: ``bridge`` settings libvirt has no XML for: vnet sets them on the bridges it creates
VNET_BRIDGE_SETTINGS = ("group_fwd_mask", "multicast_snooping")
#: the kinds (and parts) whose bridges vnet creates, for hints
VNET_BRIDGES = "kind vlan-bridge, or the access switches of kind two-tier"
#: the hint of every import refusal
IMPORT_HINT = "vnet refuses what it cannot reproduce rather than dropping it"

#: :meth:`Driver.claims`: not this kind's network; this kind's by libvirt's XML alone; this
#: kind's by vnet's own metadata (which wins: it says what vnet rendered)
NOT_MINE, BY_XML, BY_METADATA = 0, 1, 2


def prune(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` without ``None`` values and empty lists/tuples (dicts are kept as given)."""
    return {k: v for k, v in d.items() if v is not None and v != [] and v != ()}


@dataclass
class ImportedEntry:
    """A topology entry being built from a libvirt network: the keys in order, and for each
    the XML it came from (named when the entry is refused)."""

    entry: dict[str, Any] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)

    def put(self, key: str, value: Any, path: str) -> None:
        self.entry[key] = value
        self.where[key] = path


@dataclass(frozen=True)
class Device:
    """A network device a network needs on a host, by name: one it creates (vnet or
    libvirt does), or one that must exist (the user's uplink, PF or bridge).  On one host
    one name is one device: the loader refuses a name two networks would create, a name
    created over a device that must exist, and names no one may create
    (:func:`libvirt_vnet.model.names.reserved_ifname_problem`)."""

    name: str
    #: what it is, for messages: "bridge", "VLAN device", "veth end", "uplink", ...
    what: str
    #: the key under the network that gives or derives the name (for the error's place)
    key: str
    #: created for the network (``False``: the device must already exist)
    creates: bool


#: a need the host must meet beyond devices, checked by :mod:`libvirt_vnet.host.preflight`
#: before anything starts (the same words: that module is the host engine's, which may
#: not import drivers; tests/unit/test_architecture.py pins the copy)
VDP = "802.1Qbg VDP"


@dataclass(frozen=True)
class Requirement:
    """``need`` (e.g. :data:`VDP`) on host device ``device``, asked by the topology at
    ``path``."""

    need: str
    device: str
    path: str


@dataclass(frozen=True)
class ImportPart:
    """A libvirt network that is one of several making up topology entry ``entry`` (a
    two-tier network: its aggregation network and one network per access switch).  The
    ``main`` one is imported field by field as the entry's own settings; the driver's
    :meth:`Driver.import_parts` adds what the others say."""

    entry: str
    main: bool


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
    #: does libvirt apply a NIC's ``vlan`` on a plain Linux bridge port (libvirt >= 11.0)?
    nic_vlan_on_linux_bridge: ClassVar[bool] = False
    #: do this kind's NICs sit on a Linux bridge port (port isolation, hairpin)?
    bridge_ports: ClassVar[bool] = True
    #: does a NIC of this kind get a whole SR-IOV VF (spoofchk, trust)?
    nic_vf: ClassVar[bool] = False

    def key_hint(self, key: str) -> str:
        hint = self.hints.get(key)
        return f"{hint}; " if hint else ""

    # ---- validation (asked by libvirt_vnet.topology) ------------------------------
    def validate(self, net: NetworkSpec) -> None:
        """Kind-specific rules of a network entry: every independent problem at once (an
        :class:`~libvirt_vnet.errors.ErrorList`, see :func:`raise_all`); a rule that needs
        a key another rule refused is skipped (the first problem is the one to fix)."""

    def validate_nic(self, vm_name: str, host: str, nic: NicSpec, net: NetworkSpec) -> None:
        """The rules of one NIC on a network of this kind, every independent problem at
        once (an :class:`~libvirt_vnet.errors.ErrorList`): the rules every kind shares
        (host, attach, portgroup, VF, floor, port isolation, virtual port, VLAN), then
        :meth:`nic_rules`, then :meth:`address_rules` — except that a NIC whose ``attach``
        the kind lacks is judged no further.  (Rules across NICs — a MAC, an address or a
        VF given twice — are :mod:`libvirt_vnet.topology`'s.)"""
        problems: list[VnetError] = []
        if not net.on_host(host):
            problems.append(InputError(
                f"network {net.name!r} does not exist on host {host!r} (it is on "
                f"{', '.join(net.hosts)})", path=f"{nic.path}.network",
                hint=f"add {host} to networks.{net.name}.hosts, or move the VM"))
        attach = nic.attach or self.attach[0]
        if attach not in self.attach:
            problems.append(InputError(
                f"a {net.kind} network cannot be attached as {attach!r}",
                path=f"{nic.path}.attach", hint=f"use one of: {', '.join(self.attach)}"))
            raise ErrorList.of(problems)
        problems.extend(problems_of(self._shared_nic_rules, nic, net, attach))
        problems.extend(problems_of(self.nic_rules, nic, net, attach))
        problems.extend(problems_of(self.address_rules, vm_name, nic, net))
        if problems:
            raise ErrorList.of(problems)

    def _shared_nic_rules(self, nic: NicSpec, net: NetworkSpec, attach: str) -> None:
        """The NIC rules every kind shares; each failing rule is one problem."""
        problems: list[VnetError] = []
        for rule in (_portgroup_rule, _vf_rule, _floor_rule, _isolation_rule, _virtualport_rule,
                     _spoofchk_rule, _vlan_rule):
            problems.extend(problems_of(rule, self, nic, net, attach))
        if problems:
            raise ErrorList.of(problems)

    def nic_rules(self, nic: NicSpec, net: NetworkSpec, attach: str) -> None:
        """This kind's own NIC rules (after the shared ones); by default no access switch."""
        if nic.access is not None:
            raise InputError("access picks an access switch of a two-tier network",
                             path=f"{nic.path}.access")

    def address_rules(self, vm_name: str, nic: NicSpec, net: NetworkSpec) -> None:
        """A NIC's reserved addresses: only kinds whose DHCP libvirt runs take them."""
        for key in ("ip", "ip6"):
            if getattr(nic, key) is not None:
                raise InputError(
                    f"vnet reserves addresses only where libvirt runs DHCP; a {net.kind} network's "
                    "addresses come from the real network's DHCP server or the guest",
                    path=f"{nic.path}.{key}",
                    hint="configure the address on that DHCP server or in the guest, and drop it here")

    def pool_size(self, net: NetworkSpec, host: HostSpec) -> Optional[int]:
        """How many guests the network can take on ``host`` when each gets a whole device
        (a VF, a passthrough uplink), if known; ``None``: no such limit."""
        return None

    def host_nic_problems(self, net: NetworkSpec, host: HostSpec, nics: list[NicSpec]) -> list[InputError]:
        """Rules over all NICs of this network on one host: by default, the pool's size."""
        size = self.pool_size(net, host)
        if size is not None and len(nics) > size:
            return [InputError(
                f"network {net.name!r} gives each guest a whole device, but host "
                f"{host.name!r} has {len(nics)} NICs on it and the pool has {size}",
                path=nics[size].path, hint="add devices to the pool, or move NICs elsewhere")]
        return []

    def host_requirements(self, net: NetworkSpec, topo: Topology, host: str) -> tuple[Requirement, ...]:
        """What the host must offer this network beyond devices (checked by the host's
        preflight before ``vnet host-apply``, and by the hooks before a start)."""
        return ()

    def existing_bridge(self, net: NetworkSpec) -> Optional[str]:
        """The host bridge this network's guests join that neither vnet nor libvirt creates
        (the admin's, Open vSwitch's): several networks may share it."""
        return None

    def vlan_segment(self, net: NetworkSpec) -> Optional[tuple[str, int]]:
        """``(uplink, VLAN id)`` when the network is one VLAN of an uplink: one VLAN is one
        broadcast domain, so two networks of a host cannot both be it."""
        return None

    # ---- naming ---------------------------------------------------------------
    def bridge_names(self, net: NetworkSpec) -> tuple[str, ...]:
        """Bridges created for this network on a host (by libvirt or by vnet)."""
        return ()

    def devices(self, net: NetworkSpec) -> tuple[Device, ...]:
        """Every device name this network creates or needs on a host (see :class:`Device`):
        by default its bridges, and the uplinks, PF or existing bridge it names."""
        made = tuple(Device(br, "bridge", "bridge", True) for br in self.bridge_names(net))
        needed = [Device(up, "uplink", "uplink", False) for up in (net.uplink,) if up]
        needed += [Device(up, "uplink", "uplinks", False) for up in net.uplinks]
        needed += [Device(pf, "SR-IOV PF", "pf", False) for pf in (net.pf,) if pf]
        existing = self.existing_bridge(net)
        if existing:
            needed.append(Device(existing, "existing bridge", "bridge", False))
        return made + tuple(needed)

    def libvirt_names(self, net: NetworkSpec) -> tuple[str, ...]:
        """libvirt network names this network defines."""
        return (net.name,)

    def given_uuids(self, net: NetworkSpec) -> dict[str, str]:
        """``{libvirt network name: UUID}`` for the libvirt networks whose UUID the entry
        gives (the others' are derived from the topology)."""
        return {net.name: net.uuid} if net.uuid else {}

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

    # ---- import: a libvirt network back to a topology entry ------------------------
    def claims(self, net: NetworkDef) -> int:
        """Whether this kind maps ``net``: :data:`NOT_MINE`, :data:`BY_XML` or
        :data:`BY_METADATA`; may raise :class:`ImportRefused` when the network looks like
        this kind's but cannot be (the kind with the strongest claim imports it)."""
        return NOT_MINE

    def import_forward(self, net: NetworkDef, out: ImportedEntry) -> None:
        """``<forward>``: by default a network that forwards to a bridge, with nothing else."""
        fwd = net.forward
        if fwd is None:
            return
        extra: tuple[tuple[str, object], ...] = (
            ("dev", fwd.dev), ("interface", fwd.interfaces), ("pf", fwd.pf),
            ("address", fwd.addresses), ("nat", fwd.nat), ("driver", fwd.driver_model or fwd.driver_name),
            ("managed", fwd.managed))
        for what, value in extra:
            if value is not None and value != ():
                raise ImportRefused(f"{what} cannot be used on a {self.kind} network",
                                    path=f"/network/forward/{what}", hint=IMPORT_HINT)

    def import_bridge(self, net: NetworkDef, out: ImportedEntry) -> None:
        """``<bridge>`` and ``<mac>``: by default a bridge that libvirt does not create."""
        if net.mac is not None:
            raise ImportRefused(
                f"<mac> on a {self.kind} network: only bridges libvirt creates take a MAC",
                path="/network/mac", hint=IMPORT_HINT)
        b = net.bridge
        if b is None:
            return
        fixed: tuple[tuple[str, object], ...] = (("stp", b.stp), ("delay", b.delay), ("zone", b.zone))
        for attr, setting in fixed:
            if setting is not None:
                raise ImportRefused(
                    f"bridge {attr} only applies to bridges libvirt creates (nat, route, "
                    f"open, isolated), not to a {self.kind} network",
                    path=f"/network/bridge/@{attr}", hint=IMPORT_HINT)
        bd = prune({"name": b.name, "mac_table_manager": b.mac_table_manager})
        if bd:
            out.put("bridge", bd, "/network/bridge")

    def import_part(self, net: NetworkDef) -> Optional[ImportPart]:
        """Which entry ``net`` is a part of, when this kind renders one entry as several
        libvirt networks (vnet's metadata says so); ``None``: ``net`` is an entry itself.
        May raise :class:`ImportRefused` when the metadata and the network disagree."""
        return None

    def import_parts(self, main: NetworkDef, parts: list[NetworkDef], out: ImportedEntry) -> None:
        """Complete ``out``, the entry imported from the ``main`` part, from the other
        libvirt networks of the entry (all of them given, in a stable order); refuse what
        they say that the entry cannot."""
        raise NotImplementedError(f"kind {self.kind} has no entries of several networks")

    def implied_virtualport(self, vp: VirtualPortDef) -> bool:
        """Whether this kind renders ``vp`` by itself (then the entry need not say it)."""
        return False

    def import_host_objects(self, net: NetworkDef, out: ImportedEntry) -> None:
        """Settings only vnet's metadata records (not libvirt's XML) that this kind can
        still say; the rest of the metadata is derived from the topology afresh."""

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


def refuse_bridge_settings(net: NetworkSpec, owner: str) -> list[VnetError]:
    """For bridges vnet does not create: only the name (and macTableManager) apply; the
    problems of every other setting given."""
    b = net.bridge
    if b is None:
        return []
    problems: list[VnetError] = [InputError(
        f"bridge.{key} cannot be set here: {owner}", path=f"{net.path}.bridge.{key}",
        hint="configure that bridge on the host, or use a kind whose bridge vnet "
        "or libvirt creates (nat, route, open, isolated, vlan-bridge, two-tier)")
        for key in ("mac", "stp", "delay", "zone") if getattr(b, key) is not None]
    if b.dummy_tap:
        problems.append(InputError(f"bridge.dummy_tap cannot be set here: {owner}",
                                   path=f"{net.path}.bridge.dummy_tap"))
    problems.extend(InputError(
        f"bridge.{key} cannot be set here: {owner}", path=f"{net.path}.bridge.{key}",
        hint=f"vnet sets it only on bridges it creates ({VNET_BRIDGES}); "
        "otherwise configure that bridge on the host")
        for key in VNET_BRIDGE_SETTINGS if getattr(b, key) is not None)
    return problems


def raise_all(problems: list[VnetError]) -> None:
    """Raise the problems found (one error, or an ErrorList of several); nothing when none."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ErrorList.of(problems)


def problems_of(check: Callable[..., object], *args: Any) -> list[VnetError]:
    """The problems ``check(*args)`` raises (none, one, or an ErrorList's); what it returns is dropped."""
    try:
        check(*args)
    except ErrorList as exc:
        return list(exc.errors)
    except VnetError as exc:
        return [exc]
    return []


def _portgroup_rule(driver: Driver, nic: NicSpec, net: NetworkSpec, attach: str) -> None:
    if nic.portgroup and nic.portgroup not in {p.name for p in net.portgroups}:
        raise InputError(f"network {net.name!r} has no portgroup {nic.portgroup!r}",
                         path=f"{nic.path}.portgroup",
                         hint=f"portgroups: {', '.join(p.name for p in net.portgroups) or '(none)'}")
    if nic.portgroup and attach != "network":
        raise InputError("portgroups are chosen through the libvirt network",
                         path=f"{nic.path}.portgroup", hint="use attach: network")


def _vf_rule(driver: Driver, nic: NicSpec, net: NetworkSpec, attach: str) -> None:
    if nic.vf is not None and attach != "hostdev":
        raise InputError("vf names the VF of attach: hostdev", path=f"{nic.path}.vf",
                         hint="add attach: hostdev, or drop vf to take any VF of the pool")


def _floor_rule(driver: Driver, nic: NicSpec, net: NetworkSpec, attach: str) -> None:
    floor = nic.bandwidth.inbound.floor if nic.bandwidth and nic.bandwidth.inbound else None
    if floor is None:
        return
    net_in = net.bandwidth.inbound if net.bandwidth else None
    if attach != "network" or not driver.l3:
        raise InputError("an inbound floor works only for NICs attached to a libvirt "
                         "network with its own bridge (nat, route, open, isolated)",
                         path=f"{nic.path}.bandwidth.inbound.floor")
    if net_in is None or net_in.average is None:
        raise InputError(f"a floor needs network {net.name!r} to set bandwidth.inbound.average",
                         path=f"{nic.path}.bandwidth.inbound.floor",
                         hint="the floors of all NICs share the network's inbound average")


def _isolation_rule(driver: Driver, nic: NicSpec, net: NetworkSpec, attach: str) -> None:
    if nic.port_isolated is not None and attach in ("direct", "hostdev"):
        raise InputError("port isolation is a bridge-port setting; this NIC has no bridge port",
                         path=f"{nic.path}.port_isolated",
                         hint="use macvtap mode private to keep direct guests apart")
    if nic.port_isolated is not None and not driver.bridge_ports:
        raise InputError(f"a NIC of a {net.kind} network has no Linux bridge port to isolate",
                         path=f"{nic.path}.port_isolated")


def _virtualport_rule(driver: Driver, nic: NicSpec, net: NetworkSpec, attach: str) -> None:
    if nic.virtualport is not None and nic.virtualport.type is None and attach != "network":
        raise InputError("a virtualport outside a libvirt network needs its type",
                         path=f"{nic.path}.virtualport.type")


def _spoofchk_rule(driver: Driver, nic: NicSpec, net: NetworkSpec, attach: str) -> None:
    if nic.spoofchk is not None and not driver.nic_vf:
        raise InputError("spoofchk is a setting of SR-IOV VFs", path=f"{nic.path}.spoofchk")


def _vlan_rule(driver: Driver, nic: NicSpec, net: NetworkSpec, attach: str) -> None:
    if nic.vlan is not None and not driver.nic_vlan:
        raise InputError(f"a NIC on a {net.kind} network cannot carry its own VLAN tag",
                         path=f"{nic.path}.vlan",
                         hint="VLANs per NIC work on openvswitch, hostdev, macvtap and bridge "
                         "(libvirt >= 11.0) networks; or use a vlan-bridge network per VLAN")
