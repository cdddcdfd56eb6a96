"""Rendering: version gates, domain merge, metadata round trips, determinism."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree
from support.xmltools import xml_of

from libvirt_vnet import rendering, virt
from libvirt_vnet import topology as topo_input
from libvirt_vnet.errors import ErrorList, InputError, UnsupportedError, VnetError
from libvirt_vnet.libvirtxml import interface as ifacexml
from libvirt_vnet.libvirtxml import network as netxml
from libvirt_vnet.libvirtxml.versions import DEFAULT_TARGET, LibvirtVersion
from libvirt_vnet.model import plumbing
from libvirt_vnet.prove import prove

OFFICE: dict[str, Any] = {
    "name": "office",
    "hosts": {"hv1": {"uplinks": ["eth0", "eth1"], "sriov": {"enp3s0f0": {"vfs": 8}}}},
    "networks": {
        "lan": {"kind": "nat", "subnet": "192.168.1.0/24",
                "bridge": {"name": "virbr1", "mac": "52:54:00:0a:00:01"}},
        "vlan10": {"kind": "vlan-bridge", "uplink": "eth0", "vlan": 10, "subnet": "192.168.10.0/24"},
        "edge": {"kind": "macvtap", "mode": "vepa", "uplink": "eth1",
                 "virtualport": {"type": "802.1Qbg", "managerid": 11, "typeid": 1193047,
                                 "typeidversion": 2}},
        "fast": {"kind": "hostdev", "pf": "enp3s0f0", "vlan": 30},
    },
    "vms": {"web1": {"nics": [{"network": "lan", "mac": "52:54:00:00:01:10", "ip": "192.168.1.10"},
                              {"network": "vlan10"}, {"network": "edge", "attach": "direct"},
                              {"network": "fast", "trust": True, "spoofchk": False}]}},
}


def rendered(data: dict[str, Any] = OFFICE, target: LibvirtVersion = DEFAULT_TARGET) -> rendering.Rendering:
    return rendering.render(topo_input.load(data), target)


def with_network(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {**OFFICE, "networks": {**OFFICE["networks"], name: spec}}


def test_office_renders_and_libvirt_accepts_it() -> None:
    r = rendered()
    assert [n.name for n in r.networks] == ["lan", "vlan10", "edge", "fast"]
    lan = xml_of(r.networks[0].xml)
    assert lan.find("mac").get("address") == "52:54:00:0a:00:01"
    host = lan.find("ip/dhcp/host")
    assert (host.get("mac"), host.get("ip"), host.get("name")) == ("52:54:00:00:01:10", "192.168.1.10", "web1")
    assert prove(r).networks == 4


def test_vlan_bridge_carries_host_plumbing_in_metadata() -> None:
    r = rendered()
    nd = netxml.parse_network_string(r.networks[1].xml)
    meta = nd.vnet_metadata
    assert isinstance(meta, plumbing.NetworkMeta) and meta.kind == "vlan-bridge"
    kinds: dict[str, Any] = {type(o).__name__: o for o in meta.objects}
    assert kinds["VlanDevice"] == plumbing.VlanDevice(name="eth0.10", parent="eth0", vid=10)
    assert kinds["HostBridge"].name == "br10" and kinds["HostBridge"].mac
    assert kinds["BridgeUplink"] == plumbing.BridgeUplink(device="eth0.10", bridge="br10")
    assert nd.forward is not None and nd.forward.mode.value == "bridge" and nd.mac is None


def test_domain_metadata_round_trips() -> None:
    vm = rendered().vm("web1")
    back = ifacexml.read_domain_meta(vm.domain_xml())
    assert back == vm.metadata
    vf = next(o for n in back.nics for o in n.objects if isinstance(o, plumbing.VfConfig))
    assert vf == plumbing.VfConfig(pf="enp3s0f0", mac=back.nics[3].mac, vlan=30, trust=True, spoofchk=False)


def test_direct_interface_inherits_network_virtualport() -> None:
    vm = rendered().vm("web1")
    direct = xml_of(vm.interface_xml()[2])
    assert direct.get("type") == "direct"
    assert direct.find("source").attrib == {"dev": "eth1", "mode": "vepa"}
    assert direct.find("virtualport").get("type") == "802.1Qbg"


def test_rendering_is_deterministic() -> None:
    a, b = rendered(), rendered()
    assert [n.xml for n in a.networks] == [n.xml for n in b.networks]
    assert a.vm("web1").domain_xml() == b.vm("web1").domain_xml()


@pytest.mark.parametrize(("spec", "version", "feature"), [
    ({"kind": "nat", "subnet": "10.5.0.0/24", "port_isolated": True}, "6.0", "6.1.0"),
    ({"kind": "bridge", "bridge": "br0", "vlan": 20}, "9.0", "11.0.0"),
    ({"kind": "hostdev", "vfs": ["0000:04:10.0"], "driver_model": "vfio-pci-igb"}, "9.0", "10.0.0"),
    ({"kind": "nat", "subnet": "10.5.0.0/24", "dhcp": {"lease": "1h"}}, "6.2", "6.3.0"),
])
def test_features_newer_than_target_are_refused(spec: dict[str, Any], version: str, feature: str) -> None:
    data = with_network("new", spec)
    with pytest.raises(ErrorList) as info:
        rendered(data, LibvirtVersion.parse(version))
    (err,) = info.value.errors
    assert isinstance(err, UnsupportedError)
    assert feature in err.message and err.path == "networks.new"
    # the same topology renders for a new enough libvirt, nothing dropped
    r = rendered(data, LibvirtVersion(11, 0))
    assert any(n.name == "new" for n in r.networks)


def test_nic_vlan_on_linux_bridge_needs_11() -> None:
    data = with_network("br", {"kind": "bridge", "bridge": "br0"})
    data["vms"] = {"a": {"nics": [{"network": "br", "vlan": 7}]}}
    with pytest.raises(VnetError, match=r"11\.0\.0"):
        rendered(data)
    iface = xml_of(rendered(data, LibvirtVersion(11, 0)).vm("a").interface_xml()[0])
    assert iface.find("vlan/tag").get("id") == "7"


def test_version_parsing() -> None:
    assert LibvirtVersion.parse("10.7") == LibvirtVersion(10, 7, 0)
    assert LibvirtVersion.from_number(9_000_000) == LibvirtVersion(9, 0, 0)
    assert str(LibvirtVersion.from_number(10_007_001)) == "10.7.1"
    with pytest.raises(UnsupportedError):
        LibvirtVersion.parse("ten")


USER_DOMAIN = """<domain type='kvm'>
  <name>web1</name>
  <uuid>2c1b5d63-1a23-4b1d-9d55-3a3c7c2a1f10</uuid>
  <metadata><app:info xmlns:app="https://example.com/app">keep me</app:info></metadata>
  <memory unit='MiB'>512</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><source file='/var/lib/libvirt/images/web1.qcow2'/>
      <target dev='vda' bus='virtio'/></disk>
    <interface type='network'>
      <mac address='52:54:00:00:01:10'/><source network='default'/><model type='e1000'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </interface>
    <interface type='user'><mac address='52:54:00:99:99:99'/></interface>
  </devices>
