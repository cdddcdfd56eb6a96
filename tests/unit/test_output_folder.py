"""``vnet render -o DIR`` in a folder someone else prepared: never a write, a delete or an
``rmdir`` outside DIR through a symlink, whatever the symlink replaces (a sub-folder, a
file's own path, the manifest, a folder named in the manifest); the manifest only names
files of the shapes vnet writes; every file replaced at once; a bad folder is one error.
And the next steps ``vnet render`` prints are safe to paste whatever the names hold."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from libvirt_vnet import load, render
from libvirt_vnet.outdir import MANIFEST, OutputError
from libvirt_vnet.rendering import Rendering

VNET = [sys.executable, "-m", "libvirt_vnet"]
TOPO: dict[str, Any] = {"name": "t", "networks": {"lan": {"kind": "nat", "subnet": "192.168.1.0/24"},
                                  "dmz": {"kind": "isolated"}},
        "vms": {"web": {"nics": [{"network": "lan"}]}}}


def rendering(networks: tuple[str, ...] = ("lan", "dmz")) -> Rendering:
    doc = {**TOPO, "networks": {k: v for k, v in TOPO["networks"].items() if k in networks}}
    if "lan" not in networks:
        doc["vms"] = {}
    return render(load(doc))


def tree(root: Path) -> dict[str, bytes | str]:
    """Every entry below ``root``: file contents, ``-> target`` for symlinks, ``/`` for folders."""
    out: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = f"-> {os.readlink(path)}"
        elif path.is_dir():
            out[rel] = "/"
        else:
            out[rel] = path.read_bytes()
    return out


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    """A folder that must never change: what an attacker points links at."""
    d = tmp_path / "rootonly"
    (d / "etcdir").mkdir(parents=True)
    (d / "important.conf").write_text("secret\n")
    (d / "empty").mkdir()
    (d / "etcdir" / "lan.xml").write_text("theirs\n")
    return d


def test_a_symlinked_sub_folder_is_refused_and_nothing_is_written(tmp_path: Path, outside: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "localhost").symlink_to(outside / "etcdir")
    before = tree(outside)
    with pytest.raises(OutputError, match="is a symlink"):
        rendering().write(out)
    assert tree(outside) == before
    assert sorted(p.name for p in out.iterdir()) == ["localhost"]  # no manifest, no temp files


@pytest.mark.parametrize("where", ["localhost/networks", "localhost/vms", "localhost/vms/web"])
def test_a_symlink_at_any_depth_is_refused(tmp_path: Path, outside: Path, where: str) -> None:
    out = tmp_path / "out"
    (out / where).parent.mkdir(parents=True)
    (out / where).symlink_to(outside / "etcdir")
    before = tree(outside)
    with pytest.raises(OutputError):
        rendering().write(out)
    assert tree(outside) == before


@pytest.mark.parametrize("rel", ["localhost/networks/lan.xml", "localhost/vms/web/nic0.xml", MANIFEST])
def test_a_symlink_at_a_files_own_path_is_replaced_never_followed(tmp_path: Path, outside: Path,
                                                                  rel: str) -> None:
    out = tmp_path / "out"
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    (out / rel).symlink_to(outside / "important.conf")
    before = tree(outside)
    rendering().write(out)
    assert tree(outside) == before
    assert stat.S_ISREG(os.lstat(out / rel).st_mode)


@pytest.mark.parametrize("listed", [
    "evil/important.conf",                   # through a symlinked folder
    "../rootonly/important.conf", "/etc/hostname",   # out of the folder by name
    "localhost/networks/../../rootonly/important.conf",
    "localhost/notes.txt",                   # not a file vnet writes
    "localhost/vms/gone/nic0.xml",           # a stale VM whose folder is a symlink to an empty folder
])
def test_the_manifest_never_reaches_outside(tmp_path: Path, outside: Path, listed: str) -> None:
    out = tmp_path / "out"
    rendering().write(out)
    (out / "evil").symlink_to(outside)
    (out / "localhost" / "notes.txt").write_text("mine\n")
    (out / "localhost" / "vms" / "gone").symlink_to(outside / "empty")
    (out / MANIFEST).write_text((out / MANIFEST).read_text() + listed + "\n")
    before, mine = tree(outside), (out / "localhost" / "notes.txt").read_text()
    rendering().write(out)
    assert tree(outside) == before  # nothing deleted there, no folder removed
    assert (out / "localhost" / "notes.txt").read_text() == mine


def test_stale_files_of_vnet_go_with_their_empty_folders(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rendering().write(out)
    assert (out / "localhost/vms/web/nic0.xml").is_file()
    rendering(("dmz",)).write(out)
    assert not (out / "localhost/networks/lan.xml").exists()
    assert not (out / "localhost/vms").exists()  # emptied: removed
    assert (out / "localhost/networks/dmz.xml").is_file()
    assert (out / MANIFEST).read_text() == "localhost/networks/dmz.xml\n"


def test_a_stale_file_replaced_by_a_symlink_is_left(tmp_path: Path, outside: Path) -> None:
    out = tmp_path / "out"
    rendering().write(out)
    (out / "localhost/networks/lan.xml").unlink()
    (out / "localhost/networks/lan.xml").symlink_to(outside / "important.conf")
    rendering(("dmz",)).write(out)
    assert (outside / "important.conf").read_text() == "secret\n"
    assert (out / "localhost/networks/lan.xml").is_symlink()


@pytest.mark.parametrize("manifest", [b"\xff\xfe not utf-8\n", None])
def test_a_damaged_manifest_deletes_nothing(tmp_path: Path, manifest: bytes | None) -> None:
    out = tmp_path / "out"
    rendering().write(out)
    (out / MANIFEST).unlink()
    if manifest is None:  # a folder where the manifest goes: the write says so
        (out / MANIFEST).mkdir()
        with pytest.raises(OutputError, match="is a folder"):
            rendering(("dmz",)).write(out)
    else:
        (out / MANIFEST).write_bytes(manifest)
        rendering(("dmz",)).write(out)
    assert (out / "localhost/networks/lan.xml").is_file()  # not deleted on a damaged list's word


def test_a_folder_where_a_file_goes_changes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rendering().write(out)
    lan = out / "localhost/networks/lan.xml"
    lan.unlink()
    lan.mkdir()
    before = tree(out)
    with pytest.raises(OutputError, match=r"lan\.xml is a folder"):
        rendering().write(out)
    assert tree(out) == before  # dmz.xml and the rest not replaced either: all or nothing


def test_the_output_folder_as_a_file_is_one_error(tmp_path: Path) -> None:
    topo = tmp_path / "t.yaml"
    topo.write_text("name: t\nnetworks: {lan: {kind: nat, subnet: 192.168.1.0/24}}\n")
    (tmp_path / "out").write_text("a file\n")
    for target in ("out", "out/sub"):
        r = subprocess.run([*VNET, "render", str(topo), "-o", str(tmp_path / target)], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.startswith("vnet: cannot write output: ") and len(r.stderr.strip().splitlines()) == 2


def test_a_symlinked_output_folder_must_be_ours(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    rendering().write(link)  # ours: fine
    assert (real / "localhost/networks/lan.xml").is_file()
    if os.geteuid() != 0:
        return  # only root can make a link that belongs to someone else
    os.lchown(link, 65534, 65534)
    with pytest.raises(OutputError, match="symlink owned by uid 65534"):
        rendering().write(link)


def test_next_steps_are_safe_to_paste(tmp_path: Path) -> None:
    """The printed commands, run by a shell with recording stand-ins for virsh and vnet,
    pass every name through as one argument and run nothing else."""
    topo = tmp_path / "t y;$(touch INJECTED).yaml"
    topo.write_text('name: t\nhosts: {hv1: {uri: "qemu:///system?x=1&y=$(touch INJECTED)"}}\n'
                    'networks: {"lan;id>x": {kind: nat, subnet: 192.168.1.0/24}}\n'
                    'vms: {"web$(id>y)": {nics: [{network: "lan;id>x"}]}}\n')
    out = tmp_path / "o u t'$(touch INJECTED)"
    r = subprocess.run([*VNET, "render", str(topo), "-o", str(out)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    lines = [line.strip() for line in r.stdout.splitlines()
             if line.startswith("  virsh ") or line.startswith("  vnet ")]
    assert len(lines) == 2, r.stdout
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "argv.log"
    for tool in ("virsh", "vnet"):
        stub = bin_dir / tool
        stub.write_text(f'#!/bin/sh\nprintf "%s\\0" {tool} "$@" >> {shlex.quote(str(log))}\nprintf "\\n" >> '
                        f'{shlex.quote(str(log))}\n')
        stub.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    for line in lines:
        subprocess.run(["sh", "-c", line], cwd=work, env={**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"},
                       check=True, timeout=30)
    assert not list(tmp_path.rglob("INJECTED")) and not (work / "x").exists() and not (work / "y").exists()
    calls = [c.split("\0")[:-1] for c in log.read_text().split("\n") if c]
    uri = "qemu:///system?x=1&y=$(touch INJECTED)"
    assert calls[0] == ["virsh", "-c", uri, "net-define", str(out / "hv1/networks/lan;id>x.xml")]
    assert calls[1] == ["virsh", "-c", uri, "net-start", "lan;id>x"]
    assert calls[2] == ["virsh", "-c", uri, "dumpxml", "--inactive", "web$(id>y)"]
    assert calls[3] == ["vnet", "interfaces", str(topo), "web$(id>y)", "--merge", "./web$(id>y).xml"]
    assert calls[4] == ["virsh", "-c", uri, "define", "./web$(id>y)-vnet.xml"]
