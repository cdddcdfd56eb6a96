"""Rules across the objects of a topology (the last step of reading one).

Rules that need more than one object: NIC → network references, host reachability,
duplicate MACs / IPs / VFs / libvirt names / UUIDs, one device per name on a host
(bridges, VLAN devices, veth ends, shims, dummy taps, uplinks), DHCP clients a network's
server could not tell apart, overlapping subnets per host, uplinks and PFs the host
declares.  Returns every problem found; never raises for bad input.  Runs over the
entries that loaded: references to an entry that failed to load are not reported again.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Set as AbstractSet
from typing import Union

from ..drivers import registry
from ..drivers.base import Device
from ..errors import ErrorList, InputError, VnetError
from ..model import names
from ..model.derived import nic_macs, nics_by_network
from ..model.topology import HostSpec, NetworkSpec, NicSpec, Topology
from .parts import dhcp_key
from .reader import close_match

IPNet = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def validate_together(topo: Topology, broken: AbstractSet[str] = frozenset()) -> list[VnetError]:
    """Every cross-object problem of ``topo``; ``broken`` names networks whose entries
    failed to load (NICs on them are left alone)."""
    errors: list[VnetError] = []
    by_name = {n.name: n for n in topo.networks}
    _check_hosts(topo, errors)
    _check_overlaps(topo, errors)
    _check_names(topo, errors)
    _check_devices(topo, errors)
    _check_pools(topo, errors)
    _check_dhcp_clients(topo, errors)
    macs = nic_macs(topo)
    seen_mac: dict[str, str] = {}
    seen_vf: dict[str, str] = {}
    seen_ip: dict[tuple[str, str], str] = {}
    for net in topo.networks:
        for ip, key in zip(net.ips, net.ip_keys or ("subnet",) * len(net.ips)):
            seen_ip[(net.name, str(ip.interface.ip))] = f"{net.path} (gateway)"
            for i, h in enumerate(ip.dhcp.hosts if ip.dhcp else ()):
                if h.ip is not None:
                    seen_ip.setdefault((net.name, str(h.ip)), f"{net.path}.{dhcp_key(key)}.hosts[{i}]")
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
                if nic.network not in broken:
                    close = close_match(nic.network, list(by_name))
                    errors.append(InputError(
                        f"network {nic.network!r} is not defined", path=f"{nic.path}.network",
                        hint=f"did you mean {close!r}?" if close
                        else f"networks are: {', '.join(by_name) or '(none)'}"))
                continue
            try:
                registry.driver_for(found.kind).validate_nic(vm.name, vm.host, nic, found)
            except ErrorList as exc:
                errors.extend(exc.errors)
            except VnetError as exc:
                errors.append(exc)
            try:
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


def _check_devices(topo: Topology, errors: list[VnetError]) -> None:
    """One name is one device on a host.  A device a network creates (a bridge, VLAN
    device, veth end, shim, dummy tap) must not be created by another network (or twice
    by one), must not be a device that has to exist already (an uplink, a PF, an existing
    bridge — vnet would build over it and, at destroy, delete it), and must not have a
    name the kernel or libvirt reserves; ``lo`` is nobody's uplink."""
    reported: set[tuple[str, str]] = set()

    def problem(at: str, name: str, message: str, hint: str) -> None:
        if (at, name) not in reported:
            reported.add((at, name))
            errors.append(InputError(message, path=at, hint=hint))

    for host in topo.hosts:
        nets = topo.networks_on(host.name)
        devices = [(net, dev) for net in nets for dev in registry.driver_for(net.kind).devices(net)]
        existing = _existing_devices(host, devices)
        created: dict[str, tuple[NetworkSpec, Device]] = {}
        for net, dev in devices:
            at = f"{net.path}.{dev.key}"
            if not dev.creates:
                if dev.name == "lo":
                    problem(at, dev.name, f"{dev.what} 'lo' is the loopback device: it carries "
                            "no traffic off the host", "name the host interface that does")
                continue
            reserved = names.reserved_ifname_problem(dev.name)
            if reserved:
                problem(at, dev.name, f"{dev.what} {dev.name!r} cannot be created: {reserved}",
                        f"give the {dev.what} another name")
            elif dev.name in created:
                other_net, other = created[dev.name]
                whose = "this network" if other_net is net else f"network {other_net.name!r}"
                problem(at, dev.name, f"{dev.what} {dev.name!r} is also used as the {other.what} "
                        f"of {whose} on host {host.name!r}: one name is one device",
                        f"give one of them another {dev.what} name")
            elif dev.name in existing:
                what, whose = existing[dev.name]
                whose = "of this network" if whose == f"of network {net.name!r}" else whose
                problem(at, dev.name, f"{dev.what} {dev.name!r} would be created for this "
                        f"network, but it is the {what} {whose}, which must already exist",
                        f"give the {dev.what} another name: vnet never builds over a device "
                        "it does not own")
            created.setdefault(dev.name, (net, dev))


