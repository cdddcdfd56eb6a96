"""The host preflight (libvirt_vnet.host.preflight): what an 802.1Qbg port needs of the
host — lldpad running, an uplink that is or sits on a physical NIC — read from sysfs and
/proc, on fake trees (every kind of device libvirt would wedge on) and on this machine."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

from libvirt_vnet import topology as topo_input
from libvirt_vnet.drivers import registry
from libvirt_vnet.drivers.base import VDP as DRIVERS_VDP
from libvirt_vnet.host import preflight
from libvirt_vnet.host.preflight import VDP


class FakeHost:
    """A root with /sys/class/net, /proc and /run as the kernel lays them out."""

    def __init__(self, root: Path):
        self.root = root
        self.net = root / "sys" / "class" / "net"
        self.net.mkdir(parents=True)
        (root / "proc").mkdir()
        self.next_index = 1

    def link(self, name: str, *, devtype: str = "", physical: bool = False, lower: str = "",
             iflink: int = 0, bridge: bool = False, type_: int = 1) -> int:
        d = self.net / name
        d.mkdir()
        index = self.next_index
        self.next_index += 1
        (d / "ifindex").write_text(f"{index}\n")
        (d / "iflink").write_text(f"{iflink or index}\n")
        (d / "type").write_text(f"{type_}\n")
        (d / "uevent").write_text(f"INTERFACE={name}\nIFINDEX={index}\n"
                                  + (f"DEVTYPE={devtype}\n" if devtype else ""))
        if physical:
            (d / "device").mkdir()
        if bridge:
            (d / "bridge").mkdir()
        if lower:
            (d / f"lower_{lower}").mkdir()
        return index

    def veth_pair(self, a: str, b: str) -> None:
        ia = self.link(a, iflink=self.next_index + 1)
        self.link(b, iflink=ia)

    def process(self, pid: int, comm: str) -> None:
        (self.root / "proc" / str(pid)).mkdir()
        (self.root / "proc" / str(pid) / "comm").write_text(comm + "\n")

    def lldpad(self, *, installed: bool = True, running: bool = True) -> None:
        if installed:
            (self.root / "usr" / "sbin").mkdir(parents=True, exist_ok=True)
            (self.root / "usr" / "sbin" / "lldpad").write_text("")
        if running:
            (self.root / "var" / "run").mkdir(parents=True, exist_ok=True)
            (self.root / "var" / "run" / "lldpad.pid").write_text("4242\n")
            self.process(4242, "lldpad")


@pytest.fixture()
def host(tmp_path: Path) -> FakeHost:
    h = FakeHost(tmp_path)
    h.link("eth0", physical=True)
    eth0 = int((h.net / "eth0" / "ifindex").read_text())
    h.link("eth0.10", devtype="vlan", lower="eth0", iflink=eth0)
    h.veth_pair("uxup1", "uxup1p")
    h.link("br0", devtype="bridge", bridge=True)
    h.link("bond0", devtype="bond")
    h.link("dummy0")
    h.link("mv0", lower="eth0", iflink=1)  # a macvlan on eth0
    h.link("lo", type_=772)
    h.link("eth9.5", devtype="vlan", iflink=99)  # its parent is in another namespace
    br0 = int((h.net / "br0" / "ifindex").read_text())
    h.link("br0.7", devtype="vlan", lower="br0", iflink=br0)
    return h


@pytest.mark.parametrize(("name", "kind", "problem"), [
    ("eth0", "physical", None),
    ("eth0.10", "vlan", None),
    ("uxup1", "veth", "is a veth: libvirt follows its link to the peer and back forever, hanging the daemon"),
    ("uxup1p", "veth", "is a veth"),
    ("br0", "bridge", "is a bridge device, not a physical NIC"),
    ("bond0", "bond", "is a bond device, not a physical NIC"),
    ("dummy0", "virtual", "is a virtual device"),
    ("lo", "loopback", "is a loopback device"),
    ("mv0", "stacked", "is a device stacked on 'eth0' (a macvlan or the like)"),
    ("nope0", "missing", "the device does not exist on this host"),
    ("eth9.5", "vlan", "its lower device 'ifindex 99' is not in this network namespace"),
    ("br0.7", "vlan", "its lower device 'br0' is a bridge device"),
])
def test_uplink_kinds(host: FakeHost, name: str, kind: str, problem: str | None) -> None:
    host.lldpad()
    assert preflight.device_kind(name, host.root) == kind
    found = preflight.vdp_uplink_problem(name, host.root)
    assert (found is None) if problem is None else (found is not None and problem in found), found
    problems = preflight.check([name, name], VDP, host.root)  # asked twice: said once
    assert len(problems) == (0 if problem is None else 1)
    assert all(p.device == name and p.need == VDP and p.hint for p in problems)
    # a missing uplink is told to name the right one, not to use another kind of port
    assert all(("ip -br link" in p.hint) == (kind == "missing") for p in problems)


def test_a_loop_of_lower_devices_is_named(host: FakeHost) -> None:
    a = host.link("x0", devtype="vlan", iflink=host.next_index + 1)
    (host.net / "x0" / "lower_x1").mkdir()
    host.link("x1", devtype="vlan", lower="x0", iflink=a)
    assert "is a loop (x0 -> x1 -> x0)" in (preflight.vdp_uplink_problem("x0", host.root) or "")


@pytest.mark.parametrize(("setup", "message"), [
    ({"installed": False, "running": False}, "lldpad is not installed"),
    ({"installed": True, "running": False}, "lldpad is installed but not running"),
    ({"installed": True, "running": True}, None),
])
def test_lldpad(host: FakeHost, setup: dict[str, bool], message: str | None) -> None:
    host.lldpad(**setup)
    problems = preflight.check(["eth0"], VDP, host.root)
    assert [p.message for p in problems if message and message in p.message] == \
        [p.message for p in problems], problems
    assert len(problems) == (1 if message else 0)
    assert all(p.device is None for p in problems)


def test_lldpad_found_by_stale_pid_socket_or_process(host: FakeHost) -> None:
    host.lldpad(running=False)
    (host.root / "var" / "run").mkdir(parents=True)
    (host.root / "var" / "run" / "lldpad.pid").write_text("77\n")  # stale: no such process
    assert preflight.lldpad_problems(host.root)
    host.process(77, "bash")  # a reused pid is not lldpad
    assert preflight.lldpad_problems(host.root)
    host.process(78, "lldpad")  # a process called lldpad is
    assert preflight.lldpad_problems(host.root) == []
    os.rename(host.root / "proc" / "78", host.root / "proc" / "x78")
    path = host.root / "run" / "lldpad.sock"
    path.parent.mkdir()
    with socket.socket(socket.AF_UNIX) as s:  # its control socket is too
        s.bind(str(path))
        assert preflight.lldpad_problems(host.root) == []


def test_this_machine() -> None:
    """Real sysfs: lo and a name that does not exist (nothing else is assumed of it)."""
    assert preflight.device_kind("lo") == "loopback"
    assert preflight.vdp_uplink_problem("h3-nope-0") == "the device does not exist on this host"
    with pytest.raises(ValueError):
        preflight.check(["lo"], "teleportation")


def test_the_drivers_and_the_host_name_the_need_alike() -> None:
    assert DRIVERS_VDP == VDP


EDGE: dict[str, Any] = {"kind": "macvtap", "mode": "vepa", "uplink": "eth1"}


@pytest.mark.parametrize(("net", "nics", "devices"), [
    ({**EDGE, "virtualport": {"type": "802.1Qbg", "managerid": 1, "typeid": 2, "typeidversion": 3}},
     [], ["eth1"]),
    ({**EDGE, "uplink": None, "uplinks": ["eth1", "eth2"], "virtualport": {"type": "802.1Qbg", "managerid": 1},
      "portgroups": {"a": {"default": True, "virtualport": {"typeid": 2, "typeidversion": 3}}}},
     [{"network": "e"}], ["eth1", "eth2"]),
    (EDGE, [{"network": "e", "attach": "direct", "virtualport": {
        "type": "802.1Qbg", "managerid": 1, "typeid": 2, "typeidversion": 3}}], ["eth1"]),
    ({**EDGE, "uplink": None, "pf": "ens1f0", "virtualport": {"type": "802.1Qbg", "managerid": 1,
                                                              "typeid": 2, "typeidversion": 3}}, [], ["ens1f0"]),
    (EDGE, [{"network": "e"}], []),
    ({**EDGE, "virtualport": {"type": "802.1Qbh", "profileid": "p"}}, [{"network": "e"}], []),
])
def test_802_1qbg_asks_the_host_for_vdp(net: dict[str, Any], nics: list[Any], devices: list[str]) -> None:
    net = {k: v for k, v in net.items() if v is not None}
    topo = topo_input.load({"name": "t", "networks": {"e": net}, "vms": {"g": {"nics": nics}}})
    spec = topo.network("e")
    reqs = registry.driver_for("macvtap").host_requirements(spec, topo, "localhost")
    assert [r.device for r in reqs] == devices and all(r.need == VDP for r in reqs)


def test_plan_says_it_and_host_apply_refuses(tmp_path: Path) -> None:
    """`vnet plan` prints what the host lacks (exit 4); `vnet host-apply` changes nothing."""
    import subprocess
    import sys

    topo = tmp_path / "edge.yaml"
    topo.write_text("name: edge\nnetworks:\n  e: {kind: macvtap, mode: bridge, uplink: h3-nope-0,\n"
                    "      virtualport: {type: 802.1Qbg, managerid: 1, typeid: 2, typeidversion: 3}}\n")
    vnet = str(Path(sys.executable).with_name("vnet"))
    state = str(tmp_path / "state")
    r = subprocess.run([vnet, "plan", str(topo), "--state-dir", state], capture_output=True, text=True, timeout=60)
    assert r.returncode == 4, r.stderr
    assert "Preflight:" in r.stdout and "networks.e.virtualport: needs 802.1Qbg VDP: h3-nope-0: the device " \
        "does not exist on this host" in r.stdout
    r = subprocess.run([vnet, "host-apply", str(topo), "--state-dir", state], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 4 and r.stderr.startswith("vnet: conflict: ") and "h3-nope-0" in r.stderr, r.stderr
    assert not Path(state).exists() or not any(Path(state).iterdir())  # nothing was recorded
