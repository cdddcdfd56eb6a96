"""Every examples/*.yaml loads, renders, and is accepted by libvirt (RelaxNG schemas,
libvirt's own parser on test:///default, and libvirt's XML parsed back unchanged).

The examples are found by glob, so a new example is covered without touching this file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from libvirt_vnet import cli
from libvirt_vnet import topology as topo_input
from libvirt_vnet.prove import prove
from libvirt_vnet.rendering import render

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
SCHEMA_LINE = "# yaml-language-server: $schema=../libvirt_vnet/topology/schema.json"


def test_examples_found() -> None:
    assert len(EXAMPLES) >= 9, f"expected at least 9 examples, found {[p.name for p in EXAMPLES]}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_header(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == SCHEMA_LINE, f"{path.name}: first line must be the schema modeline"
    comments = 0
    for line in lines[1:]:
        if not line.startswith("#"):
            break
        comments += 1
    assert 2 <= comments <= 6, f"{path.name}: header comment has {comments} lines, want 2-6"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_renders_and_libvirt_accepts_it(path: Path) -> None:
    topo = topo_input.load_file(path)
    rendering = render(topo)
    assert rendering.networks, f"{path.name} renders no network"
    result = prove(rendering)
    assert result.networks == len(rendering.networks)
    assert result.domains == len(rendering.vms) == len(topo.vms)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_cli_check(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["check", str(path)])
    out, err = capsys.readouterr()
    assert rc == 0, f"vnet check {path.name} exited {rc}: {err}"
    assert f"{path}: ok" in out
