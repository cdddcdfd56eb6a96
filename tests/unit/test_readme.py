"""The README's topology, commands and Python snippet must work as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from libvirt_vnet import topology as topo_input
from libvirt_vnet import virt

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_opens_with_exactly_two_setup_commands() -> None:
    first = blocks("sh")[0].strip().splitlines()
    assert len(first) == 2 and first[0].startswith("sh tools/main") and first[1].startswith("sh tools/test")
    ci = (REPO / ".ci" / "run").read_text()
    assert "tools/test" in ci


def test_topology_is_examples_office() -> None:
    (shown,) = blocks("yaml")
    office = (REPO / "examples" / "office.yaml").read_text()
    assert yaml.safe_load(shown) == yaml.safe_load(office)
    topo_input.load_yaml_text(shown, "README.md")


def test_vnet_commands_name_existing_files_and_real_subcommands() -> None:
    from libvirt_vnet.cli.main import build_parser

    commands: Any = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for line in blocks("sh")[1].splitlines():
        words = shlex.split(line.split("  #")[0].split(">")[0])
        if not words or words[0] != "vnet":
            continue
        assert words[1] in commands, line
        for w in words[2:]:
            if w.startswith("examples/") and "*" not in w:
                assert (REPO / w).is_file(), line


def test_python_snippet_runs() -> None:
    (code,) = blocks("python")
    code = code.replace("qemu:///system", virt.TEST_URI)
    with virt.connect(virt.TEST_URI) as conn:
        virt.clear_test_driver(conn)
        dom = (REPO / "xml_templates" / "domain.xml").read_text().replace("<name/>", "<name>web1</name>")
        conn.defineXML(dom)
        import os

        cwd = os.getcwd()
        os.chdir(REPO)
        try:
            exec(compile(code, "README.md", "exec"), {})
        finally:
            os.chdir(cwd)
        xml = conn.lookupByName("web1").XMLDesc(0)
        assert "52:54:00:00:01:10" in xml and "<source network='lan'" in xml
        assert sorted(n.name() for n in conn.listAllNetworks()) == sorted(
            ["lan", "lab", "backend", "vlan10", "edge", "fast"])
        virt.clear_test_driver(conn)
