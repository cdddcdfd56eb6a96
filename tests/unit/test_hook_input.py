"""Hook input from libvirt is hostile until checked: state-file names, the fast path."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from libvirt_vnet.hook import Config, _network_has_state, main, state_name

ALPHABET = ["", ".", "..", "a", "A", "%", "%2E", "%25", "/", "-", "_", "é", " ", "\x00", "~", "%~"]


def _names() -> set[str]:
    out = set()
    for n in range(4):
        for parts in itertools.product(ALPHABET, repeat=n):
            out.add("".join(parts))
    out |= {"web", ".web", "..web", "lan", ".lan", "x" * 300, "x" * 301, "é" * 200, "a/../../etc"}
    return out


def test_state_names_are_injective_and_stay_in_their_folder(tmp_path: Path) -> None:
    seen: dict[str, str] = {}
    for name in _names():
        fn = state_name(name)
        assert fn not in seen, f"{name!r} and {seen[fn]!r} share the state file {fn!r}"
        seen[fn] = name
        assert fn and "/" not in fn and "\x00" not in fn and fn not in (".", "..")
        assert not fn.startswith("."), "a state file must not be hidden or a parent"
        assert len(fn.encode()) <= 255
        path = os.path.normpath(os.path.join(tmp_path, fn))
        assert os.path.dirname(path) == str(tmp_path)
    assert len(seen) > 3000


def test_readable_names_stay_readable() -> None:
    for name in ("web", "web1", "my-net_2", "a.b"):
        assert state_name(name) == name
    assert state_name(".web") != state_name("web")
    assert state_name("") != state_name("..") != state_name(".")


def test_network_release_without_marker_consults_the_saved_state(tmp_path: Path) -> None:
    state = tmp_path / "state"
    cfg = Config("network", ["lan", "stopped", "end", "-"], str(state), None)
    assert not _network_has_state(cfg)
    marker = Path(cfg.path("networks", state_name("lan")))
    marker.parent.mkdir(parents=True)
    marker.write_text("{}")
    assert _network_has_state(cfg)
    assert not _network_has_state(Config("network", ["lan", "start", "begin", "-"], str(state), None))
    assert not _network_has_state(Config("network", [".lan", "stopped", "end", "-"], str(state), None))
    # the hook runs the release for it (no holder in the store: nothing to destroy) and
    # removes the marker, instead of returning at the fast path and leaking it
    r, w = os.pipe()
    os.write(w, b"<network><name>lan</name></network>")
    os.close(w)
    assert main("network", ["lan", "stopped", "end", "-"], state_dir=str(state), stdin=r) == 0
    os.close(r)
    assert not marker.exists()