def _existing_devices(host: HostSpec, devices: list[tuple[NetworkSpec, Device]]) -> dict[str, tuple[str, str]]:
    """``{name: (what, whose)}`` of the devices that must exist on ``host``: its declared
    uplinks and PFs, and the uplinks, PFs and existing bridges networks name."""
    found: dict[str, tuple[str, str]] = {}
    for up in host.uplinks:
        found[up] = ("uplink", f"of host {host.name!r} ({host.path}.uplinks)")
    for pf in host.sriov:
        found[pf.name] = ("SR-IOV PF", f"of host {host.name!r} ({host.path}.sriov)")
    for net, dev in devices:
        if not dev.creates:
            found.setdefault(dev.name, (dev.what, f"of network {net.name!r}"))
    return found


def _check_dhcp_clients(topo: Topology, errors: list[VnetError]) -> None:
    """Each NIC's reservation must be one the network's DHCP server can tell apart: an
    IPv4 one by the NIC's MAC (not also a static host's), an IPv6 one by the VM's name
    (DHCPv6 has no MAC: not two NICs of one VM, not also a static host's name)."""
    macs = nic_macs(topo)
    for net_name, users in nics_by_network(topo).items():
        net = next((n for n in topo.networks if n.name == net_name), None)
        if net is None:
            continue
        for ip, key in zip(net.ips, net.ip_keys or ("subnet",) * len(net.ips)):
            if ip.dhcp is None:
                continue
            where = f"{net.path}.{dhcp_key(key)}.hosts"
            static = {("mac" if h.mac else "name", (h.mac or h.name or "").lower()): i
                      for i, h in enumerate(ip.dhcp.hosts) if h.mac or h.name}
            seen: dict[tuple[str, str], str] = {}
            for vm, nic in users:
                addr = nic.ip if ip.interface.version == 4 else nic.ip6
                if addr is None or addr not in ip.interface.network:
                    continue
                field = "ip" if ip.interface.version == 4 else "ip6"
                client = ("mac", macs[(vm.name, nic.index)]) if field == "ip" else ("name", vm.name.lower())
                if client in static:
                    errors.append(InputError(
                        f"the reservation of {addr} is for {client[0]} {client[1]}, which "
                        f"{where}[{static[client]}] already reserves an address for",
                        path=f"{nic.path}.{field}", hint="one reservation per client: drop one"))
                elif client in seen:
                    errors.append(InputError(
                        f"DHCPv6 tells clients apart by host name, and {seen[client]} already "
                        f"reserves an address on {ip.interface.network} for VM {vm.name!r}",
                        path=f"{nic.path}.{field}",
                        hint="give one IPv6 reservation per VM and network (the other NIC can use SLAAC)"))
                seen.setdefault(client, f"{nic.path}.{field}")


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
    """Every pair of address blocks that overlap on a host, reported once: at the block
    that comes later in the document, naming every host the pair shares.

    Two CIDR blocks overlap only when one contains the other.  Sorted by (family, first
    address, prefix length), the blocks still open at a block's start form a chain, each
    inside the one before, and the block overlaps exactly those: one sweep finds every
    pair, in n log n plus the number of pairs (``tests/unit/test_property.py`` holds it
    against a brute-force check)."""
    for (first, later), hosts in overlapping_blocks(topo).items():
        (other, i), (net, j) = (topo.networks[first[0]], first[1]), (topo.networks[later[0]], later[1])
        mine, theirs = net.ips[j].interface.network, other.ips[i].interface.network
        whose = "of this network" if other is net else f"of network {other.name!r}"
        on = f"host {hosts[0]!r}" if len(hosts) == 1 else f"hosts {', '.join(map(repr, hosts))}"
        errors.append(InputError(
            f"subnet {mine} overlaps {theirs} {whose} on {on}",
            path=f"{net.path}.{net.ip_key(j)}",
            hint="networks on one host need distinct subnets, or routing between them "
            "is ambiguous"))


