"""Host objects → ordered host actions.

Drivers say *what* a network or NIC needs on a host as host objects of the plumbing
contract (:mod:`libvirt_vnet.model.plumbing`: VLAN device, bridge, veth link, port flags,
shim, VF settings, a PF's VF count); this module turns those into actions, in dependency
order, each link marked with the ifalias ``vnet:<topology>:<object>`` that proves
ownership later.  Pure: no host access, and it knows nothing of topologies or drivers
(:func:`libvirt_vnet.rendering.host_needs` gathers a topology's objects).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..model.plumbing import (
    BridgeUplink,
    HostBridge,
    HostObject,
    MacvlanShim,
    PortFlags,
    SriovVfs,
    VethLink,
    VfConfig,
    VlanDevice,
)
from .actions import (
    MARK_PREFIX,
    Action,
    EnsureBridge,
    EnsureMacvlan,
    EnsureNumVfs,
    EnsureTap,
    EnsureVethPair,
    EnsureVlanLink,
    SetMaster,
    SetPortFlags,
    SetVf,
)


def mark(topology: str, obj: str) -> str:
    """The ifalias of a device vnet creates for ``topology``."""
    return f"{MARK_PREFIX}{topology}:{obj}"


def holder_for(topology: str, host: str) -> str:
    """The holder name of ``vnet host-apply`` for one topology on one host."""
    return f"topology:{topology}@{host}"


def actions_for(objects: Iterable[HostObject], topology: str, origin: str = "") -> list[Action]:
    """Actions for host objects, in order; an object listed twice (two NICs on one
    VLAN) gives its actions once."""
    objects = list(objects)
    uplinks: dict[str, list[str]] = {}
    for obj in objects:
        if isinstance(obj, BridgeUplink):
            uplinks.setdefault(obj.bridge, []).append(obj.device)
    out: list[Action] = []
    for obj in objects:
        if isinstance(obj, VlanDevice):
            out.append(EnsureVlanLink(name=obj.name, parent=obj.parent, vid=obj.vid,
                                      mark=mark(topology, obj.name), mtu=obj.mtu))
        elif isinstance(obj, HostBridge):
            out.append(EnsureBridge(name=obj.name, mark=mark(topology, obj.name), mac=obj.mac, stp=obj.stp,
                                    delay=obj.delay, mtu=obj.mtu, group_fwd_mask=obj.group_fwd_mask,
                                    multicast_snooping=obj.multicast_snooping))
            if obj.dummy_tap:
                out.append(EnsureTap(name=obj.dummy_tap, mac=obj.mac, mark=mark(topology, obj.dummy_tap),
                                     mtu=obj.mtu))
                out.append(SetMaster(device=obj.dummy_tap, bridge=obj.name, up=None))
        elif isinstance(obj, BridgeUplink):
            out.append(SetMaster(device=obj.device, bridge=obj.bridge))
        elif isinstance(obj, VethLink):
            out.append(EnsureVethPair(name=obj.name, peer=obj.peer, mark=mark(topology, obj.name), mtu=obj.mtu))
            if obj.bridge:
                out.append(SetMaster(device=obj.name, bridge=obj.bridge))
            if obj.peer_bridge:
                out.append(SetMaster(device=obj.peer, bridge=obj.peer_bridge))
        elif isinstance(obj, PortFlags):
            out.append(SetPortFlags(bridge=obj.bridge, hairpin=obj.hairpin, isolated=obj.isolated,
                                    learning=obj.learning, skip=tuple(uplinks.get(obj.bridge, ()))))
        elif isinstance(obj, MacvlanShim):
            out.append(EnsureMacvlan(name=obj.name, parent=obj.parent, mark=mark(topology, obj.name),
                                     address=obj.address))
        elif isinstance(obj, SriovVfs):
            out.append(EnsureNumVfs(pf=obj.pf, count=obj.count))
        elif isinstance(obj, VfConfig):
            out.append(SetVf(pf=obj.pf, pci=obj.address, mac=obj.mac, vlan=obj.vlan, qos=obj.qos,
                             trust=obj.trust, spoofchk=obj.spoofchk, link_state=obj.link_state))
        else:  # pragma: no cover - a new host object without a mapping is a programming error
            raise TypeError(f"no host action for {obj!r}")
    if origin:
        out = [a.placed(origin) for a in out]
    return dedupe(out)


def dedupe(actions: Sequence[Action]) -> list[Action]:
    """The actions in order, each once (equal actions from two NICs or networks)."""
    seen: set[Action] = set()
    out = []
    for a in actions:
        if a not in seen:
            seen.add(a)
            out.append(a)
    return out


def actions_for_needs(needs: Iterable[tuple[str, Iterable[HostObject]]], topology: str) -> list[Action]:
    """Actions for groups of host objects, each group placed at its origin in the topology
    (``networks.lan``), in order and each once."""
    out: list[Action] = []
    for origin, objects in needs:
        out += actions_for(objects, topology, origin)
    return dedupe(out)
