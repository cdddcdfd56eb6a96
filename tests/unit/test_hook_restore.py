"""The network hook's ``started begin`` (hook/restore.py) reads state files other hook
calls wrote: damaged or hostile ones are skipped with a warning, never a failure of a
network libvirt has already started, and nothing is applied from them.  The restore
itself runs end to end in tests/e2e/test_hooks_e2e.py (test_restarting_*)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from libvirt_vnet import hook, load, render

TOPOLOGY = {
    "name": "unit-restore",
    "hosts": {"hv1": {"uri": "qemu:///system"}},
    "networks": {"lan": {"kind": "nat", "subnet": "10.21.0.0/24", "bridge": {"name": "lan0"}}},
}


def _run(state: Path, name: str, op: str, sub: str, doc: bytes, capfd: pytest.CaptureFixture[str]) -> int:
    r, w = os.pipe()
    os.write(w, doc)
    os.close(w)
    try:
        rc = hook.main("network", [name, op, sub, "-"], state_dir=str(state), stdin=r)
    finally:
        os.close(r)
    assert capfd.readouterr().err == ""
    return rc


def _doc() -> bytes:
    xml = next(n.xml for n in render(load(TOPOLOGY)).networks_on("hv1") if n.name == "lan")
    return f"<hookData>{xml}</hookData>".encode()


@pytest.mark.parametrize("saved, marker, port", [
    (b"<not xml", "{}", "[]"),
    (b"<hookData/>", "[1, 2]", '{"network": "lan", "mac": 5}'),
    (None, "not json", '{"network": "lan", "mac": "52:54:00:zz"}'),
    (b"<hookData><network><name>x</name><bridge name='lan0'/></network></hookData>", '{"network": 3}',
     "\u0000\u0001"),
])
def test_started_skips_hostile_state_and_never_fails(tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                                     saved: bytes | None, marker: str, port: str) -> None:
    hooks = tmp_path / "hooks"
    (hooks / "restore").mkdir(parents=True)
    (hooks / "networks").mkdir()
    (hooks / "ports" / "dom1").mkdir(parents=True)
    if saved is not None:
        (hooks / "restore" / "acc.xml").write_bytes(saved)
    (hooks / "networks" / "acc").write_text(marker)
    (hooks / "ports" / "dom1" / "52:54:00:00:00:01.json").write_text(port)
    (hooks / "ports" / "stray.json").write_text("{}")  # a file where a domain folder belongs
    assert _run(tmp_path, "lan", "started", "begin", _doc(), capfd) == 0
    assert not (tmp_path / "state.json").exists(), "nothing may be applied from damaged state"
    assert not (hooks / "domains").exists()


def test_port_created_records_every_port_and_keeps_its_needs(tmp_path: Path,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    """Every port of a vnet network is recorded with its bridge (what a restart re-attaches);
    port-deleted forgets it, a network without vnet's metadata records nothing."""
    net = _doc().decode().removeprefix("<hookData>").removesuffix("</hookData>")
    port = ("<networkport><owner><name>dom1</name></owner><mac address='52:54:00:AA:00:01'/>"
            "<plug type='network' bridge='lan0'/></networkport>")
    doc = f"<hookData>{net}{port}</hookData>".encode()
    path = tmp_path / "hooks" / "ports" / "dom1" / "52:54:00:aa:00:01.json"
    assert _run(tmp_path, "lan", "port-created", "begin", doc, capfd) == 0
    assert json.loads(path.read_text()) == {"mac": "52:54:00:aa:00:01", "network": "lan", "owner": "dom1",
                                            "bridge": "lan0"}
    assert _run(tmp_path, "lan", "port-deleted", "begin", doc, capfd) == 0
    assert not path.exists()
    plain = f"<hookData><network><name>default</name></network>{port}</hookData>".encode()
    assert _run(tmp_path, "default", "port-created", "begin", plain, capfd) == 0
    assert not path.exists()
