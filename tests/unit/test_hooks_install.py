"""`vnet hooks install/uninstall/status`, and the installed scripts' cheap paths.

The scripts are installed into a scratch libvirt configuration directory and run as
libvirt would run them (arguments, document on stdin); `-X importtime` shows what a
call imported, so "returns before importing lxml or pyroute2" is checked, not assumed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from libvirt_vnet.errors import HostError
from libvirt_vnet.hook.install import RESTART, install_hooks, uninstall_hooks

REPO = Path(__file__).resolve().parents[2]
VNET = [sys.executable, "-m", "libvirt_vnet"]
PLAIN_DOMAIN = b"<domain type='qemu'><name>plain</name><devices><interface type='network'>" \
               b"<mac address='52:54:00:00:00:01'/><source network='default'/></interface></devices></domain>"


def _root(tmp_path: Path) -> str:
    root = tmp_path / "etc-libvirt"
    root.mkdir()
    return str(root)


def test_install_is_idempotent_and_says_when_to_restart(tmp_path: Path) -> None:
    root = _root(tmp_path)
    first = install_hooks(root, layout="dir", state_dir=str(tmp_path / "state"))
    q = Path(root, "hooks", "qemu.d", "50-libvirt-vnet")
    n = Path(root, "hooks", "network.d", "50-libvirt-vnet")
    assert first == [f"installed  {q}", f"installed  {n}", RESTART]
    for path in (q, n):
        assert os.access(path, os.X_OK)
        assert path.read_text().splitlines()[0] == f"#!{sys.executable} -IS"
        assert f"state_dir={str(tmp_path / 'state')!r}" in path.read_text()
    before = q.stat().st_mtime_ns
    assert install_hooks(root, layout="dir", state_dir=str(tmp_path / "state")) == [
        f"unchanged  {q}", f"unchanged  {n}"]
    assert q.stat().st_mtime_ns == before
    again = install_hooks(root, layout="dir", state_dir=str(tmp_path / "state"), log_file="/tmp/x.log")
    assert again[:2] == [f"updated  {q}", f"updated  {n}"] and "no restart needed" in again[2]


def test_single_layout_never_replaces_a_foreign_hook(tmp_path: Path) -> None:
    root = _root(tmp_path)
    hooks = Path(root, "hooks")
    hooks.mkdir()
    mine = hooks / "network"
    mine.write_text("#!/bin/sh\necho mine\n")
    with pytest.raises(HostError) as exc:
        install_hooks(root, layout="single")
    assert "not libvirt-vnet's" in exc.value.message and "--layout dir" in (exc.value.hint or "")
    assert not (hooks / "qemu").exists(), "nothing may be installed when one target is refused"
    mine.unlink()
    install_hooks(root, layout="single")
    assert (hooks / "qemu").is_file() and (hooks / "network").is_file()
    (hooks / "qemu.d").mkdir()
    foreign = hooks / "qemu.d" / "10-mine"
    foreign.write_text("#!/bin/sh\n")
    report = uninstall_hooks(root)
    assert report == [f"removed  {hooks / 'qemu'}", f"removed  {hooks / 'network'}"]
    assert foreign.exists()
    assert uninstall_hooks(root) == [f"no libvirt-vnet hooks under {root}/hooks"]


def test_install_refuses_a_missing_root(tmp_path: Path) -> None:
    with pytest.raises(HostError) as exc:
        install_hooks(str(tmp_path / "nope"), layout="dir")
    assert "is libvirt installed" in exc.value.message


def test_cli_install_status_uninstall(tmp_path: Path) -> None:
    root = _root(tmp_path)
    out = subprocess.run([*VNET, "hooks", "install", "--root", root, "--layout", "dir"],
                         capture_output=True, text=True, check=True).stdout
    assert "installed" in out and "restart" in out
    status = subprocess.run([*VNET, "hooks", "status", "--root", root], capture_output=True, text=True,
                            check=True).stdout
    assert status.count("(libvirt-vnet;") == 2
    out = subprocess.run([*VNET, "hooks", "uninstall", "--root", root], capture_output=True, text=True,
                         check=True).stdout
    assert out.count("removed") == 2
    bad = subprocess.run([*VNET, "hooks", "install", "--root", str(tmp_path / "missing")],
                         capture_output=True, text=True)
    assert bad.returncode == 6 and bad.stderr.count("\n") == 2 and "hint:" in bad.stderr


def _imports(script: Path, args: list[str], stdin: bytes, env: dict[str, str] | None = None
             ) -> tuple[subprocess.CompletedProcess[bytes], set[str]]:
    """Run an installed hook the way its shebang does, with -X importtime."""
    proc = subprocess.run([sys.executable, "-IS", "-X", "importtime", str(script), *args], input=stdin,
                          capture_output=True, timeout=60, env=env)
    modules = set()
    other = []
    for line in proc.stderr.decode().splitlines():
        if line.startswith("import time:"):
            modules.add(line.rsplit("|", 1)[1].strip())
        else:
            other.append(line)
    proc.stderr = "\n".join(other).encode()
    return proc, modules


@pytest.mark.parametrize("args", [
    ["plain", "prepare", "begin", "-"],   # handled op, no vnet metadata
    ["plain", "release", "end", "-"],     # nothing held for it
    ["plain", "started", "begin", "-"],   # an op vnet never handles
    ["anything", "migrate", "begin", "-"],
])
def test_qemu_hook_fast_path_imports_nothing_heavy(tmp_path: Path, args: list[str]) -> None:
    root = _root(tmp_path)
    install_hooks(root, layout="dir", state_dir=str(tmp_path / "state"))
    proc, modules = _imports(Path(root, "hooks", "qemu.d", "50-libvirt-vnet"), args, PLAIN_DOMAIN)
    assert proc.returncode == 0 and proc.stdout == b"" and proc.stderr == b""
    assert "libvirt_vnet.hook" in modules  # the measurement works
    heavy = {m for m in modules if m.split(".")[0] in {"lxml", "pyroute2", "libvirt", "yaml", "typing", "logging",
                                                      "xml"}}
    assert not heavy, f"the fast path imported {sorted(heavy)}"
    assert not (tmp_path / "state").exists(), "the fast path must not write anything"


@pytest.mark.parametrize("op", ["start", "started"])
def test_network_hook_fast_path(tmp_path: Path, op: str) -> None:
    root = _root(tmp_path)
    install_hooks(root, layout="dir", state_dir=str(tmp_path / "state"))
    doc = b"<hookData><network><name>default</name><forward mode='nat'/></network></hookData>"
    proc, modules = _imports(Path(root, "hooks", "network.d", "50-libvirt-vnet"),
                             ["default", op, "begin", "-"], doc)
    assert proc.returncode == 0 and proc.stdout == b"" and proc.stderr == b""
    assert not {m for m in modules if m.split(".")[0] in {"lxml", "pyroute2", "logging", "xml"}}
