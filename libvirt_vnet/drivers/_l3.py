"""Shared mapping of the kinds whose bridge, addresses and DHCP/DNS libvirt manages:
nat, route, open and isolated (libvirt's own ``default`` network is a nat one)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Optional

from ..errors import ImportRefused, InputError, VnetError
from ..model import names
from ..model.derived import nic_macs, nics_by_network
from ..model.libvirt import (
    BridgeDef,
    DhcpHost,
    ForwardDef,
    ForwardMode,
    InterfaceDef,
    IPDef,
    NetworkDef,
)
from ..model.topology import LIBVIRT_PICKS, NetworkSpec, NicSpec, Topology, VmSpec
from .base import (
    BY_XML,
    IMPORT_HINT,
    NOT_MINE,
    VNET_BRIDGE_SETTINGS,
    VNET_BRIDGES,
    Driver,
    ImportedEntry,
    libvirt_bridge_name,
    nic_interface,
    pinned_mac,
    prune,
    raise_all,
)

L3_KEYS = frozenset({
    "subnet", "gateway", "dhcp", "tftp", "local_ptr", "subnet6", "gateway6", "dhcp6", "ips",
    "bridge", "mtu", "domain", "dns", "routes", "bandwidth", "port_isolated", "ipv6",
    "trust_guest_rx_filters", "dnsmasq_options", "portgroups",
})


class L3Driver(Driver):
    l3 = True
    keys = L3_KEYS
    attach = ("network", "bridge")
    forward_mode: ClassVar[Optional[ForwardMode]] = None
    #: advice when a setting only vnet can apply is given for libvirt's bridge
    vnet_bridge_hint: ClassVar[str] = (
        f"use a bridge vnet creates ({VNET_BRIDGES}), or set it on the host once libvirt "
        "has started the network")

    def needs_ip(self, net: NetworkSpec) -> bool:
        return self.forward_mode in (ForwardMode.NAT, ForwardMode.ROUTE, ForwardMode.OPEN)

    def validate(self, net: NetworkSpec) -> None:
        raise_all(self.l3_problems(net))

    def l3_problems(self, net: NetworkSpec) -> list[VnetError]:
        """The problems of the rules every kind of libvirt-managed bridge shares."""
        problems: list[VnetError] = []
        if not net.ips:
            if self.needs_ip(net):
                problems.append(InputError(
                    f"a {self.kind} network needs an address: libvirt forwards for a subnet",
                    path=net.path, hint="add subnet: 192.168.100.0/24 (or subnet6)"))
            problems.extend(InputError(
                f"{key} needs a subnet: without an address libvirt runs no dnsmasq "
                "on this network", path=f"{net.path}.{key}", hint="add subnet: ..., or drop the key")
                for key in ("dns", "domain", "routes", "dnsmasq_options") if getattr(net, key))
        b = net.bridge
        if b is not None and b.dummy_tap:
            problems.append(InputError(
                "dummy_tap is for bridges vnet creates; libvirt pins this bridge's MAC itself",
                path=f"{net.path}.bridge.dummy_tap",
                hint="leave it out: the network's <mac> keeps the bridge address stable"))
        problems.extend(InputError(
            f"{key} is for bridges vnet creates: libvirt creates this bridge and its "
            "<bridge> has no setting for it", path=f"{net.path}.bridge.{key}",
            hint=self.vnet_bridge_hint)
            for key in VNET_BRIDGE_SETTINGS if b is not None and getattr(b, key) is not None)
        problems.extend(InputError(
            f"portgroup {pg.name!r}: VLANs and virtual ports need a bridge that "
            f"supports them, not a {self.kind} network", path=f"{net.path}.portgroups.{pg.name}")
            for pg in net.portgroups if pg.vlan is not None or pg.virtualport is not None)
        if net.nat is not None and net.nat.ipv6 and not any(
                ip.interface.version == 6 for ip in net.ips):
            problems.append(InputError("nat.ipv6 needs an IPv6 subnet (subnet6)",
                                       path=f"{net.path}.nat.ipv6"))
        return problems

    def address_rules(self, vm_name: str, nic: NicSpec, net: NetworkSpec) -> None:
        """A NIC's ``ip``/``ip6`` become DHCP reservations (named after the VM) in the
        subnet that contains them, which must run DHCP."""
        for ip, key in ((nic.ip, "ip"), (nic.ip6, "ip6")):
            if ip is None:
                continue
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
                what = "network" if ip == block.network_address else "broadcast"
                raise InputError(f"{ip} is the {what} address of {block}, not a host address",
                                 path=f"{nic.path}.{key}")
            if home.dhcp is None:
                raise InputError(
                    f"{ip} can only be handed out by DHCP, which is off on {block} of {net.name!r}",
                    path=f"{nic.path}.{key}", hint="enable dhcp on that subnet, or drop the ip")

    def bridge_names(self, net: NetworkSpec) -> tuple[str, ...]:
        return (libvirt_bridge_name(net),)

    def forward(self, net: NetworkSpec) -> Optional[ForwardDef]:
        if self.forward_mode is None:
            return None
        return ForwardDef(mode=self.forward_mode, dev=net.uplink, nat=net.nat)

    def reserved_ips(self, net: NetworkSpec, topo: Topology) -> tuple[IPDef, ...]:
        """The network's addresses with a DHCP host entry for every NIC with an ip."""
        macs = nic_macs(topo)
        wanted: list[DhcpHost] = []
        for vm, nic in nics_by_network(topo).get(net.name, ()):
            if nic.ip is not None:
                wanted.append(DhcpHost(ip=nic.ip, mac=macs[(vm.name, nic.index)], name=vm.name))
            if nic.ip6 is not None:  # DHCPv6 has no MAC: matched by the client's host name
                wanted.append(DhcpHost(ip=nic.ip6, name=vm.name))
        if not wanted:
            return net.ips
        out = []
        for ip in net.ips:
            mine = tuple(h for h in wanted if h.ip in ip.interface.network)
            if mine and ip.dhcp is not None:  # the loader made sure DHCP is on there
                ip = dataclasses.replace(ip, dhcp=dataclasses.replace(
                    ip.dhcp, hosts=ip.dhcp.hosts + mine))
            out.append(ip)
        return tuple(out)

    def networks(self, net: NetworkSpec, topo: Topology, host: str) -> tuple[NetworkDef, ...]:
        b = net.bridge
        bridge = BridgeDef(
            name=libvirt_bridge_name(net),
            stp=b.stp if b and b.stp is not None else True,
            delay=b.delay if b and b.delay is not None else 0,
            mac_table_manager=b.mac_table_manager if b else None,
            zone=b.zone if b else None,
        )
        return (NetworkDef(
            name=net.name, uuid=self.uuid(net, topo), forward=self.forward(net), bridge=bridge,
            mtu=net.mtu, mac=pinned_mac(net, topo), domain=net.domain, dns=net.dns,
            bandwidth=net.bandwidth, portgroups=net.portgroups,
            ips=self.reserved_ips(net, topo), routes=net.routes,
            port_isolated=net.port_isolated, ipv6=net.ipv6,
            trust_guest_rx_filters=net.trust_guest_rx_filters, metadata=net.metadata,
            dnsmasq_options=net.dnsmasq_options, vnet_metadata=self.meta(net, topo, host),
        ),)

    def other_interface(self, attach: str, nic: NicSpec, mac: str, vm: VmSpec,
                        net: NetworkSpec, topo: Topology) -> InterfaceDef:
        return nic_interface(nic, "bridge", mac, source_bridge=libvirt_bridge_name(net))

    # ---- import
    def claims(self, net: NetworkDef) -> int:
        mode = net.forward.mode if net.forward is not None else None
        return BY_XML if mode is self.forward_mode else NOT_MINE

    def import_forward(self, net: NetworkDef, out: ImportedEntry) -> None:
        fwd = net.forward
        if fwd is None:
            return
        fpath = "/network/forward"
        if fwd.interfaces:
            raise ImportRefused(
                "a second forward device: libvirt's nat/route/open networks take one "
                f"<forward dev>, not <interface> {', '.join(fwd.interfaces)}",
                path=f"{fpath}/interface", hint=IMPORT_HINT)
        extra: tuple[tuple[str, object], ...] = (
            ("pf", fwd.pf), ("address", fwd.addresses), ("driver", fwd.driver_model or fwd.driver_name))
        for what, value in extra:
            if value:
                raise ImportRefused(f"<{what}> is not allowed in forward mode "
                                    f"{fwd.mode.value}", path=f"{fpath}/{what}")
        if fwd.managed is not None:
            raise ImportRefused(f"managed applies to hostdev pools, not forward mode "
                                f"{fwd.mode.value}", path=fpath, hint=IMPORT_HINT)
        if fwd.dev and "uplink" not in self.keys:
            raise ImportRefused(f"forward mode='{fwd.mode.value}' takes no dev; libvirt refuses it",
                                path=f"{fpath}/@dev", hint=f"remove dev='{fwd.dev}'")
        if fwd.dev:
            out.put("uplink", fwd.dev, f"{fpath}/@dev")
        if fwd.nat is not None:
            nat = fwd.nat
            if (nat.address_start is None) != (nat.address_end is None):
                raise ImportRefused("<nat><address> needs both start and end",
                                    path=f"{fpath}/nat/address")
            if (nat.port_start is None) != (nat.port_end is None):
                raise ImportRefused("<nat><port> needs both start and end",
                                    path=f"{fpath}/nat/port")
            nd: dict[str, Any] = {}
            if nat.address_start is not None:
                nd["addresses"] = [str(nat.address_start), str(nat.address_end)]
            if nat.port_start is not None:
                nd["ports"] = [nat.port_start, nat.port_end]
            if nat.ipv6 is not None:
                nd["ipv6"] = nat.ipv6
            out.put("nat", nd, f"{fpath}/nat")

    def import_bridge(self, net: NetworkDef, out: ImportedEntry) -> None:
        """libvirt creates this bridge: its name is needed (else vnet would pick one), and
        a network without ``<mac>`` keeps letting libvirt pick the bridge's MAC."""
        b = net.bridge
        if b is None or not b.name:
            raise ImportRefused(
                "the network has no bridge name; vnet would name the bridge itself",
                path="/network/bridge",
                hint="add <bridge name='virbrN'/> as libvirt shows it (virsh net-dumpxml)")
        out.put("bridge", prune({
            "name": b.name, "stp": b.stp, "delay": b.delay,
            "mac_table_manager": b.mac_table_manager, "zone": b.zone,
            # no <mac>: tell the driver not to pin one, libvirt picks it at define time
            "mac": net.mac if net.mac is not None else LIBVIRT_PICKS,
        }), "/network/bridge")