</domain>"""


def test_merge_into_existing_domain() -> None:
    vm = rendered().vm("web1")
    merged = vm.merge_into(USER_DOMAIN)
    root = xml_of(merged)
    ifaces = root.findall("devices/interface")
    macs = [i.find("mac").get("address") for i in ifaces]
    assert macs[0] == "52:54:00:00:01:10"                       # replaced in place
    assert ifaces[0].find("source").get("network") == "lan"
    assert ifaces[0].find("address").get("bus") == "0x01"        # libvirt's placement kept
    assert "52:54:00:99:99:99" in macs                          # the user's other NIC kept
    assert len(ifaces) == 5
    assert root.find("devices/disk") is not None
    assert root.find("metadata/{https://example.com/app}info").text == "keep me"
    assert vm.merge_into(merged) == merged                      # idempotent
    with virt.connect(virt.TEST_URI) as conn:
        virt.clear_test_driver(conn)
        virt.define_domain(conn, merged, "web1")
        virt.undefine_domain(conn, "web1")


def test_merge_refuses_non_domain() -> None:
    vm = rendered().vm("web1")
    with pytest.raises(VnetError, match="expected a <domain>"):
        vm.merge_into("<network/>")
    with pytest.raises(VnetError, match="not well-formed"):
        vm.merge_into("<domain>")


def test_very_isolated_network_has_no_ip() -> None:
    r = rendered(with_network("dark", {"kind": "isolated"}))
    nd = next(n.definition for n in r.networks if n.name == "dark")
    assert nd.forward is None and nd.ips == () and nd.bridge is not None
    assert prove(r).networks == 5


def test_bridge_mac_can_be_left_to_libvirt() -> None:
    r = rendered(with_network("free", {"kind": "nat", "subnet": "10.6.0.0/24", "bridge": {"mac": "libvirt"}}))
    assert next(n.definition for n in r.networks if n.name == "free").mac is None


def test_vlan_bridge_mac_differs_per_host() -> None:
    data = {"name": "two", "hosts": {"hv1": {}, "hv2": {}},
            "networks": {"v10": {"kind": "vlan-bridge", "uplink": "eth0", "vlan": 10}}}
    r = rendered(data)
    macs = {}
    for rn in r.networks:
        meta = netxml.parse_network_string(rn.xml).vnet_metadata
        assert isinstance(meta, plumbing.NetworkMeta)
        macs[rn.host] = next(o.mac for o in meta.objects if isinstance(o, plumbing.HostBridge))
    assert set(macs) == {"hv1", "hv2"} and macs["hv1"] != macs["hv2"]


def test_reservations_go_to_the_subnet_that_holds_them() -> None:
    """libvirt runs DHCP on one IPv4 subnet; a reservation must land in that <ip>."""
    data = with_network("multi", {"kind": "nat", "subnet": "10.8.0.0/24", "dhcp": False,
                                  "ips": [{"subnet": "10.9.0.0/24", "dhcp": True}]})
    data["vms"] = {"a": {"nics": [{"network": "multi", "ip": "10.9.0.7"}]}}
    nd = next(n.definition for n in rendered(data).networks if n.name == "multi")
    hosts = {str(ip.interface.network): [str(h.ip) for h in ip.dhcp.hosts] for ip in nd.ips if ip.dhcp}
    assert hosts == {"10.9.0.0/24": ["10.9.0.7"]}


def test_direct_passthrough_nics_get_distinct_devices() -> None:
    data = with_network("pt", {"kind": "macvtap", "mode": "passthrough", "uplinks": ["ens2f0", "ens2f1"]})
    data["hosts"] = {"hv1": {"uplinks": ["eth0", "eth1", "ens2f0", "ens2f1"], "sriov": {"enp3s0f0": {"vfs": 8}}}}
    data["vms"] = {"a": {"nics": [{"network": "pt", "attach": "direct"}]},
                   "b": {"nics": [{"network": "pt", "attach": "direct"}]}}
    r = rendered(data)
    devs = [xml_of(r.vm(v).interface_xml()[0]).find("source").get("dev") for v in "ab"]
    assert devs == ["ens2f0", "ens2f1"]


NIC_WITH_EXTRAS = """<domain type='kvm'><name>web1</name><memory>65536</memory>
<os><type>hvm</type></os><devices>
  <interface type='network'>
    <mac address='52:54:00:00:01:10'/><source network='default'/><model type='e1000'/>
    <filterref filter='clean-traffic'/><boot order='1'/><driver name='vhost' queues='4'/>
  </interface>
