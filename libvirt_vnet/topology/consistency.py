"""Rules across the objects of a topology (the last step of reading one).

Rules that need more than one object: NIC → network references, host reachability,
duplicate MACs / IPs / bridge names / libvirt names, overlapping subnets per host,
uplinks and PFs the host declares.  Returns every problem found.
"""

from __future__ import annotations

import difflib
import ipaddress
from typing import Optional, Union

from ..drivers import registry
from ..errors import InputError, VnetError
from ..model import names
from ..model.derived import nic_macs, nics_by_network
from ..model.topology import HostSpec, NetworkSpec, NicSpec, Topology

IPNet = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def check_topology(topo: Topology) -> list[VnetError]:
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
                _check_nic(topo, vm.name, vm.host, nic, found, seen_ip, seen_vf)
            except VnetError as exc:
                errors.append(exc)
    return errors


def _check_nic(topo: Topology, vm_name: str, host: str, nic: NicSpec, net: NetworkSpec,
               seen_ip: dict[tuple[str, str], str], seen_vf: dict[str, str]) -> None:
    driver = registry.driver_for(net.kind)
    if not net.on_host(host):
        raise InputError(
            f"network {net.name!r} does not exist on host {host!r} (it is on "
            f"{', '.join(net.hosts)})", path=f"{nic.path}.network",
            hint=f"add {host} to networks.{net.name}.hosts, or move the VM")
    attach = nic.attach or driver.attach[0]
    if attach not in driver.attach:
        raise InputError(f"a {net.kind} network cannot be attached as {attach!r}",
                         path=f"{nic.path}.attach", hint=f"use one of: {', '.join(driver.attach)}")
    if nic.portgroup and nic.portgroup not in {p.name for p in net.portgroups}:
        raise InputError(f"network {net.name!r} has no portgroup {nic.portgroup!r}",
                         path=f"{nic.path}.portgroup",
                         hint=f"portgroups: {', '.join(p.name for p in net.portgroups) or '(none)'}")
    if nic.portgroup and attach != "network":
        raise InputError("portgroups are chosen through the libvirt network",
                         path=f"{nic.path}.portgroup", hint="use attach: network")
    if nic.access is not None and net.kind != "two-tier":
        raise InputError("access picks an access switch of a two-tier network",
                         path=f"{nic.path}.access")
    if net.kind == "two-tier" and nic.access is not None and nic.access not in {
            a.name for a in net.access}:
        raise InputError(f"network {net.name!r} has no access switch {nic.access!r}",
                         path=f"{nic.path}.access",
                         hint=f"access switches: {', '.join(a.name for a in net.access)}")
    if nic.vf is not None:
        if attach != "hostdev":
            raise InputError("vf names the VF of attach: hostdev", path=f"{nic.path}.vf",
                             hint="add attach: hostdev, or drop vf to take any VF of the pool")
        if net.vfs and nic.vf not in net.vfs:
            raise InputError(f"VF {nic.vf} is not in the pool of network {net.name!r}",
                             path=f"{nic.path}.vf")
        if str(nic.vf) in seen_vf:
            raise InputError(f"VF {nic.vf} is already given to {seen_vf[str(nic.vf)]}",
                             path=f"{nic.path}.vf", hint="a VF can back only one NIC")
        seen_vf[str(nic.vf)] = nic.path
    floor = nic.bandwidth.inbound.floor if nic.bandwidth and nic.bandwidth.inbound else None
    if floor is not None:
        net_in = net.bandwidth.inbound if net.bandwidth else None
        if attach != "network" or not driver.l3:
            raise InputError("an inbound floor works only for NICs attached to a libvirt "
                             "network with its own bridge (nat, route, open, isolated)",
                             path=f"{nic.path}.bandwidth.inbound.floor")
        if net_in is None or net_in.average is None:
            raise InputError(f"a floor needs network {net.name!r} to set bandwidth.inbound.average",
                             path=f"{nic.path}.bandwidth.inbound.floor",
                             hint="the floors of all NICs share the network's inbound average")
    if nic.port_isolated is not None and attach in ("direct", "hostdev"):
        raise InputError("port isolation is a bridge-port setting; this NIC has no bridge port",
                         path=f"{nic.path}.port_isolated",
                         hint="use macvtap mode private to keep direct guests apart")
    if nic.port_isolated is not None and net.kind in ("macvtap", "hostdev", "openvswitch"):
        raise InputError(f"a NIC of a {net.kind} network has no Linux bridge port to isolate",
                         path=f"{nic.path}.port_isolated")
    if nic.virtualport is not None and nic.virtualport.type is None and attach != "network":
        raise InputError("a virtualport outside a libvirt network needs its type",
                         path=f"{nic.path}.virtualport.type")
    if nic.spoofchk is not None and net.kind != "hostdev":
        raise InputError("spoofchk is a setting of SR-IOV VFs", path=f"{nic.path}.spoofchk")
    if nic.vlan is not None and not driver.nic_vlan:
        raise InputError(f"a NIC on a {net.kind} network cannot carry its own VLAN tag",
                         path=f"{nic.path}.vlan",
                         hint="VLANs per NIC work on openvswitch, hostdev, macvtap and bridge "
                         "(libvirt >= 11.0) networks; or use a vlan-bridge network per VLAN")
    if nic.vlan is not None and net.kind == "macvtap" and net.mode != "passthrough":
        raise InputError("libvirt applies VLAN tags to macvtap devices only in passthrough mode",
                         path=f"{nic.path}.vlan")
    if nic.model != "virtio" and net.kind == "hostdev":
        raise InputError("a VF passed through has no emulated model", path=f"{nic.path}.model")
    if net.kind == "hostdev":
        for key in ("mtu", "bandwidth", "virtualport"):
            if getattr(nic, key) is not None:
                raise InputError(f"a VF passed through to the guest takes no {key}: the host "
                                 "never sees its traffic", path=f"{nic.path}.{key}")
    for ip, key in ((nic.ip, "ip"), (nic.ip6, "ip6")):
        if ip is None:
            continue
        if not driver.l3:
            raise InputError(
                f"vnet reserves addresses only where libvirt runs DHCP; a {net.kind} network's "
                "addresses come from the real network's DHCP server or the guest",
                path=f"{nic.path}.{key}",
                hint="configure the address on that DHCP server or in the guest, and drop it here")
        if names.dns_name_problem(vm_name):
            raise InputError(
                f"the VM name {vm_name!r} becomes its DHCP/DNS host name, and it is not a "
                "valid one", path=f"{nic.path}.{key}",
                hint="name the VM with letters, digits and '-', or drop the ip")
        subnets = [x for x in net.ips if x.interface.version == ip.version]
        if not subnets:
            raise InputError(f"network {net.name!r} has no IPv{ip.version} subnet for {ip}",
                             path=f"{nic.path}.{key}")
        home = next((x for x in subnets if ip in x.interface.network), None)
        if home is None:
            nets = ", ".join(str(x.interface.network) for x in subnets)
            raise InputError(f"{ip} is not inside {nets}", path=f"{nic.path}.{key}")
        block = home.interface.network
        if ip == block.network_address or (ip.version == 4 and block.prefixlen < 31
                                           and ip == block.broadcast_address):
            raise InputError(f"{ip} is the {'network' if ip == block.network_address else 'broadcast'} "
                             f"address of {block}, not a host address", path=f"{nic.path}.{key}")
        if home.dhcp is None:
            raise InputError(
                f"{ip} can only be handed out by DHCP, which is off on {block} of {net.name!r}",
                path=f"{nic.path}.{key}", hint="enable dhcp on that subnet, or drop the ip")
        other = seen_ip.get((net.name, str(ip)))
        if other:
            raise InputError(f"{ip} is already used at {other}", path=f"{nic.path}.{key}")
        seen_ip[(net.name, str(ip))] = nic.path