Block = tuple[int, int]  # (index of the network in the document, index in its ips)


def overlapping_blocks(topo: Topology) -> dict[tuple[Block, Block], list[str]]:
    """``{(earlier block, later block): [hosts]}`` for every pair of address blocks that
    overlap on a host (see :func:`_check_overlaps`), in document order."""
    found: dict[tuple[Block, Block], list[str]] = {}
    order = {id(net): k for k, net in enumerate(topo.networks)}
    for host in topo.hosts:
        blocks: list[tuple[int, int, int, Block, IPNet]] = []
        for net in topo.networks_on(host.name):
            for i, ip in enumerate(net.ips):
                s = ip.interface.network
                blocks.append((s.version, int(s.network_address), s.prefixlen,
                               (order[id(net)], i), s))
        blocks.sort()
        chain: list[tuple[Block, IPNet]] = []
        for version, start, _, place, subnet in blocks:
            while chain and (chain[-1][1].version != version
                             or int(chain[-1][1].broadcast_address) < start):
                chain.pop()
            for other, _outer in chain:
                found.setdefault((min(place, other), max(place, other)), []).append(host.name)
            chain.append((place, subnet))
    return dict(sorted(found.items(), key=lambda item: (item[0][1], item[0][0])))


def _check_names(topo: Topology, errors: list[VnetError]) -> None:
    """libvirt network names, given and derived UUIDs, VLAN segments: one of each."""
    # the UUIDs vnet derives (from the topology and libvirt network names) for the libvirt
    # networks that do not give one: a given UUID must not be one of them either
    derived: dict[str, str] = {}
    given: list[tuple[NetworkSpec, str, str]] = []
    for net in topo.networks:
        driver = registry.driver_for(net.kind)
        mine = driver.given_uuids(net)
        given += [(net, lv, uuid) for lv, uuid in mine.items()]
        for lv in driver.libvirt_names(net):
            if lv not in mine:
                derived[names.derive_uuid(topo.name, lv)] = lv
    uuids: dict[str, str] = {}
    for net, lv, uuid in given:
        at = f"{net.path}.uuid" if lv == net.name else f"{net.path}.access.{lv[len(net.name) + 1:]}.uuid"
        if uuid in uuids:
            errors.append(InputError(f"UUID {uuid} is also the UUID of network "
                                     f"{uuids[uuid]!r}", path=at,
                                     hint="leave uuid out to get a stable derived one"))
        elif uuid in derived:
            errors.append(InputError(f"UUID {uuid} is the UUID vnet derives for libvirt network "
                                     f"{derived[uuid]!r}", path=at,
                                     hint="give another UUID, or leave uuid out"))
        uuids.setdefault(uuid, lv)
    for host in topo.hosts:
        lv_names: dict[str, str] = {}
        vlans: dict[tuple[str, int], str] = {}
        for net in topo.networks_on(host.name):
            driver = registry.driver_for(net.kind)
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
