"""Every validation rule: bad input ends in one VnetError naming the place and a fix."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from libvirt_vnet import topology as topo_input
from libvirt_vnet.errors import ErrorList, InputError, VnetError
from libvirt_vnet.model import names

BASE: dict[str, Any] = {
    "name": "t",
    "hosts": {"hv1": {"uplinks": ["eth0", "eth1"], "sriov": {"enp3s0f0": {"vfs": 4}}}},
    "networks": {
        "lan": {"kind": "nat", "subnet": "192.168.1.0/24"},
        "v10": {"kind": "vlan-bridge", "uplink": "eth0", "vlan": 10},
    },
    "vms": {"web": {"nics": [{"network": "lan"}]}},
}


def doc(**changes: Any) -> dict[str, Any]:
    """BASE with dotted-path changes applied (value None deletes the key)."""
    d = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = d
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return d


def errors_of(data: Any) -> list[VnetError]:
    with pytest.raises(VnetError) as info:
        topo_input.load(data)
    err = info.value
    return list(err.errors) if isinstance(err, ErrorList) else [err]


def test_base_is_valid() -> None:
    topo = topo_input.load(doc())
    assert [n.name for n in topo.networks] == ["lan", "v10"]
    assert topo.vms[0].host == "hv1"


CASES = [
    # (changes, path, message fragment, hint fragment)
    ({"networks__lan__subnt": "10.0.0.0/24"}, "networks.lan.subnt", "unknown key", "did you mean 'subnet'"),
    ({"networks__lan__kind": "natt"}, "networks.lan.kind", "kind must be one of", "did you mean 'nat'"),
    ({"networks__lan__subnet": "192.168.1.7/24"}, "networks.lan.subnet", "host bits set",
     "subnet 192.168.1.0/24 with gateway 192.168.1.7"),
    ({"networks__lan__subnet": "192.168.1.0"}, "networks.lan.subnet", "no prefix length", "CIDR"),
    ({"networks__lan__subnet": "300.1.1.0/24"}, "networks.lan.subnet", "not a subnet", None),
    ({"networks__v10__vlan": 4095}, "networks.v10.vlan", "out of range 1..4094", None),
    ({"networks__v10__vlan": 0}, "networks.v10.vlan", "out of range 1..4094", None),
    ({"networks__v10__uplink": "eth0-with-a-long-name"}, "networks.v10.uplink", "at most 15", None),
    ({"networks__v10__uplink": "eth 0"}, "networks.v10.uplink", "letters, digits", None),
    ({"networks__v10__uplink": "eth/0"}, "networks.v10.uplink", "letters, digits", None),
    ({"networks__v10__uplink": "eth2"}, "networks.v10.uplink", "not an uplink of host 'hv1'", "eth0, eth1"),
    ({"networks__lan__dhcp": {"range": ["192.168.2.10", "192.168.2.20"]}}, "networks.lan.dhcp.range",
     "not inside 192.168.1.0/24", None),
    ({"networks__lan__dhcp": {"range": ["192.168.1.1", "192.168.1.20"]}}, "networks.lan.dhcp.range",
     "covers the gateway", "start the range after"),
    ({"networks__lan__dhcp": {"range": ["192.168.1.50", "192.168.1.20"]}}, "networks.lan.dhcp.range",
     "after its end", None),
    ({"networks__lan__bridge": {"mac": "51:00:00:00:00:01"}}, "networks.lan.bridge.mac", "multicast bit",
     "locally administered unicast"),
    ({"vms__web__nics": [{"network": "lan", "mac": "fe:54:00:00:00:01"}]}, "vms.web.nics[0].mac",
     "reserves for host-side tap", None),
    ({"vms__web__nics": [{"network": "lan", "mac": "53:54:00:00:00:01"}]}, "vms.web.nics[0].mac",
     "multicast", None),
    ({"vms__web__nics": [{"network": "lan", "mac": 5254}]}, "vms.web.nics[0].mac", "not a MAC", "quote"),
    ({"vms__web__nics": [{"network": "lna"}]}, "vms.web.nics[0].network", "not defined", "did you mean 'lan'"),
    ({"networks__lan__uplink": "eth9"}, "networks.lan.uplink", "not an uplink", None),
    ({"networks__o": {"kind": "open", "subnet": "10.9.0.0/24", "uplink": "eth0"}}, "networks.o.uplink",
     "makes no sense for a network of kind open", "open mode takes no forwarding device"),
    ({"networks__i": {"kind": "isolated", "nat": {"ports": [1024, 2048]}}}, "networks.i.nat",
     "makes no sense", None),
    ({"networks__x": {"kind": "nat", "subnet": "192.168.1.128/25"}}, "networks.x.subnet", "overlaps", None),
    ({"networks__v20": {"kind": "vlan-bridge", "uplink": "eth1", "vlan": 20, "bridge": {"name": "br10"}}},
     "networks.v20.bridge", "bridge 'br10' is also used", "another bridge name"),
    ({"networks__v10b": {"kind": "vlan-bridge", "uplink": "eth0", "vlan": 10, "bridge": "brx"}},
     "networks.v10b.vlan", "VLAN 10 on eth0 is already network 'v10'", "one broadcast domain"),
    ({"vms__db": {"nics": [{"network": "lan", "mac": "52:54:00:00:00:01"}]},
      "vms__web__nics": [{"network": "lan", "mac": "52:54:00:00:00:01"}]},
     "vms.db.nics[0].mac", "also used at vms.web.nics[0]", None),
    ({"vms__web__nics": [{"network": "lan", "ip": "10.0.0.5"}]}, "vms.web.nics[0].ip", "not inside", None),
    ({"vms__web__nics": [{"network": "lan", "ip": "192.168.1.1"}]}, "vms.web.nics[0].ip",
     "already used at networks.lan (gateway)", None),
    ({"vms__db": {"nics": [{"network": "lan", "ip": "192.168.1.9"}]},
      "vms__web__nics": [{"network": "lan", "ip": "192.168.1.9"}]}, "vms.db.nics[0].ip", "already used", None),
    ({"vms__web__host": "hv9"}, "vms.web.host", "not defined under hosts", "hv1"),
    ({"networks__lan__host": "hv9"}, "networks.lan.host", "not defined under hosts", None),
    ({"hosts__hv2": {}, "networks__lan__host": "hv2"}, "vms.web.host", "several hosts", None),
    ({"hosts__hv2": {}, "networks__lan__host": "hv2", "vms__web__host": "hv1"}, "vms.web.nics[0].network",
     "does not exist on host 'hv1'", "add hv1"),
    ({"vms__web__nics": [{"network": "lan", "attach": "direct"}]}, "vms.web.nics[0].attach",
     "cannot be attached as 'direct'", "network, bridge"),
    ({"vms__web__nics": [{"network": "lan", "vlan": 5}]}, "vms.web.nics[0].vlan", "cannot carry its own VLAN",
     None),
    ({"vms__web__nics": [{"network": "lan", "portgroup": "gold"}]}, "vms.web.nics[0].portgroup",
     "no portgroup 'gold'", None),
    ({"networks__f": {"kind": "hostdev", "pf": "enp9s0"}}, "networks.f.pf", "not an SR-IOV PF", "enp3s0f0"),
    ({"networks__f": {"kind": "hostdev", "vfs": ["0000:03:10.0", "0000:03:10.0"]}}, "networks.f.vfs",
     "listed twice", None),
    ({"networks__p": {"kind": "macvtap", "mode": "passthrough", "uplinks": ["eth0", "eth0"]}},
     "networks.p.uplinks", "listed twice", None),
    ({"networks__m": {"kind": "macvtap", "mode": "vepo", "uplink": "eth1"}}, "networks.m.mode",
     "mode must be one of", None),
    ({"networks__lan__dns": {"enable": False, "txt": [{"name": "a", "value": "b"}]}}, "networks.lan.dns",
     "DNS is disabled", None),
    ({"networks__b": {"kind": "bridge", "bridge": {"name": "br0", "mac": "52:54:00:00:00:09"}}},
     "networks.b.bridge.mac", "cannot be set here", None),
    ({"networks__lan__bridge": {"dummy_tap": True}}, "networks.lan.bridge.dummy_tap",
     "for bridges vnet creates", None),
    ({"networks__lan__bandwidth": {"inbound": {"peak": 5}}}, "networks.lan.bandwidth.inbound",
     "needs 'average'", None),
    ({"networks__lan__portgroups": {"a": {"default": True}, "b": {"default": True}}},
     "networks.lan.portgroups", "more than one portgroup", None),
    ({"networks__lan__virtualport": {"type": "802.1Qbg"}}, "networks.lan.virtualport", "makes no sense", None),
    ({"networks__m": {"kind": "macvtap", "mode": "vepa", "uplink": "eth1",
                      "virtualport": {"type": "802.1Qbg", "profileid": "x"}}},
     "networks.m.virtualport.profileid", "not a parameter of 802.1Qbg", "managerid"),
    ({"networks__lan__mtu": 20}, "networks.lan.mtu", "out of range", None),
    ({"networks__lan__routes": [{"to": "10.1.0.0/16", "via": "10.2.0.1"}]}, "networks.lan.routes",
     "not on any subnet", "directly reachable"),
    ({"networks__lan__dhcp": {"lease": "10 years"}}, "networks.lan.dhcp.lease", "not a lease time", "1h"),
    ({"networks__lan": ["kind", "nat"]}, "networks.lan", "expected a mapping", None),
    ({"networks__lan__stp": "yes"}, "networks.lan.stp", "unknown key", None),
    ({"networks__lan__bridge": {"stp": "yes"}}, "networks.lan.bridge.stp", "true or false", "without quotes"),
    ({"networks__a/b": {"kind": "isolated"}}, "networks.a/b", "contains '/'", None),
    ({"extra": 1}, "extra", "unknown key", None),
    ({"name": "bad name!"}, "name", "not a usable topology name", None),
    ({"networks__v10__vlan": [10, 20]}, "networks.v10.vlan", "exactly one VLAN id", None),
    ({"networks__n6": {"kind": "nat", "subnet": "192.168.7.0/24", "nat": {"ipv6": True}}},
     "networks.n6.nat.ipv6", "needs an IPv6 subnet", None),
    ({"vms__web__nics": [{"network": "lan", "ip": "192.168.1.255"}]}, "vms.web.nics[0].ip",
     "broadcast address", None),
    ({"vms__web__nics": [{"network": "lan", "ip": "192.168.1.0"}]}, "vms.web.nics[0].ip",
     "network address", None),
    ({"vms__web__nics": [{"network": "v10", "ip": "192.168.1.20"}]}, "vms.web.nics[0].ip",
     "only where libvirt runs DHCP", "DHCP server or in the guest"),
    ({"networks__lan__ips": [{"subnet": "10.7.0.0/24", "dhcp": True}], "networks__lan__dhcp": False,
      "vms__web__nics": [{"network": "lan", "ip": "192.168.1.20"}]}, "vms.web.nics[0].ip",
     "DHCP, which is off on 192.168.1.0/24", None),
    ({"networks__f": {"kind": "hostdev", "pf": "enp3s0f0"},
      "vms__web__nics": [{"network": "f", "mtu": 9000}]}, "vms.web.nics[0].mtu", "takes no mtu", None),
    ({"networks__f": {"kind": "hostdev", "vfs": ["0000:03:10.0"]},
      "vms__db": {"nics": [{"network": "f"}]}, "vms__web__nics": [{"network": "f"}]},
     "vms.db.nics[0]", "the pool has 1", None),
    ({"networks__f": {"kind": "hostdev", "pf": "enp3s0f0"},
      "vms": {f"vm{i}": {"nics": [{"network": "f"}]} for i in range(5)}},
     "vms.vm4.nics[0]", "the pool has 4", None),
    ({"networks__p": {"kind": "macvtap", "mode": "passthrough", "uplinks": ["eth0", "eth1"]},
      "vms__db": {"nics": [{"network": "p", "attach": "direct"}]}, "vms__web__nics": [{"network": "p"}]},
     "vms.db.nics[0]", "attach all NICs of this pool the same way", None),
    ({"networks__p": {"kind": "macvtap", "mode": "passthrough", "vfs": ["0000:03:10.0"]}},
     "networks.p.vfs", "makes no sense", "only in hostdev pools"),
    ({"networks__m": {"kind": "macvtap", "mode": "vepa", "uplink": "eth1",
                      "portgroups": {"gold": {"bandwidth": {"inbound": {"average": 100}}}}}},
     "networks.m.portgroups.gold.bandwidth", "shapes traffic only on bridges", None),
    ({"networks__b": {"kind": "bridge", "bridge": "br10"}}, "networks.v10.bridge",
     "existing bridge of network 'b'", None),
    ({"hosts__hv2": {"uplinks": ["eth1"]}, "vms__web__host": "hv1",
      "networks__m": {"kind": "macvtap", "mode": "bridge", "uplink": "eth1", "hosts": ["hv1", "hv2"],
                      "shim": {"address": "192.0.2.5/24"}}},
     "networks.m.shim.address", "belongs to one host", None),
    ({"networks__lan__subnet": "192.168.1.0/24", "networks__lan__dhcp": {"range": ["192.168.1.2", "192.168.2.9"]}},
     "networks.lan.dhcp.range", "not inside", None),
    ({"networks__big": {"kind": "nat", "subnet": "10.0.0.0/8", "dhcp": {"range": ["10.0.0.2", "10.1.0.9"]}}},
     "networks.big.dhcp.range", "last 16 bits", "split it"),
    ({"networks__lan__dhcp": {"lease": "90s"}}, "networks.lan.dhcp.lease", "minimum is 2 minutes", None),
    ({"networks__lan__dhcp": {"hosts": [{"mac": "52:54:00:00:00:99", "name": "x"}]}},
     "networks.lan.dhcp.hosts[0]", "'ip' is required", None),
    ({"networks__lan__dns": {"hosts": [{"ip": "192.168.1.7", "names": ["bad name"]}]}},
     "networks.lan.dns.hosts[0].names[0]", "not a DNS name", None),
    ({"networks__lan__uuid": "6dfd5406-c36f-5834-b4e5-c4d1ac62ef84",
      "networks__v10__uuid": "6DFD5406-C36F-5834-B4E5-C4D1AC62EF84"}, "networks.v10.uuid",
     "also the UUID of network 'lan'", None),
    ({"networks__o": {"kind": "open"}}, "networks.o", "needs an address", None),
    # bridge.group_fwd_mask / multicast_snooping: bridges vnet creates only, no restricted bits
    ({"networks__v10__bridge": {"group_fwd_mask": 0x4001}}, "networks.v10.bridge.group_fwd_mask",
     "0x4001 sets bit 0 (stp), which the kernel refuses", "0x4000 (or [lldp]) forwards LLDP"),
    ({"networks__v10__bridge": {"group_fwd_mask": 0x0007}}, "networks.v10.bridge.group_fwd_mask",
     "0x7 sets bits 0 (stp), 1 (pause), 2 (lacp)", "can never be forwarded by a Linux bridge"),
    ({"networks__v10__bridge": {"group_fwd_mask": ["lldp", "lacp"]}}, "networks.v10.bridge.group_fwd_mask",
     "0x4004 sets bit 2 (lacp)", "bits 0-2"),
    ({"networks__v10__bridge": {"group_fwd_mask": 0x10000}}, "networks.v10.bridge.group_fwd_mask",
     "65536 is out of range 0..0xffff", "16 bits"),
    ({"networks__v10__bridge": {"group_fwd_mask": -8}}, "networks.v10.bridge.group_fwd_mask",
     "out of range", None),
    ({"networks__v10__bridge": {"group_fwd_mask": "0x4000"}}, "networks.v10.bridge.group_fwd_mask",
     "expected a number", "write 0x4000 without quotes"),
    ({"networks__v10__bridge": {"group_fwd_mask": True}}, "networks.v10.bridge.group_fwd_mask",
     "expected a whole number", None),
    ({"networks__v10__bridge": {"group_fwd_mask": ["lldpp"]}}, "networks.v10.bridge.group_fwd_mask[0]",
     "unknown link-local protocol 'lldpp'", "did you mean 'lldp'"),
    ({"networks__v10__bridge": {"multicast_snooping": "off"}}, "networks.v10.bridge.multicast_snooping",
     "true or false", None),
    ({"networks__lan__bridge": {"group_fwd_mask": 0x4000}}, "networks.lan.bridge.group_fwd_mask",
     "for bridges vnet creates", "vlan-bridge"),
    ({"networks__i": {"kind": "isolated", "bridge": {"multicast_snooping": False}}},
     "networks.i.bridge.multicast_snooping", "libvirt creates this bridge", "two-tier"),
    ({"networks__t": {"kind": "two-tier", "subnet": "10.7.0.0/24", "access": {"sw1": {}},
                      "bridge": {"group_fwd_mask": 0x4000}}},
     "networks.t.bridge.group_fwd_mask", "for bridges vnet creates", "access.<switch>.bridge"),
    ({"networks__b": {"kind": "bridge", "bridge": {"name": "br0", "multicast_snooping": False}}},
     "networks.b.bridge.multicast_snooping", "cannot be set here", "vlan-bridge"),
    ({"networks__s": {"kind": "openvswitch", "bridge": {"name": "ovsbr0", "group_fwd_mask": 0x4000}}},
     "networks.s.bridge.group_fwd_mask", "cannot be set here: Open vSwitch", "bridges it creates"),
]


@pytest.mark.parametrize(("changes", "path", "message", "hint"), CASES,
                         ids=[c[1] + ":" + str(c[2]) for c in CASES])
def test_rule(changes: dict[str, Any], path: str, message: str | None, hint: str | None) -> None:
    data = doc(**changes)
    errs = errors_of(data)
    matching = [e for e in errs if e.path == path and (message or "") in e.message]
    assert matching, f"no error at {path} with {message!r}; got: " + "; ".join(str(e) for e in errs)
    if hint:
        assert any(hint in (e.hint or "") for e in matching), [e.hint for e in matching]


def test_vlan_device_name_length() -> None:
    data = doc(networks__v10__uplink="enp1s0f0np0")
    data["hosts"]["hv1"]["uplinks"].append("enp1s0f0np0")
    topo_input.load(data)  # enp1s0f0np0.10 is 14 bytes: fine
    data = doc(networks__v10__uplink="enp101s0f0np0")
    data["hosts"]["hv1"]["uplinks"].append("enp101s0f0np0")
    (err,) = errors_of(data)
    assert err.path == "networks.v10.vlan_device" and "longer than 15 bytes" in err.message
    assert "vlan_device:" in (err.hint or "")
    data["networks"]["v10"]["vlan_device"] = "vl10"
    topo = topo_input.load(data)
    assert topo.network("v10").vlan_device == "vl10"


def test_several_problems_are_reported_together() -> None:
    errs = errors_of(doc(networks__lan__subnet="1.2.3.4", networks__v10__vlan=9999,
                         vms__web__nics=[{"network": "nope"}]))
    paths = {e.path for e in errs}
    assert {"networks.lan.subnet", "networks.v10.vlan"} <= paths


def test_messages_never_look_like_tracebacks() -> None:
    errs = errors_of(doc(networks__lan__dhcp={"range": "x"}))
    for e in errs:
        assert "Traceback" not in str(e) and e.path


def test_yaml_syntax_error_names_line() -> None:
    with pytest.raises(InputError) as info:
        topo_input.load_yaml_text("name: t\nnetworks:\n  lan: {kind: nat\n", "office.yaml")
    assert info.value.path and info.value.path.startswith("office.yaml:")


@pytest.mark.parametrize(("net", "bridge"), [
    ({"kind": "vlan-bridge", "uplink": "eth1", "vlan": 30,
      "bridge": {"group_fwd_mask": 0x4008, "multicast_snooping": False}}, "br30"),
    ({"kind": "two-tier", "subnet": "10.7.0.0/24",
      "access": {"sw1": {"bridge": {"name": "acc1", "group_fwd_mask": ["lldp", "802.1x"],
                                    "multicast_snooping": False}}}}, "acc1"),
])
def test_bridge_kernel_settings_reach_the_host_bridge(net: dict[str, Any], bridge: str) -> None:
    from libvirt_vnet.drivers import registry
    from libvirt_vnet.libvirtxml import metadata as vnetmeta
    from libvirt_vnet.model import plumbing

    topo = topo_input.load(doc(networks__n=net))
    spec = topo.network("n")
    driver = registry.driver_for(spec.kind)
    (br,) = [o for o in driver.host_objects(spec, topo, "hv1")
             if isinstance(o, plumbing.HostBridge) and o.name == bridge]
    assert (br.group_fwd_mask, br.multicast_snooping) == (0x4008, False)
    meta = driver.meta(spec, topo, "hv1")
    assert vnetmeta.network_meta_from(vnetmeta.network_meta_element(meta)) == meta
    el = vnetmeta.network_meta_element(meta).find(vnetmeta.q("bridge") + f"[@name='{bridge}']")
    assert el is not None and el.get("group-fwd-mask") == str(0x4008)
    assert el.get("multicast-snooping") == "no"


def test_bridge_kernel_settings_default_to_the_kernels() -> None:
    from libvirt_vnet.drivers import registry
    from libvirt_vnet.model import plumbing

    topo = topo_input.load(doc())
    spec = topo.network("v10")
    (br,) = [o for o in registry.driver_for(spec.kind).host_objects(spec, topo, "hv1")
             if isinstance(o, plumbing.HostBridge)]
    assert (br.group_fwd_mask, br.multicast_snooping) == (None, None)


def test_group_fwd_mask_in_yaml_hex() -> None:
    text = ("name: t\nhosts: {hv1: {uplinks: [eth0]}}\nnetworks:\n"
            "  v10: {kind: vlan-bridge, uplink: eth0, vlan: 10, bridge: {group_fwd_mask: 0x4000}}\n")
    bridge = topo_input.load_yaml_text(text).network("v10").bridge
    assert bridge is not None and bridge.group_fwd_mask == 0x4000
    bridge = topo_input.load(doc(networks__v10__bridge={"group_fwd_mask": 0})).network("v10").bridge
    assert bridge is not None and bridge.group_fwd_mask == 0  # set explicitly, not "default"


def test_dummy_tap_name_follows_libvirt() -> None:
    assert names.dummy_tap_name("virbr0") == "virbr0-nic"
    assert names.dummy_tap_name("br-verylongname") == "br-verylame-nic"  # libvirt: first 8 + last 3 + -nic
    assert len(names.dummy_tap_name("x" * 15)) == 15


def test_mac_rules() -> None:
    assert names.mac_problem("51:12:34:56:78:9a", guest=True)
    assert names.mac_problem("fe:54:00:00:00:01", guest=True)
    assert names.mac_problem("fe:54:00:00:00:01", guest=False) is None
    assert names.mac_problem("52:54:00:00:00:01", guest=True) is None
    assert names.normalize_mac("52-54-00-AB-CD-EF") == "52:54:00:ab:cd:ef"


def test_derived_macs_are_stable_and_unique() -> None:
    from libvirt_vnet.model.derived import nic_macs

    vms = {f"vm{i}": {"nics": [{"network": "lan"}] * 3} for i in range(300)}
    a = nic_macs(topo_input.load(doc(vms=vms)))
    b = nic_macs(topo_input.load(doc(vms=vms)))
    assert a == b
    assert len(set(a.values())) == len(a) == 900
    assert all(m.startswith("52:54:00:") for m in a.values())


def test_all_unknown_keys_of_a_mapping_at_once() -> None:
    errs = errors_of(doc(networks__lan__brigde={"name": "x"}, networks__lan__dhpc=True))
    assert {(e.path, e.hint) for e in errs} == {
        ("networks.lan.brigde", "did you mean 'bridge'?"), ("networks.lan.dhpc", "did you mean 'dhcp'?")}


def test_missing_key_points_at_its_typo() -> None:
    (err,) = errors_of(doc(vms__web__nics=[{"netwrok": "lan"}]))
    assert "'network' is required" in err.message and "'netwrok' is given" in (err.hint or "")


@pytest.mark.parametrize(("text", "message", "hint"), [
    ("name: t\nnetworks:\n  a: {kind: isolated}\n  a: {kind: isolated}\n", "given twice", None),
    ("name: t\nnetworks:\n  v: {kind: vlan-bridge, uplink: eth0, vlan: 010}\n", "leading zero", None),
    ("name: t\nnetworks:\n\ta: {kind: isolated}\n", "'\\t'", "spaces, not tabs"),
    ("   \n", "the topology is empty", "name: office"),
])
def test_yaml_surprises_are_errors(text: str, message: str, hint: str | None) -> None:
    with pytest.raises(InputError) as info:
        topo_input.load_yaml_text(text, "t.yaml")
    assert message in str(info.value) and info.value.path and info.value.path.startswith("t.yaml")
    if hint:
        assert hint in (info.value.hint or "")


def test_input_errors_are_catchable_as_input_error() -> None:
    with pytest.raises(InputError) as info:
        topo_input.load(doc(networks__lan__subnet="1.2.3.4/24", networks__v10__vlan=0))
    assert isinstance(info.value, ErrorList) and len(info.value.errors) == 2


# ---- issue 10: every overlapping pair (item 17) ------------------------------------------

def test_every_overlapping_pair_is_reported_once() -> None:
    errs = errors_of({"name": "t", "networks": {
        "lan1": {"kind": "isolated", "subnet": "192.168.1.0/24"},
        "lan2": {"kind": "isolated", "subnet": "192.168.1.0/25"},
        "lan3": {"kind": "isolated", "subnet": "192.168.1.0/24"}}})
    pairs = sorted((e.path, e.message.split(" of network ")[1].split(" ")[0]) for e in errs)
    assert pairs == [("networks.lan2.subnet", "'lan1'"), ("networks.lan3.subnet", "'lan1'"),
                     ("networks.lan3.subnet", "'lan2'")], [str(e) for e in errs]


def test_overlaps_name_the_block_and_every_host_of_the_pair() -> None:
    errs = errors_of({"name": "t", "hosts": {"hv1": {}, "hv2": {}}, "networks": {
        "a": {"kind": "isolated", "subnet": "10.0.0.0/16", "dhcp": False},
        "b": {"kind": "isolated", "subnet": "10.9.0.0/24", "dhcp": False,
              "ips": [{"subnet": "fd00::/64"}, {"subnet": "10.0.5.0/24"}]},
        "c": {"kind": "isolated", "subnet6": "fd00::/48", "ips": [{"subnet": "10.0.0.0/8"}]}}})
    got = {(e.path, e.message) for e in errs}
    assert got == {
        ("networks.b.ips[1]", "subnet 10.0.5.0/24 overlaps 10.0.0.0/16 of network 'a' on hosts 'hv1', 'hv2'"),
        ("networks.c.subnet6", "subnet fd00::/48 overlaps fd00::/64 of network 'b' on hosts 'hv1', 'hv2'"),
        ("networks.c.ips[0]", "subnet 10.0.0.0/8 overlaps 10.0.0.0/16 of network 'a' on hosts 'hv1', 'hv2'"),
        ("networks.c.ips[0]", "subnet 10.0.0.0/8 overlaps 10.9.0.0/24 of network 'b' on hosts 'hv1', 'hv2'"),
        ("networks.c.ips[0]", "subnet 10.0.0.0/8 overlaps 10.0.5.0/24 of network 'b' on hosts 'hv1', 'hv2'"),
    }, sorted(got)


def test_two_blocks_of_one_network_may_not_overlap_either() -> None:
    (err,) = errors_of({"name": "t", "networks": {"a": {
        "kind": "isolated", "subnet": "10.0.0.0/24", "ips": [{"subnet": "10.0.0.128/25"}]}}})
    assert err.path == "networks.a.ips[0]" and "of this network" in err.message


# ---- issue 10: what plan, check or net-start refuse, refused by validate (item 19) ----------

L3 = {"kind": "nat", "subnet": "192.168.1.0/24"}
ISSUE10_CASES = [
    # (network entry or changes, path, message fragment)
    ({"networks__n": {**L3, "subnet": "10.5.0.0/24",
                      "dhcp": {"hosts": [{"mac": "52:54:00:aa:bb:cc", "ip": "10.5.0.255"}]}}},
     "networks.n.dhcp.hosts[0].ip", "broadcast address of 10.5.0.0/24"),
    ({"networks__n": {**L3, "subnet": "10.5.0.0/24",
                      "dhcp": {"hosts": [{"mac": "52:54:00:aa:bb:cc", "ip": "10.5.0.0"}]}}},
     "networks.n.dhcp.hosts[0].ip", "network address of 10.5.0.0/24"),
    ({"networks__n": {"kind": "isolated", "subnet6": "fd00:5::/64",
                      "dhcp6": {"hosts": [{"name": "a", "ip": "fd00:5::"}]}}},
     "networks.n.dhcp6.hosts[0].ip", "network address of fd00:5::/64"),
    ({"networks__n": {**L3, "subnet": "10.5.0.0/24", "dhcp": {"hosts": [
        {"mac": "52:54:00:aa:bb:cc", "ip": "10.5.0.50"}, {"mac": "52:54:00:AA:BB:CC", "ip": "10.5.0.51"}]}}},
     "networks.n.dhcp.hosts[1].mac", "52:54:00:aa:bb:cc is also given at networks.n.dhcp.hosts[0]"),
    ({"networks__n": {**L3, "subnet": "10.5.0.0/24", "dhcp": {"hosts": [
        {"mac": "52:54:00:aa:bb:cc", "ip": "10.5.0.50"}, {"mac": "52:54:00:aa:bb:cd", "ip": "10.5.0.50"}]}}},
     "networks.n.dhcp.hosts[1].ip", "ip 10.5.0.50 is also given"),
    ({"networks__n": {"kind": "isolated", "subnet6": "fd00:5::/64", "dhcp6": {"hosts": [
        {"name": "a", "ip": "fd00:5::5"}, {"name": "A", "ip": "fd00:5::6"}]}}},
     "networks.n.dhcp6.hosts[1].name", "name A is also given"),
    ({"networks__n": {"kind": "isolated", "subnet6": "fd00:5::/64", "dhcp6": {"hosts": [
        {"id": "0:3:0:1:0:16:3e:11:22:33", "ip": "fd00:5::5"},
        {"id": "0:3:0:1:0:16:3e:11:22:33", "ip": "fd00:5::6"}]}}},
     "networks.n.dhcp6.hosts[1].id", "is also given"),
    ({"networks__n": {"kind": "isolated", "subnet6": "::/0", "dhcp6": True}},
     "networks.n.subnet6", "libvirt reads prefix 0 as no prefix"),
    ({"networks__n": {"kind": "isolated", "subnet": "0.0.0.0/0"}},
     "networks.n.subnet", "libvirt reads prefix 0 as no prefix"),
    ({"networks__n": {"kind": "isolated", "subnet6": "fd00:5::/48", "dhcp6": True}},
     "networks.n.dhcp6", "dnsmasq serves DHCPv6 only on prefixes of /64 or longer"),
    ({"networks__n": {"kind": "isolated", "subnet": "10.5.0.0/24", "dhcp": False,
                      "ips": [{"subnet": "10.6.0.0/24", "dhcp": {"range": ["10.6.0.2", "10.7.0.2"]}}]}},
     "networks.n.ips[0].dhcp.range", "not inside 10.6.0.0/24"),
    ({"networks__n": {"kind": "isolated", "subnet": "10.5.0.0/24",
                      "ips": [{"subnet": "10.6.0.0/24", "dhcp": True}]}},
     "networks.n.ips[0].dhcp", "DHCP is enabled on two IPv4 subnets (subnet and ips[0])"),
    # a NIC's reservation a DHCP server could not tell from a static host, or another NIC's
    ({"networks__lan__dhcp": {"hosts": [{"mac": "52:54:00:00:00:42", "ip": "192.168.1.42"}]},
      "vms__web__nics": [{"network": "lan", "mac": "52:54:00:00:00:42", "ip": "192.168.1.43"}]},
     "vms.web.nics[0].ip", "networks.lan.dhcp.hosts[0] already reserves"),
    ({"networks__n6": {"kind": "isolated", "subnet6": "fd00:6::/64", "dhcp6": True},
      "vms__web__nics": [{"network": "n6", "ip6": "fd00:6::10"}, {"network": "n6", "ip6": "fd00:6::11"}]},
     "vms.web.nics[1].ip6", "DHCPv6 tells clients apart by host name"),
]


@pytest.mark.parametrize(("changes", "path", "message"), ISSUE10_CASES,
                         ids=[f"{c[1]}:{c[2][:30]}" for c in ISSUE10_CASES])
def test_what_later_stages_refuse_validate_refuses(changes: dict[str, Any], path: str, message: str) -> None:
    errs = errors_of(doc(**changes))
    assert any(e.path == path and message in e.message for e in errs), [str(e) for e in errs]


# ---- issue 10: one name is one device on a host (items 11 and 19) ---------------------------

DEVICE_CASES = [
    # (changes, path, message fragment)
    ({"networks__v10__vlan_device": "br10"}, "networks.v10.vlan_device",
     "VLAN device 'br10' is also used as the bridge of this network"),
    ({"networks__v10__vlan_device": "eth0"}, "networks.v10.vlan_device",
     "VLAN device 'eth0' would be created for this network, but it is the uplink"),
    ({"networks__v10__vlan_device": "eth1"}, "networks.v10.vlan_device",
     "it is the uplink of host 'hv1' (hosts.hv1.uplinks)"),
    ({"networks__v10__vlan_device": "lo"}, "networks.v10.vlan_device", "'lo' is the loopback device"),
    ({"networks__v10__vlan_device": "all"}, "networks.v10.vlan_device", "the kernel reserves"),
    ({"networks__v10__vlan_device": "virbr9", "networks__lan__bridge": {"name": "virbr9"}},
     "networks.v10.vlan_device", "is also used as the bridge of network 'lan'"),
    ({"networks__v10__vlan_device": "enp3s0f0"}, "networks.v10.vlan_device", "SR-IOV PF of host 'hv1'"),
    ({"networks__v10__bridge": "vnet3"}, "networks.v10.bridge", "libvirt generates for guest devices"),
    ({"networks__lan__bridge": {"name": "eth0"}}, "networks.lan.bridge", "it is the uplink of host"),
    ({"networks__v20": {"kind": "vlan-bridge", "uplink": "eth0.10", "vlan": 20}}, "networks.v10.vlan",
     "VLAN device 'eth0.10' would be created for this network, but it is the uplink of network 'v20'"),
    ({"networks__m1": {"kind": "macvtap", "mode": "bridge", "uplink": "eth0", "shim": {"name": "shim0"}},
      "networks__m2": {"kind": "macvtap", "mode": "bridge", "uplink": "eth1", "shim": {"name": "shim0"}}},
     "networks.m2.shim.name", "shim 'shim0' is also used as the shim of network 'm1'"),
    ({"networks__m1": {"kind": "macvtap", "mode": "bridge", "uplink": "eth0", "shim": {"name": "br10"}}},
     "networks.m1.shim.name", "is also used as the bridge of network 'v10'"),
    ({"networks__m1": {"kind": "macvtap", "mode": "vepa", "uplink": "lo"},
      "hosts__hv1__uplinks": ["eth0", "eth1", "lo"]}, "networks.m1.uplink", "'lo' is the loopback device"),
    ({"networks__v30": {"kind": "vlan-bridge", "uplink": "eth1", "vlan": 30,
                        "bridge": {"name": "brx", "dummy_tap": True}},
      "networks__lan__bridge": {"name": "brx-nic"}},
     "networks.v30.bridge.dummy_tap", "dummy tap 'brx-nic' is also used as the bridge of network 'lan'"),
    ({"networks__t": {"kind": "two-tier", "subnet": "10.7.0.0/24",
                      "access": {"sw1": {"bridge": {"name": "eth0.10"}}}}},
     "networks.t.access.sw1.bridge", "access bridge 'eth0.10' is also used as the VLAN device of network 'v10'"),
    ({"networks__t": {"kind": "two-tier", "subnet": "10.7.0.0/24", "access": {"sw1": {}}},
      "networks__lan__bridge": {"name": "vu-t-sw1"}},
     "networks.t.access.sw1", "veth end 'vu-t-sw1' is also used as the bridge of network 'lan'"),
]


@pytest.mark.parametrize(("changes", "path", "message"), DEVICE_CASES,
                         ids=[f"{c[1]}:{c[2][:40]}" for c in DEVICE_CASES])
def test_one_name_is_one_device(changes: dict[str, Any], path: str, message: str) -> None:
    errs = errors_of(doc(**changes))
    assert any(e.path == path and message in e.message for e in errs), [str(e) for e in errs]


def test_networks_may_share_a_device_that_must_exist() -> None:
    """Several networks on one uplink, or on one existing bridge, are fine."""
    topo_input.load(doc(networks__b1={"kind": "bridge", "bridge": "br0"},
                        networks__b2={"kind": "bridge", "bridge": "br0"},
                        networks__m={"kind": "macvtap", "mode": "vepa", "uplink": "eth0"}))


# ---- issue 10: every independent problem in one run (item 21) -----------------------------

def test_independent_problems_come_in_one_run() -> None:
    """Problems of several entries, several keys of one entry, several rules of one NIC
    and the rules across the entries that loaded: all in the first run."""
    data = doc(
        networks__lan__mtu=20, networks__lan__dns={"enable": "no"},            # two keys of one entry
        networks__x={"kind": "NAT", "subnet": "10.9.0.0/24"},                  # a broken entry ...
        networks__o1={"kind": "isolated", "subnet": "10.1.0.0/16"},            # ... and a pair
        networks__o2={"kind": "isolated", "subnet": "10.1.2.0/24"},            # that overlaps
        vms__web__nics=[{"network": "lan", "model": "virtio9",
                         "vlan": 5000, "colour": "red"},                       # three NIC keys
                        {"network": "x"},                                      # on the broken one
                        {"network": "v10", "vlan": 10, "portgroup": "gold",    # three NIC rules
                         "spoofchk": True, "mac": "52:54:00:00:00:07"}],
        vms__db={"nics": [{"network": "o1", "mac": "52:54:00:00:00:07"}]},     # a MAC twice
    )
    data["networks"][16] = {"kind": "isolated"}                               # a key no text
    paths = sorted(e.path or "" for e in errors_of(data))
    assert paths == sorted([
        "networks.lan.mtu", "networks.lan.dns.enable", "networks.x.kind", "networks.16",
        "networks.o2.subnet",
        "vms.web.nics[0].model", "vms.web.nics[0].vlan", "vms.web.nics[0].colour",
        "vms.web.nics[2].vlan", "vms.web.nics[2].portgroup", "vms.web.nics[2].spoofchk",
        "vms.db.nics[0].mac",
    ]), paths


def test_a_reference_to_a_broken_entry_is_not_a_second_problem() -> None:
    errs = errors_of(doc(networks__lan__mtu=20, hosts__hv2={"uplinks": "eth0"}, vms__web__host="hv1",
                         vms__db={"host": "hv2", "nics": [{"network": "lan"}]}))
    assert sorted(e.path or "" for e in errs) == ["hosts.hv2.uplinks", "networks.lan.mtu"]


@pytest.mark.parametrize(("yaml_value", "message", "hint"), [
    ("0x10", "expected text, got a number (16)", "quote it"),
    ("1.0e+3", "expected text, got a number (1000.0)", "quote it"),
    (".inf", "expected text, got a number (inf)", "quote it"),
    ("2024-01-01", "expected text, got a date (2024-01-01)", "quote it"),
    ("yes", "expected text, got a boolean (True)", None),
])
def test_yaml_non_text_is_never_turned_into_a_name(yaml_value: str, message: str, hint: str | None) -> None:
    text = (f"name: t\nhosts: {{hv1: {{uri: {yaml_value}}}}}\nnetworks:\n"
            f"  n: {{kind: macvtap, mode: vepa, uplink: eth0,\n"
            f"      virtualport: {{type: 802.1Qbh, profileid: {yaml_value}}}}}\n")
    with pytest.raises(InputError) as info:
        topo_input.load_yaml_text(text, "t.yaml")
    errs = info.value.errors if isinstance(info.value, ErrorList) else [info.value]
    assert {e.path for e in errs} == {"hosts.hv1.uri", "networks.n.virtualport.profileid"}
    assert all(message in e.message and (hint is None or hint in (e.hint or "")) for e in errs)


def test_yaml_sexagesimal_is_text_never_a_number() -> None:
    """YAML 1.1 reads 1:30 as 90; vnet reads it as the text it is (as YAML 1.2 and editors do)."""
    with pytest.raises(InputError) as info:
        topo_input.load_yaml_text("name: t\nnetworks:\n  a: {kind: isolated, subnet: 10.0.0.0/24, mtu: 1:30}\n"
                                  "  b: {kind: vlan-bridge, uplink: eth0, vlan: 1:30}\n", "t.yaml")
    errs = {e.path: e.message for e in info.value.errors}  # type: ignore[attr-defined]
    assert errs == {"networks.a.mtu": "expected a whole number, got the text '1:30'",
                    "networks.b.vlan": "expected a whole number, got the text '1:30'"}
    topo = topo_input.load_yaml_text("name: t\nnetworks:\n  1:30: {kind: isolated}\n"
                                     "vms:\n  a: {nics: [{network: '1:30', mac: 52:54:00:00:00:01}]}\n")
    assert topo.networks[0].name == "1:30" and topo.vms[0].nics[0].mac == "52:54:00:00:00:01"


def test_non_text_keys_are_each_a_problem_and_the_rest_is_read() -> None:
    with pytest.raises(InputError) as info:
        topo_input.load_yaml_text("name: t\nnetworks:\n  0x10: {kind: isolated}\n  on: {kind: isolated}\n"
                                  "  ok: {kind: isolated, mtu: 20}\n", "t.yaml")
    errs = {e.path: e for e in info.value.errors}  # type: ignore[attr-defined]
    assert set(errs) == {"networks.16", "networks.true", "networks.ok.mtu"}
    assert "keys must be text" in errs["networks.16"].message and "quote" in (errs["networks.16"].hint or "")


@pytest.mark.parametrize(("changes", "path", "hint"), [
    ({"networks__lan__kind": "NAT"}, "networks.lan.kind", "did you mean 'nat'?"),
    ({"networks__lan__kind": "Vlan-Bridge"}, "networks.lan.kind", "did you mean 'vlan-bridge'?"),
    ({"vms__web__nics": [{"network": "lan", "model": "VirtIO"}]}, "vms.web.nics[0].model", "did you mean 'virtio'?"),
    ({"networks__lan__Subnet": "10.0.0.0/24"}, "networks.lan.Subnet", "did you mean 'subnet'?"),
    ({"vms__web__nics": [{"network": "LAN"}]}, "vms.web.nics[0].network", "did you mean 'lan'?"),
])
def test_suggestions_ignore_case(changes: dict[str, Any], path: str, hint: str) -> None:
    errs = errors_of(doc(**changes))
    assert any(e.path == path and hint == e.hint for e in errs), [(e.path, e.hint) for e in errs]


# ---- issue 10: hostile YAML and encodings end in one clear error (item 20) ----------------

@pytest.mark.parametrize("text", [
    "name: t\nnetworks:\n  a: " + "[" * 300 + "]" * 300 + "\n",
    "name: t\nnetworks:\n  a: " + "{a: " * 300 + "1" + "}" * 300 + "\n",
    "name: t\nnetworks:\n" + "".join("  " * (i + 1) + "k:\n" for i in range(300)),
    "name: t\n" + "- " * 5000 + "x\n",
])
def test_deep_nesting_is_one_error(text: str) -> None:
    with pytest.raises(InputError) as info:
        topo_input.load_yaml_text(text, "t.yaml")
    assert info.value.path and info.value.path.startswith("t.yaml")


def test_huge_integers_are_one_error() -> None:
    with pytest.raises(InputError) as info:
        topo_input.load_yaml_text("name: t\nnetworks:\n  a: {kind: isolated, mtu: " + "9" * 5000 + "}\n", "t.yaml")
    assert "5000 digits" in info.value.message and info.value.path == "t.yaml:3:28"
    errs = errors_of(doc(networks__lan__mtu=10**5000, networks__lan__bridge={"name": 10**5000}))
    assert {e.path for e in errs} == {"networks.lan.mtu", "networks.lan.bridge.name"}
    assert all("bit number" in e.message for e in errs), [e.message for e in errs]


@pytest.mark.parametrize(("data", "ok"), [
    ("name: t\n".encode("utf-16"), True),
    ("name: t\n".encode("utf-16-be").join([b"\xfe\xff", b""]), True),
    (b"\xef\xbb\xbfname: t\n", True),
    ("name: tü\n".encode("latin-1"), False),
    (b"name: t\n\xff\xfe", False),
])
def test_encodings(data: bytes, ok: bool) -> None:
    if ok:
        assert topo_input.load_yaml_bytes(data, "t.yaml").name == "t"
        return
    with pytest.raises(InputError) as info:
        topo_input.load_yaml_bytes(data, "t.yaml")
    assert info.value.path == "t.yaml" and "not UTF-8 text (byte" in info.value.message
    assert "iconv" in (info.value.hint or "")


# ---- issue 10: what an 802.1Qbg (or 802.1Qbh) port needs, known from the topology (item 14) --

QBG = {"type": "802.1Qbg", "managerid": 11, "typeid": 1193047, "typeidversion": 2}
PORT_CASES = [
    ({"networks__e": {"kind": "macvtap", "mode": "vepa", "uplink": "eth1",
                      "virtualport": {"type": "802.1Qbg", "managerid": 11}},
      "vms__web__nics": [{"network": "e"}]},
     "vms.web.nics[0].virtualport", "802.1Qbg virtual port has no typeid, typeidversion"),
    ({"networks__e": {"kind": "macvtap", "mode": "vepa", "uplink": "eth1", "virtualport": QBG,
                      "portgroups": {"w": {"default": True, "virtualport": {"typeid": 7}}}},
      "vms__web__nics": [{"network": "e"}]},
     "vms.web.nics[0].virtualport", "gets typeid 7 from portgroup 'w' and 1193047 from the network"),
    ({"networks__e": {"kind": "macvtap", "mode": "vepa", "uplink": "eth1", "virtualport": QBG},
      "vms__web__nics": [{"network": "e", "virtualport": {"type": "802.1Qbh"}}]},
     "vms.web.nics[0].virtualport", "gets type 802.1Qbh from the NIC and 802.1Qbg from the network"),
    ({"networks__e": {"kind": "macvtap", "mode": "vepa", "uplink": "eth1"},
      "vms__web__nics": [{"network": "e", "attach": "direct", "virtualport": {"type": "802.1Qbg", "managerid": 3}}]},
     "vms.web.nics[0].virtualport", "has no typeid, typeidversion"),
    ({"networks__f": {"kind": "macvtap", "mode": "passthrough", "pf": "enp3s0f0", "virtualport": {"type": "802.1Qbh"}},
      "vms__web__nics": [{"network": "f"}]}, "vms.web.nics[0].virtualport", "802.1Qbh virtual port has no profileid"),
    ({"networks__e": {"kind": "macvtap", "mode": "vepa", "uplink": "eth1",
                      "virtualport": {**QBG, "instanceid": "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"}}},
     "networks.e.virtualport.instanceid", "every guest would share it"),
    ({"networks__e": {"kind": "macvtap", "mode": "vepa", "uplink": "eth1", "virtualport": {**QBG, "managerid": 0}}},
     "networks.e.virtualport.managerid", "reserves VSI manager ID 0"),
]


@pytest.mark.parametrize(("changes", "path", "message"), PORT_CASES, ids=[c[2][:40] for c in PORT_CASES])
def test_virtual_ports_libvirt_could_not_start(changes: dict[str, Any], path: str, message: str) -> None:
    errs = errors_of(doc(**changes))
    assert any(e.path == path and message in e.message for e in errs), [str(e) for e in errs]


def test_layers_of_a_virtual_port_that_agree_are_fine() -> None:
    topo_input.load(doc(networks__e={"kind": "macvtap", "mode": "vepa", "uplink": "eth1",
                                     "virtualport": {"type": "802.1Qbg", "managerid": 11},
                                     "portgroups": {"w": {"virtualport": {"typeid": 1, "typeidversion": 1}},
                                                    "d": {"default": True, "virtualport": QBG}}},
                        vms__web__nics=[{"network": "e", "portgroup": "w"}, {"network": "e"},
                                        {"network": "e", "virtualport": {
                                            "instanceid": "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"}}]))


def test_a_networks_rules_still_run_when_one_of_its_keys_is_bad() -> None:
    """A bad mtu does not hide that the vlan-bridge has no uplink; a bad vlan is not also
    reported as a missing one."""
    errs = errors_of(doc(networks__v10={"kind": "vlan-bridge", "mtu": 20, "vlan": "x"}))
    assert sorted(e.path or "" for e in errs) == ["networks.v10.mtu", "networks.v10.uplink", "networks.v10.vlan"]
    assert [e.message for e in errs if e.path == "networks.v10.vlan"] == ["expected a whole number, got the text 'x'"]


HUGE = "k" * 5000


@pytest.mark.parametrize("changes", [
    {"networks__lan__" + HUGE: 1},                        # an unknown key
    {"networks__" + HUGE: {"kind": "isolated"}},           # a network name
    {"vms__" + HUGE: {"host": "hv1"}},                     # a VM name
    {"networks__lan__kind": HUGE},                         # a value among choices
    {"networks__v10__uplink": HUGE},                       # a device name
    {"networks__lan__" + HUGE: {"a" + HUGE: {"b" + HUGE: 1}}},  # a path of several
], ids=["key", "network", "vm", "kind", "uplink", "nested"])
def test_huge_text_of_the_document_is_echoed_short(changes: dict[str, Any]) -> None:
    """Whatever the document holds, each problem stays a readable line: a run of text of
    thousands of characters is shown by its start and its length."""
    errs = errors_of(doc(**changes))
    assert errs
    for err in errs:
        assert len(str(err)) < 1000 and "...(50" in str(err) and "characters)" in str(err), str(err)[:300]


@pytest.mark.parametrize(("network", "paths"), [
    ({"kind": "macvtap", "virtualport": {"instanceid": "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"}},
     ["", ".mode", ".virtualport.instanceid", ".virtualport.type"]),
    ({"kind": "vlan-bridge", "bridge": {"mac_table_manager": "libvirt"}, "portgroups": {"p": {"vlan": 5}}},
     [".bridge.mac_table_manager", ".portgroups.p", ".uplink", ".vlan"]),
    ({"kind": "hostdev", "vlan": {"trunk": True, "tags": [1, 2]},
      "portgroups": {"p": {"bandwidth": {"inbound": {"average": 1000}}}}}, ["", ".portgroups.p", ".vlan"]),
    ({"kind": "bridge", "bridge": {"stp": True}}, [".bridge", ".bridge.stp"]),
    ({"kind": "openvswitch", "bridge": {"stp": True, "mac_table_manager": "kernel"},
      "virtualport": {"type": "802.1Qbh"}},
     [".bridge", ".bridge.mac_table_manager", ".bridge.stp", ".virtualport.type"]),
    ({"kind": "nat", "domain": "x.example", "bridge": {"dummy_tap": True}}, ["", ".bridge.dummy_tap", ".domain"]),
    ({"kind": "two-tier", "upstream": "bogus", "bridge": {"dummy_tap": True}},
     [".access", ".bridge.dummy_tap", ".upstream"]),
], ids=lambda v: v["kind"] if isinstance(v, dict) else "")
def test_a_kinds_rules_report_every_independent_problem_at_once(network: dict[str, Any], paths: list[str]) -> None:
    """A network's kind rules do not come in passes: one run names each of them."""
    errs = errors_of(doc(networks__x=network))
    assert sorted((e.path or "").removeprefix("networks.x") for e in errs) == paths, [str(e) for e in errs]


