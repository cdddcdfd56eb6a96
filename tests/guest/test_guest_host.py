"""vnet's host plumbing on kernel features this machine lacks: VLAN devices (8021q) and SR-IOV
VFs (netdevsim).  Runs in the nested guest; ``ip -j`` is the oracle.  Kept small: the guest is
~30x slower than the host."""

from __future__ import annotations

import functools
import json
import random
import subprocess
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from support.hostctl import FaultKernel  # the same fault injection as the host-kernel tests

from libvirt_vnet.errors import ApplyError, ConflictError
from libvirt_vnet.host import executor, planner
from libvirt_vnet.host.actions import EnsureNumVfs, Kernel, SetVf
from libvirt_vnet.host.state import Store
from libvirt_vnet.model.plumbing import BridgeUplink, HostBridge, HostObject, VethLink, VlanDevice


def all_links() -> dict[str, Any]:
    out = subprocess.run(["ip", "-j", "-d", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {lk["ifname"]: lk for lk in json.loads(out)}


def names() -> set[str]:
    return set(all_links())


def vlan_plan(parent: str, vid: int, bridge: str, topology: str = "t") -> list[Any]:
    objs: list[HostObject] = [VlanDevice(name=f"{parent}.{vid}", parent=parent, vid=vid),
            HostBridge(name=bridge, mac=f"52:54:00:00:{vid // 256:02x}:{vid % 256:02x}"),
            BridgeUplink(device=f"{parent}.{vid}", bridge=bridge)]
    return planner.actions_for(objs, topology)


def test_vlan_bridge_apply_reapply_fault_destroy(dummy_parent: str, tmp_path: Path) -> None:
    store = Store(str(tmp_path / "state"))
    acts = vlan_plan(dummy_parent, 10, "vbr10")
    before = names()
    parent_before = all_links()[dummy_parent]

    result = executor.apply(acts, "h", store=store)
    assert len(result.changed) == 3
    lk = all_links()
    vdev = lk[f"{dummy_parent}.10"]
    assert vdev["linkinfo"]["info_kind"] == "vlan" and vdev["linkinfo"]["info_data"]["id"] == 10
    assert vdev["link"] == dummy_parent and vdev["master"] == "vbr10" and "UP" in vdev["flags"]
    assert vdev["ifalias"] == f"vnet:t:{dummy_parent}.10"
    assert lk["vbr10"]["address"] == "52:54:00:00:00:0a"

    again = executor.apply(acts, "h", store=store)
    assert again.changed == [] and again.fast_path  # sysfs + /proc/net/vlan prove it: no netlink

    executor.destroy("h", store=store)
    assert names() == before
    assert all_links()[dummy_parent] == parent_before

    # a fault at every kernel change rolls back to the state before
    k = 1
    while True:
        FaultKernel.calls = 0

        def factory(k: int = k) -> AbstractContextManager[Kernel]:
            return FaultKernel(k, None)

        try:
            executor.apply(acts, "h", store=store, kernel_factory=factory)
        except ApplyError as exc:
            assert "injected fault" in str(exc)
            assert names() == before, k
            k += 1
            continue
        break
    assert k > 4  # create vlan, mark, create bridge, mark, enslave: each was a fault point
    executor.destroy("h", store=store)
    assert names() == before


def test_vlan_device_with_another_id_is_a_conflict(dummy_parent: str, sh: Callable[..., str],
                                                   tmp_path: Path) -> None:
    sh("ip", "link", "add", "link", dummy_parent, "name", f"{dummy_parent}.10", "type", "vlan", "id", "20")
    before = all_links()
    with pytest.raises(ConflictError, match=r"id 20 .* wants id 10"):
        executor.apply(vlan_plan(dummy_parent, 10, "vbr10"), "h", store=Store(str(tmp_path / "s")))
    assert all_links().keys() == before.keys()


def test_32_concurrent_holders_share_4_vlan_bridges(dummy_parent: str, tmp_path: Path) -> None:
    """libvirt may run hooks for several domains at once: reference counts must stay exact."""
    state = str(tmp_path / "state")
    before = names()

    def plan(i: int) -> list[Any]:
        vid = 100 + i % 4
        objs: list[HostObject] = [VlanDevice(name=f"{dummy_parent}.{vid}", parent=dummy_parent, vid=vid),
                HostBridge(name=f"cb{vid}", mac=f"52:54:00:00:01:{vid - 100:02x}"),
                BridgeUplink(device=f"{dummy_parent}.{vid}", bridge=f"cb{vid}"),
                VethLink(name=f"cv{i}", peer=f"cp{i}", bridge=f"cb{vid}")]
        return planner.actions_for(objs, "conc")

    errors: list[BaseException] = []

    def run(fn: Callable[[], Any]) -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    def parallel(jobs: list[Callable[[], Any]]) -> None:
        threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        assert not errors, errors

    parallel([functools.partial(executor.apply, plan(i), f"dom{i}", store=Store(state)) for i in range(32)])
    lk = all_links()
    for i in range(32):
        vid = 100 + i % 4
        assert lk[f"cv{i}"]["master"] == f"cb{vid}"
        assert lk[f"{dummy_parent}.{vid}"]["master"] == f"cb{vid}"
    ledger = Store(state).load()
    for vid in range(100, 104):
        assert len(ledger.objects[f"link:cb{vid}"].holders) == 8
        assert len(ledger.objects[f"link:{dummy_parent}.{vid}"].holders) == 8

    order = list(range(32))
    random.Random(7).shuffle(order)
    first, rest = order[:16], order[16:]
    parallel([functools.partial(executor.destroy, f"dom{i}", store=Store(state)) for i in first])
    lk = all_links()
    for i in rest:  # the survivors still have their bridge and port: nothing deleted early
        assert lk[f"cv{i}"]["master"] == f"cb{100 + i % 4}"
    for i in first:
        assert f"cv{i}" not in lk
    parallel([functools.partial(executor.destroy, f"dom{i}", store=Store(state)) for i in rest])
    assert names() == before  # nothing leaked
    assert Store(state).load().objects == {}


@pytest.mark.parametrize("nsim_pf", [0], indirect=True)
def test_sriov_numvfs_and_vf_settings(nsim_pf: str, tmp_path: Path) -> None:
    store = Store(str(tmp_path / "state"))
    acts = [EnsureNumVfs(pf=nsim_pf, count=4),
            SetVf(pf=nsim_pf, vf=1, mac="52:54:00:aa:00:01", vlan=42, qos=3, trust=True, spoofchk=False,
                  link_state="disable")]
    executor.apply(acts, "vm1", store=store)
    pf = all_links()[nsim_pf]
    vfs = {v["vf"]: v for v in pf["vfinfo_list"]}
    assert sorted(vfs) == [0, 1, 2, 3]
    vf1 = vfs[1]
    assert vf1["address"] == "52:54:00:aa:00:01"
    assert (vf1["vlan_list"][0]["vlan"], vf1["vlan_list"][0]["qos"]) == (42, 3)
    assert (vf1["trust"], vf1["spoofchk"], vf1["link_state"]) == (True, False, "disable")
    assert vfs[0]["vlan_list"][0].get("vlan", 0) == 0 and vfs[0]["address"] != vf1["address"]  # untouched

    assert executor.apply(acts, "vm1", store=store).changed == []
    with pytest.raises(ConflictError, match="has 4 VFs; the topology wants 2"):
        executor.apply([EnsureNumVfs(pf=nsim_pf, count=2)], "other", store=store)

    executor.destroy("vm1", store=store)
    assert "vfinfo_list" not in all_links()[nsim_pf] or all_links()[nsim_pf]["vfinfo_list"] == []
    assert Path(f"/sys/class/net/{nsim_pf}/device/sriov_numvfs").read_text().strip() == "0"
