"""``vnet host-destroy`` of a hook holder (``network:NAME``, ``domain:NAME``) asks libvirt
whether it still runs: a running one is refused (exit 4) unless ``--force``, which says
what it forced; a libvirt that cannot be asked is refused too (exit 5) unless ``--force``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support.netns import netns

from libvirt_vnet import virt
from libvirt_vnet.lab import Lab

VNET = Path(sys.executable).with_name("vnet")
NET_XML = "<network><name>holdnet</name><bridge name='vnthold0'/></network>"


def seed(state: Path, holder: str) -> None:
    """A state directory in which ``holder`` holds one object (a bridge that does not exist
    in the test's namespace: releasing it changes nothing)."""
    state.mkdir(mode=0o700)
    undo = {"op": "delete", "name": "ghost0", "kind": "bridge", "mark": "vnet:x:ghost0"}
    (state / "state.json").write_text(json.dumps({
        "version": 1, "committed": "", "pending": [], "failed": [],
        "objects": {"link:ghost0": {"want": "bridge ghost0", "holders": [holder], "undo": [undo]}},
        "holders": {holder: ["link:ghost0"]}}))


def destroy(ns: str, state: Path, holder: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VNET_STATE_DIR"}
    return subprocess.run(["ip", "netns", "exec", ns, str(VNET), "host-destroy", holder, "--state-dir", str(state),
                           *extra], capture_output=True, text=True, timeout=60, env=env)


def held(state: Path) -> dict[str, list[str]]:
    holders: dict[str, list[str]] = json.loads((state / "state.json").read_text())["holders"]
    return holders


def test_host_destroy_refuses_a_running_network_unless_forced(clean_lab: Lab, tmp_path: Path) -> None:
    holder = "network:holdnet"
    with virt.connect(clean_lab.uri) as conn:
        virt.define_network(conn, NET_XML, "holdnet")
        conn.networkLookupByName("holdnet").create()
    with netns() as ns:
        seed(tmp_path / "a", holder)
        r = destroy(ns, tmp_path / "a", holder, "--connect", clean_lab.uri)
        assert r.returncode == 4 and "network holdnet is running" in r.stderr and "--force" in r.stderr, r
        assert holder in held(tmp_path / "a")

        r = destroy(ns, tmp_path / "a", holder, "--connect", "qemu:///system?socket=/nonexistent/sock")
        assert r.returncode == 5 and "cannot ask libvirt" in r.stderr and "--force" in r.stderr, r
        assert holder in held(tmp_path / "a")

        r = destroy(ns, tmp_path / "a", holder, "--connect", clean_lab.uri, "--force")
        assert r.returncode == 0 and "forced: network holdnet is running" in r.stdout, r
        assert holder not in held(tmp_path / "a")

        seed(tmp_path / "b", "domain:ghostvm/ports")  # not defined: not running
        with virt.connect(clean_lab.uri) as conn:
            conn.networkLookupByName("holdnet").destroy()
        seed(tmp_path / "c", holder)
        for state, h in ((tmp_path / "b", "domain:ghostvm/ports"), (tmp_path / "c", holder)):
            r = destroy(ns, state, h, "--connect", clean_lab.uri)
            assert r.returncode == 0 and "forced" not in r.stdout, r
            assert h not in held(state)
