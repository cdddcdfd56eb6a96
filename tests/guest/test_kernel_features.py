"""Smoke tests of the nested-kernel tier: the kernel features the host lacks really work here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def test_modules_loaded(guest_kernel: tuple[str, ...]) -> None:
    for module in guest_kernel:
        assert Path("/sys/module", module).is_dir(), module


def test_vlan_on_dummy_parent(ipr: Any, dummy_parent: str, link_info: Callable[..., dict[str, Any]]) -> None:
    parent = ipr.link_lookup(ifname=dummy_parent)[0]
    name = f"{dummy_parent}.10"
    ipr.link("add", ifname=name, kind="vlan", link=parent, vlan_id=10)

    link = link_info(name)
    assert link["link"] == dummy_parent
    assert link["linkinfo"]["info_kind"] == "vlan"
    assert link["linkinfo"]["info_data"]["protocol"] == "802.1Q"
    assert link["linkinfo"]["info_data"]["id"] == 10


def test_netdevsim_vf_settings(ipr: Any, nsim_pf: str, link_info: Callable[..., dict[str, Any]]) -> None:
    pf = ipr.link_lookup(ifname=nsim_pf)[0]
    mac = "52:54:00:12:34:56"
    ipr.link("set", index=pf, vf={"vf": 0, "mac": mac, "vlan": 42, "spoofchk": 0, "trust": 1})

    msg = ipr.link("get", index=pf, ext_mask=1)[0]  # ext_mask=1: RTEXT_FILTER_VF, else no VF list
    assert msg.get("IFLA_NUM_VF") == 2
    vfs = {v.get("IFLA_VF_MAC")["vf"]: v for v in msg.get("IFLA_VFINFO_LIST").get_attrs("IFLA_VF_INFO")}
    assert sorted(vfs) == [0, 1]
    assert vfs[0].get("IFLA_VF_MAC")["mac"] == mac
    assert vfs[0].get("IFLA_VF_VLAN")["vlan"] == 42
    assert vfs[0].get("IFLA_VF_SPOOFCHK")["spoofchk"] == 0
    assert vfs[0].get("IFLA_VF_TRUST")["trust"] == 1
    assert vfs[1].get("IFLA_VF_VLAN")["vlan"] == 0  # VF 1 untouched

    # iproute2 agrees
    (vf0,) = (v for v in link_info(nsim_pf)["vfinfo_list"] if v["vf"] == 0)
    assert (vf0["address"], vf0["vlan_list"][0]["vlan"], vf0["spoofchk"], vf0["trust"]) == (mac, 42, False, True)


def test_veth_into_netns(
    netns: str, sh: Callable[..., str], link_info: Callable[..., dict[str, Any]], new_name: Callable[[str], str]
) -> None:
    host, guest = new_name("vh"), new_name("vg")
    sh("ip", "link", "add", host, "type", "veth", "peer", "name", guest, "netns", netns)
    try:
        assert link_info(guest, netns=netns)["linkinfo"]["info_kind"] == "veth"
        assert host not in sh("ip", "-n", netns, "-br", "link")
        assert guest not in sh("ip", "-br", "link")
    finally:
        sh("ip", "link", "del", host)
