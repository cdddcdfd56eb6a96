"""Property test: whatever topology document comes in, ``load`` + ``render`` either
refuse it with a proper :class:`VnetError` (a message, and a path for input errors), or
produce network and domain XML that libvirt itself accepts.

Documents are plain dicts drawn from a strategy over the kinds and the keys their
drivers declare, with values from small pools that mix the valid with the nasty
(overlapping subnets, VLAN 0/4095/5000, multicast and ``fe:`` MACs, DHCP ranges outside
the subnet or over the gateway, hosts that do not exist, ...), and then corrupted at a
few random places (wrong types, dropped keys, unknown keys).

libvirt side: one ``test:///default`` connection per module, emptied of its built-in
network and domain.  Per host, all rendered networks are defined together (libvirt then
also checks them against each other: bridge names, UUIDs), with
``VIR_NETWORK_DEFINE_VALIDATE`` so libvirt's RelaxNG schema is applied as well; every VM's
``domain_xml()`` is defined with ``VIR_DOMAIN_DEFINE_VALIDATE``.  Everything defined is
undefined again before the next example.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import ipaddress
from collections.abc import Iterator
from typing import Any

import libvirt
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from libvirt_vnet import topology as topo_input
from libvirt_vnet import virt
from libvirt_vnet.drivers import registry
from libvirt_vnet.drivers.base import COMMON_KEYS
from libvirt_vnet.errors import ErrorList, InputError, VnetError
from libvirt_vnet.rendering import render
from libvirt_vnet.topology.entries import NIC_KEYS

# ------------------------------------------------------------------ libvirt side


@pytest.fixture(scope="module")
def conn() -> Iterator[Any]:
    with virt.connect(virt.TEST_URI) as c:
        virt.clear_test_driver(c)
        yield c


def _define_networks(c: Any, xmls: list[tuple[str, str]]) -> None:
    """Define ``(name, xml)`` together, then undefine them all."""
    defined = []
    try:
        for name, xml in xmls:
            try:
                defined.append(c.networkDefineXMLFlags(xml, libvirt.VIR_NETWORK_DEFINE_VALIDATE))
            except libvirt.libvirtError as exc:
                pytest.fail(f"libvirt refused rendered network {name!r}: {exc}\n{xml}")
    finally:
        for net in defined:
            net.undefine()


def _define_domain(c: Any, name: str, xml: str) -> None:
    try:
        dom = c.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
    except libvirt.libvirtError as exc:
        pytest.fail(f"libvirt refused the domain XML of VM {name!r}: {exc}\n{xml}")
    dom.undefine()


def _root_is_broken(doc: Any) -> bool:
    """Is the document itself unusable (not a mapping, non-text keys, no name)?

    The loader reports these with ``path=None``: the place is the whole document, and
    there is no key to name.  Only for them is a missing path accepted."""
    return (not isinstance(doc, dict) or any(not isinstance(k, str) for k in doc)
            or doc.get("name") is None)


def _check_error(err: VnetError, doc: Any) -> None:
    text = str(err)
    assert text.strip(), f"{type(err).__name__} with an empty message"
    if isinstance(err, ErrorList):
        assert err.errors, "an ErrorList without errors"
        for item in err.errors:
            assert isinstance(item, VnetError), repr(item)
            assert str(item).strip(), f"{type(item).__name__} with an empty message"
            assert item.path, f"{type(item).__name__} without a path: {item}"
    elif isinstance(err, InputError):
        assert err.path or _root_is_broken(doc), (
            f"{type(err).__name__} without a path: {err}")


def check_document(c: Any, doc: Any) -> bool:
    """The property.  Returns True when the document was accepted and rendered."""
    try:
        topo = topo_input.load(doc)
        rendering = render(topo)
    except VnetError as err:
        _check_error(err, doc)
        return False
    hosts: dict[str, list[tuple[str, str]]] = {}
    for net in rendering.networks:
        hosts.setdefault(net.host, []).append((net.name, net.xml))
    for xmls in hosts.values():
        _define_networks(c, xmls)
    for vm in rendering.vms:
        _define_domain(c, vm.name, vm.domain_xml())
        vm.interface_xml()  # must not raise either
    _no_overlaps(topo)
    _one_device_per_name(rendering)
    _dnsmasq_accepts(rendering)
    return True


# ------------------------------------------------------------------ oracles beyond libvirt's parser
# libvirt's test driver parses and checks the XML; what its network driver, dnsmasq and the
# kernel would refuse later (at net-start, at host-apply) is checked here, each by brute
# force or by the real program, independently of the loader's own rules.


def _no_overlaps(topo: Any) -> None:
    """No two address blocks of an accepted topology overlap on a host (every pair)."""
    for host in topo.hosts:
        blocks = [(net.name, ip.interface.network) for net in topo.networks_on(host.name)
                  for ip in net.ips]
        for i, (a, x) in enumerate(blocks):
            for b, y in blocks[i + 1:]:
                assert not (x.version == y.version and x.overlaps(y)), \
                    f"accepted: {a} {x} overlaps {b} {y} on {host.name}"


def _one_device_per_name(rendering: Any) -> None:
    """On each host, every device vnet or libvirt would create has its own name, none is a
    device that must exist (an uplink, a PF, a bridge vnet does not create), and none is
    a name the kernel or libvirt keeps — read from the rendered XML and its metadata."""
    from libvirt_vnet.model import names, plumbing

    for host in rendering.topology.hosts:
        created: list[str] = []
        needed = set(host.uplinks) | {pf.name for pf in host.sriov}
        for rn in rendering.networks_on(host.name):
            nd = rn.definition
            objects = nd.vnet_metadata.objects if nd.vnet_metadata else ()
            vnet_bridges = {o.name for o in objects if isinstance(o, plumbing.HostBridge)}
            l3 = nd.forward is None or nd.forward.mode.value in ("nat", "route", "open")
            if nd.bridge is not None and nd.bridge.name:
                if l3 and nd.name == rn.topology_network:
                    created.append(nd.bridge.name)  # libvirt creates it
                elif nd.bridge.name not in vnet_bridges:
                    needed.add(nd.bridge.name)  # the admin's or Open vSwitch's
            if nd.forward is not None:
                needed.update(x for x in (nd.forward.dev, nd.forward.pf, *nd.forward.interfaces) if x)
            for o in objects:
                if isinstance(o, plumbing.HostBridge):
                    created += [o.name] + ([o.dummy_tap] if o.dummy_tap else [])
                elif isinstance(o, plumbing.VlanDevice):
                    created.append(o.name)
                    needed.add(o.parent)
                elif isinstance(o, plumbing.VethLink):
                    created += [o.name, o.peer]
                elif isinstance(o, plumbing.MacvlanShim):
                    created.append(o.name)
                    needed.add(o.parent)
        twice = sorted({n for n in created if created.count(n) > 1})
        assert not twice, f"accepted: {twice} would be created twice on {host.name}"
        assert not set(created) & needed, \
            f"accepted: {sorted(set(created) & needed)} created over devices that must exist"
        assert not [n for n in created if names.reserved_ifname_problem(n)], created
        assert "lo" not in needed, "accepted: lo as an uplink"


def _dnsmasq_args(nd: Any) -> list[str]:
    """The DHCP part of the dnsmasq configuration libvirt writes for ``nd``, as options."""
    args = []
    for ip in nd.ips:
        if ip.dhcp is None:
            continue
        net = ip.interface.network
        mask = str(net.prefixlen) if net.version == 6 else str(net.netmask)
        args += [f"--dhcp-range={r.start},{r.end},{mask}" for r in ip.dhcp.ranges]
        for h in ip.dhcp.hosts:
            addr = f"[{h.ip}]" if net.version == 6 else str(h.ip)
            who = [h.mac] if h.mac else [f"id:{h.id}"] if h.id else []
            args.append("--dhcp-host=" + ",".join([*who, addr, *([h.name] if h.name else [])]))
    return args


def _dnsmasq_accepts(rendering: Any) -> None:
    """dnsmasq itself (``--test``) accepts the DHCP ranges and hosts of every network."""
    import shutil
    import subprocess

    dnsmasq = shutil.which("dnsmasq", path="/usr/sbin:/sbin:/usr/bin")
    if dnsmasq is None:
        return  # test_dnsmasq_is_there says so once
    for rn in rendering.networks:
        args = _dnsmasq_args(rn.definition)
        if not args:
            continue
        r = subprocess.run([dnsmasq, "--test", "--conf-file=/dev/null", *args],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, f"dnsmasq refuses network {rn.name!r}: {r.stderr} {args}"


def test_dnsmasq_is_there() -> None:
    """The dnsmasq oracle runs (dnsmasq-base is installed by tools/bootstrap)."""
    import shutil

    from support.prereq import require

    require(shutil.which("dnsmasq", path="/usr/sbin:/sbin:/usr/bin") is not None,
            "dnsmasq not installed: the property test's DHCP oracle is off")


# ------------------------------------------------------------------ value pools
# Each pool is (good, nasty): values are mostly good so that many documents load and
# reach libvirt, and sometimes nasty so that every refusal path is exercised too.

BAD = 8  # percent of values drawn from the nasty side of a pool

KINDS = registry.kinds()
HOST_NAMES = ("hv1", "hv2")
UUIDS = (("c7a5fdbd-edaf-9455-926a-d65c16db1809", "C7A5FDBD-EDAF-9455-926A-D65C16DB1809",
          "6dfd5406-c36f-5834-b4e5-c4d1ac62ef84"), ("not-a-uuid", 5, ""))
SUBNETS4 = (("192.168.1.0/24", "192.168.1.128/25", "192.168.2.0/24", "192.168.3.0/24",
             "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.2.0.0/24", "172.16.0.0/30",
             "172.16.0.4/30", "172.17.0.0/16"),
            ("192.168.1.5/24", "192.168.1.0", "fd00:1::/64", "not-a-subnet", "300.1.1.0/24", "0.0.0.0/0",
             "192.168.1.0/33", "10.9.9.0/31", "10.9.9.9/32", 24, "", ["192.168.1.0/24"]))
SUBNETS6 = (("fd00:1::/64", "fd00:1::/48", "fd00:2::/64", "fd00:3::/126"),
            ("10.20.0.0/24", "fd00::1/64", "fd00::", "fd00:4::/127", "::/0", 64))
MACS = (("52:54:00:00:00:01", "52:54:00:00:00:02", "52-54-00-AA-BB-CC", "52:54:00:aa:bb:cc",
         "02:00:00:00:00:01", "52:54:00:0a:00:01"),
        ("51:54:00:00:00:01", "01:00:5e:00:00:01", "fe:54:00:00:00:01", "ff:ff:ff:ff:ff:ff",
         "00:00:00:00:00:00", "525400aabbcc", "52:54:00:00:00:0g", 525400, ""))
VLANS: tuple[tuple[Any, ...], tuple[Any, ...]] = ((10, 20, 1, 4094, "10", [10, 20], [30],
          {"tags": [10, {"id": 20, "native_mode": "untagged"}], "trunk": True}, {"tags": [40]}),
         (0, 4095, 5000, -1, "ten", True, 10.5, [], [10, 4095], {"tags": []}, {"trunk": True},
          {"tags": [10, 20], "trunk": False}, {"tags": [{"id": 5000}]},
          {"tags": [{"id": 10, "native_mode": "untagged"}, {"id": 20, "native_mode": "tagged"}],
           "trunk": True}, {"tags": [{"id": 10, "native_mode": "sideways"}]}))
IFNAMES = (("eth0", "eth1", "eth0", "eth1", "eth2"),
           ("eth9", "eth0.10", "a-very-long-ifname0", "br:0", "a b", "", 5, ".", "lo", "br10"))
PFS = (("enp3s0f0",), ("enp9s0", "a-very-long-pf-name", ""))
BRIDGE_NAMES = (("virbr1", "virbr2", "br0", "br10", "vbr-lan", "acc1"),
                ("a-very-long-bridge0", "br:0", "", "a b", 5, "lo", "eth0", "eth0.10", "vnet0",
                 "all"))
NET_NAMES = (("lan", "lab", "dmz", "net-1", "net.2", "lan-sw1", "a b", "über", "a&b<c>",
              "x" * 40), ("a/b", ".hidden", " lan", "x" * 201, "", "tab\there"))
VM_NAMES = (("web1", "db", "vm-3", "a b", "ünï", "9web"), ("a/b", ".vm", ""))
LEASES = (("1h", "30m", "10s", "infinite", "2h"), ("0s", "5d", 60, "2 h", ""))
PCI = (("0000:03:10.2", "03:10.3", "0000:03:10.4", "0000:04:00.7"),
       ("0000:03:20.0", "zz", "0000:04:00.8", 5))
METADATA = (('<app:info xmlns:app="https://example.com/app" x="1"/>',
             '<b:x xmlns:b="https://example.com/b">text &amp; more</b:x>',
             '<v:network xmlns:v="urn:libvirt-vnet:metadata:1"/>'),
            ("<plain/>", "<broken", "", 5, "<a:x xmlns:a='u'/><a:y xmlns:a='u'/>"))
# wrong types, including what yaml.safe_load makes of dates, !!binary, .nan and big numbers
JUNK: tuple[Any, ...] = (None, [], {}, [1, 2], {"x": 1}, 0, -1, 3.5, True, "", "junk", {1: "int key"},
        datetime.date(2024, 1, 1), b"\x00", float("nan"), float("inf"), 10**30, ("t",))


def junk() -> st.SearchStrategy[Any]:
    return st.sampled_from(JUNK).map(copy.deepcopy)  # corrupted() edits what it inserts


def pick(*options: Any) -> st.SearchStrategy[Any]:
    return st.sampled_from(options)


def _strategy(x: Any) -> st.SearchStrategy[Any]:
    return x if isinstance(x, st.SearchStrategy) else st.sampled_from(x)


@st.composite
def mix(draw: Any, good: Any, bad: Any = None, bad_pct: int = BAD) -> Any:
    """Mostly from ``good``, sometimes from ``bad`` (default: the junk pool).  A pool
    pair ``(good, bad)`` can be given as ``good`` alone."""
    if bad is None and isinstance(good, tuple) and len(good) == 2 and all(
            isinstance(x, tuple) for x in good):
        good, bad = good
    if chance(draw, bad_pct):
        return draw(_strategy(bad) if bad is not None else junk())
    return draw(_strategy(good))


def chance(draw: Any, percent: int) -> bool:
    """True with about ``percent`` % probability.  (Hypothesis favours the bounds of an
    integer range, so ``integers(0, 99) < 2`` would be true a quarter of the time; the
    offset keeps both bounds on the common side and shrinks towards it.)"""
    return bool((draw(st.integers(0, 9999)) + 37) % 100 < percent)


def beyond(net: Any, k: int) -> str:
    """An address ``k`` past the end of ``net`` (before its start when none is left)."""
    top = int(net.broadcast_address) + k
    return str(ipaddress.ip_address(top if top < 2 ** net.max_prefixlen
                                    else max(int(net.network_address) - k, 0)))


def addr_at(net: Any, i: int) -> str:
    n = net.num_addresses
    return str(net.network_address + (i % n if i >= 0 else n + i))


# ------------------------------------------------------------------ key strategies


@st.composite
def bandwidth(draw: Any) -> Any:
    if chance(draw, BAD):
        return draw(junk())
    out: dict[str, Any] = {}
    for direction in ("inbound", "outbound"):
        if chance(draw, 60):
            rate = {}
            for key, values in (("average", ((1000, 500), (0, 2**32, "100", "fast"))),
                                ("peak", ((2000, 1), (0,))), ("burst", ((1024,), (0, -5))),
                                ("floor", ((100,), (0,)))):
                if chance(draw, 80 if key == "average" else 30):
                    rate[key] = draw(mix(values))
            out[direction] = rate if not chance(draw, BAD) else draw(junk())
    return out


VIRTUALPORTS: tuple[tuple[Any, ...], tuple[Any, ...]] = (
    ({"type": "802.1Qbg", "managerid": 11, "typeid": 1193047, "typeidversion": 2,
      "instanceid": UUIDS[0][0]},
     {"type": "802.1Qbg", "managerid": 11, "typeid": 1193047, "typeidversion": 2},
     {"type": "802.1Qbh", "profileid": "finance"},
     {"type": "openvswitch", "interfaceid": UUIDS[0][0], "profileid": "p1"},
     {"type": "openvswitch"}, {"type": "midonet", "interfaceid": UUIDS[0][2]},
     {"profileid": "p1"}, {}),
    ({"type": "802.1Qbh", "managerid": 1}, {"type": "802.1Qbg", "managerid": 256},
     {"type": "bogus"}, {"type": "openvswitch", "interfaceid": "nope"},
     {"type": "802.1Qbh", "profileid": ""}, {"typo": 1}, None, [], "802.1Qbg"))


@st.composite
def portgroups(draw: Any) -> Any:
    if chance(draw, BAD):
        return draw(pick(None, [], ["pg1"], "pg1", {}))
    out = {}
    for name in draw(st.lists(mix(("pg1", "pg2"), ("a/b", "", "x" * 201)), max_size=2,
                              unique=True)):
        pg: dict[str, Any] = {}
        if chance(draw, 40):
            pg["default"] = draw(mix((True, False), ("yes",)))
        if chance(draw, 20):
            pg["vlan"] = draw(mix(VLANS))
        if chance(draw, 20):
            pg["trust_guest_rx_filters"] = draw(mix((True, False)))
        if chance(draw, 15):
            pg["bandwidth"] = draw(bandwidth())
        if chance(draw, 10):
            pg["virtualport"] = draw(mix(VIRTUALPORTS))
        if chance(draw, 3):
            pg["colour"] = "red"
        out[name] = pg if not chance(draw, 3) else None
    return out


@st.composite
def bridge_value(draw: Any, named: bool = False) -> Any:
    r = draw(st.integers(0, 99))
    if r < BAD // 2:
        return draw(junk())
    if r < 25:
        return draw(mix(BRIDGE_NAMES))
    b: dict[str, Any] = {}
    if chance(draw, 95 if named else 50):
        b["name"] = draw(mix(BRIDGE_NAMES))
    if chance(draw, 20):
        b["mac"] = draw(mix(MACS[0] + ("libvirt",), MACS[1]))
    if chance(draw, 20):
        b["stp"] = draw(mix((True, False), ("on",)))
    if chance(draw, 20):
        b["delay"] = draw(mix((0, 2, 300), (301, -1, "2s")))
    if chance(draw, 8):
        b["mac_table_manager"] = draw(mix(("kernel", "libvirt"), ("switch",)))
    if chance(draw, 8):
        b["zone"] = draw(mix(("trusted", "libvirt"), ("", "a b", "a<b")))
    if chance(draw, 8):
        b["dummy_tap"] = draw(mix((True, False)))
    if chance(draw, 8):
        b["group_fwd_mask"] = copy.deepcopy(draw(mix(
            (0, 0x4000, 0x4008, ["lldp"], ["802.1x", "lldp"]),
            (0x4001, 7, 0x10000, -1, "0x4000", ["lacp"], ["cdp"]))))
    if chance(draw, 8):
        b["multicast_snooping"] = draw(mix((True, False), ("off",)))
    if chance(draw, 3):
        b["nmae"] = "virbr9"
    return b


@st.composite
def dhcp_value(draw: Any, net: Any, gateway: Any) -> Any:
    """Ranges and hosts inside, outside, over the gateway, reversed, ..."""
    r = draw(st.integers(0, 99))
    if r < 20:
        return draw(pick(True, False, None, {}))
    if r < 20 + BAD // 2:
        return draw(junk())
    if net is None:
        good = ["192.168.1.10", "192.168.1.20"]
        bad: list[Any] = ["fd00:1::10", "x"]
    else:
        good = [addr_at(net, i) for i in (2, 3, 10, 100, -2, -3)]
        bad = [addr_at(net, 0), addr_at(net, 1), addr_at(net, -1),
               str(gateway) if gateway else addr_at(net, 1),
               beyond(net, 5), "fd00:1::10" if net.version == 4 else "10.0.0.5",
               "bogus", 7]
    pts = mix(tuple(good), tuple(bad), bad_pct=15)
    d: dict[str, Any] = {}
    if chance(draw, 70):
        one_range = mix(
            st.one_of(st.tuples(pts, pts).map(list),
                      st.fixed_dictionaries({"start": pts, "end": pts},
                                            optional={"lease": mix(LEASES)})),
            pick([], [good[0]], "10-20", None, [good[0], good[1], good[1]], {"start": good[0]}),
        )
        if chance(draw, 70):
            d["range"] = draw(one_range)
        else:
            d["ranges"] = draw(st.lists(one_range, max_size=3))
        if chance(draw, 3):
            d["ranges" if "range" in d else "range"] = [good[0], good[1]]
    if chance(draw, 30):
        d["hosts"] = draw(st.lists(st.fixed_dictionaries({}, optional={
            "mac": mix(MACS), "ip": pts, "name": mix(("h1", "h2"), ("", 5)),
            "id": mix(("0:1:0:1:2a:2b:2c:2d:52:54:00:00:00:01",), ("x",)),
            "lease": mix(LEASES)}), max_size=3))
    if chance(draw, 15):
        d["lease"] = draw(mix(LEASES))
    if chance(draw, 8):
        d["bootp"] = draw(mix(({"file": "pxelinux.0"}, {"file": "pxe", "server": "10.1.2.3"}),
                              ({"server": "x"}, "pxelinux.0", {"file": ""})))
    if chance(draw, 3):
        d["rnage"] = [good[0], good[1]]
    return d


@st.composite
def address_block(draw: Any, v6: bool = False) -> dict[str, Any]:
    """``subnet``/``gateway``/``dhcp`` (or the v6 twins) with related values."""
    sk, gk, dk = ("subnet6", "gateway6", "dhcp6") if v6 else ("subnet", "gateway", "dhcp")
    subnet = draw(mix(SUBNETS6 if v6 else SUBNETS4))
    net = None
    with contextlib.suppress(ValueError, TypeError):
        net = ipaddress.ip_network(subnet)
    out: dict[str, Any] = {}
    if not chance(draw, 2):
        out[sk] = subnet
    gateway = None
    if chance(draw, 30):
        if net is not None:
            gateway = draw(mix(tuple(addr_at(net, i) for i in (1, 2, 5, -2)),
                               (addr_at(net, 0), addr_at(net, -1),
                                beyond(net, 1), "fd00::1", "10.0.0.1", "gw")))
        else:
            gateway = draw(pick("192.168.1.1", "x"))
        out[gk] = gateway
    if chance(draw, 50):
        gw = None
        if net is not None:
            try:
                gw = ipaddress.ip_address(gateway) if gateway else net.network_address + 1
            except ValueError:
                gw = None
        out[dk] = draw(dhcp_value(net, gw))
    return out


@st.composite
def dns_value(draw: Any) -> Any:
    if chance(draw, BAD):
        return draw(junk())
    d: dict[str, Any] = {}
    if chance(draw, 30):
        d["enable"] = draw(mix((True, False), ("no",)))
    if chance(draw, 20):
        d["forward_plain_names"] = draw(mix((True, False)))
    if chance(draw, 40):
        d["forwarders"] = draw(st.lists(mix(
            ("8.8.8.8", "2001:4860:4860::8888", {"addr": "1.1.1.1", "domain": "corp.example"},
             {"domain": "local"}), ({}, "dns.example", 53, {"addr": "x"})), max_size=3))
    if chance(draw, 40):
        d["hosts"] = draw(st.lists(st.fixed_dictionaries(
            {"ip": mix(("192.168.1.5", "fd00:1::5"), ("nope", 5)),
             "names": mix((["www"], ["a", "b.example"]), ([], "www", [""], ["a b"], [5]))}),
            max_size=2))
    if chance(draw, 30):
        d["srv"] = draw(st.lists(st.fixed_dictionaries(
            {"service": mix(("ldap", "http"), ("", "_ldap", "a-very-long-service-name", "a b")),
             "protocol": mix(("tcp", "udp"), ("sctp",))},
            optional={"domain": mix(("example.com",), ("", "a b")),
                      "target": mix(("ldap.example.com",), ("", "a b")),
                      "port": mix((389, 8080), (0, 65536)), "priority": mix((0, 10)),
                      "weight": mix((0, 5), (-1,))}), max_size=2))
    if chance(draw, 30):
        d["txt"] = draw(st.lists(st.fixed_dictionaries(
            {"name": mix(("example", "_dmarc"), ("", "a b")),
             "value": mix(("v=spf1 -all", "hello"), ("", 5))}), max_size=2))
    return d


def routes_value() -> st.SearchStrategy[Any]:
    route = st.fixed_dictionaries(
        {"to": mix(("10.20.0.0/16", "fd00:9::/64", "0.0.0.0/0"), ("10.20.0.1/16", "x")),
         "via": mix(("192.168.1.2", "10.1.2.2", "172.16.0.2", "fd00:1::2", "10.0.0.2"),
                    ("10.99.0.1", "x"))},
        optional={"metric": mix((1, 100), (0, -1, 2**32))})
    return mix(st.lists(route, max_size=2), junk())


def nat_value() -> st.SearchStrategy[Any]:
    return mix(st.fixed_dictionaries({}, optional={
        "addresses": mix((["203.0.113.1", "203.0.113.10"],),
                         (["203.0.113.10", "203.0.113.1"], ["203.0.113.1"], ["fd00::1", "fd00::2"])),
        "ports": mix(([1024, 65535], [2000, 2001]), ([2000, 1000], [0, 10], [1024])),
        "ipv6": mix((True, False))}), junk())


def access_value() -> st.SearchStrategy[Any]:
    sw = mix(st.one_of(st.just({}), st.fixed_dictionaries({}, optional={
        "bridge": bridge_value()})), pick(None, [], "x", {"stp": True}))
    return mix(st.dictionaries(mix(("sw1", "sw2"), ("a/b", "x" * 30, "")), sw, min_size=1,
                               max_size=3),
               pick(["sw1"], "sw1", None, {}))


KEY_VALUES: dict[str, Any] = {
    "uuid": lambda: mix(UUIDS),
    "metadata": lambda: mix(st.lists(mix(METADATA), max_size=2), pick(*METADATA[0], 5)),
    "tftp": lambda: mix(("/srv/tftp",), ("", 5)),
    "local_ptr": lambda: mix((True, False), ("yes",)),
    "ips": lambda: mix(st.lists(address_block(), max_size=2), junk()),
    "bridge": bridge_value,
    "mtu": lambda: mix((1500, 9000, 68, "1500"), (67, 65536, "jumbo")),
    "domain": lambda: mix(("example.com", {"name": "lab.local", "local_only": True}),
                          ({"local_only": True}, "", "a b", 5, {"name": "x", "extra": 1})),
    "dns": dns_value,
    "routes": routes_value,
    "bandwidth": bandwidth,
    "port_isolated": lambda: mix((True, False), ("yes",)),
    "ipv6": lambda: mix((True, False)),
    "trust_guest_rx_filters": lambda: mix((True, False), (1,)),
    "dnsmasq_options": lambda: mix((["dhcp-option=3"], ["log-queries", "cache-size=0"]),
                                   ([5], "cache-size=0", [""])),
    "portgroups": portgroups,
    "uplink": lambda: mix(IFNAMES),
    "uplinks": lambda: mix(st.lists(mix(IFNAMES), max_size=3, unique=True), mix(IFNAMES)),
    "nat": nat_value,
    "vlan": lambda: mix(VLANS),
    "vlan_device": lambda: mix(("vl10", "eth0.10"), ("a-very-long-vlandev", "", 7, "lo", "eth0",
                                                     "br10", "virbr1", "macvtap0")),
    "hairpin": lambda: mix((True, False), ("on",)),
    "upstream": lambda: mix(("nat", "route", "open", "isolated"), ("bridge", 5)),
    "access": access_value,
    "mode": lambda: mix(("vepa", "bridge", "private", "passthrough"), ("nat", None, 5)),
    "pf": lambda: mix(PFS),
    "vfs": lambda: mix(st.lists(mix(PCI), min_size=1, max_size=3, unique=True),
                       pick([], ["0000:03:10.2", "03:10.2"], "0000:03:10.2")),
    "managed": lambda: mix((True, False), ("yes",)),
    "driver_model": lambda: mix(("vfio", "kvm"), ("", "bogus driver")),
    "virtualport": lambda: mix(VIRTUALPORTS),
    "shim": lambda: mix((True, False, {"name": "shim0", "address": "192.168.1.250/24"},
                         {"address": "fd00:1::fa/64"}, {}),
                        ({"address": "bad"}, {"name": "a-very-long-shim-name"}, "yes",
                         {"name": "eth0"}, {"name": "br10"}, {"name": "lo"})),
}
NON_BLOCK_KEYS = {"subnet", "gateway", "dhcp", "subnet6", "gateway6", "dhcp6"}
# keys a kind practically needs: drawn (usually) so that many documents load
NEEDED: dict[str, tuple[str, ...]] = {
    "nat": ("subnet",), "route": ("subnet",), "open": ("subnet",), "isolated": (),
    "bridge": ("bridge",), "vlan-bridge": ("uplink", "vlan"), "two-tier": ("subnet", "access"),
    "macvtap": ("mode", "uplink"), "hostdev": ("pf",), "openvswitch": ("bridge",),
}
ALL_KEYS = sorted({k for kind in KINDS for k in registry.driver_for(kind).keys}
                  | set(COMMON_KEYS))


@st.composite
def network_value(draw: Any, host_names: tuple[str, ...]) -> Any:
    kind = draw(mix(KINDS, ("bogus", "NAT", None, 5, ["nat"]), bad_pct=3))
    known = isinstance(kind, str) and kind in KINDS
    keys = set(registry.driver_for(kind).keys) if known else {"subnet"}
    needed = [k for k in (NEEDED.get(kind, ()) if known else ()) if not chance(draw, 3)]
    optional = draw(st.lists(st.sampled_from(sorted(keys - NON_BLOCK_KEYS - {"uplinks"})
                                             + [k for k in ("subnet", "subnet6") if k in keys]
                                             + ["host", "hosts", "uuid", "metadata"]),
                             max_size=3, unique=True))
    chosen = [*needed, *(k for k in optional if k not in needed)]
    if chance(draw, 3):
        chosen.append(draw(st.sampled_from(ALL_KEYS)))  # maybe another kind's key
    if kind == "macvtap" and chance(draw, 25):
        chosen = [k for k in chosen if k != "uplink"] + [draw(pick("uplinks", "pf", "vfs"))]
    d: dict[str, Any] = {}
    if not chance(draw, 2):
        d["kind"] = kind
    for key in chosen:
        if key == "subnet":
            d.update(draw(address_block()))
        elif key == "subnet6":
            d.update(draw(address_block(v6=True)))
        elif key == "host":
            d["host"] = draw(mix(host_names, ("ghost", 5, "")))
        elif key == "hosts":
            d["hosts"] = draw(mix(st.lists(st.sampled_from(host_names), min_size=1,
                                           max_size=2, unique=True),
                                  pick(["ghost"], [], "hv1", ["hv1", "hv1"])))
        elif key == "bridge":
            d["bridge"] = draw(bridge_value(named=kind in ("bridge", "openvswitch")))
        elif key in KEY_VALUES:
            d[key] = draw(KEY_VALUES[key]())
        else:  # a key no strategy knows (a driver added one): still exercise it
            d[key] = draw(junk())
    if chance(draw, 3):
        d[draw(pick("subnet_mask", "dchp", "vlans", "Kind"))] = "x"
    return d


NIC_VALUES: dict[str, Any] = {
    "mac": lambda: mix(MACS),
    "model": lambda: mix(("virtio", "e1000", "rtl8139", "vmxnet3"), ("bogus", "VirtIO")),
    "attach": lambda: mix(("network", "bridge", "direct", "hostdev"), ("tap",)),
    "portgroup": lambda: mix(("pg1", "pg2"), ("nope",)),
    "access": lambda: mix(("sw1", "sw2"), ("nope",)),
    "ip": lambda: mix(("192.168.1.10", "192.168.1.1", "10.1.2.5", "172.16.0.2", "10.0.0.9",
                       "192.168.3.7", "10.2.0.200"), ("fd00:1::10", "bad")),
    "ip6": lambda: mix(("fd00:1::10", "fd00:2::10", "fd00:1::1"), ("192.168.1.10",)),
    "vf": lambda: mix(PCI),
    "vlan": lambda: mix(VLANS),
    "trust": lambda: mix((True, False), ("yes",)),
    "spoofchk": lambda: mix((True, False)),
    "mtu": lambda: mix((1500, 9000), (67,)),
    "bandwidth": bandwidth,
    "port_isolated": lambda: mix((True, False)),
    "link": lambda: mix(("up", "down"), ("sideways",)),
    "virtualport": lambda: mix(VIRTUALPORTS),
}


@st.composite
def nic_value(draw: Any, net_names: list[str]) -> Any:
    target = draw(mix(tuple(net_names), ("missing", "lan-sw1", 5))) if net_names else "missing"
    if chance(draw, 20):
        return target
    n: dict[str, Any] = {}
    if not chance(draw, 2):
        n["network"] = target
    for key in draw(st.lists(st.sampled_from(sorted(NIC_KEYS - {"network"})),
                             max_size=4, unique=True)):
        n[key] = draw(NIC_VALUES[key]()) if key in NIC_VALUES else draw(junk())
    if chance(draw, 2):
        n["colour"] = "blue"
    return n


@st.composite
def hosts_value(draw: Any) -> tuple[Any, tuple[str, ...]]:
    r = draw(st.integers(0, 99))
    if r < 10:
        return draw(pick(None, {})), ("localhost",)
    if r < 10 + BAD // 2:
        return draw(pick([], "hv1", ["hv1"], 5)), ("localhost",)
    names = draw(st.lists(mix(HOST_NAMES, ("a/b", "")), min_size=1, max_size=2, unique=True))
    hosts: dict[str, Any] = {}
    for name in names:
        h: dict[str, Any] = {}
        if chance(draw, 30):
            h["uri"] = draw(mix(("qemu:///system", "qemu+ssh://hv1/system"), (5, [])))
        if chance(draw, 60):
            h["uplinks"] = draw(mix((["eth0", "eth1"], ["eth0", "eth1", "eth2"], ["eth0"]),
                                    (["eth0", "eth0"], [], "eth0", ["eth0", "a b"])))
        if chance(draw, 30):
            h["sriov"] = draw(mix(({"enp3s0f0": {"vfs": 8}}, {"enp3s0f0": {"vfs": 0}}),
                                  ({"enp3s0f0": {"vfs": 300}}, {"enp3s0f0": {}},
                                   {"a-very-long-pf-name": {"vfs": 1}}, ["enp3s0f0"],
                                   {"enp3s0f0": {"vfs": 4, "x": 1}})))
        if chance(draw, 2):
            h["colour"] = "green"
        hosts[name] = h if not chance(draw, 3) else draw(junk())
    return hosts, tuple(n for n in names if isinstance(n, str))


@st.composite
def topology(draw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if not chance(draw, 2):
        doc["name"] = draw(mix(("office", "lab-1", "t.2", "x" * 63),
                               ("", "has space", "a/b", "x" * 64, "-x", 7, None, ["office"]),
                               bad_pct=3))
    host_names: tuple[str, ...] = ("localhost",)
    if chance(draw, 85):
        doc["hosts"], host_names = draw(hosts_value())
    host_names = host_names or ("localhost",)
    net_names = draw(st.lists(mix(NET_NAMES, bad_pct=3), max_size=4, unique=True))
    networks: Any = {name: draw(network_value(host_names)) for name in net_names}
    if chance(draw, 2):
        networks[draw(pick(5, None, ("t",)))] = {"kind": "isolated"}
    doc["networks"] = networks if not chance(draw, 2) else draw(
        pick(None, [], list(networks), "lan"))
    if chance(draw, 90):
        vms: Any = {}
        for name in draw(st.lists(mix(VM_NAMES, bad_pct=3), max_size=3, unique=True)):
            vm: dict[str, Any] = {}
            if chance(draw, 90 if len(host_names) > 1 else 40):
                vm["host"] = draw(mix(host_names, ("ghost", 5)))
            if not chance(draw, 3):
                vm["nics"] = draw(mix(st.lists(nic_value([n for n in net_names
                                                          if isinstance(n, str)]),
                                               max_size=3), junk(), bad_pct=3))
            if chance(draw, 2):
                vm["memory"] = 64
            vms[name] = vm if not chance(draw, 2) else draw(junk())
        doc["vms"] = vms if not chance(draw, 2) else draw(pick(None, [], "web1"))
    if chance(draw, 3):
        doc[draw(pick("$schema", "version", "netwroks"))] = "x"
    return doc


# ------------------------------------------------------------------ corruption


def _slots(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in the document (mapping keys and list indexes)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*path, k)
            yield from _slots(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*path, i)
            yield from _slots(v, (*path, i))


@st.composite
def corrupted(draw: Any, base: st.SearchStrategy[Any]) -> Any:
    """A drawn document, with 0-2 random places replaced, deleted or extended."""
    doc = copy.deepcopy(draw(base))  # pools hold shared lists/dicts: never mutate them
    if chance(draw, 75):
        return doc
    for _ in range(draw(st.integers(1, 2))):
        slots = list(_slots(doc))
        if not slots:
            break
        where = draw(st.sampled_from(slots))
        parent = doc
        for step in where[:-1]:
            parent = parent[step]
        last = where[-1]
        action = draw(st.integers(0, 3))
        if action == 0:  # wrong type
            parent[last] = draw(junk())
        elif action == 1 and isinstance(parent, dict):  # drop the key
            del parent[last]
        elif action == 2:  # a list where a mapping goes, or the other way round
            v = parent[last]
            parent[last] = (list(v.values()) if isinstance(v, dict)
                            else {str(i): x for i, x in enumerate(v)} if isinstance(v, list)
                            else [v])
        else:  # unknown key next to known ones
            v = parent[last]
            if isinstance(v, dict):
                v[draw(pick("extra", "nmae", "Subnet"))] = draw(junk())
            else:
                parent[last] = draw(pick(str(v), None))
    return doc


DOCUMENTS = st.one_of(corrupted(topology()), junk(), st.just({"name": "t"}))


# ------------------------------------------------------------------ the test

# Nasty cases worth keeping; each is checked before the random ones.  The second group
# are minimal reproducers of bugs this test found (each once failed the property).
L3 = {"kind": "nat", "subnet": "192.168.1.0/24"}
REGRESSIONS: list[Any] = [
    # multicast MAC on a NIC, fe: MAC (reserved for taps), a duplicate of a bridge MAC
    {"name": "t", "networks": {"lan": {**L3, "bridge": {"mac": "52:54:00:00:00:01"}}},
     "vms": {"a": {"nics": [{"network": "lan", "mac": "51:54:00:00:00:01"},
                            {"network": "lan", "mac": "fe:54:00:00:00:01"},
                            {"network": "lan", "mac": "52:54:00:00:00:01"}]}}},
    # DHCP range over the gateway, outside the subnet, reversed
    {"name": "t", "networks": {
        "a": {**L3, "dhcp": {"range": ["192.168.1.1", "192.168.1.9"]}},
        "b": {"kind": "route", "subnet": "192.168.2.0/24",
              "dhcp": {"range": ["192.168.2.10", "192.168.3.10"]}},
        "c": {"kind": "isolated", "subnet": "10.1.2.0/24",
              "dhcp": {"range": ["10.1.2.200", "10.1.2.100"]}}}},
    # VLAN ids 0, 4095 and 5000; overlapping subnets on one host
    {"name": "t", "hosts": {"hv1": {"uplinks": ["eth0"]}}, "networks": {
        "v0": {"kind": "vlan-bridge", "uplink": "eth0", "vlan": 0},
        "v1": {"kind": "vlan-bridge", "uplink": "eth0", "vlan": 4095},
        "v2": {"kind": "hostdev", "pf": "enp3s0f0", "vlan": 5000},
        "n1": {"kind": "nat", "subnet": "10.1.0.0/16"},
        "n2": {"kind": "nat", "subnet": "10.1.2.0/24"}}},
    # lists where mappings go, None sections, an int network name, NIC to a missing
    # network, a VM on a host that does not exist
    {"name": "t", "hosts": ["hv1"], "networks": {5: {"kind": "nat"}}, "vms": None},
    {"name": "t", "networks": {"lan": ["nat"]},
     "vms": {"a": {"host": "ghost", "nics": ["lan", {"network": "nope"}, None]}}},
    # --- found by this test -----------------------------------------------------------
    # forward mode open needs an <ip> in libvirt ("open forwarding requested, but no IP")
    {"name": "t", "networks": {"o": {"kind": "open"}}},
    # default DHCP ranges of big subnets: libvirt refuses ranges over 65535 addresses
    {"name": "t", "networks": {"n": {"kind": "nat", "subnet": "10.0.0.0/8"}}},
    {"name": "t", "networks": {"n": {"kind": "isolated", "subnet6": "fd00:1::/64",
                                     "dhcp6": True}}},
    # the same UUID (in two spellings) on two networks of one host
    {"name": "t", "networks": {
        "a": {"kind": "isolated", "uuid": "c7a5fdbd-edaf-9455-926a-d65c16db1809"},
        "b": {"kind": "isolated", "uuid": "C7A5FDBD-EDAF-9455-926A-D65C16DB1809"}}},
    # libvirt's minimum DHCP lease is 2 minutes
    {"name": "t", "networks": {"n": {**L3, "dhcp": {"lease": "10s"}}}},
    # a static DHCP host needs an ip; mac and id exclude each other
    {"name": "t", "networks": {"n": {**L3, "dhcp": {"hosts": [
        {"mac": "52:54:00:aa:bb:cc", "name": "h1"}]}}}},
    {"name": "t", "networks": {"n": {**L3, "dhcp": {"hosts": [
        {"mac": "52:54:00:aa:bb:cc", "id": "0:1:0:1:2a:2b:2c:2d:52:54:00:00:00:01",
         "ip": "192.168.1.50"}]}}}},
    # a VM name that is no DHCP host name, used for the NIC's reserved address
    {"name": "t", "networks": {"n": L3},
     "vms": {"ünï": {"nics": [{"network": "n", "ip": "192.168.1.10"}]}}},
    # a derived bridge name outside libvirt's deviceName pattern
    {"name": "t", "networks": {"über": {"kind": "isolated"}}},
    # names libvirt's schema wants as DNS names
    {"name": "t", "networks": {"n": {**L3, "domain": ""}}},
    {"name": "t", "networks": {"n": {**L3, "dns": {"txt": [{"name": "a b", "value": "x"}]}}}},
    # a network virtualport without a type
    {"name": "t", "networks": {"n": {"kind": "macvtap", "mode": "vepa", "uplink": "eth0",
                                     "virtualport": {"profileid": "p"}}}},
    # libvirt refuses a route metric of 0
    {"name": "t", "networks": {"n": {**L3, "routes": [
        {"to": "10.20.0.0/16", "via": "192.168.1.2", "metric": 0}]}}},
    # <port isolated> on a type='direct' interface
    {"name": "t", "networks": {"n": {"kind": "macvtap", "mode": "vepa", "uplink": "eth0"}},
     "vms": {"a": {"nics": [{"network": "n", "attach": "direct", "port_isolated": True}]}}},
    # a passthrough pool with network NICs and a NIC whose attach the kind does not have
    {"name": "t", "networks": {"p": {"kind": "macvtap", "mode": "passthrough", "uplinks": ["eth0", "eth1"]}},
     "vms": {"a": {"nics": [{"network": "p"}, {"network": "p", "attach": "bridge"}]}}},
    # a given UUID equal to the one vnet derives for another network
    {"name": "office", "networks": {"lan": {"kind": "nat", "subnet": "192.168.1.0/24", "dhcp": True},
                                    "lab": {"kind": "isolated", "uuid": "6dfd5406-c36f-5834-b4e5-c4d1ac62ef84"}}},
    # --- issue 10 ----------------------------------------------------------------------
    # three overlapping subnets: every pair (lan2 vs lan1 too), not only the last one's
    {"name": "t", "networks": {"lan1": {"kind": "isolated", "subnet": "192.168.1.0/24"},
                               "lan2": {"kind": "isolated", "subnet": "192.168.1.0/25"},
                               "lan3": {"kind": "isolated", "subnet": "192.168.1.0/24"}}},
    # two shims with one name; a VLAN device named like its bridge, like its uplink, lo
    {"name": "t", "networks": {
        "m1": {"kind": "macvtap", "mode": "bridge", "uplink": "eth0", "shim": {"name": "shim0"}},
        "m2": {"kind": "macvtap", "mode": "bridge", "uplink": "eth1", "shim": {"name": "shim0"}}}},
    {"name": "t", "networks": {"v": {"kind": "vlan-bridge", "uplink": "eth0", "vlan": 10,
                                     "vlan_device": "br10"}}},
    {"name": "t", "networks": {"v": {"kind": "vlan-bridge", "uplink": "eth0", "vlan": 10,
                                     "vlan_device": "eth0"}}},
    {"name": "t", "networks": {"v": {"kind": "vlan-bridge", "uplink": "eth0", "vlan": 10,
                                     "vlan_device": "lo"}}},
    # a DHCP host on the broadcast address; two hosts with one MAC, two with one address
    {"name": "t", "networks": {"n": {**L3, "dhcp": {"hosts": [
        {"mac": "52:54:00:aa:bb:cc", "ip": "192.168.1.255"}]}}}},
    {"name": "t", "networks": {"n": {**L3, "dhcp": {"hosts": [
        {"mac": "52:54:00:aa:bb:cc", "ip": "192.168.1.50"},
        {"mac": "52:54:00:AA:BB:CC", "ip": "192.168.1.51"},
        {"mac": "52:54:00:aa:bb:cd", "ip": "192.168.1.50"}]}}}},
    # ::/0 with DHCPv6: libvirt reads prefix 0 as /64; DHCPv6 on a /48: dnsmasq refuses it
    {"name": "t", "networks": {"n": {"kind": "isolated", "subnet6": "::/0", "dhcp6": True}}},
    {"name": "t", "networks": {"n": {"kind": "isolated", "subnet6": "fd00:1::/48", "dhcp6": True}}},
    # SRV port, priority or weight without a target; port 0 (libvirt refuses all of them)
    {"name": "t", "networks": {"n": {**L3, "dns": {"srv": [
        {"service": "ldap", "protocol": "tcp", "port": 389},
        {"service": "ldap", "protocol": "udp", "priority": 0, "weight": 5},
        {"service": "http", "protocol": "tcp", "target": "www.example.com", "port": 0}]}}}},
]


REGRESSION_IDS = [
    "bad-macs", "bad-dhcp-ranges", "bad-vlans-overlaps", "wrong-types", "dangling-refs",
    "open-without-ip", "dhcp-range-over-65535", "dhcp6-range-over-65535", "duplicate-uuid",
    "lease-under-2min", "dhcp-host-without-ip", "dhcp-host-mac-and-id", "vm-name-as-dhcp-name",
    "bridge-name-charset", "empty-domain-name", "dns-txt-name-with-space",
    "virtualport-without-type", "route-metric-0", "port-isolated-on-direct",
    "passthrough-pool-mixed-attach", "uuid-equal-to-a-derived-one",
    "three-overlapping-subnets", "two-shims-one-name", "vlan-device-is-the-bridge",
    "vlan-device-is-the-uplink", "vlan-device-lo", "dhcp-host-on-broadcast",
    "dhcp-hosts-one-mac-one-ip", "subnet6-prefix-0-dhcp6", "dhcp6-on-a-48",
    "srv-without-target-port-0",
]


def _with_examples(fn: Any) -> Any:
    for doc in reversed(REGRESSIONS):
        fn = example(doc=doc)(fn)
    return fn


@settings(max_examples=2000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@_with_examples
@given(doc=DOCUMENTS)
def test_load_render_refuses_cleanly_or_libvirt_accepts(conn: Any, doc: Any) -> None:
    check_document(conn, doc)


@pytest.mark.parametrize("doc", REGRESSIONS, ids=REGRESSION_IDS)
def test_regression(conn: Any, doc: Any) -> None:
    """The explicit examples once more, one test id each, so a failure names its case."""
    check_document(conn, doc)


# ------------------------------------------------------------------ the overlap sweep
# The loader finds overlapping subnets with one sweep over sorted blocks; here it is held
# against the obvious quadratic check, on blocks drawn to nest, repeat and straddle.

_BLOCKS = st.one_of(
    st.builds(lambda a, p: ipaddress.ip_network(f"10.{a}.0.0/16").supernet(new_prefix=p)
              if p < 16 else ipaddress.ip_network(f"10.{a}.0.0/{p}", strict=False),
              st.integers(0, 3), st.integers(12, 30)),
    st.builds(lambda a, b, p: ipaddress.ip_network(f"10.0.{a}.{b * 4}/{p}", strict=False),
              st.integers(0, 3), st.integers(0, 63), st.integers(22, 30)),
    st.builds(lambda a, p: ipaddress.ip_network(f"fd00:{a}::/{p}", strict=False),
              st.integers(0, 3), st.integers(16, 64)),
)


@st.composite
def overlap_topology(draw: Any) -> Any:
    from libvirt_vnet.model.libvirt import IPDef
    from libvirt_vnet.model.topology import HostSpec, NetworkSpec, Topology

    hosts = ("hv1", "hv2")
    networks = []
    for k in range(draw(st.integers(0, 7))):
        blocks = draw(st.lists(_BLOCKS, min_size=1, max_size=3))
        ips = tuple(IPDef(interface=ipaddress.ip_interface(f"{b.network_address + 1}/{b.prefixlen}"))
                    for b in blocks)
        on = draw(st.sampled_from(((), ("hv1",), ("hv2",))))
        networks.append(NetworkSpec(name=f"n{k}", kind="isolated", path=f"networks.n{k}",
                                    hosts=on, ips=ips,
                                    ip_keys=tuple(f"ips[{i}]" for i in range(len(ips)))))
    return Topology(name="t", hosts=tuple(HostSpec(name=h, path=f"hosts.{h}") for h in hosts),
                    networks=tuple(networks), vms=())


@settings(max_examples=500, deadline=None)
@given(topo=overlap_topology())
def test_overlap_sweep_finds_every_pair(topo: Any) -> None:
    from libvirt_vnet.errors import InputError
    from libvirt_vnet.topology.consistency import _check_overlaps, overlapping_blocks

    brute: dict[Any, list[str]] = {}
    for host in topo.hosts:
        blocks = [((k, i), ip.interface.network) for k, net in enumerate(topo.networks)
                  if net.on_host(host.name) for i, ip in enumerate(net.ips)]
        for x, (a, sa) in enumerate(blocks):
            for b, sb in blocks[x + 1:]:
                if sa.version == sb.version and sa.overlaps(sb):
                    brute.setdefault((min(a, b), max(a, b)), []).append(host.name)
    assert overlapping_blocks(topo) == brute
    errors: list[Any] = []
    _check_overlaps(topo, errors)
    assert len(errors) == len(brute)  # one problem per pair, however many hosts share it
    assert all(isinstance(e, InputError) and e.path and "overlaps" in e.message for e in errors)
    reported = sorted(e.path for e in errors)
    assert reported == sorted(f"{topo.networks[later[0]].path}.ips[{later[1]}]" for _, later in brute)
