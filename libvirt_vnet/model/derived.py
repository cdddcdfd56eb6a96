"""Per-topology indexes that validation and rendering share: stable NIC MACs,
and the NICs of each network.

Given MACs are kept; the others are derived from (topology, vm, nic index) and bumped
past collisions, in document order, so the result depends only on the topology.
Each index is built once per topology object (the last few are kept).
"""

from __future__ import annotations

import functools
from typing import Callable, TypeVar

from . import names
from .topology import NicSpec, Topology, VmSpec

T = TypeVar("T")


def _per_topology(build: Callable[[Topology], T]) -> Callable[[Topology], T]:
    """Cache ``build`` by topology identity (topologies are big: no hashing them)."""
    recent: list[tuple[Topology, T]] = []

    @functools.wraps(build)
    def cached(topo: Topology) -> T:
        for seen, value in recent:
            if seen is topo:
                return value
        value = build(topo)
        recent.append((topo, value))
        del recent[:-4]
        return value

    return cached


@_per_topology
def nics_by_network(topo: Topology) -> dict[str, list[tuple[VmSpec, NicSpec]]]:
    """``{network name: [(vm, nic), ...]}`` in document order."""
    result: dict[str, list[tuple[VmSpec, NicSpec]]] = {}
    for vm in topo.vms:
        for nic in vm.nics:
            result.setdefault(nic.network, []).append((vm, nic))
    return result


@_per_topology
def nic_macs(topo: Topology) -> dict[tuple[str, int], str]:
    """``{(vm name, nic index): mac}`` for every NIC."""
    used = {nic.mac for vm in topo.vms for nic in vm.nics if nic.mac}
    result: dict[tuple[str, int], str] = {}
    for vm in topo.vms:
        for nic in vm.nics:
            if nic.mac:
                result[(vm.name, nic.index)] = nic.mac
                continue
            salt = 0
            mac = names.derive_mac(topo.name, vm.name, str(nic.index))
            while mac in used:
                salt += 1
                mac = names.derive_mac(topo.name, vm.name, str(nic.index), salt=salt)
            used.add(mac)
            result[(vm.name, nic.index)] = mac
    return result