</devices></domain>"""


def test_merge_keeps_what_vnet_does_not_own() -> None:
    merged = xml_of(rendered().vm("web1").merge_into(NIC_WITH_EXTRAS))
    nic = merged.find("devices/interface")
    assert nic.find("source").get("network") == "lan" and nic.find("model").get("type") == "virtio"
    assert nic.find("filterref").get("filter") == "clean-traffic"
    assert nic.find("boot").get("order") == "1" and nic.find("driver").get("queues") == "4"


def test_merge_refuses_another_domain_unless_forced() -> None:
    other = NIC_WITH_EXTRAS.replace("<name>web1</name>", "<name>db9</name>")
    vm = rendered().vm("web1")
    with pytest.raises(VnetError, match="not the topology's VM 'web1'"):
        vm.merge_into(other)
    assert "<name>db9</name>" in vm.merge_into(other, force=True)


# ---- merging respects who owns a NIC (issue 10, item 15) -----------------------------------

def _vm(topology: str, vm: str, *nics: dict[str, Any]) -> rendering.RenderedVm:
    topo = topo_input.load({"name": topology, "networks": {"lan": {"kind": "isolated", "subnet": "10.1.0.0/24"}},
                            "vms": {vm: {"nics": list(nics)}, "other": {"nics": ["lan"]}}})
    return rendering.render(topo).vm(vm)


PLAIN = ("<domain type='kvm'><name>pc1</name><memory>65536</memory><os><type>hvm</type></os>"
         "<devices><interface type='user'><mac address='52:54:00:99:99:99'/></interface></devices></domain>")
A1, A2, B1 = ({"network": "lan", "mac": "52:54:00:0a:00:01"}, {"network": "lan", "mac": "52:54:00:0a:00:02"},
              {"network": "lan", "mac": "52:54:00:0b:00:01"})


def _macs(xml: str) -> list[str]:
    return [i.find("mac").get("address") for i in xml_of(xml).findall("devices/interface")]


def test_merging_another_topologys_vm_is_refused_by_default() -> None:
    from libvirt_vnet.errors import ConflictError

    merged_a = _vm("a", "pc1", A1, A2).merge_into(PLAIN)
    with pytest.raises(ConflictError) as info:
        _vm("b", "pc1", B1).merge_into(merged_a)
    assert info.value.exit_code == 4 and "52:54:00:0a:00:01" in info.value.message
    assert "topology 'a'" in info.value.message and "--replace-foreign" in (info.value.hint or "")
    with pytest.raises(ConflictError):  # another VM of the same topology is another owner too
        _vm("a", "other").merge_into(merged_a.replace("<name>pc1</name>", "<name>other</name>"))
    with pytest.raises(ConflictError):  # even when the new NIC has a MAC of the old owner's
        _vm("b", "pc1", A1).merge_into(merged_a)


def test_replace_foreign_removes_the_other_owners_nics_only() -> None:
    merged_a = _vm("a", "pc1", A1, A2).merge_into(PLAIN)
    result = _vm("b", "pc1", B1).merge(merged_a, replace_foreign=True)
    assert _macs(result.xml) == ["52:54:00:99:99:99", "52:54:00:0b:00:01"]  # the user's NIC stays
    assert ifacexml.read_domain_meta(result.xml).topology == "b"  # type: ignore[union-attr]
    assert len(result.notes) == 3 and all("topology 'a'" in n for n in result.notes)
    again = _vm("b", "pc1", A1).merge(merged_a, replace_foreign=True)  # a shared MAC: one NIC
    assert _macs(again.xml) == ["52:54:00:99:99:99", "52:54:00:0a:00:01"]


def test_nics_the_topology_dropped_leave_the_domain() -> None:
    merged = _vm("a", "pc1", A1, A2).merge_into(PLAIN)
    added = merged.replace("</devices>", "<interface type='user'><mac address='52:54:00:88:88:88'/>"
                                         "</interface></devices>")  # the user's, added later
    result = _vm("a", "pc1", A1).merge(added)
    assert _macs(result.xml) == ["52:54:00:99:99:99", "52:54:00:0a:00:01", "52:54:00:88:88:88"]
    assert result.notes == ("removed NIC 52:54:00:0a:00:02 on network 'lan' (vnet's, and no longer "
                            "in the topology)",)
    assert _vm("a", "pc1", A1).merge(result.xml).notes == ()  # a second merge changes nothing
    assert _vm("a", "pc1", A1).merge_into(result.xml) == result.xml


@pytest.mark.parametrize(("domain", "message"), [
    (PLAIN.replace("</devices>", "</devices><metadata><vnet:domain xmlns:vnet='urn:libvirt-vnet:metadata:1' "
                   "topology='a' vm='pc1'><vnet:nic mac='52:54:00:0a:00:01' network='lan' kind='isolated'>"
                   "<vnet:bridge/></vnet:nic></vnet:domain></metadata>"), "vnet metadata cannot be read"),
    ("<!DOCTYPE domain [<!ENTITY x 'pc1'>]>" + PLAIN.replace("<name>pc1</name>", "<name>&x;</name>"),
     "<!DOCTYPE>"),
])
def test_a_hostile_domain_is_one_error(domain: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        _vm("a", "pc1", A1).merge_into(domain)


def test_two_vnet_metadata_elements_are_refused() -> None:
    """Which of two would say who owns the NICs? Neither: vnet writes one."""
    merged = _vm("a", "pc1", A1).merge_into(PLAIN)
    (meta,) = xml_of(merged).find("metadata")
    twice = merged.replace("</metadata>", etree.tostring(meta, encoding="unicode") + "</metadata>")
    with pytest.raises(InputError, match="several <vnet:domain>"):
        _vm("a", "pc1", A1).merge_into(twice)


def _with_nics(*nics: str) -> str:
    return PLAIN.replace("</devices>", "".join(nics) + "</devices>")


def test_a_nic_is_known_by_its_mac_as_libvirt_reads_it() -> None:
    """libvirt reads 52:54:0:A:0:1 as 52:54:00:0a:00:01: the same NIC, replaced, never
    a second NIC with vnet's MAC."""
    domain = _with_nics("<interface type='network'><mac address=' 52:54:0:A:0:1'/>"
                        "<source network='x'/><boot order='2'/></interface>")
    merged = _vm("a", "pc1", A1).merge_into(domain)
    assert _macs(merged) == ["52:54:00:99:99:99", "52:54:00:0a:00:01"]
    nic = xml_of(merged).findall("devices/interface")[1]
    assert nic.find("source").get("network") == "lan" and nic.find("boot").get("order") == "2"
    # and the NIC merged earlier is known again when its MAC was rewritten by hand
    rewritten = merged.replace('<mac address="52:54:00:0a:00:01"/>', '<mac address="52:54:00:0A:00:1"/>')
    assert rewritten != merged
    assert _vm("a", "pc1").merge(rewritten).notes == (
        "removed NIC 52:54:00:0a:00:01 on network 'lan' (vnet's, and no longer in the topology)",)


