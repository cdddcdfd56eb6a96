"""The hooks, end to end, on a real libvirtd + QEMU in a private lab (libvirt_vnet.lab).

The lab starts with vnet's hooks installed; the tests define networks and domains
rendered from a topology, start and stop them through libvirt, and check the kernel with
``ip -n <lab netns> -j -d link`` (the independent oracle): devices, MACs, masters, port
flags while things run; afterwards, that every owned device is gone and nothing else
changed.  Kinds this kernel has: two-tier access bridges (built by the network hook, or
by the qemu hook for NICs that attach to the bridge directly), macvtap ``direct`` on a
veth uplink with a host shim.  VLAN devices and VFs: tests/guest (nested kernel).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from support.lab import clean, fresh_name, require_lab
from support.xmltools import xml_of

from libvirt_vnet import load, render
from libvirt_vnet.lab import Lab

TOPOLOGY: dict[str, Any] = {
    "name": "e2e",
    "hosts": {"hv1": {"uri": "qemu:///system", "uplinks": ["up0"]}},
    "networks": {
        "campus": {
            "kind": "two-tier", "upstream": "nat", "subnet": "10.20.0.0/24",
            "bridge": {"name": "agg0"}, "hairpin": True,
            "access": {"floor1": {"bridge": {"name": "acc-f1"}}, "floor2": {"bridge": {"name": "acc-f2"}}},
        },
        "dmz": {"kind": "macvtap", "mode": "bridge", "uplink": "up0", "shim": {"name": "dmz-shim"}},
    },
    "vms": {
        "vm1": {"nics": [{"network": "campus", "access": "floor1"}, {"network": "dmz"}]},
        "vm2": {"nics": [{"network": "campus", "access": "floor1", "attach": "bridge"}]},
        "vm3": {"nics": [{"network": "campus", "access": "floor2"}]},
        **{f"c{i}": {"nics": [{"network": "campus", "access": "floor2", "attach": "bridge"}]} for i in range(8)},
    },
}
BASE_DOMAIN = """<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os>
<devices><serial type='pty'/><console type='pty'/></devices></domain>"""


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """A lab of this module's own, started with vnet's hooks installed, and an uplink
    (veth up0) for the macvtap network."""
    require_lab()
    lab = Lab(fresh_name())
    try:
        lab.up(hooks=True)
        _ip(lab, "link", "add", "up0", "type", "veth", "peer", "name", "up0p")
        _ip(lab, "link", "set", "up0", "up")
        _ip(lab, "link", "set", "up0p", "up")
        yield lab
    finally:
        lab.down()


@pytest.fixture()
def conn(lab: Lab) -> Iterator[Any]:
    """A connection to the lab; afterwards every domain and network in it is removed
    (through a new connection: a test may have restarted libvirtd)."""
    import libvirt

    c = libvirt.open(lab.uri)
    try:
        yield c
    finally:
        with suppress(libvirt.libvirtError):
            c.close()
        clean(lab)


@pytest.fixture(scope="module")
def rendering() -> Any:
    return render(load(TOPOLOGY))


def _ip(lab: Any, *args: str) -> str:
    return subprocess.run(["ip", "-n", lab.netns, *args], check=True, capture_output=True, text=True).stdout


def links(lab: Any) -> dict[str, dict[str, Any]]:
    return {lk["ifname"]: lk for lk in json.loads(_ip(lab, "-j", "-d", "link", "show"))}


def shape(lab: Any) -> dict[str, tuple[Any, ...]]:
    """What 'nothing else changed' compares: each link's kind, master, alias and MAC."""
    return {n: (lk.get("linkinfo", {}).get("info_kind"), lk.get("master"), lk.get("ifalias"), lk.get("address"))
            for n, lk in links(lab).items()}


def hairpin(link: dict[str, Any]) -> Any:
    return link.get("linkinfo", {}).get("info_slave_data", {}).get("hairpin")


def ledger(lab: Any) -> dict[str, Any]:
    path = Path(lab.state_dir, "state.json")
    return json.loads(path.read_text()) if path.exists() else {"holders": {}}


def start_network(conn: Any, rendering: Any, name: str) -> Any:
    net = next(n for n in rendering.networks_on("hv1") if n.name == name)
    obj = conn.networkDefineXML(net.xml)
    obj.create()
    return obj


def define_domain(conn: Any, rendering: Any, name: str) -> Any:
    return conn.defineXML(rendering.vm(name).merge_into(BASE_DOMAIN.format(name=name)))


