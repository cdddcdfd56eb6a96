"""The vnet command line: help that teaches, exit codes scripts can rely on, no tracebacks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.xmltools import xml_of

from libvirt_vnet.cli import main

REPO = Path(__file__).resolve().parents[2]
GOOD = """
name: office
hosts: {hv1: {uplinks: [eth0]}}
networks:
  lan: {kind: nat, subnet: 192.168.1.0/24}
  v10: {kind: vlan-bridge, uplink: eth0, vlan: 10}
vms:
  web1: {nics: [{network: lan, ip: 192.168.1.10}, v10]}
"""
BAD = """
name: office
networks:
  lan: {kind: nat, subnet: 192.168.1.7/24}
  dmz: {kind: nat, subnet: 192.168.2.0/24, bridge: {mac: "51:00:00:00:00:01"}}
"""


def vnet(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    exe = Path(sys.executable).with_name("vnet")
    return subprocess.run([str(exe), *args], input=stdin, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "LC_ALL": "C.UTF-8"})


@pytest.fixture()
def good(tmp_path: Path) -> Path:
    p = tmp_path / "office.yaml"
    p.write_text(GOOD)
    return p


def test_help_teaches() -> None:
    r = vnet("--help")
    assert r.returncode == 0
    for word in ("validate", "render", "check", "import", "interfaces", "exit status", "virsh net-define"):
        assert word in r.stdout
    r = vnet("render", "--help")
    assert r.returncode == 0 and "--libvirt-version" in r.stdout and "deterministic" in r.stdout


def test_usage_errors_exit_64() -> None:
    assert vnet().returncode == 64
    r = vnet("render")
    assert r.returncode == 64 and "required" in r.stderr
    assert vnet("frobnicate").returncode == 64


def test_validate_ok_and_bad(good: Path, tmp_path: Path) -> None:
    r = vnet("validate", str(good))
    assert r.returncode == 0 and "ok" in r.stdout and "2 libvirt networks" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    r = vnet("validate", str(bad))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("vnet: invalid topology: 2 problems:")
    assert "networks.lan.subnet" in r.stderr and "networks.dmz.bridge.mac" in r.stderr
    assert r.stdout == ""


def test_missing_file_and_stdin(tmp_path: Path) -> None:
    r = vnet("validate", str(tmp_path / "nope.yaml"))
    assert r.returncode == 2 and "cannot read the topology" in r.stderr and "Traceback" not in r.stderr
    r = vnet("validate", "-", stdin=GOOD)
    assert r.returncode == 0


def test_unsupported_exits_3(good: Path) -> None:
    text = good.read_text().replace("subnet: 192.168.1.0/24}", "subnet: 192.168.1.0/24, port_isolated: true}")
    good.write_text(text)
    r = vnet("validate", str(good), "--libvirt-version", "6.0")
    assert r.returncode == 3 and "needs libvirt >= 6.1.0" in r.stderr
    assert vnet("validate", str(good), "--libvirt-version", "7.0").returncode == 0


def test_render_writes_virsh_ready_files_deterministically(good: Path, tmp_path: Path) -> None:
    out1, out2 = tmp_path / "a", tmp_path / "b"
    assert main(["render", str(good), "-o", str(out1)]) == 0
    assert main(["render", str(good), "-o", str(out2), "--verify"]) == 0
    files1 = sorted(p.relative_to(out1) for p in out1.rglob("*") if p.is_file())
    files2 = sorted(p.relative_to(out2) for p in out2.rglob("*") if p.is_file())
    assert files1 == files2
    assert Path("hv1/networks/lan.xml") in files1 and Path("hv1/vms/web1/nic1.xml") in files1
    for rel in files1:
        assert (out1 / rel).read_bytes() == (out2 / rel).read_bytes()


def test_check_uses_the_test_driver(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(good), "--connect", "test:///default"]) == 0
    assert "accepted by libvirt's parser" in capsys.readouterr().out


def test_connect_failure_is_a_libvirt_error(good: Path) -> None:
    r = vnet("validate", str(good), "--connect", "frob:///system")
    assert r.returncode == 5 and r.stderr.startswith("vnet: libvirt: frob:///system: cannot connect")
    assert "Traceback" not in r.stderr


def test_interfaces_and_merge(good: Path, tmp_path: Path) -> None:
    r = vnet("interfaces", str(good), "web1")
    assert r.returncode == 0 and r.stdout.count("<interface") == 2 and "vnet:domain" in r.stdout
    dom = tmp_path / "web1.xml"
    dom.write_text("<domain type='kvm'><name>web1</name><memory>65536</memory>"
                   "<os><type>hvm</type></os><devices/></domain>")
    r = vnet("interfaces", str(good), "web1", "--merge", str(dom))
    assert r.returncode == 0 and r.stdout.count("<interface") == 2 and "<metadata>" in r.stdout
    r = vnet("interfaces", str(good), "db9")
    assert r.returncode == 2 and "no VM 'db9'" in r.stderr


def test_kinds_and_schema() -> None:
    r = vnet("kinds")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 10 and "vlan-bridge" in r.stdout
    r = vnet("schema", "--path")
    assert r.returncode == 0 and Path(r.stdout.strip()).is_file()


def test_python_dash_m(good: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "libvirt_vnet", "validate", str(good)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_installed_package_finds_its_templates(tmp_path: Path, good: Path) -> None:
    """A plain (non-editable) `pip install .` must carry xml_templates, the schema and the
    hook scripts."""
    target = tmp_path / "site"
    src = tmp_path / "src"  # the tracked files only: a stale build/ in the checkout must not help
    for rel in subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True,
                              check=True).stdout.splitlines():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, src / rel)
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--target", str(target), str(src)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (target / "libvirt_vnet" / "xml_templates" / "network.xml").is_file()
    assert (target / "libvirt_vnet" / "topology" / "schema.json").is_file()
    assert (target / "libvirt_vnet" / "hook_scripts" / "qemu").is_file()
    code = ("import sys, libvirt_vnet as v, libvirt_vnet.resources as t, libvirt_vnet.hook.install as h;"
            "assert str(t.templates_dir()).startswith(sys.argv[2]), t.templates_dir();"
            "assert str(t.topology_schema()).startswith(sys.argv[2]), t.topology_schema();"
            "assert 'vnet-install: call' in h.template('network');"
            "r = v.render(v.load_file(sys.argv[1])); print(len(r.networks))")
    r = subprocess.run([sys.executable, "-c", code, str(good), str(target)], capture_output=True,
                       text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(target)}, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "2"


NAT_XML = """<network>
  <name>office-nat</name>
  <forward mode='nat'/>
  <bridge name='virbr5' stp='on' delay='0'/>
  <mac address='52:54:00:5e:00:01'/>
  <ip address='10.55.0.1' netmask='255.255.255.0'>
    <dhcp><range start='10.55.0.100' end='10.55.0.200'/></dhcp>
  </ip>
