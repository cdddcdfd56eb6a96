"""The host layer without a kernel: import boundaries, planner output for every example,
and action checks against snapshots (plain data, as either reader would produce)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from libvirt_vnet import topology as topo_input
from libvirt_vnet.errors import ConflictError
from libvirt_vnet.host import executor, planner
from libvirt_vnet.host.actions import (
    EnsureBridge,
    EnsureNumVfs,
    EnsureVethPair,
    EnsureVlanLink,
    Planned,
    SetMaster,
    SetPortFlags,
)
from libvirt_vnet.host.snapshot import BridgeAttrs, Link, PortAttrs, Snapshot
from libvirt_vnet.host.state import Journal, Ledger
from libvirt_vnet.rendering import host_needs

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "libvirt_vnet"


def importers(module: str) -> set[str]:
    found = set()
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            if any(n == module or n.startswith(module + ".") for n in names):
                found.add(str(path.relative_to(PKG)))
    return found


def test_only_netlink_module_imports_pyroute2_and_only_virt_imports_libvirt() -> None:
    assert importers("pyroute2") == {"host/netlink.py"}
    assert importers("libvirt") == {"virt.py"}


def test_executor_and_actions_import_nothing_heavy() -> None:
    code = ("import sys, libvirt_vnet.host.executor, libvirt_vnet.host.actions, libvirt_vnet.host.state;"
            "heavy = [m for m in ('pyroute2', 'lxml', 'yaml', 'libvirt') if m in sys.modules];"
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def link(name: str, index: int, **kw: object) -> Link:
    base: dict[str, object] = {"mac": f"02:00:00:00:00:{index:02x}", "mtu": 1500, "up": True}
    base.update(kw)
    return Link(name=name, index=index, **base)  # type: ignore[arg-type]


def snap(*links: Link, complete: bool = True) -> Snapshot:
    return Snapshot(links={lk.name: lk for lk in links}, complete=complete, source="test")


BR = EnsureBridge(name="br10", mark="vnet:t:br10", mac="52:54:00:00:10:01")
OURS_BR = link("br10", 5, mac="52:54:00:00:10:01", alias="vnet:t:br10", kind="bridge", mac_pinned=True,
               bridge=BridgeAttrs(stp=False, forward_delay=0, group_fwd_mask=0, multicast_snooping=True))


def test_bridge_verdicts() -> None:
    assert BR.assess(snap(), Planned()).sign == "+"
    assert BR.assess(snap(OURS_BR), Planned()).sign == "="
    stp = EnsureBridge(name="br10", mark="vnet:t:br10", mac="52:54:00:00:10:01", stp=True, delay=2)
    v = stp.assess(snap(OURS_BR), Planned())
    assert v.sign == "~" and "stp off → on" in v.detail and "forward_delay 0 → 200" in v.detail
    with pytest.raises(ConflictError, match="vnet did not create it"):
        BR.assess(snap(link("br10", 5, kind="bridge", bridge=OURS_BR.bridge)), Planned())
    with pytest.raises(ConflictError, match="not a bridge"):
        BR.assess(snap(link("br10", 5, kind="veth")), Planned())


def test_vlan_device_immutable_attributes_are_conflicts() -> None:
    act = EnsureVlanLink(name="eth0.10", parent="eth0", vid=10, mark="vnet:t:eth0.10")
    eth0, eth1 = link("eth0", 2), link("eth1", 3)
    assert act.assess(snap(eth0), Planned()).sign == "+"
    assert act.assess(snap(eth0, link("eth0.10", 4, kind="vlan", vlan_id=10, link=2)), Planned()).sign == "="
    with pytest.raises(ConflictError, match="id 20 on eth0; the topology wants id 10") as e:
        act.assess(snap(eth0, link("eth0.10", 4, kind="vlan", vlan_id=20, link=2)), Planned())
    assert "ip link del eth0.10" in (e.value.hint or "")
    with pytest.raises(ConflictError, match="on eth1"):
        act.assess(snap(eth0, eth1, link("eth0.10", 4, kind="vlan", vlan_id=10, link=3)), Planned())
    with pytest.raises(ConflictError, match="does not exist"):
        act.assess(snap(), Planned())
    assert act.assess(snap(complete=False), Planned()).sign == "?"  # sysfs cannot prove absence
    big = EnsureVlanLink(name="eth0.10", parent="eth0", vid=10, mark="m", mtu=9000)
    with pytest.raises(ConflictError, match="MTU 9000 but its uplink eth0 has 1500"):
        big.assess(snap(eth0), Planned())


def test_master_and_port_flags() -> None:
    eth1 = link("eth1", 3, master="br0")
    with pytest.raises(ConflictError, match="already a port of br0"):
        SetMaster(device="eth1", bridge="br10").assess(snap(OURS_BR, eth1), Planned())
    free = link("eth1", 3, addresses=("fe80::1/64",))
    assert SetMaster(device="eth1", bridge="br10").assess(snap(OURS_BR, free), Planned()).sign == "~"
    # the classic lock-out: enslaving the interface that holds the host's address
    addressed = link("eth1", 3, addresses=("192.0.2.5/24",))
    with pytest.raises(ConflictError, match=r"192\.0\.2\.5/24") as e:
        SetMaster(device="eth1", bridge="br10").assess(snap(OURS_BR, addressed), Planned())
    assert "move the addresses to the bridge br10" in (e.value.hint or "")
    unknown = link("eth1", 3)  # sysfs: addresses not known, netlink must decide
    assert SetMaster(device="eth1", bridge="br10").assess(snap(OURS_BR, unknown), Planned()).sign == "?"
    planned = Planned(br10=BR)
    assert SetMaster(device="eth1", bridge="br10").assess(snap(free), planned).sign == "~"
    with pytest.raises(ConflictError, match="bridge br10 does not exist"):
        SetMaster(device="eth1", bridge="br10").assess(snap(free), Planned())
    mtu_br = EnsureBridge(name="br10", mark="m", mtu=9000)
    with pytest.raises(ConflictError, match="smaller than the MTU 9000"):
        SetMaster(device="eth1", bridge="br10").assess(snap(free), Planned(br10=mtu_br))
    tap = link("vnet0", 7, kind="tun", master="br10", port=PortAttrs(hairpin=False, isolated=False, learning=True))
    veth = link("ct0", 8, kind="veth", master="br10", port=PortAttrs(hairpin=False, isolated=False, learning=True))
    uplink = link("eth1", 3, master="br10", port=PortAttrs(hairpin=False, isolated=False, learning=True))
    flags = SetPortFlags(bridge="br10", hairpin=True, skip=("eth1",))
    v = flags.assess(snap(OURS_BR, tap, uplink, veth), Planned())
    assert v.sign == "~" and "vnet0" in v.detail and "eth1" not in v.detail and "ct0" not in v.detail


def test_numvfs_changes_only_from_zero() -> None:
    act = EnsureNumVfs(pf="enp3s0f0", count=8)
    assert act.assess(snap(link("enp3s0f0", 2, numvfs=0)), Planned()).sign == "+"
    assert act.assess(snap(link("enp3s0f0", 2, numvfs=8)), Planned()).sign == "="
    with pytest.raises(ConflictError, match="has 4 VFs") as e:
        act.assess(snap(link("enp3s0f0", 2, numvfs=4)), Planned())
    assert "echo 0 >" in (e.value.hint or "")
    with pytest.raises(ConflictError, match="not an SR-IOV device"):
        act.assess(snap(link("enp3s0f0", 2)), Planned())


def test_evaluate_reports_all_conflicts_once_with_topology_places() -> None:
    topo = topo_input.load_file(REPO / "examples" / "b-v2-vlans.yaml")
    acts = planner.actions_for_needs(host_needs(topo, "hv1"), topo.name)
    with pytest.raises(ConflictError) as e:
        executor.evaluate(acts, snap())
    text = str(e.value)
    assert text.count("does not exist") == 3  # one per VLAN device, no follow-on errors for ports
    assert "networks.users → vlan device eth0.10" in text


@pytest.mark.parametrize("path", sorted((REPO / "examples").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_plans_from_an_empty_host(path: Path) -> None:
    """Against a host that has the uplinks and PFs (and the libvirt bridges) but nothing of
    vnet's, each example's plan is all creations in a valid order, keys unique."""
    topo = topo_input.load_file(path)
    for host in topo.hosts:
        acts = planner.actions_for_needs(host_needs(topo, host.name), topo.name)
        names = set().union(*(a.names() for a in acts)) if acts else set()
        created = set().union(*(a.provides() for a in acts)) if acts else set()
        existing = [link(n, i + 2, numvfs=0, kind="bridge" if n.startswith(("agg", "vbr", "virbr")) else None)
                    for i, n in enumerate(sorted(names - created))]
        verdicts = executor.evaluate(acts, snap(*existing))
        assert len({a.key for a in acts}) == len(acts)
        for act, v in zip(acts, verdicts):
            if isinstance(act, SetPortFlags) and act.port is None:
                assert v.sign == "="  # no guests yet
            else:
                assert v.sign in "+~", (act.describe(), v)


def test_veth_pair_must_be_one_pair() -> None:
    act = EnsureVethPair(name="vu-a", peer="va-a", mark="vnet:t:vu-a")
    a = link("vu-a", 4, alias="vnet:t:vu-a", link=5, kind="veth")
    b = link("va-a", 5, alias="vnet:t:vu-a", link=4, kind="veth")
    assert act.assess(snap(a, b), Planned()).sign == "="
    c = link("va-a", 5, alias="vnet:t:vu-a", link=9, kind="veth")
    with pytest.raises(ConflictError, match="not one veth pair"):
        act.assess(snap(a, c), Planned())


def test_ledger_reference_counts() -> None:
    led = Ledger()
    undo = [{"op": "delete", "name": "br10", "kind": "bridge", "mark": "m"}]
    led.hold("a", "link:br10", undo, "bridge br10")
    led.hold("b", "link:br10", [], "bridge br10")
    assert led.release("a", "link:br10") == []
    assert led.objects["link:br10"].holders == ["b"]
    assert led.release("b", "link:br10") == undo
    assert led.objects == {} and led.holders == {}
    again = Ledger.from_json(led.to_json())
    assert again == led


def test_journal_drops_cancelled_and_torn_records(tmp_path: Path) -> None:
    j = Journal(str(tmp_path / "journal.jsonl"))
    jid = j.open("h")
    j.record("k1", {"op": "set", "name": "a", "attrs": {}})
    j.record("k2", {"op": "set", "name": "b", "attrs": {}})
    j.cancel()
    j.close(remove=False)
    with open(j.path, "a") as f:
        f.write('{"key": "k3", "und')  # a writer killed mid-line
    assert j.read() == (jid, [("k1", {"op": "set", "name": "a", "attrs": {}})])


def test_vfs_bound_to_vfio_are_in_use(tmp_path: Path) -> None:
    """sysfs layout of an SR-IOV PF: device/virtfnN -> the VF's PCI device, whose driver link
    says who has it (a tree of symlinks, as the kernel lays it out)."""
    from libvirt_vnet.host.snapshot import vfs_in_use

    pci = tmp_path / "devices"
    for addr, driver in (("0000:03:10.0", "vfio-pci"), ("0000:03:10.1", "ixgbevf"), ("0000:03:10.2", None)):
        (pci / addr).mkdir(parents=True)
        if driver:
            (tmp_path / "drivers" / driver).mkdir(parents=True, exist_ok=True)
            (pci / addr / "driver").symlink_to(tmp_path / "drivers" / driver)
    device = tmp_path / "pfdev"
    device.mkdir()
    for n, addr in enumerate(("0000:03:10.0", "0000:03:10.1", "0000:03:10.2")):
        (device / f"virtfn{n}").symlink_to(pci / addr)
    (tmp_path / "net" / "enp3s0f0").mkdir(parents=True)
    (tmp_path / "net" / "enp3s0f0" / "device").symlink_to(device)
    assert vfs_in_use("enp3s0f0", root=str(tmp_path / "net")) == ["0000:03:10.0"]
    assert vfs_in_use("nope", root=str(tmp_path / "net")) == []
