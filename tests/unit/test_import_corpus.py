"""Import every network of libvirt's own test corpus (tests/networkxml2xmlin of
libvirt 10.7.0) and check it renders back to the same network.

"The same" is judged by libvirt itself: the original XML and vnet's re-rendering are
both defined on libvirt's test driver and the ``XMLDesc`` outputs compared, after
normalising only what is known to differ without a difference in meaning:

(a) vnet's own ``<metadata>`` child (namespace ``urn:libvirt-vnet:metadata:1``), and a
    ``<metadata>`` left empty without it;
(b) IPv4 ``<ip>`` spelling: ``family='ipv4'`` is dropped, ``prefix`` becomes
    ``netmask``, and a missing netmask/prefix becomes the classful netmask (libvirt 9.0
    keeps each spelling as written; vnet always writes ``netmask``).

The test driver drops ``<dnsmasq:options>``, so those are compared on the parsed
documents instead.

Files vnet refuses on purpose are listed in :data:`EXPECTED_REFUSALS`, each with its
reason; the upstream negative cases in :data:`UPSTREAM_NEGATIVE` must be refused too.
Every other file must round-trip exactly.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from support.prereq import corpus_dir, require

from libvirt_vnet import importer, virt
from libvirt_vnet import topology as topo_input
from libvirt_vnet.errors import InputError, VnetError
from libvirt_vnet.rendering import render

REPO = Path(__file__).resolve().parents[2]
CORPUS = corpus_dir()
NETWORK_IN = CORPUS / "network-in"
VNET_NS = "urn:libvirt-vnet:metadata:1"

#: upstream's DO_TEST_PARSE_ERROR cases of networkxml2xmltest.c: libvirt refuses them,
#: so vnet must refuse them as well (by the importer or the loader)
UPSTREAM_NEGATIVE = {
    "routed-network-no-dns-extra-elements.xml",  # <dns enable='no'> with a <txt> record
    "open-network-with-forward-dev.xml",  # forward mode='open' takes no dev
    "hostdev-duplicate.xml",  # one VF PCI address listed twice
    "passthrough-duplicate.xml",  # one interface listed twice in the pool
}

#: valid libvirt networks vnet refuses on purpose: {file: substring of the error}
EXPECTED_REFUSALS = {
    # libvirt's test driver accepts it, but the real network driver (networkValidate)
    # refuses <ip> on a passthrough network; a macvtap network has no addresses in
    # vnet's model, and dropping the <ip> would change the document.
    "passthrough-pf.xml": "refuses <ip> on forward mode passthrough",
    # <vlan> on a forward mode='private' network: the test driver accepts it, but the
    # real network driver's networkValidate allows <vlan> only for hostdev, passthrough
    # and openvswitch networks ("whose type doesn't support vlan configuration"); the
    # macvtap driver's check refuses it the same way.
    "8021Qbh-net.xml": "only in passthrough mode",
    # forward mode='bridge' with an openvswitch virtualport but no <bridge name>: the test
    # driver accepts it, the real network driver cannot start it (no bridge to plug into);
    # vnet's openvswitch kind needs the OVS bridge's name.
    "openvswitch-net.xml": "needs the OVS bridge's name",
    # <forward mode='passthrough'> listing a VF by PCI address: the test driver accepts it,
    # the real network driver's networkValidate refuses it (PCI addresses only in hostdev
    # pools); vnet's macvtap kind has no vfs key for that reason.
    "passthrough-address-crash.xml": "which cannot carry it",
    # <forward><driver model='vfio-pci-igb'/> is libvirt >= 10.0; the default render
    # target is 9.0, whose parser silently drops the element, so vnet's renderer refuses
    # it (features.check_network) instead of producing a network that loses it.
    "hostdev-pf-driver-model.xml": "needs libvirt >= 10.0",
}


def _require_corpus() -> None:
    require(NETWORK_IN.is_dir(), f"libvirt corpus not found at {CORPUS} (set VNET_CORPUS)")


def _corpus_files() -> list[str]:
    if not NETWORK_IN.is_dir():
        return ["<corpus missing>"]
    return sorted(p.name for p in NETWORK_IN.glob("*.xml"))


FILES = _corpus_files()
NEGATIVE = sorted(UPSTREAM_NEGATIVE)  # a listed file that is gone fails, never skips
REFUSED = sorted(EXPECTED_REFUSALS)
ROUND_TRIP = [f for f in FILES if f not in UPSTREAM_NEGATIVE and f not in EXPECTED_REFUSALS]


# ------------------------------------------------------------------ helpers
def _import_and_load(name_in_corpus: str) -> tuple[str, Any]:
    text = (NETWORK_IN / name_in_corpus).read_bytes()
    name, entry = importer.import_xml(text, name_in_corpus)
    topo = topo_input.load({"name": "imported", "networks": {name: entry}}, name_in_corpus)
    return name, topo


def _render(topo: Any, name: str) -> str:
    """The network XML vnet renders for ``name`` at the default target (libvirt 9.0)."""
    rendering = render(topo)
    found = [n for n in rendering.networks if n.name == name]
    assert len(found) == 1, [n.name for n in rendering.networks]
    return str(found[0].xml)


@pytest.fixture(scope="module")
def conn() -> Iterator[Any]:
    with virt.connect(virt.TEST_URI) as c:  # built-in 'default' would clash with names
        virt.clear_test_driver(c)
        yield c


def _xmldesc(conn: Any, xml: str) -> str:
    net = conn.networkDefineXML(xml)
    try:
        return str(net.XMLDesc(0))
    finally:
        net.undefine()


def _classful_netmask(addr: str) -> str:
    first = int(addr.split(".")[0])
    prefix = 8 if first < 128 else 16 if first < 192 else 24
    return str(ipaddress.IPv4Network(f"0.0.0.0/{prefix}").netmask)


def normalise(xml: str) -> str:
    parser = etree.XMLParser(remove_blank_text=True)
    root = etree.fromstring(xml.encode(), parser)
    # (a) vnet's own metadata
    for md in root.findall("metadata"):
        for child in list(md):
            if isinstance(child.tag, str) and etree.QName(child).namespace == VNET_NS:
                md.remove(child)
        if len(md) == 0 and not (md.text or "").strip():
            root.remove(md)
    # (b) IPv4 <ip> spelling
    for ip in root.findall("ip"):
        if ip.get("family") not in (None, "ipv4"):
            continue
        ip.attrib.pop("family", "")
        prefix = ip.get("prefix")
        ip.attrib.pop("prefix", "")
        if prefix is not None:
            ip.set("netmask", str(ipaddress.IPv4Network(f"0.0.0.0/{prefix}").netmask))
        elif ip.get("netmask") is None:
            ip.set("netmask", _classful_netmask(ip.get("address", "0.0.0.0")))
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        attrs = sorted(el.attrib.items())
        el.attrib.clear()
        for k, v in attrs:
            el.set(k, v)
        if el.text is not None and not el.text.strip():
            el.text = None
        el.tail = None
    etree.indent(root, space="  ")
    return str(etree.tostring(root, encoding="unicode"))


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("filename", ROUND_TRIP)
def test_round_trip(filename: str, conn: Any) -> None:
    _require_corpus()
    original = (NETWORK_IN / filename).read_text()
    name, topo = _import_and_load(filename)
    rendered = _render(topo, name)
    want = normalise(_xmldesc(conn, original))
    got = normalise(_xmldesc(conn, rendered))
    if want != got:
        diff = "\n".join(difflib.unified_diff(
            want.splitlines(), got.splitlines(), "libvirt(original)", "libvirt(vnet)",
            lineterm=""))
        pytest.fail(f"{filename} does not round-trip:\n{diff}\n\nrendered:\n{rendered}")
    # libvirt's test driver has no dnsmasq namespace handler and drops <dnsmasq:options>
    # from both sides, so compare those directly
    from libvirt_vnet.libvirtxml.network import parse_network_string

    assert (parse_network_string(rendered).dnsmasq_options
            == parse_network_string(original).dnsmasq_options)


@pytest.mark.parametrize("filename", NEGATIVE)
def test_upstream_negative_cases_are_refused(filename: str) -> None:
    _require_corpus()
    with pytest.raises(VnetError) as info:
        _import_and_load(filename)
    # refused as bad input (ImportRefused, or the loader's InputErrors), not otherwise
    errors = getattr(info.value, "errors", [info.value])
    assert all(isinstance(e, InputError) for e in errors), repr(errors)


@pytest.mark.parametrize("filename", REFUSED)
def test_expected_refusals(filename: str) -> None:
    _require_corpus()
    reason = EXPECTED_REFUSALS[filename]
    with pytest.raises(VnetError) as info:
        name, topo = _import_and_load(filename)
        _render(topo, name)
    assert reason in str(info.value), str(info.value)


# ------------------------------------------------------------------ beyond the corpus
_U = "<uuid>0b5e6c1e-7d51-4a3c-9d46-0f4cbb8d1e01</uuid>"

#: cases the corpus does not cover, each pinning one importer rule; same round trip
SYNTHETIC = {
    # libvirt 9.0 formats <driver name='vfio'/> of a hostdev pool; it must survive import
    "hostdev-driver-name": f"<network><name>s</name>{_U}<forward mode='hostdev' managed='yes'>"
                           "<driver name='vfio'/><pf dev='enp3s0f0'/></forward></network>",
    # macvtap over a PF in vepa mode (libvirt picks a VF's netdev per guest)
    "vepa-over-pf": f"<network><name>s</name>{_U}<forward mode='vepa'><pf dev='enp3s0f0'/>"
                    "</forward></network>",
    # ipv6='yes' beside an IPv6 subnet: redundant, but libvirt keeps it
    "ipv6-attr-and-subnet": f"<network ipv6='yes'><name>s</name>{_U}<bridge name='virbr5'/>"
                            "<mac address='52:54:00:aa:bb:01'/>"
                            "<ip family='ipv6' address='fd00:5::1' prefix='64'/></network>",
    # a <dhcp> with only <bootp>: the loader must not invent a default range
    "bootp-only": f"<network><name>s</name>{_U}<forward mode='nat'/><bridge name='virbr5'/>"
                  "<ip address='10.0.0.1' prefix='24'><dhcp><bootp file='x.img'/></dhcp></ip>"
                  "</network>",
    # an empty <dhcp/>: same
    "empty-dhcp": f"<network><name>s</name>{_U}<bridge name='virbr5'/>"
                  "<ip address='10.0.0.1' prefix='24'><dhcp/></ip></network>",
    # <lease> without unit means minutes
    "lease-no-unit": f"<network><name>s</name>{_U}<bridge name='virbr5'/>"
                     "<ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.5' "
                     "end='10.0.0.9'><lease expiry='7'/></range></dhcp></ip></network>",
    # IPv6 before IPv4 (with localPtr): the order of <ip> elements is kept
    "v6-first": f"<network><name>s</name>{_U}<bridge name='virbr5'/>"
                "<ip family='ipv6' address='fd00::1' prefix='64' localPtr='yes'/>"
                "<ip address='10.0.0.1' netmask='255.255.255.0'><dhcp><range start='10.0.0.5' "
                "end='10.0.0.9'/></dhcp></ip></network>",
    # hostdev without managed: libvirt means managed='no', the driver's default is yes
    "hostdev-unmanaged": f"<network><name>s</name>{_U}<forward mode='hostdev'>"
                         "<pf dev='eth3'/></forward><vlan><tag id='7'/></vlan></network>",
    # <forward mode='bridge' dev=...> with no <interface>: a pool of one
    "macvtap-dev-only": f"<network><name>s</name>{_U}<forward mode='bridge' dev='eth4'/>"
                        "</network>",
    "domain-local-only": f"<network><name>s</name>{_U}<bridge name='virbr5'/>"
                         "<domain name='x.lan' localOnly='yes'/>"
                         "<ip address='10.0.0.1' prefix='24' localPtr='no'/></network>",
}

#: synthetic documents the importer must refuse: {case: (xml, substring of the error)}
SYNTHETIC_REFUSALS = {
    "managed-on-passthrough": (
        "<network><name>s</name><forward mode='passthrough' managed='no'><pf dev='eth0'/>"
        "</forward></network>", "/network/forward/@managed"),
    "stp-on-host-bridge": (
        "<network><name>s</name><forward mode='bridge'/><bridge name='br0' stp='off'/>"
        "</network>", "/network/bridge/@stp"),
    "second-forward-dev": (
        "<network><name>s</name><bridge name='virbr5'/><forward mode='nat' dev='eth0'>"
        "<interface dev='eth0'/><interface dev='eth1'/></forward></network>",
        "a second forward device"),
    "l3-without-bridge-name": (
        "<network><name>s</name><forward mode='nat'/></network>", "no bridge name"),
    "ip-on-host-bridge": (
        "<network><name>s</name><forward mode='bridge'/><bridge name='br0'/>"
        "<ip address='10.0.0.1' prefix='24'/></network>",
        "refuses <ip> on forward mode bridge"),
    "virtualport-on-nat": (
        "<network><name>s</name><forward mode='nat'/><bridge name='virbr5'/>"
        "<virtualport type='openvswitch'/></network>", "/network/virtualport"),
}


@pytest.mark.parametrize("case", sorted(SYNTHETIC))
def test_synthetic_round_trip(case: str, conn: Any) -> None:
    original = SYNTHETIC[case]
    name, entry = importer.import_xml(original, case)
    topo = topo_input.load({"name": "imported", "networks": {name: entry}}, case)
    rendered = _render(topo, name)
    want = normalise(_xmldesc(conn, original))
    got = normalise(_xmldesc(conn, rendered))
    assert want == got, "\n".join(difflib.unified_diff(want.splitlines(), got.splitlines(),
                                                        lineterm=""))


@pytest.mark.parametrize("case", sorted(SYNTHETIC_REFUSALS))
def test_synthetic_refusals(case: str) -> None:
    from libvirt_vnet.errors import ImportRefused

    xml, reason = SYNTHETIC_REFUSALS[case]
    with pytest.raises(ImportRefused) as info:
        importer.import_xml(xml, case)
    assert reason in str(info.value), str(info.value)


def test_vlan_bridge_is_rebuilt_from_vnet_metadata() -> None:
    """A vlan-bridge network rendered by vnet imports as vlan-bridge again (uplink,
    VLAN, bridge, hairpin from vnet's metadata) and re-renders byte for byte."""
    topo = topo_input.load({"name": "t", "networks": {"v10": {
        "kind": "vlan-bridge", "uplink": "eth0", "vlan": 10, "hairpin": True,
        "bridge": {"stp": True}}}})
    xml = _render(topo, "v10")
    name, entry = importer.import_xml(xml, "v10")
    assert entry["kind"] == "vlan-bridge"
    assert (entry["uplink"], entry["vlan"], entry["bridge"]["name"]) == ("eth0", 10, "br10")
    again = topo_input.load({"name": "t", "networks": {name: entry}})
    assert _render(again, name) == xml


def test_vlan_bridge_kernel_settings_survive_import() -> None:
    """group_fwd_mask and multicast_snooping live only in vnet's metadata: carried over."""
    topo = topo_input.load({"name": "t", "networks": {"v10": {
        "kind": "vlan-bridge", "uplink": "eth0", "vlan": 10,
        "bridge": {"group_fwd_mask": ["lldp"], "multicast_snooping": False}}}})
    xml = _render(topo, "v10")
    name, entry = importer.import_xml(xml, "v10")
    assert entry["kind"] == "vlan-bridge"
    assert (entry["bridge"]["group_fwd_mask"], entry["bridge"]["multicast_snooping"]) == (0x4000, False)
    again = topo_input.load({"name": "t", "networks": {name: entry}})
    assert _render(again, name) == xml


def test_lists_are_not_stale() -> None:
    _require_corpus()
    present = set(FILES)
    missing = sorted((set(UPSTREAM_NEGATIVE) | set(EXPECTED_REFUSALS)) - present)
    assert not missing, f"listed but not in {NETWORK_IN}: {missing}"
    assert not set(UPSTREAM_NEGATIVE) & set(EXPECTED_REFUSALS)
    assert len(UPSTREAM_NEGATIVE) == 4


# ------------------------------------------------------------------ entries of several networks (issue 10, item 16)
TWO_TIER = REPO / "tests" / "golden" / "two-tier" / "topology.yaml"
V = "{urn:libvirt-vnet:metadata:1}"


def _two_tier_xml() -> dict[str, str]:
    rendering = render(topo_input.load_file(TWO_TIER))
    return {n.name: n.xml for n in rendering.networks}


def _import_all(xmls: dict[str, str], name: str | None = None) -> dict[str, Any]:
    imp = importer.TopologyImport(name)
    for lv, xml in xmls.items():
        imp.add(xml, f"{lv}.xml")
    return imp.document()


def test_two_tier_is_rebuilt_from_its_networks_byte_for_byte() -> None:
    xmls = _two_tier_xml()
    doc = _import_all(xmls)
    assert doc["name"] == "golden-two-tier"  # the topology vnet's metadata names
    assert {k: v["kind"] for k, v in doc["networks"].items()} == {"campus": "two-tier", "lab": "two-tier"}
    assert set(doc["networks"]["campus"]["access"]) == {"floor1", "floor2"}
    again = {n.name: n.xml for n in render(topo_input.load(doc)).networks}
    assert again == xmls


def test_two_tier_under_another_name_keeps_every_uuid() -> None:
    xmls = _two_tier_xml()
    doc = _import_all(xmls, name="adopted")
    assert doc["name"] == "adopted"
    uuids = {n.name: n.definition.uuid for n in render(topo_input.load(doc)).networks}
    assert uuids == {lv: etree.fromstring(x.encode()).findtext("uuid") for lv, x in xmls.items()}


def _edited(xmls: dict[str, str], lv: str, edit: Any) -> dict[str, str]:
    root = etree.fromstring(xmls[lv].encode())
    edit(root)
    return {**xmls, lv: etree.tostring(root, encoding="unicode")}


def _meta(root: Any) -> Any:
    return root.find(f"metadata/{V}network")


TWO_TIER_REFUSALS: dict[str, tuple[Any, str]] = {
    "aggregation-alone": (lambda x: {"campus": x["campus"]}, "import its access networks (campus-<switch>) with it"),
    "access-alone": (lambda x: {"campus-floor1": x["campus-floor1"]}, "its main libvirt network ('campus') is missing"),
    "access-with-mtu": (lambda x: _edited(x, "campus-floor1", lambda r: etree.SubElement(r, "mtu", size="9000")),
                        "an access network carries nothing but its bridge, not mtu"),
    "access-with-stp": (lambda x: _edited(x, "campus-floor2", lambda r: r.find("bridge").set("stp", "on")),
                        "its <bridge> must name vnet's access bridge and say nothing else"),
    "veth-renamed": (lambda x: _edited(x, "campus-floor1", lambda r: _meta(r).find(f"{V}veth").set("name", "myveth")),
                     "its veth link (or MTU) is not the one vnet derives"),
    "hairpin-on-one-switch": (lambda x: _edited(x, "campus-floor2", lambda r: _meta(r).remove(
        _meta(r).find(f"{V}port-flags"))), "the access switches' ports differ in hairpin"),
    "extra-object": (lambda x: _edited(x, "campus-floor1", lambda r: etree.SubElement(
        _meta(r), f"{V}vlan-device", name="eth0.5", parent="eth0", vid="5")), "must list its bridge, its veth link"),
    "misnamed-part": (lambda x: {**x, "other-x": x["campus-floor1"].replace(
        "<name>campus-floor1</name>", "<name>other-x</name>")}, "neither its aggregation network 'campus'"),
    "aggregation-with-objects": (lambda x: _edited(x, "lab", lambda r: _meta(r).append(
        etree.fromstring(etree.tostring(_meta(etree.fromstring(x["lab-rack1"].encode()))[0])))),
        "has no host objects in vnet's metadata"),
}


@pytest.mark.parametrize("case", sorted(TWO_TIER_REFUSALS))
def test_two_tier_imports_whole_or_not_at_all(case: str) -> None:
    change, reason = TWO_TIER_REFUSALS[case]
    with pytest.raises(VnetError) as info:
        _import_all(change(_two_tier_xml()))
    assert reason in str(info.value), str(info.value)
    assert isinstance(info.value, InputError)


def test_a_part_alone_is_never_another_kind() -> None:
    """import_xml on one network of a two-tier entry: refused, not kind bridge or nat."""
    for lv, xml in _two_tier_xml().items():
        with pytest.raises(VnetError, match="one of the libvirt networks of two-tier network"):
            importer.import_xml(xml, lv)


def _vlan_bridge_xml(**spec: Any) -> str:
    topo = topo_input.load({"name": "t", "networks": {"v10": {
        "kind": "vlan-bridge", "uplink": "eth0", "vlan": 10, **spec}}})
    return _render(topo, "v10")


METADATA_REFUSALS: dict[str, tuple[Any, str]] = {
    # what vnet rendered, changed by hand: refused, never imported as what libvirt's XML alone says
    "vlan-bridge-bridge-stp": (lambda: _vlan_bridge_xml().replace("<bridge name=\"br10\"/>",
                                                                  "<bridge name=\"br10\" stp=\"on\"/>"),
                               "vnet's metadata says kind vlan-bridge, but the <bridge>"),
    "vlan-bridge-renamed-bridge": (lambda: _vlan_bridge_xml().replace("<bridge name=\"br10\"/>",
                                                                      "<bridge name=\"br99\"/>"),
                                   "is not the network's bridge 'br99'"),
    "vlan-bridge-without-vlan-device": (lambda: etree.tostring(_drop(_vlan_bridge_xml(), "vlan-device"),
                                                               encoding="unicode"), "must list one VLAN device"),
    "nat-metadata-on-route": (lambda: _render(topo_input.load({"name": "t", "networks": {"n": {
        "kind": "nat", "subnet": "10.5.0.0/24"}}}), "n").replace('mode="nat"', 'mode="route"'),
        "vnet's metadata says kind nat, but this forward mode route network is not one kind nat renders"),
    "unknown-kind": (lambda: _vlan_bridge_xml().replace('kind="vlan-bridge"', 'kind="frobnicator"'),
                     "vnet's metadata says kind 'frobnicator', which this vnet does not know"),
    "macvtap-extra-object": (lambda: _render(topo_input.load({"name": "t", "networks": {"m": {
        "kind": "macvtap", "mode": "bridge", "uplink": "eth1"}}}), "m").replace(
        'kind="macvtap"/>', 'kind="macvtap"><vnet:vlan-device name="eth1.5" parent="eth1" vid="5"/></vnet:network>'),
        "vnet's metadata lists VlanDevice"),
    "object-missing-a-field": (lambda: _vlan_bridge_xml().replace('<vnet:vlan-device name="eth0.10"',
                                                                  '<vnet:vlan-device'),
                               "vnet's metadata cannot be read"),
}


def _drop(xml: str, tag: str) -> Any:
    root = etree.fromstring(xml.encode())
    meta = _meta(root)
    meta.remove(meta.find(f"{V}{tag}"))
    return root


@pytest.mark.parametrize("case", sorted(METADATA_REFUSALS))
def test_what_vnets_metadata_says_comes_back_or_nothing(case: str) -> None:
    make, reason = METADATA_REFUSALS[case]
    imp = importer.TopologyImport()
    with pytest.raises(VnetError) as info:
        imp.add(make(), case)
        imp.document()
    assert reason in str(info.value) and isinstance(info.value, InputError), str(info.value)


def test_two_tier_parts_of_two_topologies_are_refused() -> None:
    xmls = _two_tier_xml()
    xmls["campus-floor2"] = xmls["campus-floor2"].replace('topology="golden-two-tier"', 'topology="other"')
    with pytest.raises(VnetError, match="rendered for different topologies"):
        _import_all(xmls)
