"""Ownership and safety of the host engine, on the real kernel: what vnet must never do to
devices it did not create, and the bridge/STP corner cases the kernel imposes."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from support.kernel import Host
from support.netns import hostctl, links

MARK = "vnet:safety:"


@pytest.fixture()
def ns(host: Host) -> str:
    return host.ns


def ip(ns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True, text=True)


def run(ns: str, state: Path, op: str, actions: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return hostctl(ns, {"op": op, "holder": "h", "state_dir": str(state), "actions": actions, **extra})


def ok(ns: str, state: Path, op: str, actions: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    r = run(ns, state, op, actions, **extra)
    assert r.get("ok") and r["returncode"] == 0, r
    return r


def bridge(name: str, **kw: Any) -> dict[str, Any]:
    return {"type": "EnsureBridge", "name": name, "mark": MARK + name, **kw}


def test_destroy_leaves_a_same_named_device_the_user_made(ns: str, tmp_path: Path) -> None:
    ok(ns, tmp_path, "apply", [bridge("brx")])
    ip(ns, "link", "del", "brx")
    ip(ns, "link", "add", "brx", "type", "bridge")  # the user's now, no mark
    ok(ns, tmp_path, "destroy", [])
    assert "brx" in links(ns)


def test_destroy_does_not_take_an_uplink_out_of_the_users_bridge(ns: str, tmp_path: Path) -> None:
    ip(ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
    ok(ns, tmp_path, "apply", [bridge("brv"), {"type": "SetMaster", "device": "eth1", "bridge": "brv"}])
    assert links(ns)["eth1"]["master"] == "brv"
    ip(ns, "link", "add", "br0", "type", "bridge")
    ip(ns, "link", "set", "eth1", "master", "br0")  # the user moves their uplink
    ok(ns, tmp_path, "destroy", [])
    lk = links(ns)
    assert "brv" not in lk and lk["eth1"]["master"] == "br0" and "UP" in lk["eth1"]["flags"]


def test_enslaving_an_addressed_uplink_is_refused(ns: str, tmp_path: Path) -> None:
    ip(ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
    ip(ns, "addr", "add", "192.0.2.5/24", "dev", "eth1")
    r = run(ns, tmp_path, "apply", [bridge("brv"), {"type": "SetMaster", "device": "eth1", "bridge": "brv"}])
    assert r["exit_code"] == 4 and "192.0.2.5/24" in r["error"] and "move the addresses" in r["error"], r
    assert set(links(ns)) == {"lo", "eth1", "eth1p"}


def test_stp_off_after_stp_on(ns: str, tmp_path: Path) -> None:
    """The kernel keeps the forward delay in 2..30 s while STP runs: switching STP off with
    delay 0 must turn STP off first (one message would be refused with ERANGE)."""
    ok(ns, tmp_path, "apply", [bridge("brs", stp=True, delay=15)])
    info = links(ns)["brs"]["linkinfo"]["info_data"]
    assert (info["stp_state"], info["forward_delay"]) == (1, 1500)
    r = ok(ns, tmp_path, "apply", [bridge("brs", stp=False, delay=0)])
    assert r["changed"], r
    info = links(ns)["brs"]["linkinfo"]["info_data"]
    assert (info["stp_state"], info["forward_delay"]) == (0, 0)
    r = ok(ns, tmp_path, "apply", [bridge("brs", stp=True, delay=0)])  # libvirt's usual stp on, delay 0
    assert links(ns)["brs"]["linkinfo"]["info_data"]["forward_delay"] == 200  # the kernel's minimum
    assert ok(ns, tmp_path, "apply", [bridge("brs", stp=True, delay=0)])["changed"] == []


def test_stp_bridge_that_is_not_root_stays_in_place(ns: str, tmp_path: Path) -> None:
    """A non-root STP bridge reports the root's forward delay, not its own: a re-apply must
    not see that as drift (it would never converge)."""
    acts = [bridge("sa", stp=True, delay=4, mac="52:54:00:00:0a:01"),
            bridge("sb", stp=True, delay=15, mac="52:54:00:00:0b:01"),
            {"type": "EnsureVethPair", "name": "sab", "peer": "sba", "mark": MARK + "sab"},
            {"type": "SetMaster", "device": "sab", "bridge": "sa"},
            {"type": "SetMaster", "device": "sba", "bridge": "sb"}]
    ok(ns, tmp_path, "apply", acts)
    deadline = time.monotonic() + 15
    while links(ns)["sb"]["linkinfo"]["info_data"]["forward_delay"] != 400:  # sa (lower id) became root
        assert time.monotonic() < deadline, "no BPDU exchange between the two STP bridges"
        time.sleep(0.5)
    assert ok(ns, tmp_path, "apply", acts)["changed"] == []


def test_dummy_tap_follows_the_bridge_mtu(ns: str, tmp_path: Path) -> None:
    acts = [bridge("brj", mtu=9000, mac="52:54:00:00:0c:01"),
            {"type": "EnsureTap", "name": "brj-nic", "mac": "52:54:00:00:0c:01", "mark": MARK + "brj-nic",
             "mtu": 9000},
            {"type": "SetMaster", "device": "brj-nic", "bridge": "brj", "up": None}]
    ok(ns, tmp_path, "apply", acts)
    lk = links(ns)
    assert lk["brj"]["mtu"] == lk["brj-nic"]["mtu"] == 9000
    assert ok(ns, tmp_path, "apply", acts)["changed"] == []


def test_a_state_directory_others_may_write_is_refused(ns: str, tmp_path: Path) -> None:
    state = tmp_path / "shared"
    state.mkdir(mode=0o777)
    state.chmod(0o777)
    r = run(ns, state, "apply", [bridge("brw")])
    assert r["exit_code"] == 6 and "writable by others" in r["error"], r
    assert "brw" not in links(ns)


def test_a_damaged_state_file_is_an_error_not_a_traceback(ns: str, tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    (tmp_path / "state.json").write_text(json.dumps({"version": 1, "objects": [], "holders": {}}))
    r = run(ns, tmp_path, "apply", [bridge("brd")])
    assert r["exit_code"] == 7 and "state.json is damaged" in r["error"], r
    assert r["type"] == "DamagedStateError" and "brd" not in links(ns)


def test_pruning_a_bridge_with_guests_is_refused(ns: str, tmp_path: Path) -> None:
    """Re-applying a smaller plan releases what left it — but not a bridge guests are on."""
    ok(ns, tmp_path, "apply", [bridge("bra"), bridge("brb")])
    ip(ns, "tuntap", "add", "vnet0", "mode", "tap")
    ip(ns, "link", "set", "vnet0", "master", "brb")
    r = run(ns, tmp_path, "apply", [bridge("bra")])
    assert r["exit_code"] == 4 and "bridge brb still has port vnet0" in r["error"], r
    assert links(ns)["vnet0"]["master"] == "brb"
    ip(ns, "link", "del", "vnet0")
    assert ok(ns, tmp_path, "apply", [bridge("bra")])["released"] == [
        "bridge brb (mac picked by the kernel, stp off, delay 0)"]
    assert "brb" not in links(ns)


WRONG_KIND: dict[str, dict[str, Any]] = {
    "vlan": {"type": "EnsureVlanLink", "parent": "eth1", "vid": 10},
    "veth": {"type": "EnsureVethPair", "peer": "wk-peer"},
    "tap": {"type": "EnsureTap", "mac": None},
    "macvlan": {"type": "EnsureMacvlan", "parent": "eth1"},
    "bridge": {"type": "EnsureBridge"},
}


#: the kind of each existing device the test makes (lo has none: a plain device)
EXISTING_KIND = {"lo": "plain", "eth1": "veth", "brk": "bridge"}
#: every (wanted, existing) pair of different kinds (a macvlan named like its parent eth1 is not one)
WRONG_KIND_CASES = [(w, e) for w in sorted(WRONG_KIND) for e in EXISTING_KIND
                    if EXISTING_KIND[e] != w and not (e == "eth1" and w == "macvlan")]


@pytest.mark.parametrize(("wanted", "existing"), WRONG_KIND_CASES)
def test_an_existing_device_of_another_kind_is_a_conflict(ns: str, tmp_path: Path, wanted: str,
                                                          existing: str) -> None:
    """A device name already taken by a device of another kind — a plain one (lo, a NIC)
    included, which has no kind at all — is a conflict in the plan and in apply: never
    "unknown", skipped, and then used (a VLAN device name ``lo`` bridged untagged)."""
    ip(ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
    ip(ns, "link", "add", "brk", "type", "bridge")
    ip(ns, "addr", "flush", "dev", "lo")  # else bridging lo is refused for its addresses alone
    act = {**WRONG_KIND[wanted], "name": existing, "mark": MARK + existing}
    bridged = [act, bridge("brz"), {"type": "SetMaster", "device": existing, "bridge": "brz"}]
    before = links(ns)
    for op in ("plan", "apply"):
        r = run(ns, tmp_path, op, bridged)
        assert not r["ok"] and r["exit_code"] == 4, (op, r)
        assert f"{existing} already exists" in r["error"], (op, r)
    after = links(ns)
    assert set(after) == set(before) and after[existing].get("master") == before[existing].get("master")


@pytest.mark.parametrize("address", ["198.51.100.2/abc", "198.51.100.2", "198.51.100.2/33", "x/24"])
def test_a_bad_shim_address_is_refused_and_poisons_nothing(ns: str, tmp_path: Path, address: str) -> None:
    """A bad value reaching the engine is refused before its undo record is journalled
    (it used to be journalled, then crash the rollback and every later command)."""
    ip(ns, "link", "add", "up1", "type", "veth", "peer", "name", "up1p")
    before = links(ns)
    shim = {"type": "EnsureMacvlan", "name": "shim1", "parent": "up1", "mark": MARK + "shim1"}
    r = run(ns, tmp_path, "apply", [bridge("brs"), {**shim, "address": address}])
    assert not r["ok"] and r["exit_code"] == 6 and "invalid" in r["error"] and "Traceback" not in r["stderr"], r
    assert set(links(ns)) == set(before) and not (tmp_path / "journal.jsonl").exists()
    ok(ns, tmp_path, "apply", [bridge("brs"), {**shim, "address": "198.51.100.2/24"}])
    ok(ns, tmp_path, "destroy", [])
    assert set(links(ns)) == set(before)


KINDS_CREATED = {
    "bridge": (bridge("brk2"), ["type", "bridge"]),
    "veth": ({"type": "EnsureVethPair", "name": "vk2", "peer": "vk2p", "mark": MARK + "vk2"},
             ["type", "veth", "peer", "name", "vk2p"]),
    "tap": ({"type": "EnsureTap", "name": "tk2", "mac": None, "mark": MARK + "tk2"}, ["type", "tuntap"]),
    "macvlan": ({"type": "EnsureMacvlan", "name": "mk2", "parent": "up2", "mark": MARK + "mk2"},
                ["link", "up2", "type", "macvlan", "mode", "bridge"]),
}


@pytest.mark.parametrize("replaced", [True, False], ids=["user-replaced-it", "left-as-created"])
@pytest.mark.parametrize("kind", sorted(KINDS_CREATED))
def test_rollback_of_a_killed_create_deletes_only_the_device_it_made(ns: str, tmp_path: Path, kind: str,
                                                                     replaced: bool) -> None:
    """Killed after creating a link and before marking it; the user then makes their own
    device under that name (no mark).  The next vnet command — for another topology —
    rolls the dead apply back: it deletes the link the dead run made (same ifindex) and
    never the user's (another ifindex)."""
    ip(ns, "link", "add", "up2", "type", "veth", "peer", "name", "up2p")
    act, how = KINDS_CREATED[kind]
    name = act["name"]
    if kind == "tap":
        how = ["mode", "tap"]
    killed = run(ns, tmp_path, "apply", [act], kill_at=2)  # 1: the creation; killed before the mark
    assert killed["returncode"] == -9, killed
    assert links(ns)[name].get("ifalias", "") == ""
    if replaced:
        ip(ns, "link", "del", name)
        if kind == "tap":
            ip(ns, "tuntap", "add", name, *how)
        else:
            ip(ns, "link", "add", name, *how)
    user_index = links(ns)[name]["ifindex"]
    hostctl(ns, {"op": "apply", "holder": "other", "state_dir": str(tmp_path), "actions": [bridge("bro")]})
    if replaced:
        assert name in links(ns) and links(ns)[name]["ifindex"] == user_index, "the user's device was deleted"
    else:
        assert name not in links(ns), "the dead run's own device was left behind"