def _pool_size(net: NetworkSpec, host: HostSpec) -> Optional[int]:
    """How many guests a pool that gives each guest a whole device can take, if known."""
    if net.kind == "hostdev" and net.vfs:
        return len(net.vfs)
    if net.kind == "macvtap" and net.mode == "passthrough" and not net.pf:
        return len(net.uplinks) or 1
    if net.kind in ("hostdev", "macvtap") and net.pf:
        declared = {p.name: p.vfs for p in host.sriov}
        if net.pf in declared and (net.kind == "hostdev" or net.mode == "passthrough"):
            return declared[net.pf]
    return None


def _check_pools(topo: Topology, errors: list[VnetError]) -> None:
    by_net = nics_by_network(topo)
    for net in topo.networks:
        for host in topo.hosts:
            if not net.on_host(host.name):
                continue
            nics = [nic for vm, nic in by_net.get(net.name, ()) if vm.host == host.name]
            size = _pool_size(net, host)
            if size is not None and len(nics) > size:
                errors.append(InputError(
                    f"network {net.name!r} gives each guest a whole device, but host "
                    f"{host.name!r} has {len(nics)} NICs on it and the pool has {size}",
                    path=nics[size].path, hint="add devices to the pool, or move NICs elsewhere"))
            if net.kind == "macvtap" and net.mode == "passthrough":
                ways = {nic.attach or "network" for nic in nics}
                if {"network", "direct"} <= ways:  # another attach is refused where NICs are checked
                    errors.append(InputError(
                        "in passthrough mode libvirt hands pool devices to network NICs without "
                        "knowing about direct ones: attach all NICs of this pool the same way",
                        path=next(n.path for n in nics if (n.attach or "network") == "direct"),
                        hint="attach: network everywhere lets libvirt pick free devices"))


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
    uuids: dict[str, str] = {}
    for net in topo.networks:
        if net.uuid:
            if net.uuid in uuids:
                errors.append(InputError(f"UUID {net.uuid} is also the UUID of network "
                                         f"{uuids[net.uuid]!r}", path=f"{net.path}.uuid",
                                         hint="leave uuid out to get a stable derived one"))
            uuids[net.uuid] = net.name
    for host in topo.hosts:
        bridges: dict[str, str] = {}
        lv_names: dict[str, str] = {}
        vlans: dict[tuple[str, int], str] = {}
        # bridges that exist already (the admin's, Open vSwitch's): several networks may
        # share one, but neither vnet nor libvirt may create a bridge of that name
        foreign = {net.bridge.name: net.name for net in topo.networks_on(host.name)
                   if net.kind in ("bridge", "openvswitch") and net.bridge and net.bridge.name}
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
            if net.kind == "vlan-bridge" and net.uplink and net.vlan:
                key = (net.uplink, net.vlan.tags[0].id)
                if key in vlans:
                    errors.append(InputError(
                        f"VLAN {key[1]} on {key[0]} is already network {vlans[key]!r}",
                        path=f"{net.path}.vlan",
                        hint="one VLAN is one broadcast domain: attach both sets of guests "
                        "to one network"))
                vlans[key] = net.name
