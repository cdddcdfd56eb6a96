"""Host plumbing against the real kernel, each scenario in a throwaway network namespace.

The product runs inside the namespace (``tests/support/hostctl.py`` through ``ip netns exec``);
every assertion reads the kernel back with ``ip -j -d`` (``tests/support/netns.py``), never the
product's own snapshot.  The "user's" devices (uplinks, libvirt's bridge, guest taps)
are made here with ``ip`` before the "before" snapshot, so ``destroy`` must give back
exactly what the user had.

Kernel needs: bridge, veth, tun, macvlan, macvtap (no 8021q: VLAN devices are not
exercised here).  Root is required; under VNET_REQUIRE_ALL=1 a missing prerequisite fails.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import pytest
from support.kernel import Host
from support.netns import netns, reaches
from support.prereq import HOST_TOPOLOGIES

from libvirt_vnet import topology as topo_input
from libvirt_vnet.host import actions as A
from libvirt_vnet.host import planner
from libvirt_vnet.rendering import host_needs

TOPOLOGIES = HOST_TOPOLOGIES
HOLDER = "test:h"
MARK = "vnet:t:"
#: a fault/kill index past any plan here: the apply runs through FaultKernel and counts
COUNT_ONLY = 10**6


# ---- helpers ---------------------------------------------------------------------------

def bridge(name: str, **kw: Any) -> dict[str, Any]:
    return {"type": "EnsureBridge", "name": name, "mark": MARK + name, **kw}


def veth(name: str, peer: str) -> dict[str, Any]:
    return {"type": "EnsureVethPair", "name": name, "peer": peer, "mark": MARK + name}


def master(device: str, br: str, up: Optional[bool] = True) -> dict[str, Any]:
    return {"type": "SetMaster", "device": device, "bridge": br, "up": up}


def tap(name: str, mac: str) -> dict[str, Any]:
    return {"type": "EnsureTap", "name": name, "mac": mac, "mark": MARK + name}


def port_flags(br: str, port: Optional[str] = None, skip: tuple[str, ...] = (), **kw: Any) -> dict[str, Any]:
    return {"type": "SetPortFlags", "bridge": br, "port": port, "skip": list(skip), **kw}


def shim(name: str, parent: str, address: Optional[str] = None) -> dict[str, Any]:
    return {"type": "EnsureMacvlan", "name": name, "parent": parent, "mark": MARK + name, "address": address}


def describe(spec: dict[str, Any]) -> str:
    """The product's own description of an action given as a hostctl dict (for matching
    error messages and ``changed`` entries)."""
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items() if k != "type"}
    act: A.Action = getattr(A, spec["type"])(**fields)
    return act.describe()


def changes(before: Any, after: Any, where: str = "") -> list[str]:
    """Readable differences between two ``link_state`` snapshots (for failure messages)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for k in sorted(set(before) | set(after)):
            out += changes(before.get(k, "<absent>"), after.get(k, "<absent>"), f"{where}.{k}" if where else k)
        return out
    return [] if before == after else [f"{where}: {before!r} → {after!r}"]


def settled_changes(h: Host, before: dict[str, Any], settle: float = 2.0) -> list[str]:
    """How the namespace's links differ from ``before``.  Carrier flags (NO-CARRIER,
    LOWER_UP) follow the operational state, which the kernel's linkwatch updates
    asynchronously (up to a second late): give it that long before calling a difference real."""
    deadline = time.monotonic() + settle
    while (diff := changes(before, h.state())) and time.monotonic() < deadline:
        time.sleep(0.05)
    return diff


def assert_unchanged(h: Host, before: dict[str, Any]) -> None:
    diff = settled_changes(h, before)
    assert not diff, "links differ from before:\n" + "\n".join(diff)