def test_each_veth_end_carries_its_own_mark(ns: str, tmp_path: Path) -> None:
    ok(ns, tmp_path, "apply", [{"type": "EnsureVethPair", "name": "vu-m", "peer": "va-m", "mark": MARK + "vu-m"}])
    lk = links(ns)
    assert lk["vu-m"]["ifalias"] == MARK + "vu-m" and lk["va-m"]["ifalias"] == MARK + "va-m"
    assert ok(ns, tmp_path, "apply", [{"type": "EnsureVethPair", "name": "vu-m", "peer": "va-m",
                                       "mark": MARK + "vu-m"}])["changed"] == []
    ok(ns, tmp_path, "destroy", [])
    assert "vu-m" not in links(ns) and "va-m" not in links(ns)


def test_destroy_lists_exactly_what_it_removes_and_what_it_keeps(ns: str, tmp_path: Path) -> None:
    """A bridge the user took over (changed its alias), an uplink the user moved: destroy
    leaves them — and its listing says so, instead of "− bridge" for a bridge that stays."""
    ip(ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
    ok(ns, tmp_path, "apply", [bridge("brl"), bridge("brm"), {"type": "SetMaster", "device": "eth1", "bridge": "brm"}])
    ip(ns, "link", "set", "brl", "alias", "mine now")
    ip(ns, "link", "add", "br0", "type", "bridge")
    ip(ns, "link", "set", "eth1", "master", "br0")
    r = ok(ns, tmp_path, "destroy", [])
    lk = links(ns)
    assert "brl" in lk and "brm" not in lk and lk["eth1"]["master"] == "br0"
    assert [t for t in r["released"] if "brl" in t or "eth1" in t] == [], r
    assert any(t.startswith("bridge brm") for t in r["released"]), r
    kept = " ".join(r["kept"])
    assert "brl" in kept and "no longer carries vnet's mark" in kept and "eth1 changed" in kept, r
