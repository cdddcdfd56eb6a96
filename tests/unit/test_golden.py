"""Golden files: every tests/golden/<case>/topology.yaml renders, byte for byte, to the
tree under tests/golden/<case>/expected/ (as `vnet render` writes it).

Layout of a case::

    tests/golden/<case>/topology.yaml          the input
    tests/golden/<case>/libvirt-version        optional: target libvirt (e.g. "10.0")
    tests/golden/<case>/expected/<host>/networks/<net>.xml
    tests/golden/<case>/expected/<host>/vms/<vm>/nic0.xml ... metadata.xml

    tests/golden/<case>/expected/.vnet-rendered   the list of files written

The minimal test domains that :func:`verify.verify` defines around each VM's NICs are
not written; verify() checks them against libvirt for every case.

To accept new output after an intended change, regenerate and review the diff::

    VNET_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_golden.py
    git diff tests/golden
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from lxml import etree

from libvirt_vnet import topology as topo_input
from libvirt_vnet import virt
from libvirt_vnet.drivers import registry
from libvirt_vnet.drivers.base import COMMON_KEYS
from libvirt_vnet.errors import VnetError
from libvirt_vnet.libvirtxml.versions import DEFAULT_TARGET, LibvirtVersion
from libvirt_vnet.prove import prove
from libvirt_vnet.rendering import Rendering, render
from libvirt_vnet.topology.entries import NIC_KEYS

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden"
CASES = sorted(p.parent for p in GOLDEN.glob("*/topology.yaml"))
UPDATE = os.environ.get("VNET_UPDATE_GOLDEN") == "1"
NS = {"vnet": "urn:libvirt-vnet:metadata:1"}

#: cases whose rendering is right but which verify() rejects today; strict xfail, so
#: the day verify() accepts them the suite says so and the entry must be removed.
KNOWN_VERIFY_FAILURES: dict[str, str] = {}


def _ids(case: Path) -> str:
    return case.name


def case_target(case: Path) -> LibvirtVersion:
    f = case / "libvirt-version"
    if f.exists():
        return LibvirtVersion.parse(f.read_text(encoding="utf-8"))
    return DEFAULT_TARGET


def render_case(case: Path) -> Rendering:
    return render(topo_input.load_file(case / "topology.yaml"), case_target(case))


def read_tree(root: Path) -> dict[str, bytes]:
    if not root.is_dir():
        return {}
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_file():
            out[rel.as_posix()] = p.read_bytes()
    return out


def render_tree(case: Path, out: Path) -> dict[str, bytes]:
    """Render ``case`` like `vnet render` into ``out`` and return its golden files."""
    render_case(case).write(out)
    return read_tree(out)


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    if root.exists():
        shutil.rmtree(root)
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def tree_diff(expected: dict[str, bytes], actual: dict[str, bytes], where: str) -> str:
    """A readable report of how two trees differ ('' when they are equal)."""
    lines = []
    for rel in sorted(expected.keys() - actual.keys()):
        lines.append(f"missing (expected but not rendered): {rel}")
    for rel in sorted(actual.keys() - expected.keys()):
        lines.append(f"unexpected (rendered but not expected): {rel}")
        lines.extend("  + " + x for x in actual[rel].decode("utf-8", "replace").splitlines())
    for rel in sorted(expected.keys() & actual.keys()):
        if expected[rel] != actual[rel]:
            lines.append(f"differs: {rel}")
            lines.extend(difflib.unified_diff(
                expected[rel].decode("utf-8", "replace").splitlines(),
                actual[rel].decode("utf-8", "replace").splitlines(),
                f"{where}/{rel}", f"rendered/{rel}", lineterm=""))
    return "\n".join(lines)


def installed_libvirt() -> LibvirtVersion:
    with virt.connect(virt.TEST_URI) as conn:
        return virt.version_of(conn)


# ------------------------------------------------------------------ the cases
def test_cases_found() -> None:
    assert len(CASES) >= 10, f"golden cases: {[c.name for c in CASES]}"
    strays = [p.name for p in GOLDEN.iterdir() if p.is_dir() and not (p / "topology.yaml").exists()]
    assert not strays, f"folders under tests/golden without a topology.yaml: {strays}"
    unknown = KNOWN_VERIFY_FAILURES.keys() - {c.name for c in CASES}
    assert not unknown, f"KNOWN_VERIFY_FAILURES names no case: {sorted(unknown)}"


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_golden(case: Path, tmp_path: Path) -> None:
    actual = render_tree(case, tmp_path / "out")
    assert actual, f"{case.name} rendered no file"
    expected_dir = case / "expected"
    if UPDATE:
        write_tree(expected_dir, actual)
    expected = read_tree(expected_dir)
    if not expected:
        pytest.fail(f"{case.name}: no expected tree yet; generate it with "
                    "VNET_UPDATE_GOLDEN=1 and review it")
    diff = tree_diff(expected, actual, f"tests/golden/{case.name}/expected")
    if diff:
        pytest.fail(
            f"rendering of tests/golden/{case.name}/topology.yaml differs from the golden "
            f"files (if intended: VNET_UPDATE_GOLDEN=1 pytest tests/unit/test_golden.py, then "
            f"review the diff)\n{diff}", pytrace=False)


def _verify_params() -> list[Any]:
    params = []
    for case in CASES:
        reason = KNOWN_VERIFY_FAILURES.get(case.name)
        marks = [pytest.mark.xfail(strict=True, raises=VnetError, reason=reason)] if reason else []
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


@pytest.mark.parametrize("case", _verify_params())
def test_golden_case_accepted_by_libvirt(case: Path) -> None:
    """Every golden case is also valid for libvirt (RelaxNG, test driver, round trip).

    A case targeting a libvirt newer than the installed one (whose schemas and test
    driver would reject the new XML) is checked the other way round: rendering it for
    the installed libvirt must be refused, naming the version the feature needs."""
    target = case_target(case)
    installed = installed_libvirt()
    if target > installed:
        with pytest.raises(VnetError, match=r"needs libvirt >= "):
            render(topo_input.load_file(case / "topology.yaml"), installed)
        return
    rendering = render_case(case)
    result = prove(rendering)
    assert result.networks == len(rendering.networks)
    assert result.domains == len(rendering.vms)


# ------------------------------------------------------------------ determinism
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_rendering_is_deterministic(case: Path, tmp_path: Path) -> None:
    first = render_tree(case, tmp_path / "a")
    second = render_tree(case, tmp_path / "b")
    assert first == second, tree_diff(first, second, "first")
    # the test domains verify() defines are stable too
    one, two = render_case(case), render_case(case)
    assert [vm.domain_xml() for vm in one.vms] == [vm.domain_xml() for vm in two.vms]


_RENDER_ALL = """
import sys
from pathlib import Path
sys.path[:0] = [sys.argv[1], str(Path(sys.argv[1]).parent)]
import test_golden as g
for case in g.CASES:
    g.render_tree(case, Path(sys.argv[2]) / case.name)
