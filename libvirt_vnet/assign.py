"""Stable MAC assignment for every NIC of a topology.

Given MACs are kept; the others are derived from (topology, vm, nic index) and bumped
past collisions, in document order, so the result depends only on the topology.
The last few results are cached: the loader's checks and the renderer share them.
"""

from __future__ import annotations

from . import names
from .spec import NicSpec, Topology, VmSpec

_CACHE: list[tuple[Topology, dict[tuple[str, int], str]]] = []
_BY_NET: list[tuple[Topology, dict[str, list[tuple[VmSpec, NicSpec]]]]] = []


def nics_by_network(topo: Topology) -> dict[str, list[tuple[VmSpec, NicSpec]]]:
    """``{network name: [(vm, nic), ...]}`` in document order (cached like MACs)."""
    for cached, known in _BY_NET:
        if cached is topo:
            return known
    result: dict[str, list[tuple[VmSpec, NicSpec]]] = {}
    for vm in topo.vms:
        for nic in vm.nics:
            result.setdefault(nic.network, []).append((vm, nic))
    _BY_NET.append((topo, result))
    del _BY_NET[:-4]
    return result


def nic_macs(topo: Topology) -> dict[tuple[str, int], str]:
    """``{(vm name, nic index): mac}`` for every NIC."""
    for cached, known in _CACHE:
        if cached is topo:
            return known
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
    _CACHE.append((topo, result))
    del _CACHE[:-4]
    return result
