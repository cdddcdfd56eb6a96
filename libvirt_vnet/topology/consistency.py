"""Rules across the objects of a topology (the last step of reading one).

Rules that need more than one object: NIC → network references, host reachability,
duplicate MACs / IPs / bridge names / libvirt names, overlapping subnets per host,
uplinks and PFs the host declares.  Returns every problem found.
"""

from __future__ import annotations

import difflib
import ipaddress
from typing import Union

from ..drivers import registry
from ..errors import InputError, VnetError
from ..model import names
from ..model.derived import nic_macs, nics_by_network
from ..model.topology import NetworkSpec, NicSpec, Topology

IPNet = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def validate_together(topo: Topology) -> list[VnetError]:
    errors: list[VnetError] = []
    by_name = {n.name: n for n in topo.networks}
    _check_hosts(topo, errors)
    _check_overlaps(topo, errors)
    _check_names(topo, errors)
    _check_pools(topo, errors)
    macs = nic_macs(topo)
    seen_mac: dict[str, str] = {}
    seen_vf: dict[str, str] = {}
    seen_ip: dict[tuple[str, str], str] = {}
    for net in topo.networks:
        for ip in net.ips:
            seen_ip[(net.name, str(ip.interface.ip))] = f"{net.path} (gateway)"
            for h in ip.dhcp.hosts if ip.dhcp else ():
                if h.ip is not None:
                    seen_ip.setdefault((net.name, str(h.ip)), f"{net.path}.dhcp.hosts")
        if net.bridge and net.bridge.mac and net.bridge.mac != "libvirt":
            seen_mac[net.bridge.mac] = f"{net.path}.bridge.mac"
    for vm in topo.vms:
        for nic in vm.nics:
            mac = macs[(vm.name, nic.index)]
            if mac in seen_mac:
                errors.append(InputError(f"MAC {mac} is also used at {seen_mac[mac]}",
                                         path=f"{nic.path}.mac",
                                         hint="every NIC and bridge needs its own MAC"))
            seen_mac.setdefault(mac, nic.path)
            found = by_name.get(nic.network)
            if found is None:
                close = difflib.get_close_matches(nic.network, list(by_name), n=1)
                errors.append(InputError(
                    f"network {nic.network!r} is not defined", path=f"{nic.path}.network",
                    hint=f"did you mean {close[0]!r}?" if close
                    else f"networks are: {', '.join(by_name) or '(none)'}"))
                continue
            try:
                registry.driver_for(found.kind).validate_nic(vm.name, vm.host, nic, found)
                _check_taken(nic, found, seen_ip, seen_vf)
            except VnetError as exc:
                errors.append(exc)
    return errors


def _check_taken(nic: NicSpec, net: NetworkSpec, seen_ip: dict[tuple[str, str], str],
                 seen_vf: dict[str, str]) -> None:
    """A VF or a reserved address can belong to one NIC only."""
    if nic.vf is not None:
        if str(nic.vf) in seen_vf:
            raise InputError(f"VF {nic.vf} is already given to {seen_vf[str(nic.vf)]}",
                             path=f"{nic.path}.vf", hint="a VF can back only one NIC")
        seen_vf[str(nic.vf)] = nic.path
    for ip, key in ((nic.ip, "ip"), (nic.ip6, "ip6")):
        if ip is None:
            continue
        other = seen_ip.get((net.name, str(ip)))
        if other:
            raise InputError(f"{ip} is already used at {other}", path=f"{nic.path}.{key}")
        seen_ip[(net.name, str(ip))] = nic.path


def _check_pools(topo: Topology, errors: list[VnetError]) -> None:
    by_net = nics_by_network(topo)
    for net in topo.networks:
        driver = registry.driver_for(net.kind)
        for host in topo.hosts:
            if not net.on_host(host.name):
                continue
            nics = [nic for vm, nic in by_net.get(net.name, ()) if vm.host == host.name]
            errors.extend(driver.host_nic_problems(net, host, nics))


def _check_hosts(topo: Topology, errors: list[VnetError]) -> None:
    for net in topo.networks:
        on = [h for h in topo.hosts if net.on_host(h.name)]
        if net.shim is not None and net.shim.address is not None and len(on) > 1:
            errors.append(InputError(
                f"a shim address belongs to one host; network {net.name!r} is on "
                f"{', '.join(h.name for h in on)}", path=f"{net.path}.shim.address",
                hint="pin the network to one host (host: hv1), or leave the address out"))
        wanted = [u for u in (net.uplink, *net.uplinks) if u]
        for host in on:
            if host.uplinks:
                for up in wanted:
                    if up not in host.uplinks:
                        errors.append(InputError(
                            f"{up!r} is not an uplink of host {host.name!r}",
                            path=f"{net.path}.uplink",
                            hint=f"uplinks of {host.name}: {', '.join(host.uplinks)}; "
                            f"add it to hosts.{host.name}.uplinks if it is one"))
            if net.pf and host.sriov and net.pf not in {p.name for p in host.sriov}:
                errors.append(InputError(
                    f"{net.pf!r} is not an SR-IOV PF of host {host.name!r}",
                    path=f"{net.path}.pf",
                    hint=f"declared PFs: {', '.join(p.name for p in host.sriov)}"))