"""


def _prefixed(trees: dict[str, dict[str, bytes]]) -> dict[str, bytes]:
    return {f"{name}/{rel}": data for name, tree in trees.items() for rel, data in tree.items()}


def test_rendering_independent_of_hash_seed(tmp_path: Path) -> None:
    """Set/dict iteration order must not leak into the output: render every case in
    fresh interpreters with different hash seeds and compare the bytes."""
    trees = []
    for seed in ("0", "4242"):
        out = tmp_path / f"seed{seed}"
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(REPO))
        env.pop("VNET_UPDATE_GOLDEN", None)
        subprocess.run([sys.executable, "-c", _RENDER_ALL, str(Path(__file__).parent), str(out)],
                       check=True, env=env, cwd=REPO)
        trees.append(_prefixed({c.name: read_tree(out / c.name) for c in CASES}))
    here = _prefixed({c.name: render_tree(c, tmp_path / "here" / c.name) for c in CASES})
    assert trees[0], "the subprocess rendered nothing"
    assert trees[0] == trees[1], tree_diff(trees[0], trees[1], "seed0")
    assert trees[0] == here, tree_diff(trees[0], here, "seed0")


# ------------------------------------------------------------------ coverage meta-test
def _golden_documents() -> list[tuple[str, dict[str, Any]]]:
    return [(c.name, yaml.safe_load((c / "topology.yaml").read_text(encoding="utf-8")))
            for c in CASES]


def test_golden_cases_cover_every_key_and_kind() -> None:
    """A topology key (network or NIC) or a kind no golden case uses fails the suite:
    add it to a case when adding it to the loader or a driver."""
    net_keys: set[str] = set()
    nic_keys: set[str] = set()
    kinds: set[str] = set()
    for _, doc in _golden_documents():
        for net in (doc.get("networks") or {}).values():
            net_keys |= set(net)
            kinds.add(net["kind"])
        for vm in (doc.get("vms") or {}).values():
            for nic in vm.get("nics") or ():
                nic_keys |= set(nic) if isinstance(nic, dict) else {"network"}
    # built-in kinds only: third-party drivers (entry points) bring their own tests
    builtin = sorted(registry.BUILTIN)
    driver_keys = set().union(*(registry.driver_for(k).keys for k in builtin))
    problems = []
    if missing := sorted(set(builtin) - kinds):
        problems.append(f"kinds used by no golden case: {missing}")
    if missing := sorted((driver_keys | COMMON_KEYS) - net_keys):
        problems.append(f"network keys used by no golden case: {missing}")
    if missing := sorted(NIC_KEYS - nic_keys):
        problems.append(f"NIC keys used by no golden case: {missing}")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------ what libvirt expects
def _expected_networks(case: Path) -> list[tuple[str, etree._Element]]:
    return [(p.relative_to(case / "expected").as_posix(), etree.parse(str(p)).getroot())
            for p in sorted((case / "expected").glob("*/networks/*.xml"))]


def _check_shape(kind: str, net: etree._Element, topo_net: dict[str, Any]) -> list[str]:
    """The libvirt mapping of each kind, as documented in its driver module."""
    fwd: Any = net.find("forward")
    mode = fwd.get("mode") if fwd is not None else None
    bridge: Any = net.find("bridge")
    meta: Any = net.find("metadata/vnet:network", NS)
    problems = []

    def want(cond: bool, what: str) -> None:
        if not cond:
            problems.append(what)

    want(meta is not None and meta.get("kind") == kind, "vnet metadata names the kind")
    if kind in ("nat", "route", "open", "isolated"):
        want(mode == (None if kind == "isolated" else kind), f"forward mode {kind}")
        want(bridge is not None and bool(bridge.get("name")) and bridge.get("stp") is not None,
             "a libvirt-created <bridge name stp delay>")
        pinned = (topo_net.get("bridge") or {}).get("mac") if isinstance(
            topo_net.get("bridge"), dict) else None
        want((net.find("mac") is None) == (pinned == "libvirt"),
             "<mac> pinned unless bridge.mac is 'libvirt'")
        want((net.find("ip") is not None) == bool(topo_net.get("subnet") or topo_net.get("subnet6")),
             "<ip> exactly when a subnet is given")
    elif kind == "bridge":
        name = topo_net["bridge"] if isinstance(topo_net["bridge"], str) else topo_net["bridge"]["name"]
        want(mode == "bridge" and bridge is not None and bridge.get("name") == name,
             f"forward mode bridge on the existing {name}")
        want(net.find("ip") is None and net.find("mac") is None, "no <ip>/<mac>")
    elif kind == "vlan-bridge":
        want(mode == "bridge", "forward mode bridge")
        dev = meta.find("vnet:vlan-device", NS) if meta is not None else None
        br = meta.find("vnet:bridge", NS) if meta is not None else None
        up = meta.find("vnet:bridge-uplink", NS) if meta is not None else None
        want(dev is not None and dev.get("parent") == topo_net["uplink"]
             and dev.get("vid") == str(topo_net["vlan"]), "vnet:vlan-device on the uplink")
        want(br is not None and bridge is not None and br.get("name") == bridge.get("name")
             and bool(br.get("mac")), "vnet:bridge with a pinned MAC, the network's bridge")
        want(up is not None and dev is not None and br is not None
             and up.get("device") == dev.get("name") and up.get("bridge") == br.get("name"),
             "vnet:bridge-uplink joins the VLAN device to the bridge")
        want(net.find("ip") is None and net.find("vlan") is None, "no <ip>/<vlan>")
    elif kind == "two-tier":
        access_bridges = {b.get("name") for b in meta.findall("vnet:bridge", NS)} if meta is not None else set()
        if mode == "bridge":
            want(bridge is not None and access_bridges == {bridge.get("name")},
                 "an access network's metadata builds its own access bridge, and only it")
            veths = meta.findall("vnet:veth", NS) if meta is not None else []
            want(len(veths) == 1 and veths[0].get("bridge") == bridge.get("name")
                 and veths[0].get("peer-bridge") not in (None, bridge.get("name")),
                 "one veth from the access bridge up to the aggregation bridge")
        else:
            want(mode == {"isolated": None}.get(topo_net.get("upstream", "nat"),
                                                topo_net.get("upstream", "nat")),
                 "aggregation network forwards as upstream says")
            want(net.find("ip") is not None, "aggregation network holds the gateway")
            want(meta is not None and len(meta) == 0,
                 "the aggregation bridge is libvirt's: its metadata lists nothing to build")
    elif kind == "macvtap":
        want(mode == topo_net["mode"], f"forward mode {topo_net['mode']}")
        want(bridge is None and len(fwd) > 0, "an interface/pf/address pool, no bridge")
    elif kind == "hostdev":
        want(mode == "hostdev" and fwd.get("managed") in ("yes", "no"), "forward mode hostdev")
        want(fwd.find("pf") is not None or fwd.find("address") is not None, "a PF or VF pool")
    elif kind == "openvswitch":
        want(mode == "bridge", "forward mode bridge")
        vp = net.find("virtualport")
        want(vp is not None and vp.get("type") == "openvswitch", "virtualport openvswitch")
    return problems


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_golden_networks_have_the_kind_mapping(case: Path) -> None:
    """Reads the expected files (not the renderer) and checks each kind's libvirt shape,
    so a golden file accepted carelessly still cannot encode a wrong mapping."""
    doc = yaml.safe_load((case / "topology.yaml").read_text(encoding="utf-8"))
    nets = _expected_networks(case)
    if not nets:
        pytest.fail(f"{case.name}: no expected networks (generate with VNET_UPDATE_GOLDEN=1)")
    problems = []
    for rel, el in nets:
        meta = el.find("metadata/vnet:network", NS)
        assert meta is not None, f"{rel}: no vnet metadata"
        topo_net = doc["networks"][meta.get("name")]
        problems += [f"{rel}: {p}" for p in _check_shape(topo_net["kind"], el, topo_net)]
    assert not problems, "\n".join(problems)