</network>"""


def test_import_file_then_render_gives_the_same_network(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    src = tmp_path / "net.xml"
    src.write_text(NAT_XML)
    assert main(["import", str(src), "--name", "adopted"]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert doc["name"] == "adopted" and doc["networks"]["office-nat"]["kind"] == "nat"
    topo_file = tmp_path / "adopted.yaml"
    topo_file.write_text(yaml.safe_dump(doc))
    assert main(["render", str(topo_file), "-o", str(tmp_path / "out")]) == 0
    out = xml_of((tmp_path / "out/localhost/networks/office-nat.xml").read_bytes())
    assert out.find("mac").get("address") == "52:54:00:5e:00:01"
    assert out.find("ip/dhcp/range").attrib == {"start": "10.55.0.100", "end": "10.55.0.200"}
    assert out.find("bridge").get("name") == "virbr5"


def test_import_from_a_live_connection(test_conn: object, capsys: pytest.CaptureFixture[str]) -> None:
    test_conn.networkDefineXML(NAT_XML)  # type: ignore[attr-defined]
    assert main(["import", "--connect", "test:///default", "office-nat"]) == 0
    assert "virbr5" in capsys.readouterr().out
    assert main(["import", "--connect", "test:///default", "nope"]) == 5
    assert "network nope" in capsys.readouterr().err


def test_import_refuses_loudly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "odd.xml"
    src.write_text(NAT_XML.replace("<forward mode='nat'/>", "<forward mode='nat'/><frob/>"))
    assert main(["import", str(src)]) == 2
    err = capsys.readouterr().err
    assert "cannot import" in err and "<frob>" in err and "/network" in err


def test_rerender_removes_only_what_it_wrote_before(good: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["render", str(good), "-o", str(out)]) == 0
    mine = out / "hv1" / "networks" / "v10.xml"
    theirs = out / "hv1" / "networks" / "hand-written.xml"
    theirs.write_text("<network/>")
    assert mine.is_file()
    good.write_text(GOOD.replace("  v10: {kind: vlan-bridge, uplink: eth0, vlan: 10}\n", "")
                    .replace(", v10]", "]"))
    assert main(["render", str(good), "-o", str(out)]) == 0
    assert not mine.exists()                      # the network left the topology
    assert theirs.read_text() == "<network/>"     # never ours: kept
    assert (out / "hv1" / "networks" / "lan.xml").is_file()


def test_several_files_each_reported(good: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    r = vnet("validate", str(bad), str(good))
    assert r.returncode == 2
    assert f"vnet: {bad}: invalid topology" in r.stderr
    assert f"{good}: ok" in r.stdout               # the good file after it was still checked


def test_bad_version_is_a_usage_error(good: Path) -> None:
    r = vnet("validate", str(good), "--libvirt-version", "abc")
    assert r.returncode == 64 and "not a libvirt version" in r.stderr


def test_importing_the_package_is_cheap() -> None:
    """Hooks run on every VM start: the package itself must not pull in lxml, PyYAML or
    libvirt; the API names load on first use."""
    code = ("import sys, libvirt_vnet, libvirt_vnet.errors;"
            "heavy = [m for m in ('lxml', 'yaml', 'libvirt', 'pyroute2') if m in sys.modules];"
            "assert not heavy, heavy;"
            "assert callable(libvirt_vnet.render) and 'lxml' in sys.modules")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_import_names_the_source_of_each_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.xml", tmp_path / "b.xml"
    a.write_text(NAT_XML)
    b.write_text(NAT_XML.replace("virbr5", "virbr6"))
    assert main(["import", str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert f"{b}: network 'office-nat' is also in {a}" in err
    b.write_text("<network><name>o</name><forward mode='bridge'/>"
                 "<virtualport type='openvswitch'/></network>")
    assert main(["import", str(b)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vnet: cannot import: ") and f"{b} (as networks.o.bridge)" in err


def vnet_bytes(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    exe = Path(sys.executable).with_name("vnet")
    return subprocess.run([str(exe), *args], input=stdin, capture_output=True, timeout=60,
                          env={**os.environ, "LC_ALL": "C.UTF-8"})


NET = "<network><name>n{}</name><bridge name='virbr9'/></network>"


@pytest.mark.parametrize(("args", "stdin", "files", "message"), [
    # topologies
    (["validate", "-"], "name: t\xe9\n".encode("latin-1"), {}, "not UTF-8 text (byte 0xe9 at line 1, column 8)"),
    (["validate", "T"], b"", {"T": ("name: t\nnetworks:\n  a: " + "[" * 400 + "]" * 400).encode()},
     "nested more than 64 levels"),
    (["validate", "T"], b"", {"T": ("name: t\nnetworks:\n  a: {mtu: " + "9" * 4400 + "}").encode()},
     "a number of 4400 digits"),
    (["validate", "T"], b"", {"T": "name: t\n".encode("utf-32")[:7]}, "not UTF-32 text"),
    # network XML
    (["import", "X"], b"", {"X": b"<?xml version='1.0'?><!DOCTYPE network [<!ENTITY x 'y'>]>"
                                 b"<network><name>n</name><metadata><a:i xmlns:a='urn:a'>&x;</a:i>"
                                 b"</metadata><bridge name='virbr9'/></network>"}, "<!DOCTYPE>"),
    (["import", "X"], b"", {"X": NET.format("\xe9").encode("latin-1")}, "not well-formed XML"),
    (["import", "-"], NET.format("\xe9").encode("latin-1"), {}, "<stdin>: not well-formed XML"),
    (["import", "X"], b"", {"X": b"<network><name>n</name><metadata>&ext;</metadata></network>"},
     "not well-formed XML"),
])
def test_hostile_input_is_one_error_with_exit_2(tmp_path: Path, args: list[str], stdin: bytes,
                                                 files: dict[str, bytes], message: str) -> None:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    r = vnet_bytes(*[str(tmp_path / a) if a in files else a for a in args], stdin=stdin)
    err = r.stderr.decode()
    assert r.returncode == 2 and "Traceback" not in err and message in err, err
    assert len(err.splitlines()) <= 3 and err.startswith("vnet: ")


@pytest.mark.parametrize("data", [
    NET.format("\xe9").encode("utf-16"),
    b"<?xml version='1.0' encoding='ISO-8859-1'?>" + NET.format("\xe9").encode("latin-1"),
    b"\xef\xbb\xbf" + NET.format("\xc3\xa9".encode("latin-1").decode("latin-1")).encode("latin-1"),
])
def test_import_honours_the_documents_encoding(tmp_path: Path, data: bytes) -> None:
    import yaml

    (tmp_path / "n.xml").write_bytes(data)
    r = vnet_bytes("import", str(tmp_path / "n.xml"))
    assert r.returncode == 0, r.stderr.decode()
    assert list(yaml.safe_load(r.stdout)["networks"]) == ["né"]


def test_import_rebuilds_a_two_tier_network(tmp_path: Path) -> None:
    import yaml

    out = tmp_path / "out"
    assert main(["render", str(REPO / "examples" / "a-v0-two-tier.yaml"), "-o", str(out)]) == 0
    files = sorted((out / "hv1" / "networks").glob("*.xml"))
    r = vnet("import", *map(str, files))
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load(r.stdout)
    assert doc["name"] == "a-v0" and list(doc["networks"]) == ["campus"]
    assert doc["networks"]["campus"]["kind"] == "two-tier"
    assert "two-tier network 'campus' rebuilt from libvirt networks campus, campus-floor1, campus-floor2" in r.stderr
    r = vnet("import", str(out / "hv1" / "networks" / "campus.xml"))  # the aggregation alone
    assert r.returncode == 2 and "import its access networks (campus-<switch>) with it" in r.stderr


def test_merge_another_topology_is_refused_unless_replaced(tmp_path: Path) -> None:
    a, b, dom = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "pc1.xml"
    a.write_text("name: a\nnetworks: {lan: {kind: isolated, subnet: 10.1.0.0/24}}\nvms: {pc1: {nics: [lan, lan]}}\n")
    b.write_text("name: b\nnetworks: {lan: {kind: isolated, subnet: 10.2.0.0/24}}\nvms: {pc1: {nics: [lan]}}\n")
    dom.write_text("<domain type='kvm'><name>pc1</name><memory>65536</memory><os><type>hvm</type></os>"
                   "<devices/></domain>")
    r = vnet("interfaces", str(a), "pc1", "--merge", str(dom))
    assert r.returncode == 0 and r.stderr == ""
    dom.write_text(r.stdout)
    r = vnet("interfaces", str(b), "pc1", "--merge", str(dom))
    assert r.returncode == 4 and r.stdout == "" and "holds NICs vnet merged for VM 'pc1' of topology 'a'" in r.stderr
    r = vnet("interfaces", str(b), "pc1", "--merge", str(dom), "--replace-foreign")
    assert r.returncode == 0 and r.stdout.count("<interface") == 1
    assert r.stderr.count("vnet: note: removed NIC") == 2 and "topology 'a'" in r.stderr
