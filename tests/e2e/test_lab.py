"""The libvirt sandbox (``libvirt_vnet.lab``) against the real libvirtd, QEMU and kernel.

Oracles are independent of the product: ``ip -j -d link`` (host and ``ip -n vnet-lab-X``),
/proc (namespace links of every process, /proc/self/mountinfo) and the host's files.
Needs root, libvirtd, qemu-system-x86_64, dnsmasq, util-linux and iproute2; under
VNET_REQUIRE_ALL=1 a missing prerequisite fails.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.lab import fresh_name, require_lab

from libvirt_vnet import virt
from libvirt_vnet.cli.lab import add_parsers as add_lab_parser
from libvirt_vnet.errors import ConflictError, HostError, InputError
from libvirt_vnet.lab import Lab, labs
from libvirt_vnet.lab import sandbox as lab_module

REPO = Path(__file__).resolve().parents[2]
SUBNET = "10.213.7"


@pytest.fixture(autouse=True)
def _prerequisites() -> None:
    require_lab()


@pytest.fixture()
def own_lab() -> Iterator[Lab]:
    """A lab of the test's own (not up yet); removed afterwards whatever happened."""
    the_lab = Lab(fresh_name())
    try:
        yield the_lab
    finally:
        the_lab.down()


# ---- oracles -----------------------------------------------------------------------------

def ip_links(netns: str | None = None) -> list[dict[str, Any]]:
    argv = ["ip", *(["-n", netns] if netns else []), "-j", "-d", "link"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    links: list[dict[str, Any]] = json.loads(out)
    return links


def ns_inode(pid: int | str, kind: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    except OSError:
        return None


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # a zombie waits only for its reaper


def in_netns(inode: int) -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and ns_inode(p, "net") == inode and running(int(p))]


def mount_points() -> list[str]:
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]


def listing(path: str) -> list[str] | None:
    """Everything under a directory (names, recursively), or None if it does not exist."""
    if not os.path.isdir(path):
        return None
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, dirs, files in os.walk(path) for f in dirs + files)


def nat_network(name: str, bridge: str) -> str:
    return (f"<network><name>{name}</name><forward mode='nat'/><bridge name='{bridge}'/>"
            f"<ip address='{SUBNET}.1' netmask='255.255.255.0'><dhcp>"
            f"<range start='{SUBNET}.10' end='{SUBNET}.20'/></dhcp></ip></network>")


def tiny_domain(name: str, network: str) -> str:
    return (f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>"
            "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>"
            f"<interface type='network'><source network='{network}'/></interface>"
            "<serial type='pty'/><console type='pty'/></devices></domain>")


def start_network_and_domain(lab: Lab, suffix: str) -> tuple[str, str]:
    """Start NAT network ``n<suffix>`` (bridge ``b<suffix>``) and a VM on it; returns
    (bridge, tap)."""
    bridge = f"b{suffix}"
    with virt.connect(lab.uri) as conn:
        conn.networkCreateXML(nat_network(f"n{suffix}", bridge))
        dom = conn.createXML(tiny_domain(f"vm{suffix}", f"n{suffix}"), 0)
        assert dom.isActive()
        xml = str(dom.XMLDesc(0))
    tap = xml.split("<target dev='", 1)[1].split("'", 1)[0]
    return bridge, tap


# ---- tests -------------------------------------------------------------------------------