@pytest.mark.parametrize("twins", [
    ("52:54:00:0a:00:01", "52:54:00:0a:00:01"),       # one MAC vnet merges, twice
    ("52:54:00:0a:00:01", "52:54:0:A:0:1"),           # the same, written two ways
])
def test_a_mac_vnet_merges_on_several_nics_is_refused(twins: tuple[str, str]) -> None:
    domain = _with_nics(*(f"<interface type='user'><mac address='{m}'/></interface>" for m in twins))
    with pytest.raises(InputError, match="several <interface>s with MAC 52:54:00:0a:00:01"):
        _vm("a", "pc1", A1).merge_into(domain)


def test_a_mac_vnet_merged_before_on_several_nics_is_refused() -> None:
    merged = _vm("a", "pc1", A1).merge_into(PLAIN)
    twice = merged.replace("</devices>", "<interface type='user'><mac address='52:54:00:0a:00:01'/>"
                                         "</interface></devices>")
    with pytest.raises(InputError, match="several <interface>s"):
        _vm("a", "pc1", A2).merge_into(twice)


def test_the_users_own_nics_sharing_a_mac_are_left_alone() -> None:
    domain = _with_nics(*["<interface type='user'><mac address='52:54:00:77:77:77'/></interface>"] * 2)
    assert _macs(_vm("a", "pc1", A1).merge_into(domain)) == [
        "52:54:00:99:99:99", "52:54:00:77:77:77", "52:54:00:77:77:77", "52:54:00:0a:00:01"]
