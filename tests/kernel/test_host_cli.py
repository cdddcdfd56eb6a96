"""The host commands as a user runs them: ``ip netns exec NS vnet plan|host-apply|
host-status|host-destroy ... --state-dir DIR`` in a throwaway namespace, with ``ip -j``
as the oracle.

The namespace plays hypervisor ``hv1`` of a small topology that works on a kernel
without 8021q: a two-tier campus (two access bridges joined by veth to the aggregation
bridge ``agg0``, which libvirt would own — the test makes it) and a macvtap network whose
host shim sits on the uplink ``up0`` (a veth the test makes).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.netns import ip_json, link_state, links, netns
from support.prereq import REPO

VNET = Path(sys.executable).with_name("vnet")
HOLDER = "topology:clitest@hv1"
TOPOLOGY = """\
name: clitest
hosts:
  hv1: {uri: "qemu:///system", uplinks: [up0]}
networks:
  campus:
    kind: two-tier
    upstream: nat
    subnet: 10.20.0.0/24
    bridge: {name: agg0, mac: "52:54:00:14:00:01"}
    access:
      floor1: {bridge: {name: acc-f1, mac: "52:54:00:14:01:01"}}
      floor2: {bridge: {name: acc-f2, mac: "52:54:00:14:02:01"}}
  dmz:
    kind: macvtap
    mode: bridge
    uplink: up0
    subnet: 198.51.100.0/24
    shim: {name: dmz-shim, address: 198.51.100.2/24}
vms:
  desk1:
    nics: [{network: campus, access: floor1, mac: "52:54:00:14:10:01"}]
  desk2:
    nics: [{network: campus, access: floor2, mac: "52:54:00:14:20:01"}]
  proxy1:
    nics: [{network: dmz, mac: "52:54:00:c6:33:11"}]
"""
TWO_HOSTS = """\
name: pair
hosts:
  hv1: {uplinks: [up0]}
  hv2: {uplinks: [up0]}
networks:
  dmz: {kind: macvtap, mode: bridge, uplink: up0, shim: {name: dmz-shim}}
vms:
  a: {host: hv1, nics: [dmz]}
  b: {host: hv2, nics: [dmz]}
"""
#: what the plan creates on hv1, in order (the veth names are derived: matched by pattern)
CREATES = [
    r"bridge acc-f1 \(mac 52:54:00:14:01:01, stp off, delay 0\)",
    r"veth pair (vu-[0-9a-f]{12}) ↔ (va-[0-9a-f]{12})",
    r"port vu-[0-9a-f]{12} in bridge acc-f1",
    r"port va-[0-9a-f]{12} in bridge agg0",
    r"bridge acc-f2 \(mac 52:54:00:14:02:01, stp off, delay 0\)",
    r"veth pair (vu-[0-9a-f]{12}) ↔ (va-[0-9a-f]{12})",
    r"port vu-[0-9a-f]{12} in bridge acc-f2",
    r"port va-[0-9a-f]{12} in bridge agg0",
    r"macvlan shim dmz-shim \(on up0, mode bridge, address 198\.51\.100\.2/24\)",
]



def vnet(ns: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, inside ``ns``."""
    env = {k: v for k, v in os.environ.items() if k != "VNET_STATE_DIR"}
    return subprocess.run(["ip", "netns", "exec", ns, str(VNET), *args], capture_output=True, text=True,
                          timeout=60, env={**env, "LC_ALL": "C.UTF-8"})


def sh(ns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True, text=True)


def stable(ns: str) -> dict[str, Any]:
    """``link_state`` without the sizes the kernel derives from a bridge's ports."""
    return link_state(ns)


def settled(ns: str, want: dict[str, Any], timeout: float = 3.0) -> dict[str, Any]:
    """``stable(ns)`` once it equals ``want``, or after ``timeout``: the kernel reports a
    bridge's carrier (NO-CARRIER once its last port left) through linkwatch, up to a
    second late."""
    deadline = time.monotonic() + timeout
    while True:
        now = stable(ns)
        if now == want or time.monotonic() > deadline:
            return now
        time.sleep(0.1)