def info(lk: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = lk.get("linkinfo", {}).get("info_data", {})
    return data


def slave(lk: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = lk.get("linkinfo", {}).get("info_slave_data", {})
    return data


def flags_of(lk: dict[str, Any]) -> tuple[bool, bool, bool]:
    s = slave(lk)
    return s["hairpin"], s["isolated"], s["learning"]


def is_up(lk: dict[str, Any]) -> bool:
    return "UP" in lk["flags"]


def assert_idempotent(h: Host, actions: Optional[list[dict[str, Any]]] = None, **kw: Any) -> dict[str, Any]:
    """A second apply changes nothing and ``plan`` reports no changes; the second
    apply's answer (fast path, pyroute2) is returned."""
    again = h.ok("apply", actions, **kw)
    assert again["changed"] == [] and again["released"] == [], again
    p = h.ok("plan", actions, **kw)
    assert p["empty"], p["text"]
    return again


# ---- 1. bridge with a pinned MAC --------------------------------------------------------

BR10 = bridge("br10", mac="52:54:00:ff:00:01", stp=True, delay=3, mtu=1400, group_fwd_mask=0x4008,
              multicast_snooping=False)


def test_bridge_mac_pinned_and_attributes(host: Host) -> None:
    before = host.state()
    r = host.ok("apply", [BR10])
    assert r["changed"] == [f"+ {describe(BR10)}"]

    br = host.link("br10")
    assert br["address"] == "52:54:00:ff:00:01"
    assert br["mtu"] == 1400
    assert br.get("ifalias") == "vnet:t:br10"
    assert is_up(br)
    assert br["linkinfo"]["info_kind"] == "bridge"
    d = info(br)
    assert d["stp_state"] == 1
    assert d["forward_delay"] == 300  # centiseconds: 3 s
    assert int(str(d["group_fwd_mask"]), 0) == 0x4008
    assert d["mcast_snooping"] == 0

    # a port with a lower MAC does not move the pinned bridge MAC ...
    host.veth("p1", "p1b", "address", "02:00:00:00:00:01")
    host.ip("link", "set", "p1", "master", "br10")
    assert host.link("br10")["address"] == "52:54:00:ff:00:01"
    # ... while a bridge made without a MAC follows its lowest port (the control)
    host.ip("link", "add", "brc", "type", "bridge")
    host.veth("p2", "p2b", "address", "02:00:00:00:00:02")
    host.ip("link", "set", "p2", "master", "brc")
    assert host.link("brc")["address"] == "02:00:00:00:00:02"

    again = assert_idempotent(host, [BR10])
    assert again["fast_path"] and not again["pyroute2_imported"], again

    # p1 is not vnet's: destroying its bridge is refused, nothing changes; after it leaves, fine
    refused = host.run("destroy", [BR10])
    assert not refused["ok"] and refused["exit_code"] == 4 and "still has port p1" in refused["error"], refused
    assert host.link("p1").get("master") == "br10" and host.ledger()["holders"]
    host.ip("link", "set", "p1", "nomaster")
    host.ok("destroy", [BR10])
    assert "br10" not in host.links()
    for dev in ("p1", "p2", "brc"):
        host.ip("link", "del", dev)
    assert_unchanged(host, before)


# ---- 2 + 4. two-tier topology from YAML (with the legacy dummy tap) ----------------------

def planned_macs(topology: str) -> dict[str, Optional[str]]:
    topo = topo_input.load_file(str(TOPOLOGIES / topology))
    actions = planner.actions_for_needs(host_needs(topo, "hv1"), topo.name)
    return {a.name: a.mac for a in actions if isinstance(a, A.EnsureBridge)}


def test_two_tier_topology(host: Host) -> None:
    # agg0 is libvirt's bridge (libvirt gives its bridges a fixed MAC), with a guest on it
    host.ip("link", "add", "agg0", "address", "52:54:00:66:00:01", "type", "bridge")
    host.ip("link", "set", "agg0", "up")
    host.ip("tuntap", "add", "vnet9", "mode", "tap")
    host.ip("link", "set", "vnet9", "master", "agg0")
    before = host.state()
    r = host.ok("apply", topology="two-tier.yaml")
    assert len(r["changed"]) == 10, r["changed"]  # 2 bridges, tap + its port, 2 veths, 4 ports

    lk = host.links()
    macs = planned_macs("two-tier.yaml")
    assert macs["acc-sw1"] == "52:54:00:66:01:01" and macs["acc-sw2"]
    for sw in ("sw1", "sw2"):
        br, vu, va = lk[f"acc-{sw}"], lk[f"vu-campus-{sw}"], lk[f"va-campus-{sw}"]
        assert br["linkinfo"]["info_kind"] == "bridge" and is_up(br)
        assert br["address"] == macs[f"acc-{sw}"]
        assert br.get("ifalias") == f"vnet:tt:acc-{sw}"
        assert vu["linkinfo"]["info_kind"] == va["linkinfo"]["info_kind"] == "veth"
        assert vu.get("link") == va["ifname"] and va.get("link") == vu["ifname"]
        assert vu.get("master") == f"acc-{sw}" and va.get("master") == "agg0"
        assert is_up(vu) and is_up(va)
        assert vu.get("ifalias") == f"vnet:tt:vu-campus-{sw}" and va.get("ifalias") == f"vnet:tt:va-campus-{sw}"
    assert info(lk["acc-sw2"])["stp_state"] == 1 and info(lk["acc-sw2"])["forward_delay"] == 200
    assert info(lk["acc-sw1"])["stp_state"] == 0
    assert lk["agg0"]["address"] == "52:54:00:66:00:01"

    # 4. the legacy dummy tap: a tap, in its bridge, down, holding the bridge's MAC
    nic = lk["acc-sw1-nic"]
    assert nic["linkinfo"]["info_kind"] == "tun" and info(nic)["type"] == "tap"
    assert nic.get("master") == "acc-sw1" and not is_up(nic)
    assert nic["address"] == "52:54:00:66:01:01"
    assert nic.get("ifalias") == "vnet:tt:acc-sw1-nic"
    assert "acc-sw2-nic" not in lk
    # hairpin: true is for guest ports only: vnet's own ports keep the default
    assert not slave(nic)["hairpin"] and not slave(lk["vu-campus-sw1"])["hairpin"]

    again = assert_idempotent(host, topology="two-tier.yaml")
    assert again["fast_path"] and not again["pyroute2_imported"], again

    # a guest joins acc-sw1: the next apply sets hairpin on its tap, and only there
    host.ip("tuntap", "add", "vnet5", "mode", "tap")
    host.ip("link", "set", "vnet5", "master", "acc-sw1", "up")
    todo = [s for s in host.ok("plan", topology="two-tier.yaml")["steps"] if s[0] != "="]
    assert todo == [["~", "guest ports of acc-sw1: hairpin on", "vnet5: hairpin off → on"]], todo
    r = host.ok("apply", topology="two-tier.yaml")
    assert r["changed"] == ["~ guest ports of acc-sw1: hairpin on"], r["changed"]
    lk = host.links()
    assert slave(lk["vnet5"])["hairpin"]
    assert not slave(lk["acc-sw1-nic"])["hairpin"] and not slave(lk["vu-campus-sw1"])["hairpin"]

    refused = host.run("destroy", topology="two-tier.yaml")  # a guest is still on acc-sw1
    assert not refused["ok"] and "bridge acc-sw1 still has port vnet5" in refused["error"], refused
    host.ok("destroy", topology="two-tier.yaml", force=True)
    assert host.ledger()["holders"] == {}
    assert "vnet5" in host.links()  # the guest's tap is not vnet's to delete
    host.ip("link", "del", "vnet5")
    assert_unchanged(host, before)


# ---- 3. bridge-port flags ----------------------------------------------------------------

def test_port_flags(host: Host) -> None:
    # libvirt's bridge lv0 with two guest ports and the user's uplink eth1
    host.ip("link", "add", "lv0", "address", "52:54:00:33:00:01", "type", "bridge")
    host.ip("link", "set", "lv0", "up")
    host.ip("tuntap", "add", "vnet0", "mode", "tap")
    host.ip("tuntap", "add", "vnet1", "mode", "tap")
    host.veth("eth1", "eth1p")
    host.veth("ct0", "ct0p")  # a container's veth: not a guest port
    for dev in ("vnet0", "vnet1", "eth1", "ct0"):
        host.ip("link", "set", dev, "master", "lv0")
    host.ip("link", "set", "vnet1", "type", "bridge_slave", "learning", "off")  # the user's own choice
    before = host.state()
    acts = [bridge("br0", mac="52:54:00:33:00:02"), veth("vu-p", "va-p"), master("vu-p", "br0"),
            master("va-p", "lv0"),
            port_flags("br0", port="vu-p", hairpin=True, learning=False),
            port_flags("lv0", skip=("eth1",), hairpin=True, isolated=True, learning=False)]
    host.ok("apply", acts)

    lk = host.links()
    assert flags_of(lk["vnet0"]) == (True, True, False)
    assert flags_of(lk["vnet1"]) == (True, True, False)
    assert flags_of(lk["eth1"]) == (False, False, True)  # skipped
    assert flags_of(lk["ct0"]) == (False, False, True)  # not a tap: not a guest's port
    assert flags_of(lk["va-p"]) == (False, False, True)  # vnet's own port
    assert flags_of(lk["vu-p"]) == (True, False, False)  # named port
    assert lk["va-p"].get("master") == "lv0" and lk["vu-p"].get("master") == "br0"

    again = assert_idempotent(host, acts)
    assert again["fast_path"] and not again["pyroute2_imported"], again

    # a new guest port is picked up by the next apply; nothing else changes
    host.ip("tuntap", "add", "vnet2", "mode", "tap")
    host.ip("link", "set", "vnet2", "master", "lv0")
    todo = [s for s in host.ok("plan", acts)["steps"] if s[0] != "="]
    assert todo == [["~", describe(acts[-1]), "vnet2: hairpin off → on, isolated off → on, learning on → off"]], todo
    r = host.ok("apply", acts)
    assert r["changed"] == [f"~ {describe(acts[-1])}"], r
    assert not r["pyroute2_imported"], "port flags alone are written through sysfs"
    assert flags_of(host.link("vnet2")) == (True, True, False)

    host.ok("destroy", acts)
    assert flags_of(host.link("vnet2")) == (False, False, True)  # restored, still in lv0
    host.ip("link", "del", "vnet2")
    assert_unchanged(host, before)  # vnet1 keeps learning off, as the user had it


# ---- 5. macvtap uplink and the host shim ---------------------------------------------------

#: ``ping -c1 -W1 ADDR`` in Python (no iputils needed): one ICMP echo on a raw socket,
def ping(h: Host, addr: str) -> bool:
    """One echo request from ``h``'s namespace to ``addr`` (a namespace of the test's)."""
    return reaches(h.ns, addr, tries=1)


def test_macvtap_shim_reaches_guest(host: Host) -> None:
    host.veth("eth1", "sw1")
    # macvtaps libvirt made for guests, one per mode
    for name, mode in (("mvt-vepa", "vepa"), ("mvt-br", "bridge"), ("mvt-priv", "private")):
        host.ip("link", "add", "link", "eth1", "name", name, "type", "macvtap", "mode", mode)
    host.ip("link", "set", "mvt-br", "up")
    with netns() as guest:
        host.ip("link", "add", "link", "eth1", "name", "gst0", "type", "macvlan", "mode", "bridge")
        host.ip("link", "set", "gst0", "netns", guest)
        subprocess.run(["ip", "-n", guest, "addr", "add", "10.77.0.2/24", "dev", "gst0"], check=True)
        subprocess.run(["ip", "-n", guest, "link", "set", "gst0", "up"], check=True)

        # control: an address on the uplink itself never reaches a bridge-mode child
        host.ip("addr", "add", "10.77.0.1/24", "dev", "eth1")
        assert not ping(host, "10.77.0.2")
        host.ip("addr", "del", "10.77.0.1/24", "dev", "eth1")

        before = host.state()
        r = host.ok("apply", topology="macvtap-shim.yaml")
        assert r["changed"], r
        s = host.link("dmz-shim")
        assert s["linkinfo"]["info_kind"] == "macvlan" and info(s)["mode"] == "bridge"
        assert s.get("link") == "eth1" and is_up(s) and s.get("ifalias") == "vnet:mvt:dmz-shim"
        addrs = subprocess.run(["ip", "-n", host.ns, "-j", "addr", "show", "dev", "dmz-shim"], check=True,
                               capture_output=True, text=True).stdout
        assert ("10.77.0.1", 24) in {(a["local"], a["prefixlen"]) for a in json.loads(addrs)[0]["addr_info"]}
        assert ping(host, "10.77.0.2")

        after = host.state()
        for name in ("mvt-vepa", "mvt-br", "mvt-priv"):
            assert after[name] == before[name], name

        again = assert_idempotent(host, topology="macvtap-shim.yaml")
        # the shim's address is visible only through netlink: no sysfs fast path here
        assert not again["fast_path"], again

        host.ok("destroy", topology="macvtap-shim.yaml")
        assert_unchanged(host, before)
        assert not ping(host, "10.77.0.2")


def test_shim_on_passthrough_uplink_fails_cleanly(host: Host) -> None:
    host.veth("eth2", "sw2")
    host.ip("link", "add", "link", "eth2", "name", "mvt-pt", "type", "macvtap", "mode", "passthru")
    before = host.state()
    r = host.run("apply", [shim("shim2", "eth2", "10.79.0.1/24")])
    assert not r["ok"] and r["returncode"] == 0, r
    assert r["exit_code"] in (4, 6) and r["type"] in ("ConflictError", "ApplyError"), r
    assert "shim2" in r["error"] and "eth2" in r["error"], r["error"]
    assert_unchanged(host, before)
    assert host.ledger()["holders"] == {} and not host.journal_left()


# ---- 6. every action type: apply, idempotence, destroy, faults and kills -------------------

#: everything this kernel can do in one plan (no VLAN devices, no SR-IOV)
REP = [
    bridge("br-a", mac="52:54:00:aa:00:01", stp=True, delay=2, mtu=1500, group_fwd_mask=0x4008,
           multicast_snooping=False),
    tap("br-a-nic", "52:54:00:aa:00:01"),
    master("br-a-nic", "br-a", up=None),
    veth("vu-a", "va-a"),
    master("vu-a", "br-a"),
    master("va-a", "agg0"),
    master("eth1", "br-a"),
    port_flags("br-a", port="vu-a", hairpin=True, learning=False),
    port_flags("agg0", hairpin=True, isolated=True, learning=False),
    shim("shim-a", "eth2", "10.78.0.1/24"),
]
REP_DESC = [describe(a) for a in REP]


def rep_host(h: Host) -> None:
    """The user's side of REP: uplinks eth1 (to be enslaved) and eth2 (the shim's),
    libvirt's bridge agg0 with two guest ports."""
    h.veth("eth1", "eth1p")
    h.veth("eth2", "eth2p")
    h.ip("link", "add", "agg0", "address", "52:54:00:aa:00:ff", "type", "bridge")
    h.ip("link", "set", "agg0", "up")
    h.ip("tuntap", "add", "vnet0", "mode", "tap")
    h.ip("tuntap", "add", "vnet1", "mode", "tap")
    h.ip("link", "set", "vnet0", "master", "agg0")
    h.ip("link", "set", "vnet1", "master", "agg0")


def first_apply(h: Host) -> tuple[dict[str, Any], dict[str, tuple[Any, ...]]]:
    """Apply REP once (counting kernel changes) and check it: the answer and the
    converged shape."""
    r = h.ok("apply", REP, fault_at=COUNT_ONLY)
    assert [c[2:] for c in r["changed"]] == REP_DESC, r["changed"]
    assert r["kernel_changes"] >= len(REP) - 1, r
    lk = h.links()
    assert lk["eth1"].get("master") == "br-a" and is_up(lk["eth1"])
    assert lk["br-a-nic"].get("master") == "br-a" and not is_up(lk["br-a-nic"])
    assert flags_of(lk["vnet0"]) == flags_of(lk["vnet1"]) == (True, True, False)
    assert flags_of(lk["va-a"]) == (False, False, True)
    assert lk["shim-a"].get("link") == "eth2"
    return r, h.shape()


def test_all_actions_apply_idempotent_destroy(host: Host) -> None:
    rep_host(host)
    before = host.state()
    dry = host.ok("plan", REP)  # read-only: says what apply will do, changes nothing
    assert [s[:2] for s in dry["steps"]] == [["+", d] for d in REP_DESC[:6]] + [["~", REP_DESC[6]]] + \
        [["+", REP_DESC[7]], ["~", REP_DESC[8]], ["+", REP_DESC[9]]], dry["text"]
    assert "Plan: 8 to create, 2 to change, 0 to destroy" in dry["text"], dry["text"]
    assert_unchanged(host, before)
    assert not host.state_dir.exists() or host.ledger()["holders"] == {}

    first_apply(host)
    again = assert_idempotent(host, REP)
    assert not again["fast_path"] and again["pyroute2_imported"], again  # the shim's address needs netlink
    host.ok("destroy", REP)
    assert_unchanged(host, before)
    ledger = host.ledger()
    assert (ledger["objects"], ledger["holders"], ledger["pending"]) == ({}, {}, []), ledger


STEP = re.compile(r"^step (\d+) of (\d+) \(")


def test_fault_at_every_kernel_change_rolls_back(host: Host) -> None:
    rep_host(host)
    before = host.state()
    r, _ = first_apply(host)
    n = r["kernel_changes"]
    host.ok("destroy", REP)
    assert_unchanged(host, before)

    problems: list[str] = []
    failed_steps: list[int] = []
    for k in range(1, n + 1):
        f = host.run("apply", REP, fault_at=k)
        if f.get("ok") or f.get("exit_code") != 6 or f.get("type") != "ApplyError":
            problems.append(f"fault_at={k}: expected ApplyError (6), got {f}")
            if f.get("ok"):
                host.ok("destroy", REP)
            continue
        err = f["error"]
        m = STEP.match(err)
        if not m or f"injected fault at kernel change {k} " not in err:
            problems.append(f"fault_at={k}: error does not name the step and the fault: {err!r}")
        else:
            step = int(m.group(1))
            failed_steps.append(step)
            if not err.startswith(f"step {step} of {len(REP)} ({REP_DESC[step - 1]}) failed"):
                problems.append(f"fault_at={k}: step {step} described wrongly: {err!r}")
        if diff := settled_changes(host, before):
            problems.append(f"fault_at={k}: links differ from before after the rollback: {diff}")
        if host.ledger()["holders"] or host.journal_left():
            problems.append(f"fault_at={k}: state left behind: {host.ledger()}, journal={host.journal_left()}")
    assert not problems, "\n".join(problems)
    assert failed_steps == sorted(failed_steps)
    assert set(failed_steps) == set(range(1, len(REP) + 1)), failed_steps  # every action changes something


def test_kill_at_every_kernel_change_recovers(host: Host) -> None:
    rep_host(host)
    before = host.state()
    r, converged = first_apply(host)
    n = r["kernel_changes"]
    host.ok("destroy", REP)
    assert_unchanged(host, before)

    problems: list[str] = []
    for k in range(1, n + 1):
        killed = host.run("apply", REP, kill_at=k)
        if killed["returncode"] != -9:
            problems.append(f"kill_at={k}: not killed: {killed}")
        rec = host.run("apply", REP)
        if not rec.get("ok"):
            problems.append(f"kill_at={k}: the apply after the kill failed: {rec}")
        elif rec["changed"] != r["changed"]:  # the dead apply was rolled back: all over again
            problems.append(f"kill_at={k}: recovery apply changed {rec['changed']}")
        if host.shape() != converged:
            problems.append(f"kill_at={k}: converged shape differs: {host.shape()} != {converged}")
        again = host.run("apply", REP)
        if not again.get("ok") or again["changed"]:
            problems.append(f"kill_at={k}: a further apply is not a no-op: {again}")
        d = host.run("destroy", REP)
        if not d.get("ok"):
            problems.append(f"kill_at={k}: destroy failed: {d}")
        if diff := settled_changes(host, before):
            problems.append(f"kill_at={k}: destroy did not restore the links: {diff}")
            break  # the next iterations would start from the wrong place
    assert not problems, "\n".join(problems)


def test_kill_during_destroy_rolls_forward(host: Host) -> None:
    """A teardown killed half-way is finished by the next command (the pending undo
    records are saved before the first kernel change)."""
    rep_host(host)
    before = host.state()
    host.ok("apply", REP)
    n = host.ok("destroy", REP, fault_at=COUNT_ONLY)["kernel_changes"]
    assert n >= len(REP)
    assert_unchanged(host, before)
    problems: list[str] = []
    for k in range(1, n + 1):
        host.ok("apply", REP)
        killed = host.run("destroy", REP, kill_at=k)
        if killed["returncode"] != -9:
            problems.append(f"kill_at={k}: not killed: {killed}")
        d = host.run("destroy", REP)
        if not d.get("ok"):
            problems.append(f"kill_at={k}: the destroy after the kill failed: {d}")
        if diff := settled_changes(host, before):
            problems.append(f"kill_at={k}: links differ from before: {diff}")
            break
        if (ledger := host.ledger())["holders"] or ledger["pending"] or ledger["objects"]:
            problems.append(f"kill_at={k}: state left behind: {ledger}")
    assert not problems, "\n".join(problems)


# ---- the product's two snapshot readers against ip -j --------------------------------------

_SNAPSHOTS = r"""
import dataclasses, json
from libvirt_vnet.host.netlink import NetlinkKernel
from libvirt_vnet.host.snapshot import read_sysfs
with NetlinkKernel() as k:
    nl = k.snapshot()
sy = read_sysfs(set(nl.links))
print(json.dumps({"netlink": {n: dataclasses.asdict(lk) for n, lk in nl.links.items()},
                  "sysfs": {n: dataclasses.asdict(lk) for n, lk in sy.links.items()}}))
"""


def oracle(lk: dict[str, Any], index: dict[str, int]) -> dict[str, Any]:
    """The snapshot fields of one link, as ``ip -j -d`` shows them."""
    kind = lk.get("linkinfo", {}).get("info_kind")
    want: dict[str, Any] = {"mac": lk["address"], "mtu": lk["mtu"], "up": is_up(lk), "alias": lk.get("ifalias", ""),
                            "kind": kind, "master": lk.get("master"), "index": lk["ifindex"],
                            "link": index.get(lk["link"]) if lk.get("link") else None}
    if kind in ("macvlan", "macvtap"):
        want["macvlan_mode"] = info(lk)["mode"]
    if kind == "bridge":
        d = info(lk)
        want["bridge"] = {"stp": d["stp_state"] != 0, "forward_delay": d["forward_delay"],
                          "group_fwd_mask": int(str(d["group_fwd_mask"]), 0),
                          "multicast_snooping": bool(d["mcast_snooping"])}
    if lk.get("linkinfo", {}).get("info_slave_kind") == "bridge":
        hairpin, isolated, learning = flags_of(lk)
        want["port"] = {"hairpin": hairpin, "isolated": isolated, "learning": learning}
    return want


def test_snapshot_readers_agree_with_ip(host: Host) -> None:
    host.ip("link", "add", "brs", "address", "52:54:00:5a:00:01", "type", "bridge", "stp_state", "1",
            "forward_delay", "400", "group_fwd_mask", "0x8", "mcast_snooping", "0")
    host.ip("link", "set", "brs", "up", "alias", "vnet:t:brs")
    host.veth("p1", "p1b")
    host.ip("tuntap", "add", "tp0", "mode", "tap")
    for dev in ("p1", "tp0"):
        host.ip("link", "set", dev, "master", "brs")
    host.ip("link", "set", "p1", "type", "bridge_slave", "hairpin", "on", "isolated", "on", "learning", "off")
    host.veth("eth1", "sw1", "mtu", "9000")
    for name, kind, mode in (("mv-vepa", "macvtap", "vepa"), ("mv-br", "macvtap", "bridge"),
                             ("mv-priv", "macvtap", "private"), ("ml-br", "macvlan", "bridge")):
        host.ip("link", "add", "link", "eth1", "name", name, "type", kind, "mode", mode)
    host.veth("eth3", "sw3")
    host.ip("link", "add", "link", "eth3", "name", "mv-pt", "type", "macvtap", "mode", "passthru")

    out = host.exec("env", f"PYTHONPATH={Path(__file__).resolve().parents[2]}", sys.executable, "-c", _SNAPSHOTS)
    assert out.returncode == 0, out.stderr
    snaps = json.loads(out.stdout)
    lk = host.links()
    index = {name: v["ifindex"] for name, v in lk.items()}
    problems = []
    for reader, snap in snaps.items():
        assert set(snap) == set(lk), (reader, sorted(snap), sorted(lk))
        for name, want in ((n, oracle(v, index)) for n, v in lk.items()):
            have = snap[name]
            for key, value in want.items():
                if reader == "sysfs" and have.get(key) is None and key in ("kind", "macvlan_mode"):
                    continue  # sysfs cannot tell (documented): None sends the executor to netlink
                if have.get(key) != value:
                    problems.append(f"{reader} {name}.{key}: {have.get(key)!r}, ip says {value!r}")
    assert not problems, "\n".join(problems)


# ---- 7. conflicts and ownership -------------------------------------------------------------

def assert_conflict(h: Host, actions: list[dict[str, Any]], *words: str, holder: str = HOLDER) -> str:
    before = h.state()
    r = h.run("apply", actions, holder=holder)
    assert not r["ok"] and r["exit_code"] == 4 and r["type"] in ("ConflictError", "ErrorList"), r
    for w in words:
        assert w in r["error"], (w, r["error"])
    assert_unchanged(h, before)
    assert not h.journal_left()
    return str(r["error"])


def test_foreign_bridge_with_same_name_conflicts(host: Host) -> None:
    host.ip("link", "add", "br10", "type", "bridge")
    assert_conflict(host, [BR10], "br10", "vnet did not create it")
    assert host.ledger()["holders"] == {}


def test_uplink_in_foreign_bridge_conflicts(host: Host) -> None:
    host.ip("link", "add", "brx", "type", "bridge")
    host.veth("eth1", "eth1p")
    host.ip("link", "set", "eth1", "master", "brx")
    assert_conflict(host, [bridge("br10"), master("eth1", "br10")], "eth1", "brx")
    assert "br10" not in host.links()


def test_destroy_keeps_device_whose_alias_the_user_changed(host: Host) -> None:
    acts = [bridge("br10"), veth("vu-x", "va-x"), master("vu-x", "br10")]
    host.ok("apply", acts)
    host.ip("link", "set", "br10", "alias", "mine now")
    host.ok("destroy", acts)
    lk = host.links()
    assert "br10" in lk and lk["br10"].get("ifalias") == "mine now"
    assert "vu-x" not in lk and "va-x" not in lk  # still vnet's: removed
    assert host.ledger()["holders"] == {}


def test_shared_bridge_lives_until_its_last_holder(host: Host) -> None:
    before = host.state()
    shared = bridge("br10", mac="52:54:00:ff:00:0a")
    host.ok("apply", [shared], holder="net:a")
    b = host.ok("apply", [shared], holder="net:b")
    assert b["changed"] == [], b
    # a third holder wanting the shared bridge differently is refused
    assert_conflict(host, [bridge("br10", mac="52:54:00:ff:00:0a", stp=True)], "br10", "net:a", holder="net:c")
    host.ok("destroy", [shared], holder="net:a")
    assert "br10" in host.links()
    host.ok("destroy", [shared], holder="net:b")
    assert_unchanged(host, before)


def test_smaller_plan_releases_what_is_no_longer_needed(host: Host) -> None:
    before = host.state()
    big = [bridge("br10"), veth("vu-x", "va-x"), master("vu-x", "br10")]
    host.ok("apply", big)
    r = host.ok("apply", big[:1])
    assert r["changed"] == [] and sorted(r["released"]) == sorted(describe(a) for a in big[1:]), r
    lk = host.links()
    assert "br10" in lk and "vu-x" not in lk and "va-x" not in lk
    assert host.ok("plan", big[:1])["empty"]
    host.ok("destroy", big[:1])
    assert_unchanged(host, before)


# ---- 8. MTU consistency ---------------------------------------------------------------------

def test_mtu_of_uplink_smaller_than_bridge_conflicts(host: Host) -> None:
    host.veth("eth1", "eth1p")  # mtu 1500
    assert_conflict(host, [bridge("br9", mtu=9000), master("eth1", "br9")], "eth1", "br9", "1500", "9000")
    assert "br9" not in host.links()


def test_mtu_checked_when_bridge_already_exists(host: Host) -> None:
    """The same 1500-byte uplink joining vnet's existing 9000-byte bridge (a re-apply
    with one more uplink) must be refused the same way."""
    host.veth("eth1", "eth1p")
    host.ok("apply", [bridge("br9", mtu=9000)])
    assert_conflict(host, [bridge("br9", mtu=9000), master("eth1", "br9")], "eth1", "br9", "1500", "9000")
    assert host.link("eth1").get("master") is None


def test_veth_pair_with_mtu_gets_it_on_both_ends(host: Host) -> None:
    """EnsureVethPair(mtu=...) must give both ends that MTU (the peer is a link too)."""
    before = host.state()
    v = dict(veth("vu-j", "va-j"), mtu=9000)
    r = host.run("apply", [v], verify_timeout=0.5)
    assert r["ok"], r
    lk = host.links()
    assert (lk["vu-j"]["mtu"], lk["va-j"]["mtu"]) == (9000, 9000)
    host.ok("destroy", [v])
    assert_unchanged(host, before)


def test_two_tier_links_carry_the_network_mtu(host: Host) -> None:
    """With ``mtu: 9000`` every port between the tiers must carry 9000 (a 1500-byte veth
    in a 9000-byte bridge drops jumbo frames silently)."""
    host.ip("link", "add", "agg9", "address", "52:54:00:67:00:01", "mtu", "9000", "type", "bridge")
    host.ip("link", "set", "agg9", "up")
    host.ip("tuntap", "add", "vnet9", "mode", "tap")  # a guest on the aggregation network
    host.ip("link", "set", "vnet9", "mtu", "9000", "master", "agg9")
    before = host.state()
    r = host.run("apply", topology="two-tier-jumbo.yaml")
    if not r["ok"]:  # refusing is acceptable too, as long as it says why and changes nothing
        assert r["exit_code"] == 4 and "9000" in r["error"], r
        assert_unchanged(host, before)
        return
    lk = host.links()
    for br in ("acc9-sw1", "agg9"):
        assert lk[br]["mtu"] == 9000
        ports = {name: p["mtu"] for name, p in lk.items() if p.get("master") == br}
        assert ports and all(m == 9000 for m in ports.values()), f"ports of {br}: {ports}"
    host.ok("destroy", topology="two-tier-jumbo.yaml")
    assert_unchanged(host, before)


def cli(h: Host, *args: str) -> subprocess.CompletedProcess[str]:
    vnet = Path(sys.executable).with_name("vnet")
    return h.exec(str(vnet), *args, "--state-dir", str(h.state_dir))


@pytest.mark.parametrize("killed_op,then", [("destroy", "host-destroy"), ("apply", "host-destroy"),
                                            ("apply", "host-status")])
def test_every_command_first_finishes_an_interrupted_run(host: Host, killed_op: str, then: str) -> None:
    """SIGKILL at every kernel change of a destroy (or an apply), then one CLI command —
    even one about a holder no longer on record: the host is as before the apply, and
    nothing is left pending (the CLI used to answer "nothing held" and leak it all)."""
    rep_host(host)
    before = host.state()
    n = host.ok("apply", REP, fault_at=COUNT_ONLY)["kernel_changes"]
    n_destroy = host.ok("destroy", REP, fault_at=COUNT_ONLY)["kernel_changes"]
    n = n_destroy if killed_op == "destroy" else n
    problems: list[str] = []
    for k in range(1, n + 1):
        if killed_op == "destroy":
            host.ok("apply", REP)
        killed = host.run(killed_op, REP, kill_at=k)
        if killed["returncode"] != -9:
            problems.append(f"kill_at={k}: not killed: {killed}")
        args = ("host-destroy", "test:h") if then == "host-destroy" else ("host-status",)
        r = cli(host, *args)
        if r.returncode != 0:
            problems.append(f"kill_at={k}: {then} failed: {r.stdout}{r.stderr}")
        if diff := settled_changes(host, before):
            problems.append(f"kill_at={k}: {then} did not restore the links: {diff}")
            break
        ledger = host.ledger()
        if ledger["pending"] or ledger["objects"] or host.journal_left():
            problems.append(f"kill_at={k}: state left behind: {ledger}")
            break
    assert not problems, "\n".join(problems)
