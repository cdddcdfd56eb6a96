"""Topology → ordered host actions.

Drivers say *what* a network needs on a host as host objects
(:mod:`libvirt_vnet.hostspec`: VLAN device, bridge, veth link, port flags, shim, VF);
this module turns those into actions, in dependency order, each marked with the ifalias
``vnet:<topology>:<object>`` that proves ownership later.  Pure: no host access.
Importing it is cheap (the hooks do): the topology model is imported only by
:func:`topology_actions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..hostspec import (
    BridgeUplink,
    HostBridge,
    HostObject,
    MacvlanShim,
    PortFlags,
    VethLink,
    VfConfig,
    VlanDevice,
)
from .actions import (
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

if TYPE_CHECKING:
    from ..spec import Topology


def mark(topology: str, obj: str) -> str:
    """The ifalias of a device vnet creates for ``topology``."""
    return f"vnet:{topology}:{obj}"


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


def topology_actions(topo: Topology, host: str) -> list[Action]:
    """Everything ``topo`` needs on ``host``: SR-IOV VF counts, then each network's
    objects, then settings of VFs that NICs name by PCI address.  (VFs a guest takes
    from a pool are known only when libvirt picks one: the qemu hook sets those.)"""
    from ..assign import nic_macs  # the topology side: not needed by the hooks
    from ..drivers import registry

    hspec = topo.host(host)
    actions: list[Action] = [EnsureNumVfs(pf=pf.name, count=pf.vfs).placed(f"{hspec.path}.sriov.{pf.name}")
                             for pf in hspec.sriov]
    macs = nic_macs(topo)
    for net in topo.networks_on(host):
        actions += actions_for(registry.driver_for(net.kind).host_objects(net, topo, host), topo.name, net.path)
    for vm in topo.vms:
        if vm.host != host:
            continue
        for nic in vm.nics:
            net = topo.network(nic.network)
            objs = [obj for obj in registry.driver_for(net.kind).nic_objects(nic, macs[(vm.name, nic.index)], vm,
                                                                            net, topo)
                    if isinstance(obj, VfConfig) and obj.address]
            actions += actions_for(objs, topo.name, nic.path)
    return dedupe(actions)