@pytest.fixture()
def hv1(tmp_path: Path) -> Iterator[str]:
    """A namespace with what the topology expects to find: libvirt's bridge agg0 and the
    uplink up0."""
    with netns() as ns:
        sh(ns, "link", "add", "agg0", "address", "52:54:00:14:00:01", "type", "bridge")
        sh(ns, "link", "set", "agg0", "up")
        sh(ns, "link", "add", "up0", "type", "veth", "peer", "name", "up0p")
        sh(ns, "link", "set", "up0", "up")
        sh(ns, "link", "set", "up0p", "up")
        yield ns


def change_lines(stdout: str, sign: str) -> list[str]:
    return [line[4:] for line in stdout.splitlines() if line.startswith(f"  {sign} ")]


def matches_plan(lines: list[str]) -> bool:
    return len(lines) == len(CREATES) and all(re.fullmatch(p, line) for p, line in zip(CREATES, lines))


def test_plan_apply_reapply_status_destroy(hv1: str, tmp_path: Path) -> None:
    topo = tmp_path / "clitest.yaml"
    topo.write_text(TOPOLOGY)
    sd = tmp_path / "state"
    before = stable(hv1)

    # plan: prints what it would create, exits 0, changes nothing, records nothing
    p = vnet(hv1, "plan", str(topo), "--state-dir", str(sd))
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("Host plan for topology 'clitest' on host 'hv1' (read from ")
    planned = change_lines(p.stdout, "+")
    assert matches_plan(planned), p.stdout
    assert "Plan: 9 to create, 0 to change, 0 to destroy, 0 in place." in p.stdout
    assert f"Apply it with: vnet host-apply {topo}" in p.stdout
    assert p.stderr == ""
    assert stable(hv1) == before
    assert not (sd / "state.json").exists()

    # apply: creates exactly the plan, says so
    a = vnet(hv1, "host-apply", str(topo), "--state-dir", str(sd))
    assert a.returncode == 0, a.stderr
    assert change_lines(a.stdout, "+") == planned
    assert a.stdout.splitlines()[-1] == f"{HOLDER}: 9 changes, 0 objects removed, 0 already in place."
    lk = links(hv1)
    for name, mac in (("acc-f1", "52:54:00:14:01:01"), ("acc-f2", "52:54:00:14:02:01")):
        assert lk[name]["linkinfo"]["info_kind"] == "bridge"
        assert lk[name]["address"] == mac and lk[name]["ifalias"] == f"vnet:clitest:{name}"
        assert "UP" in lk[name]["flags"]
    pairs = [re.fullmatch(CREATES[i], planned[i]).groups() for i in (1, 5)]  # type: ignore[union-attr]
    for (vu, va), access in zip(pairs, ("acc-f1", "acc-f2")):
        assert lk[vu]["linkinfo"]["info_kind"] == "veth" and lk[vu]["master"] == access
        assert lk[va]["master"] == "agg0" and lk[vu]["ifalias"] == f"vnet:clitest:{vu}"
    shim = lk["dmz-shim"]
    assert shim["linkinfo"]["info_kind"] == "macvlan" and shim["linkinfo"]["info_data"]["mode"] == "bridge"
    assert shim["link"] == "up0" and shim["ifalias"] == "vnet:clitest:dmz-shim"
    addrs = [(a["local"], a["prefixlen"]) for a in ip_json(hv1, "addr", "show", "dev", "dmz-shim")[0]["addr_info"]]
    assert ("198.51.100.2", 24) in addrs
    applied = stable(hv1)

    # again: nothing to do
    a2 = vnet(hv1, "host-apply", str(topo), "--state-dir", str(sd))
    assert a2.returncode == 0, a2.stderr
    assert a2.stdout.splitlines() == [f"{HOLDER}: 0 changes, 0 objects removed, 9 already in place."]
    assert stable(hv1) == applied
    p2 = vnet(hv1, "plan", str(topo), "--state-dir", str(sd))
    assert p2.returncode == 0 and "No changes: the host already matches" in p2.stdout, p2.stdout
    assert change_lines(p2.stdout, "+") == []

    # status: the holder and each of its objects
    s = vnet(hv1, "host-status", "--state-dir", str(sd))
    assert s.returncode == 0, s.stderr
    assert s.stdout.splitlines() == [f"{HOLDER}:", *(f"  {line}" for line in planned)]

    # destroy: everything goes, in reverse, and the namespace is as it was
    d = vnet(hv1, "host-destroy", str(topo), "--state-dir", str(sd))
    assert d.returncode == 0, d.stderr
    assert change_lines(d.stdout, "−") == planned[::-1]
    assert d.stdout.splitlines()[-1].startswith(f"{HOLDER}: 9 objects removed")
    assert settled(hv1, before) == before
    s2 = vnet(hv1, "host-status", "--state-dir", str(sd))
    assert s2.stdout.strip() == f"No host plumbing recorded in {sd}."
    d2 = vnet(hv1, "host-destroy", HOLDER, "--state-dir", str(sd))
    assert d2.returncode == 0 and "nothing held" in d2.stdout, d2.stdout