def test_up_runs_a_private_libvirtd_and_leaves_the_host_alone(own_lab: Lab) -> None:
    host_run_libvirt = listing("/run/libvirt")
    host_etc_libvirt = listing("/etc/libvirt")
    host_links = sorted(link["ifname"] for link in ip_links())
    started = time.monotonic()
    own_lab.up()
    took = time.monotonic() - started
    assert own_lab.is_up()
    assert took < 20
    with virt.connect(own_lab.uri) as conn:
        assert virt.hostname(conn)
        assert virt.version_of(conn).major >= 9
        assert virt.object_counts(conn) == {"domains": 0, "domains_active": 0, "networks": 0, "networks_active": 0}
    links = ip_links(own_lab.netns)
    assert [link["ifname"] for link in links] == ["lo"]
    assert "UP" in links[0]["flags"]
    # the daemons run in the lab's namespaces, with their pid files in the lab
    netns = os.stat(own_lab.netns_path).st_ino
    mntns = os.stat(own_lab.mnt).st_ino
    daemons = {comm: pid for pid, comm in own_lab.pids().items()}
    assert {"libvirtd", "virtlogd"} <= set(daemons)
    for pid in daemons.values():
        assert ns_inode(pid, "net") == netns and ns_inode(pid, "mnt") == mntns
    assert own_lab.libvirtd_pid() == daemons["libvirtd"]
    assert Path(own_lab.host_path("/run/libvirt/libvirtd.pid")).read_text().strip() == str(daemons["libvirtd"])
    assert Path(own_lab.libvirtd_log).exists()
    # ... and nothing of them on the host
    assert not os.path.exists("/run/libvirtd.pid") and not os.path.exists("/run/virtlogd.pid")
    assert listing("/run/libvirt") == host_run_libvirt
    assert listing("/etc/libvirt") == host_etc_libvirt
    assert sorted(link["ifname"] for link in ip_links()) == host_links
    # lab.command runs inside: the lab's netns, its own /run
    out = subprocess.run(own_lab.command(["readlink", "/proc/self/ns/net"]), capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == f"net:[{netns}]"
    out = subprocess.run(own_lab.command(["ls", "/run"]), capture_output=True, text=True, check=True).stdout
    assert set(out.split()) == {"libvirt", "libvirt-vnet", "lock", "vnet-lab-init.pid"}
    assert own_lab.name in [x.name for x in labs()]
    assert os.path.isdir(own_lab.state_dir) and os.path.isfile(os.path.join(own_lab.etc_libvirt, "qemu.conf"))


def test_nat_network_and_domain_stay_inside(clean_lab: Lab) -> None:
    suffix = fresh_name()[1:]
    bridge, tap = start_network_and_domain(clean_lab, suffix)
    links = {link["ifname"]: link for link in ip_links(clean_lab.netns)}
    assert links[bridge]["linkinfo"]["info_kind"] == "bridge"
    assert links[tap]["linkinfo"]["info_kind"] == "tun"
    assert links[tap]["master"] == bridge
    tap_mac = links[tap]["address"]
    assert tap_mac.startswith("fe:")
    host = ip_links()
    assert bridge not in {link["ifname"] for link in host}
    assert tap_mac not in {link.get("address") for link in host}
    comms = set(clean_lab.pids().values())
    assert "dnsmasq" in comms and any(c.startswith("qemu") for c in comms)
    assert {"lo", bridge, tap} == set(links)


def test_restart_libvirtd_keeps_what_runs(clean_lab: Lab) -> None:
    suffix = fresh_name()[1:]
    bridge, tap = start_network_and_domain(clean_lab, suffix)
    before = clean_lab.libvirtd_pid()
    clean_lab.restart_libvirtd()
    after = clean_lab.libvirtd_pid()
    assert before and after and after != before
    assert clean_lab.is_up()
    with virt.connect(clean_lab.uri) as conn:
        counts = virt.object_counts(conn)
    assert counts["domains_active"] == 1 and counts["networks_active"] == 1
    assert {bridge, tap} <= {link["ifname"] for link in ip_links(clean_lab.netns)}


def test_up_twice_is_idempotent(own_lab: Lab) -> None:
    assert own_lab.up() is own_lab
    pid = own_lab.libvirtd_pid()
    assert own_lab.up() is own_lab
    assert own_lab.libvirtd_pid() == pid
    assert Lab(own_lab.name).up().libvirtd_pid() == pid  # another handle, same lab


def test_half_there_lab_is_refused_until_down(own_lab: Lab) -> None:
    own_lab.up()
    suffix = fresh_name()[1:]
    start_network_and_domain(own_lab, suffix)
    netns = os.stat(own_lab.netns_path).st_ino
    pid = own_lab.libvirtd_pid()
    assert pid
    os.kill(pid, signal.SIGKILL)  # dnsmasq and qemu stay behind
    deadline = time.monotonic() + 5
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not own_lab.is_up()
    with pytest.raises(ConflictError) as err:
        own_lab.up()
    assert "half there" in err.value.message and f"vnet lab down {own_lab.name}" in (err.value.hint or "")
    assert in_netns(netns)  # the lab's dnsmasq, qemu, virtlogd
    lines = own_lab.down()
    assert any("dnsmasq" in line for line in lines) and any("qemu" in line for line in lines)
    assert in_netns(netns) == []
    assert not os.path.exists(own_lab.dir)


def test_down_leaves_nothing(own_lab: Lab) -> None:
    own_lab.up()
    suffix = fresh_name()[1:]
    start_network_and_domain(own_lab, suffix)
    netns = os.stat(own_lab.netns_path).st_ino
    procs = own_lab.pids()
    assert {"libvirtd", "virtlogd", "dnsmasq"} <= set(procs.values())
    started = time.monotonic()
    lines = own_lab.down()
    assert time.monotonic() - started < 30
    assert f"destroyed domain vm{suffix}" in lines and f"destroyed network n{suffix}" in lines
    assert in_netns(netns) == []
    assert [pid for pid in procs if running(pid)] == []
    points = mount_points()
    assert not [p for p in points if p.startswith(own_lab.dir)]
    assert own_lab.netns_path not in points
    assert not os.path.lexists(own_lab.dir) and not os.path.lexists(own_lab.netns_path)
    assert not own_lab.is_up() and own_lab.pids() == {}
    assert own_lab.name not in [x.name for x in labs()]
    assert own_lab.down() == []  # again: nothing to do


def test_a_failed_up_says_why_and_leaves_nothing(own_lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(lab_module.CONF_OVERRIDES, "libvirtd.conf", ['max_clients = "many"'])
    with pytest.raises(HostError) as err:
        own_lab.up()
    assert "max_clients" in err.value.message and "removed again" in (err.value.hint or "")
    assert not os.path.lexists(own_lab.dir) and not os.path.lexists(own_lab.netns_path)
    assert not [p for p in mount_points() if p.startswith(own_lab.dir)]


def test_two_labs_do_not_hold_each_other(own_lab: Lab, lab: Lab) -> None:
    """A lab's mount namespace starts as a copy of the host's: the copies of other labs'
    mounts and of every namespace file are dropped, or they would keep those alive."""
    own_lab.up()
    mountinfo = subprocess.run(own_lab.command(["cat", "/proc/self/mountinfo"]), capture_output=True, text=True,
                               check=True).stdout
    assert " - nsfs " not in mountinfo
    assert lab.dir not in mountinfo and lab.netns_path not in mountinfo
    assert lab.is_up() and own_lab.is_up()
    own_lab.down()
    assert lab.is_up()


def test_context_manager(own_lab: Lab) -> None:
    with Lab(own_lab.name) as inner:
        assert inner.is_up()
    assert not os.path.exists(own_lab.dir)


@pytest.mark.parametrize("name", ["", "Upper", "-lead", "a_b", "x" * 16, "a/b", "..", "a b"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(InputError):
        Lab(name)


# ---- command line ------------------------------------------------------------------------

def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="vnet")
    add_lab_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    result: int = args.func(args)
    return result


def test_cli_up_status_exec_down(capsys: pytest.CaptureFixture[str]) -> None:
    name = fresh_name()
    the_lab = Lab(name)
    export = f"export LIBVIRT_DEFAULT_URI='qemu:///system?socket=/run/vnet-lab/{name}/fs/run/libvirt/libvirt-sock'"
    try:
        assert run_cli("lab", "up", name, "--no-hooks") == 0
        out = capsys.readouterr().out
        assert f"lab {name} is up" in out and export in out.splitlines()
        assert run_cli("lab", "up", name, "--no-hooks") == 0
        assert "already up" in capsys.readouterr().out
        assert run_cli("lab", "status", name) == 0
        out = capsys.readouterr().out
        assert f"libvirtd pid {the_lab.libvirtd_pid()}" in out and "0 domains" in out
        assert f"  {export}" in out.splitlines()
        assert run_cli("lab", "status") == 0
        assert name in capsys.readouterr().out
        # exec replaces the process: run it through python -m libvirt_vnet
        res = subprocess.run([sys.executable, "-m", "libvirt_vnet", "lab", "exec", name, "--", "readlink",
                              "/proc/self/ns/net"], capture_output=True, text=True, cwd=REPO, timeout=60)
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == f"net:[{os.stat(the_lab.netns_path).st_ino}]"
        assert run_cli("lab", "down", name) == 0
        out = capsys.readouterr().out
        assert f"lab {name} is down" in out and "stopped libvirtd" in out
        assert run_cli("lab", "down", name) == 0
        assert "nothing to remove" in capsys.readouterr().out
        assert run_cli("lab", "status", name) == 0
        assert f"{name}" in capsys.readouterr().out
        with pytest.raises(HostError, match="not up"):
            run_cli("lab", "exec", name, "--", "true")
    finally:
        the_lab.down()


def test_cli_help_teaches_the_lab(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run_cli("lab", "up", "--help")
    text = capsys.readouterr().out
    assert "network and mount" in text and "export LIBVIRT_DEFAULT_URI=" in text
    assert "ip -n vnet-lab-" in text and "destroys every VM and network" in text
    assert run_cli("lab") == 64
    with pytest.raises(InputError):
        run_cli("lab", "up", "Not_A_Name")


def test_not_root_is_told_so(own_lab: Lab) -> None:
    os.seteuid(65534)  # the real uid stays 0, so it can be set back
    try:
        with pytest.raises(HostError) as err:
            own_lab.up()
    finally:
        os.seteuid(0)
    assert "needs root" in err.value.message and err.value.hint
    assert not os.path.exists(own_lab.dir)