def _check_overlaps(topo: Topology, errors: list[VnetError]) -> None:
    """Two CIDR blocks overlap only when one contains the other, so one sweep over the
    blocks sorted by start address, with a stack of the blocks still open, finds every
    network whose subnet lies inside another network's (n log n, not n²)."""
    for host in topo.hosts:
        blocks: list[tuple[int, int, int, IPNet, NetworkSpec]] = []
        for order, net in enumerate(topo.networks_on(host.name)):
            for ip in net.ips:
                s = ip.interface.network
                blocks.append((s.version, int(s.network_address), order, s, net))
        # outer blocks first on equal starts; then document order
        blocks.sort(key=lambda b: (b[0], b[1], b[3].prefixlen, b[2]))
        stack: list[tuple[int, IPNet, NetworkSpec, int]] = []
        for version, start, order, subnet, net in blocks:
            while stack and (stack[-1][0] != version or int(stack[-1][1].broadcast_address) < start):
                stack.pop()
            outer = next((s for s in reversed(stack) if s[2] is not net), None)
            if outer is not None:
                # report at the network that comes later in the document
                (_, mine, at, _), (_, theirs, other, _) = sorted(
                    (outer, (version, subnet, net, order)), key=lambda s: -s[3])
                errors.append(InputError(
                    f"subnet {mine} overlaps {theirs} of network {other.name!r} on host "
                    f"{host.name!r}", path=f"{at.path}.subnet",
                    hint="networks on one host need distinct subnets, or routing between them "
                    "is ambiguous"))
            stack.append((version, subnet, net, order))


def _check_names(topo: Topology, errors: list[VnetError]) -> None:
    # the UUIDs vnet derives (from the topology and libvirt network names) for the libvirt
    # networks that do not give one: a given UUID must not be one of them either
    derived: dict[str, str] = {}
    for net in topo.networks:
        for i, lv in enumerate(registry.driver_for(net.kind).libvirt_names(net)):
            if i or not net.uuid:
                derived[names.derive_uuid(topo.name, lv)] = lv
    uuids: dict[str, str] = {}
    for net in topo.networks:
        if net.uuid:
            if net.uuid in uuids:
                errors.append(InputError(f"UUID {net.uuid} is also the UUID of network "
                                         f"{uuids[net.uuid]!r}", path=f"{net.path}.uuid",
                                         hint="leave uuid out to get a stable derived one"))
            elif net.uuid in derived:
                errors.append(InputError(f"UUID {net.uuid} is the UUID vnet derives for libvirt network "
                                         f"{derived[net.uuid]!r}", path=f"{net.path}.uuid",
                                         hint="give another UUID, or leave uuid out"))
            uuids[net.uuid] = net.name
    for host in topo.hosts:
        bridges: dict[str, str] = {}
        lv_names: dict[str, str] = {}
        vlans: dict[tuple[str, int], str] = {}
        # bridges that exist already (the admin's, Open vSwitch's): several networks may
        # share one, but neither vnet nor libvirt may create a bridge of that name
        foreign = {br: net.name for net in topo.networks_on(host.name)
                   if (br := registry.driver_for(net.kind).existing_bridge(net))}
        for net in topo.networks_on(host.name):
            driver = registry.driver_for(net.kind)
            for br in driver.bridge_names(net):
                if br in foreign:
                    errors.append(InputError(
                        f"bridge {br!r} would be created for this network, but it is the "
                        f"existing bridge of network {foreign[br]!r}", path=f"{net.path}.bridge",
                        hint="give this network another bridge name (bridge: {name: ...})"))
                if br in bridges:
                    errors.append(InputError(
                        f"bridge {br!r} is also used by network {bridges[br]!r} on host "
                        f"{host.name!r}", path=f"{net.path}.bridge",
                        hint="give one of them another bridge name (bridge: {name: ...})"))
                bridges[br] = net.name
            for lv in driver.libvirt_names(net):
                if lv in lv_names and lv_names[lv] != net.name:
                    errors.append(InputError(
                        f"libvirt network name {lv!r} is also produced by network "
                        f"{lv_names[lv]!r}", path=net.path, hint="rename one of them"))
                lv_names[lv] = net.name
            key = driver.vlan_segment(net)
            if key is not None:
                if key in vlans:
                    errors.append(InputError(
                        f"VLAN {key[1]} on {key[0]} is already network {vlans[key]!r}",
                        path=f"{net.path}.vlan",
                        hint="one VLAN is one broadcast domain: attach both sets of guests "
                        "to one network"))
                vlans[key] = net.name
