"""The state directory is input: every damaged state.json or journal.jsonl — a field
removed or of the wrong type, an unknown undo operation, deep nesting, bytes that are not
UTF-8, a truncated file — is one "damaged state" error (exit 7) naming the file and the
way out, never a traceback and never a permanent block: ``vnet host-repair`` gets the
host's commands working again."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from libvirt_vnet.errors import DamagedStateError
from libvirt_vnet.host import executor
from libvirt_vnet.host.actions import check_undo
from libvirt_vnet.host.state import Ledger, Store

BR = {"op": "delete", "name": "br10", "kind": "bridge", "mark": "vnet:t:br10"}
PORT = {"op": "set", "name": "eth1", "attrs": {"master": None, "up": False}, "expect": {"master": "br10"}}
ADDR = {"op": "deladdr", "name": "shim0", "address": "198.51.100.2/24"}
VF = {"op": "vf", "pf": "enp1s0", "vf": 0, "attrs": {"vlan": 0}}
NUMVFS = {"op": "numvfs", "pf": "enp1s0", "count": 0}
GOOD: dict[str, Any] = {
    "version": 1, "committed": "1-2",
    "objects": {"link:br10": {"want": "bridge br10", "holders": ["a", "b"], "undo": [BR]},
                "master:eth1": {"want": "port eth1", "holders": ["a"], "undo": [PORT, ADDR]}},
    "holders": {"a": ["link:br10", "master:eth1"], "b": ["link:br10"]},
    "pending": [VF, NUMVFS],
    "failed": [{"undo": BR, "error": "EBUSY"}],
}
WRONG = [None, 0, 7.5, True, "x", [], {}, [1], {"k": 1}]


def paths(obj: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield (*at, k)
            yield from paths(v, (*at, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield (*at, i)
            yield from paths(v, (*at, i))


def variant(path: tuple[Any, ...], value: Any = ..., remove: bool = False) -> Any:
    doc = copy.deepcopy(GOOD)
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    if remove:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


def variants() -> Iterator[tuple[str, Any]]:
    for path in paths(GOOD):
        yield f"remove {path}", variant(path, remove=True)
        for w in WRONG:
            yield f"{path} = {w!r}", variant(path, w)
    yield "unknown op", variant(("pending", 0, "op"), "rmrf")
    yield "deep nesting", json.loads("[" * 50 + "]" * 50) and variant(("objects", "link:br10", "undo", 0),
                                                                          {"op": "delete", "name": [[[[[]]]]]})
    yield "not a mapping", [GOOD]


def load_raw(tmp_path: Path, data: bytes) -> Ledger:
    (tmp_path / "state.json").write_bytes(data)
    return Store(str(tmp_path)).load()


def test_a_good_state_round_trips(tmp_path: Path) -> None:
    assert load_raw(tmp_path, json.dumps(GOOD).encode()).to_json() == GOOD


def test_every_damaged_state_is_one_damaged_state_error(tmp_path: Path) -> None:
    """Each variant either is refused as damaged, or loads to exactly what the file says
    (a value still valid, e.g. another plain attribute value): nothing else, ever."""
    refused, problems = 0, []
    for what, doc in variants():
        try:
            ledger = load_raw(tmp_path, json.dumps(doc).encode())
        except DamagedStateError as exc:
            refused += 1
            if "state.json is damaged" not in str(exc) or "vnet host-repair" not in str(exc):
                problems.append(f"{what}: {exc}")
            continue
        except Exception as exc:  # the bug this test is about
            problems.append(f"{what}: {type(exc).__name__}: {exc}")
            continue
        if ledger.to_json() != doc:
            problems.append(f"{what}: loaded as something else: {ledger.to_json()}")
    assert not problems, "\n".join(problems)
    assert refused > 300


@pytest.mark.parametrize("data", [
    b"[" * 100000 + b"]" * 100000,
    b'{"version": 1, "objects": ' + b"{\"a\":" * 5000 + b"1" + b"}" * 5001,
    json.dumps(GOOD).encode().replace(b"br10", b"br\xff\xfe"),
    json.dumps(GOOD).encode()[:-1],
    json.dumps(GOOD).encode()[:40],
    b"",
    b"\x00\x00",
], ids=["deep-list", "deep-dict", "non-utf8", "truncated-1", "truncated-40", "empty", "nul"])
def test_unparseable_state_is_damaged(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(DamagedStateError, match=r"state\.json is damaged"):
        load_raw(tmp_path, data)


@pytest.mark.parametrize("undo", [
    {"op": "deladdr", "name": "shim0", "address": "198.51.100.2/abc"},
    {"op": "deladdr", "name": "shim0", "address": "198.51.100.2"},
    {"op": "delete", "name": "br/10", "mark": "m"},
    {"op": "delete", "name": "a" * 16, "mark": "m"},
    {"op": "delete", "name": "br10"},
    {"op": "set", "name": "eth1", "attrs": {"mtu": [1]}},
    {"op": "numvfs", "pf": "enp1s0", "count": -1},
    {"op": "vf", "pf": "enp1s0", "vf": True, "attrs": {}},
    {"op": "nuke"},
    "delete br10",
])
def test_bad_undo_records_are_refused(undo: Any) -> None:
    with pytest.raises(ValueError):
        check_undo(undo)


def test_good_undo_records_pass() -> None:
    for undo in (BR, PORT, ADDR, VF, NUMVFS, {**BR, "ifindex": 12}):
        assert check_undo(undo) is undo


def journal_lines(tmp_path: Path, *lines: Any, raw: bytes = b"") -> Store:
    tmp_path.chmod(0o700)
    body = b"".join((json.dumps(x).encode() if not isinstance(x, bytes) else x) + b"\n" for x in lines)
    (tmp_path / "journal.jsonl").write_bytes(body + raw)
    return Store(str(tmp_path))


@pytest.mark.parametrize("lines", [
    [{"begin": "h", "id": "1"}, {"key": "link:x", "undo": {"op": "rmrf", "name": "x"}}],
    [{"begin": "h", "id": "1"}, {"key": "link:x", "undo": {"op": "deladdr", "name": "x", "address": "1/x"}}],
    [{"begin": "h", "id": "1"}, {"undo": BR}],
    [{"begin": "h", "id": "1"}, {"key": "link:br10", "undo": BR}, {"what": 1}],
    [{"begin": "h", "id": "1"}, {"cancel": True}],
    [{"begin": "h", "id": "1"}, [1, 2]],
    [{"key": "link:br10", "undo": BR}],
    [{"begin": "h", "id": "1"}, b"[" * 100000],
    [{"begin": "h", "id": "1"}, b"\xff\xfe"],
], ids=["unknown-op", "bad-address", "no-key", "unknown-line", "stray-cancel", "not-object", "no-begin",
        "deep", "non-utf8"])
def test_a_damaged_journal_is_damaged_state(tmp_path: Path, lines: list[Any]) -> None:
    store = journal_lines(tmp_path, *lines)
    with pytest.raises(DamagedStateError, match=r"journal\.jsonl is damaged"):
        executor.interrupted(store)


def test_a_torn_last_journal_line_is_dropped(tmp_path: Path) -> None:
    store = journal_lines(tmp_path, {"begin": "h", "id": "1"}, {"key": "link:br10", "undo": BR},
                          raw=b'{"key": "link:br1')
    assert store.journal.read() == ("1", [("link:br10", BR)])


def vnet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "libvirt_vnet", *args], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "VNET_STATE_DIR"})


@pytest.mark.parametrize("damage", ["state", "journal"])
def test_host_repair_gets_the_host_back(tmp_path: Path, damage: str) -> None:
    """Damaged: host-status exits 7 naming the file and host-repair; the engine refuses
    without changing anything; host-repair moves the files aside; then all works."""
    tmp_path.chmod(0o700)
    if damage == "state":
        doc = variant(("pending", 0, "op"), "rmrf")
        (tmp_path / "state.json").write_text(json.dumps(doc))
    else:
        journal_lines(tmp_path, {"begin": "h", "id": "1"}, {"key": "k", "undo": ADDR | {"address": "x/y"}})
    r = vnet("host-status", "--state-dir", str(tmp_path))
    assert r.returncode == 7 and "damaged" in r.stderr and "vnet host-repair" in r.stderr, r
    assert "Traceback" not in r.stderr
    with pytest.raises(DamagedStateError):
        executor.apply([], "h", store=Store(str(tmp_path)))
    r = vnet("host-repair", "--state-dir", str(tmp_path))
    assert r.returncode == 0 and "moved aside" in r.stdout, r
    assert list(tmp_path.glob("*.damaged-*"))
    r = vnet("host-status", "--state-dir", str(tmp_path))
    assert r.returncode == 0 and "No host plumbing recorded" in r.stdout, r
    executor.apply([], "h", store=Store(str(tmp_path)))
    r = vnet("host-repair", "--state-dir", str(tmp_path))
    assert r.returncode == 0 and "nothing damaged" in r.stdout, r


@pytest.mark.parametrize("suffix", ["", "/", "//", "/."])
def test_a_symlinked_state_dir_is_refused_however_it_is_spelled(tmp_path: Path, suffix: str) -> None:
    from libvirt_vnet.host.state import StateError

    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(StateError, match="symlink"), Store(str(tmp_path / "link") + suffix).locked():
        pass


def test_killed_writers_temporary_files_are_cleaned(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    for name in ("state.json.tmp.4242", "state.json.tmp.1", "state.json.tmp"):
        (tmp_path / name).write_text("{")
    executor.apply([], "h", store=Store(str(tmp_path)))
    store = Store(str(tmp_path))
    with store.locked() as ledger:
        store.save(ledger)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock", "state.json"]


def test_the_hosts_state_dir_does_not_leak_into_a_lab() -> None:
    from libvirt_vnet.lab.sandbox import Lab, inner_env

    assert inner_env({"VNET_STATE_DIR": "/srv/vnet", "PATH": "/bin"}) == {"PATH": "/bin"}
    os.environ["VNET_STATE_DIR"] = "/srv/vnet"
    try:
        assert "VNET_STATE_DIR" not in Lab("x").env()
    finally:
        del os.environ["VNET_STATE_DIR"]