def taps(dom: Any) -> dict[str, str]:
    """MAC → tap (or macvtap) device of a running domain, from its live XML."""

    root = xml_of(dom.XMLDesc())
    return {i.find("mac").get("address"): i.find("target").get("dev") for i in root.iterfind("devices/interface")}


def hook_log(lab: Any) -> str:
    path = Path(lab.fs, "var/log/libvirt/vnet-hooks.log")
    return path.read_text() if path.exists() else ""


def test_networks_and_domains_build_and_release_their_plumbing(lab: Any, conn: Any, rendering: Any) -> None:
    before = shape(lab)
    start_network(conn, rendering, "campus")
    assert "agg0" in links(lab) and "acc-f1" not in links(lab)
    start_network(conn, rendering, "campus-floor1")
    start_network(conn, rendering, "campus-floor2")
    start_network(conn, rendering, "dmz")
    now = links(lab)
    meta = {o.name: o for o in next(n for n in rendering.networks_on("hv1") if n.name == "campus-floor1")
            .definition.vnet_metadata.objects if hasattr(o, "name")}
    acc = now["acc-f1"]
    assert acc["linkinfo"]["info_kind"] == "bridge" and acc["ifalias"] == "vnet:e2e:acc-f1"
    assert acc["address"] == meta["acc-f1"].mac
    veth = next(o for o in meta.values() if type(o).__name__ == "VethLink")
    assert now[veth.name]["master"] == "acc-f1" and now[veth.peer]["master"] == "agg0"
    assert now["dmz-shim"]["linkinfo"]["info_kind"] == "macvlan" and now["dmz-shim"]["link"] == "up0"
    assert set(ledger(lab)["holders"]) == {"network:campus-floor1", "network:campus-floor2", "network:dmz"}

    doms = {name: define_domain(conn, rendering, name) for name in ("vm1", "vm2", "vm3")}
    for dom in doms.values():
        dom.create()
    now = links(lab)
    vm1 = taps(doms["vm1"])
    nic_campus, nic_dmz = (rendering.vm("vm1").metadata.nics[i].mac for i in (0, 1))
    assert now[vm1[nic_campus]]["master"] == "acc-f1" and hairpin(now[vm1[nic_campus]]) is True
    assert now[vm1[nic_dmz]]["linkinfo"]["info_kind"] == "macvtap" and now[vm1[nic_dmz]]["link"] == "up0"
    (vm2_tap,) = taps(doms["vm2"]).values()
    (vm3_tap,) = taps(doms["vm3"]).values()
    assert now[vm2_tap]["master"] == "acc-f1" and hairpin(now[vm2_tap]) is True
    assert now[vm3_tap]["master"] == "acc-f2" and hairpin(now[vm3_tap]) is True
    holders = ledger(lab)["holders"]
    assert {"domain:vm1", "domain:vm2", "domain:vm3", "domain:vm1/ports"} <= set(holders)
    log_text = hook_log(lab)
    # the networks built it all: a VM's prepare finds it in place, from sysfs
    assert "domain vm1 prepare begin" in log_text and "domain:vm1: all 5 host objects in place (sysfs)" \
        in log_text, log_text
    # hairpin on a tap is a sysfs write: the start hook needs no netlink library
    assert f"domain:vm2/ports: 1 changed (through sysfs), 0 in place: ~ port {vm2_tap} of acc-f1: hairpin on" \
        in log_text, log_text

    for dom in doms.values():
        dom.destroy()
    now = links(lab)
    assert {"acc-f1", "acc-f2", "dmz-shim"} <= set(now), "the networks still hold their plumbing"
    assert not any(h.startswith("domain:") for h in ledger(lab)["holders"])
    for name in ("campus-floor1", "campus-floor2", "dmz"):
        conn.networkLookupByName(name).destroy()
    now = links(lab)
    assert not {"acc-f1", "acc-f2", "dmz-shim", veth.name, veth.peer} & set(now)
    conn.networkLookupByName("campus").destroy()
    assert shape(lab) == before
    assert ledger(lab)["holders"] == {}


def test_qemu_hook_builds_a_bridge_no_network_holds(lab: Any, conn: Any, rendering: Any) -> None:
    """vm2 attaches straight to acc-f1 (type bridge): with its access network down, the
    qemu hook builds the bridge at prepare and removes it at release."""
    before = shape(lab)
    start_network(conn, rendering, "campus")
    dom = define_domain(conn, rendering, "vm2")
    dom.create()
    (tap,) = taps(dom).values()
    now = links(lab)
    assert now[tap]["master"] == "acc-f1" and now["acc-f1"]["ifalias"] == "vnet:e2e:acc-f1"
    assert set(ledger(lab)["holders"]) == {"domain:vm2", "domain:vm2/ports"}
    dom.destroy()
    assert "acc-f1" not in links(lab)
    conn.networkLookupByName("campus").destroy()
    assert shape(lab) == before and ledger(lab)["holders"] == {}