def test_a_macvtap_network_without_mode_is_told_it_needs_one() -> None:
    (err,) = errors_of(doc(networks__m={"kind": "macvtap", "uplink": "eth1"}))
    assert err.path == "networks.m.mode" and "needs its mode" in err.message and "None" not in str(err)


@pytest.mark.parametrize(("srv", "paths"), [
    ({"port": 389}, ["port"]),
    ({"priority": 0, "weight": 5}, ["priority", "weight"]),
    ({"port": 389, "domain": "example.com"}, ["port"]),
    ({"target": "ldap.example.com", "port": 0}, ["port"]),
])
def test_srv_records_libvirt_refuses_are_refused(srv: dict[str, Any], paths: list[str]) -> None:
    """libvirt takes port, priority and weight only with a target, and no port 0."""
    errs = errors_of(doc(networks__lan__dns={"srv": [{"service": "ldap", "protocol": "tcp", **srv}]}))
    assert sorted(e.path or "" for e in errs) == [f"networks.lan.dns.srv[0].{k}" for k in paths]


def test_an_srv_record_with_its_target_is_fine() -> None:
    topo_input.load(doc(networks__lan__dns={"srv": [
        {"service": "ldap", "protocol": "tcp", "target": "ldap.example.com", "port": 389,
         "priority": 0, "weight": 65535}, {"service": "http", "protocol": "tcp"}]}))


@pytest.mark.parametrize("kind", ["NAT", None, 5])
def test_a_network_without_a_kind_still_has_its_values_read(kind: Any) -> None:
    """The kind decides which keys a network takes, not how a value reads: a bad kind
    (or none) does not hide a bad subnet or mtu until the next run."""
    net = {"subnet": "10.0.0.0/33", "mtu": "1:30", "bogus": 1}
    errs = errors_of(doc(networks__lan={**net, "kind": kind} if kind is not None else net))
    assert sorted(e.path or "" for e in errs) == sorted([
        "networks.lan" if kind is None else "networks.lan.kind",
        "networks.lan.bogus", "networks.lan.mtu", "networks.lan.subnet"])


def test_a_misspelt_kind_is_one_problem() -> None:
    (err,) = errors_of(doc(networks__lan={"knid": "nat", "subnet": "10.0.0.0/24"}))
    assert err.message == "'kind' is required here" and "'knid' is given" in (err.hint or "")
