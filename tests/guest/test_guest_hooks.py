"""The qemu hook's VLAN and VF work, in the nested guest (this needs 8021q and netdevsim).

libvirt cannot start a domain on netdevsim VFs (they are not PCI functions), so the
installed hook script is invoked directly, as libvirt invokes it: arguments, and the
domain XML rendered by vnet on stdin — the live form (``<target dev>``) for
``start begin``, after doing by hand what libvirt does between the calls (create the tap
and put it in the bridge; give the VF the NIC's MAC).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from libvirt_vnet import load, render
from libvirt_vnet.hook.install import install_hooks

BASE = ("<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>"
        "<os><type arch='x86_64'>hvm</type></os><devices/></domain>")


def _hook(tmp_path: Path) -> Path:
    root = tmp_path / "etc"
    root.mkdir(exist_ok=True)
    install_hooks(str(root), layout="dir", state_dir=str(tmp_path / "state"), log_file=str(tmp_path / "hooks.log"))
    return root / "hooks" / "qemu.d" / "50-libvirt-vnet"


def _call(script: Path, domain: str, op: str, sub: str, xml: str,
          importtime: bool = False) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    argv = [sys.executable, "-IS", "-X", "importtime", str(script)] if importtime else [str(script)]
    proc = subprocess.run([*argv, domain, op, sub, "-"], input=xml, capture_output=True, text=True, timeout=120)
    if not importtime:
        return proc, set()
    modules = {ln.rsplit("|", 1)[1].strip() for ln in proc.stderr.splitlines() if ln.startswith("import time:")}
    proc.stderr = "".join(ln for ln in proc.stderr.splitlines(True) if not ln.startswith("import time:"))
    return proc, modules


def _live(xml: str, taps: dict[str, str]) -> str:
    """The domain XML as libvirt passes it once the taps exist."""
    for mac, tap in taps.items():
        xml = xml.replace(f'<mac address="{mac}"/>', f'<mac address="{mac}"/><target dev="{tap}"/>')
    return xml


def _links() -> dict[str, dict[str, Any]]:
    out = subprocess.run(["ip", "-j", "-d", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {lk["ifname"]: lk for lk in json.loads(out)}


def test_qemu_hook_vlan_bridge_lifecycle(dummy_parent: str, new_name: Callable[[str], str],
                                         sh: Callable[..., str], tmp_path: Path) -> None:
    br, vdev = new_name("br"), new_name("vl")
    topo = load({"name": "nest", "hosts": {"hv1": {"uri": "qemu:///system", "uplinks": [dummy_parent]}},
                 "networks": {"v10": {"kind": "vlan-bridge", "uplink": dummy_parent, "vlan": 10, "hairpin": True,
                                      "vlan_device": vdev, "bridge": {"name": br}}},
                 "vms": {n: {"nics": [{"network": "v10", "attach": "bridge"}]} for n in ("a", "b", "c")}})
    rendering = render(topo)
    xml = {n: rendering.vm(n).merge_into(BASE.format(name=n)) for n in ("a", "b")}
    mac = {n: rendering.vm(n).metadata.nics[0].mac for n in ("a", "b")}
    hook = _hook(tmp_path)
    before = set(_links())

    proc, _ = _call(hook, "a", "prepare", "begin", xml["a"])
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == "", proc.stderr
    now = _links()
    assert now[vdev]["linkinfo"]["info_data"]["id"] == 10 and now[vdev]["link"] == dummy_parent
    assert now[vdev]["master"] == br and now[br]["ifalias"] == "vnet:nest:" + br

    tap = new_name("tp")  # what libvirt does next: the tap, in the bridge
    sh("ip", "tuntap", "add", tap, "mode", "tap")
    sh("ip", "link", "set", tap, "master", br, "up")
    proc, _ = _call(hook, "a", "start", "begin", _live(xml["a"], {mac["a"]: tap}))
    assert proc.returncode == 0, proc.stderr
    assert _links()[tap]["linkinfo"]["info_slave_data"]["hairpin"] is True

    # a second VM on the same VLAN: everything is in place, so no netlink (no pyroute2)
    proc, modules = _call(hook, "b", "prepare", "begin", xml["b"], importtime=True)
    assert proc.returncode == 0, proc.stderr
    assert "libvirt_vnet.host.executor" in modules and not any(m.startswith("pyroute2") for m in modules)

    sh("ip", "link", "del", tap)  # libvirt removes the tap before release
    assert _call(hook, "a", "release", "end", xml["a"])[0].returncode == 0
    assert br in _links(), "b still holds the bridge"
    assert _call(hook, "b", "release", "end", "<domain/>")[0].returncode == 0  # state, not XML
    assert set(_links()) == before
    assert "domain a prepare begin" in (tmp_path / "hooks.log").read_text()


def test_qemu_hook_failure_is_one_line_and_changes_nothing(dummy_parent: str, new_name: Callable[[str], str],
                                                          sh: Callable[..., str], tmp_path: Path) -> None:
    br, vdev = new_name("br"), new_name("vl")
    sh("ip", "link", "add", "link", dummy_parent, "name", vdev, "type", "vlan", "id", "11")  # in the way
    topo = load({"name": "nest", "hosts": {"hv1": {"uri": "qemu:///system", "uplinks": [dummy_parent]}},
                 "networks": {"v10": {"kind": "vlan-bridge", "uplink": dummy_parent, "vlan": 10,
                                      "vlan_device": vdev, "bridge": {"name": br}}},
                 "vms": {"a": {"nics": [{"network": "v10", "attach": "bridge"}]}}})
    xml = render(topo).vm("a").merge_into(BASE.format(name="a"))
    before = {n: lk.get("master") for n, lk in _links().items()}
    proc, _ = _call(_hook(tmp_path), "a", "prepare", "begin", xml)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("libvirt-vnet: domain a: "), proc.stderr
    assert "VLAN" in proc.stderr or "vlan" in proc.stderr
    assert {n: lk.get("master") for n, lk in _links().items()} == before
    assert not (tmp_path / "state" / "hooks" / "domains" / "a").exists()


def test_qemu_hook_sets_the_pool_vf_libvirt_picked(nsim_pf: str, tmp_path: Path, sh: Callable[..., str]) -> None:
    topo = load({"name": "nest", "hosts": {"hv1": {"uri": "qemu:///system", "uplinks": [nsim_pf]}},
                 "networks": {"fast": {"kind": "hostdev", "pf": nsim_pf, "vlan": 42}},
                 "vms": {"a": {"nics": [{"network": "fast", "trust": True, "spoofchk": False}]}}})
    rendering = render(topo)
    xml = rendering.vm("a").merge_into(BASE.format(name="a"))
    mac = rendering.vm("a").metadata.nics[0].mac
    hook = _hook(tmp_path)
    assert _call(hook, "a", "prepare", "begin", xml)[0].returncode == 0  # the VF is not known yet
    sh("ip", "link", "set", nsim_pf, "vf", "1", "mac", mac)  # libvirt gives the picked VF the NIC's MAC

    def vf1() -> dict[str, Any]:
        return next(v for v in _links()[nsim_pf]["vfinfo_list"] if v["vf"] == 1)

    def settings(vf: dict[str, Any]) -> tuple[Any, ...]:
        return vf["address"], vf["vlan_list"][0].get("vlan", 0), vf["trust"], vf["spoofchk"]

    original = settings(vf1())
    assert original[1:] != (42, True, False), "the test needs a VF that is not already set up"
    proc, _ = _call(hook, "a", "start", "begin", xml)
    assert proc.returncode == 0, proc.stderr

    assert settings(vf1()) == (mac, 42, True, False)
    assert _call(hook, "a", "release", "end", xml)[0].returncode == 0
    assert settings(vf1()) == original


def test_network_hook_builds_the_vlan_bridge_before_libvirt_starts_it(dummy_parent: str,
                                                                      new_name: Callable[[str], str],
                                                                      tmp_path: Path) -> None:
    """network start begin builds eth.N + bridge; a VM started on it finds them in place;
    the network stopping while the VM runs keeps them (the VM holds them too); the VM's
    release removes them."""
    br, vdev = new_name("br"), new_name("vl")
    topo = load({"name": "nest", "hosts": {"hv1": {"uri": "qemu:///system", "uplinks": [dummy_parent]}},
                 "networks": {"v20": {"kind": "vlan-bridge", "uplink": dummy_parent, "vlan": 20,
                                      "vlan_device": vdev, "bridge": {"name": br}}},
                 "vms": {"a": {"nics": [{"network": "v20"}]}}})
    rendering = render(topo)
    (net,) = rendering.networks_on("hv1")
    hook_data = f"<hookData>{net.xml}</hookData>"
    _hook(tmp_path)
    network_hook = tmp_path / "etc" / "hooks" / "network.d" / "50-libvirt-vnet"
    qemu_hook = tmp_path / "etc" / "hooks" / "qemu.d" / "50-libvirt-vnet"
    before = set(_links())

    proc, _ = _call(network_hook, "v20", "start", "begin", hook_data)
    assert proc.returncode == 0, proc.stderr
    now = _links()
    assert now[vdev]["linkinfo"]["info_data"]["id"] == 20 and now[vdev]["master"] == br
    xml = rendering.vm("a").merge_into(BASE.format(name="a"))
    proc, modules = _call(qemu_hook, "a", "prepare", "begin", xml, importtime=True)
    assert proc.returncode == 0 and not any(m.startswith("pyroute2") for m in modules), proc.stderr
    assert _call(network_hook, "v20", "stopped", "end", hook_data)[0].returncode == 0
    assert br in _links(), "the running VM still holds the bridge"
    assert _call(qemu_hook, "a", "release", "end", xml)[0].returncode == 0
    assert set(_links()) == before