def test_conflict_with_a_foreign_bridge_is_exit_4_one_message_no_change(hv1: str, tmp_path: Path) -> None:
    topo = tmp_path / "clitest.yaml"
    topo.write_text(TOPOLOGY)
    sd = tmp_path / "state"
    sh(hv1, "link", "add", "acc-f1", "type", "bridge")  # someone else's, no vnet mark
    before = stable(hv1)
    for command in ("plan", "host-apply"):
        r = vnet(hv1, command, str(topo), "--state-dir", str(sd))
        assert r.returncode == 4, (command, r.returncode, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr
        assert r.stderr.startswith("vnet: conflict: ")
        assert r.stderr.count("vnet: ") == 1, r.stderr  # one error, not a cascade
        assert "acc-f1" in r.stderr and "vnet did not create it" in r.stderr
        assert "hint: " in r.stderr
        assert r.stdout == ""
        assert stable(hv1) == before, f"{command} changed the host"
    state = sd / "state.json"
    assert not state.exists() or '"holders": {}' in state.read_text()


def test_several_hosts_and_no_host_is_exit_2_naming_them(hv1: str, tmp_path: Path) -> None:
    topo = tmp_path / "pair.yaml"
    topo.write_text(TWO_HOSTS)
    sd = tmp_path / "state"
    before = stable(hv1)
    for command in ("plan", "host-apply", "host-destroy"):
        r = vnet(hv1, command, str(topo), "--state-dir", str(sd))
        assert r.returncode == 2, (command, r.returncode, r.stderr)
        assert "Traceback" not in r.stderr
        assert "hv1" in r.stderr and "hv2" in r.stderr and "--host" in r.stderr, r.stderr
    r = vnet(hv1, "host-apply", str(topo), "--host", "hv9", "--state-dir", str(sd))
    assert r.returncode == 2 and "hv9" in r.stderr and "hv1, hv2" in r.stderr, r.stderr
    assert stable(hv1) == before
    # with --host it works
    ok = vnet(hv1, "plan", str(topo), "--host", "hv2", "--state-dir", str(sd))
    assert ok.returncode == 0, ok.stderr
    assert change_lines(ok.stdout, "+") == ["macvlan shim dmz-shim (on up0, mode bridge)"]


@pytest.mark.parametrize("command", ["plan", "host-apply"])
def test_help_names_the_state_directory_and_the_ownership_mark(command: str) -> None:
    r = subprocess.run([str(VNET), command, "--help"], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "--state-dir" in text and "/run/libvirt-vnet" in text
    assert "vnet:<topology>:<name>" in text, f"`vnet {command} --help` does not name the ownership mark"


def test_shipped_two_tier_example_with_stp_applies(tmp_path: Path) -> None:
    """examples/a-v0-two-tier.yaml: access bridge floor2 has stp on (delay 0, libvirt's
    default).  With STP on the kernel keeps forward_delay within 2..30 s, so the bridge
    comes up with 2 s; that must count as applied, and a second apply must change nothing."""
    example = REPO / "examples" / "a-v0-two-tier.yaml"
    sd = tmp_path / "state"
    with netns() as ns:
        sh(ns, "link", "add", "agg0", "address", "52:54:00:14:00:01", "type", "bridge")
        before = stable(ns)
        a = vnet(ns, "host-apply", str(example), "--state-dir", str(sd))
        assert a.returncode == 0, a.stderr
        data = links(ns)["acc-floor2"]["linkinfo"]["info_data"]
        assert data["stp_state"] == 1 and data["forward_delay"] == 200
        a2 = vnet(ns, "host-apply", str(example), "--state-dir", str(sd))
        assert a2.returncode == 0 and " 0 changes," in a2.stdout, (a2.stdout, a2.stderr)
        d = vnet(ns, "host-destroy", str(example), "--state-dir", str(sd))
        assert d.returncode == 0, d.stderr
        assert settled(ns, before) == before


def test_destroying_a_holder_whose_objects_others_still_use_says_so(hv1: str, tmp_path: Path) -> None:
    """Two topologies share the shim (same device, same settings): destroying one keeps
    the shim for the other — and must say that it let go of it, not that it held nothing."""
    sd = tmp_path / "state"
    files = []
    for name in ("ta", "tb"):
        f = tmp_path / f"{name}.yaml"
        f.write_text(f"name: {name}\nhosts:\n  hv1: {{uplinks: [up0]}}\n"
                     "networks:\n  dmz: {kind: macvtap, mode: bridge, uplink: up0, shim: {name: dmz-shim}}\n"
                     "vms:\n  a: {nics: [dmz]}\n")
        files.append(f)
        r = vnet(hv1, "host-apply", str(f), "--state-dir", str(sd))
        assert r.returncode == 0, r.stderr
    assert links(hv1)["dmz-shim"]["ifalias"] == "vnet:ta:dmz-shim"
    s = vnet(hv1, "host-status", "--state-dir", str(sd))
    assert "(shared with topology:tb@hv1)" in s.stdout and "(shared with topology:ta@hv1)" in s.stdout, s.stdout

    d = vnet(hv1, "host-destroy", str(files[1]), "--state-dir", str(sd))
    assert d.returncode == 0, d.stderr
    assert "dmz-shim" in links(hv1)  # ta still uses it
    s = vnet(hv1, "host-status", "--state-dir", str(sd))
    assert s.stdout.splitlines() == ["topology:ta@hv1:", "  macvlan shim dmz-shim (on up0, mode bridge)"]
    assert "nothing held" not in d.stdout, f"tb held the shim until now, but host-destroy says: {d.stdout!r}"
    assert "dmz-shim" in d.stdout and "topology:ta@hv1" in d.stdout, d.stdout

    d = vnet(hv1, "host-destroy", str(files[0]), "--state-dir", str(sd))
    assert d.returncode == 0 and "dmz-shim" not in links(hv1), d.stdout


@pytest.mark.parametrize("shim", ["", ", shim: {name: dmz-shim}"], ids=["no-shim", "shim"])
def test_plan_names_a_missing_uplink(hv1: str, tmp_path: Path, shim: str) -> None:
    """An uplink only libvirt uses (a macvtap network without shim) is in no host action:
    plan said "No changes: the host already matches" on a host lacking it."""
    topo = tmp_path / "t.yaml"
    topo.write_text(f"name: nouplink\nhosts:\n  hv1: {{uplinks: [gone0]}}\nnetworks:\n"
                    f"  dmz: {{kind: macvtap, mode: bridge, uplink: gone0{shim}}}\n"
                    "vms:\n  a: {nics: [dmz]}\n")
    state = tmp_path / "state"
    r = vnet(hv1, "plan", str(topo), "--state-dir", str(state))
    assert r.returncode == 4 and "gone0" in r.stdout + r.stderr, r
    assert "No changes" not in r.stdout
    r = vnet(hv1, "host-apply", str(topo), "--state-dir", str(state))
    assert r.returncode == 4 and "gone0" in r.stderr, r