def test_a_failing_hook_fails_the_start_with_one_line_and_leaves_nothing(lab: Any, conn: Any,
                                                                         rendering: Any) -> None:
    """Without the aggregation network its bridge agg0 is missing: the veth from acc-f1
    cannot go up into it.  libvirt refuses the start with our line; nothing stays."""
    import libvirt

    before = shape(lab)
    dom = define_domain(conn, rendering, "vm2")
    with pytest.raises(libvirt.libvirtError) as exc:
        dom.create()
    msg = str(exc.value)
    assert "libvirt-vnet: domain vm2:" in msg and "agg0" in msg, msg
    ours = msg[msg.index("libvirt-vnet:"):]
    assert "\n" not in ours.strip() and "Traceback" not in msg
    assert "virsh net-start" in ours, "the hint says what to do"
    assert not dom.isActive()
    assert shape(lab) == before
    assert ledger(lab)["holders"] == {}
    assert not Path(lab.state_dir, "hooks", "domains", "vm2").exists()


def test_eight_domains_share_plumbing_and_stop_in_random_order(lab: Any, conn: Any, rendering: Any) -> None:
    before = shape(lab)
    start_network(conn, rendering, "campus")
    names = [f"c{i}" for i in range(8)]
    doms = {n: define_domain(conn, rendering, n) for n in names}
    errors: list[BaseException] = []

    def start(name: str) -> None:
        import libvirt

        c = libvirt.open(lab.uri)
        try:
            c.lookupByName(name).create()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            c.close()

    threads = [threading.Thread(target=start, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    tap_of = {n: next(iter(taps(d).values())) for n, d in doms.items()}
    now = links(lab)
    assert all(now[t]["master"] == "acc-f2" and hairpin(now[t]) is True for t in tap_of.values())
    rec = ledger(lab)
    key = "link:acc-f2"
    assert sorted(rec["objects"][key]["holders"]) == sorted(f"domain:{n}" for n in names)

    order = names[:]
    random.Random(os.getpid()).shuffle(order)
    for i, name in enumerate(order):
        doms[name].destroy()
        now = links(lab)
        running = order[i + 1:]
        if running:
            assert "acc-f2" in now, f"acc-f2 went while {running} still run"
            assert all(now[tap_of[n]]["master"] == "acc-f2" for n in running)
            assert sorted(ledger(lab)["objects"][key]["holders"]) == sorted(f"domain:{n}" for n in running)
        else:
            assert "acc-f2" not in now
    conn.networkLookupByName("campus").destroy()
    assert shape(lab) == before and ledger(lab)["holders"] == {}


def test_daemon_restart_reconnects_without_touching_the_running_vm(lab: Any, conn: Any,
                                                                    rendering: Any) -> None:
    start_network(conn, rendering, "campus")
    dom = define_domain(conn, rendering, "vm2")
    dom.create()
    (tap,) = taps(dom).values()
    held = ledger(lab)["holders"]
    lab.restart_libvirtd()
    import libvirt

    c = libvirt.open(lab.uri)
    try:
        assert c.lookupByName("vm2").isActive()
        now = links(lab)
        assert now[tap]["master"] == "acc-f1" and hairpin(now[tap]) is True
        assert ledger(lab)["holders"] == held
        log_text = hook_log(lab)
        assert "domain vm2 reconnect begin" in log_text, log_text
        c.lookupByName("vm2").destroy()
    finally:
        c.close()
    assert "acc-f1" not in links(lab)


def test_port_flags_reach_a_domain_vnet_did_not_render(lab: Lab, conn: Any, rendering: Any) -> None:
    """A plain domain (no vnet metadata) on campus-floor1: the network's port-created hook
    records its port, the qemu hook's start begin sets the network's hairpin on its tap,
    and port-deleted / release end forget it."""
    start_network(conn, rendering, "campus")
    start_network(conn, rendering, "campus-floor1")
    mac = "52:54:00:aa:bb:01"
    xml = BASE_DOMAIN.format(name="plain").replace(
        "<devices>", f"<devices><interface type='network'><source network='campus-floor1'/>"
        f"<mac address='{mac}'/><model type='virtio'/></interface>")
    dom = conn.defineXML(xml)
    dom.create()
    tap = taps(dom)[mac]
    now = links(lab)
    assert now[tap]["master"] == "acc-f1" and hairpin(now[tap]) is True
    assert "domain:plain/ports" in ledger(lab)["holders"]
    dom.destroy()
    assert "domain:plain/ports" not in ledger(lab)["holders"]
    assert not Path(lab.state_dir, "hooks", "ports", "plain").exists()
    assert not Path(lab.state_dir, "hooks", "domains", "plain").exists()


def _gateway(conn: Any, name: str) -> str:
    ip = xml_of(conn.networkLookupByName(name).XMLDesc()).find("ip")
    assert ip is not None
    return str(ip.get("address"))


def _restart(conn: Any, name: str) -> None:
    """``virsh net-destroy NAME; virsh net-start NAME`` through libvirt-python."""
    net = conn.networkLookupByName(name)
    net.destroy()
    net.create()


def test_restarting_the_aggregation_network_reattaches_access_switches(lab: Any, conn: Any,
                                                                      rendering: Any) -> None:
    """net-destroy + net-start of the aggregation network makes a new, empty agg0: the
    network hook's ``started begin`` enslaves each access network's veth end to it again,
    and traffic from an access switch reaches the gateway; the running guest stays put."""
    from support.netns import netns, reaches

    start_network(conn, rendering, "campus")
    acc = [n.name for n in rendering.networks_on("hv1") if n.name.startswith("campus-")]
    for name in acc:
        start_network(conn, rendering, name)
    dom = define_domain(conn, rendering, "vm3")
    dom.create()
    (tap,) = taps(dom).values()
    veths = {n: lk for n, lk in links(lab).items() if n.startswith("va-")}
    assert len(veths) == 2 and {lk["master"] for lk in veths.values()} == {"agg0"}
    gw = _gateway(conn, "campus")
    with netns("vnr") as ns:
        ep = f"ep{random.randrange(1 << 16):04x}"
        _ip(lab, "link", "add", ep, "type", "veth", "peer", "name", "epp", "netns", ns)
        try:
            _ip(lab, "link", "set", ep, "master", "acc-f2", "up")
            subprocess.run(["ip", "-n", ns, "addr", "add", f"{gw.rsplit('.', 1)[0]}.77/24", "dev", "epp"], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", "epp", "up"], check=True)
            assert reaches(ns, gw, 10)
            _restart(conn, "campus")
            now = links(lab)
            assert {n: now[n].get("master") for n in veths} == dict.fromkeys(veths, "agg0"), hook_log(lab)
            assert now[tap]["master"] == "acc-f2"
            assert dom.isActive()
            assert reaches(ns, gw, 10), hook_log(lab)
            assert "network campus started begin" in hook_log(lab)
        finally:
            with suppress(subprocess.CalledProcessError):
                _ip(lab, "link", "del", ep)
    dom.destroy()
    for name in acc:
        conn.networkLookupByName(name).destroy()
    assert not [n for n in links(lab) if n.startswith(("va-", "vu-"))]


NAT_TOPOLOGY: dict[str, Any] = {
    "name": "e2e-nat",
    "hosts": {"hv1": {"uri": "qemu:///system"}},
    "networks": {"lan": {"kind": "nat", "subnet": "10.21.0.0/24", "bridge": {"name": "lan0"}}},
    "vms": {"n1": {"nics": [{"network": "lan"}, {"network": "lan"}]}},
}


def test_restarting_a_network_reattaches_the_running_guests_taps(lab: Any, conn: Any) -> None:
    """libvirt re-plugs taps only when the daemon restarts: after net-destroy + net-start
    of a vnet network, its ``started begin`` puts every running guest's tap (found by MAC,
    0xFE + the guest's) back into the new bridge; a second restart does it again, and the
    domain's release lets go of everything."""
    r = render(load(NAT_TOPOLOGY))
    start_network(conn, r, "lan")
    dom = define_domain(conn, r, "n1")
    dom.create()
    mine = taps(dom)
    assert len(mine) == 2 and {links(lab)[t]["master"] for t in mine.values()} == {"lan0"}
    for _ in range(2):
        _restart(conn, "lan")
        now = links(lab)
        assert {t: now[t].get("master") for t in mine.values()} == dict.fromkeys(mine.values(), "lan0"), \
            hook_log(lab)
        assert dom.isActive()
    dom.destroy()
    assert not [h for h in ledger(lab)["holders"] if h.startswith("domain:n1")]
    assert not Path(lab.state_dir, "hooks", "ports", "n1").exists()
