"""VEPA (802.1Qbg) for real: guests on macvlan mode vepa reach each other only through
the adjacent switch, and only when that switch reflects frames back out of the port they
came in on (hairpin) — which vnet itself turns on (SetPortFlags) and, on destroy, off.

The lab, one namespace each:

- ``switch``: the adjacent switch, a Linux bridge ``swbr0`` with one port ``swp0``;
- ``host``: the hypervisor, whose uplink ``up0`` is the veth peer of ``swp0``;
- ``vm1``, ``vm2``: the guests, each with a macvlan (made on ``up0`` in ``host``, then
  moved) holding 10.88.0.11/24 and 10.88.0.12/24.

Reachability is an ICMP echo sent from a raw socket inside a guest's namespace (the
kernel of the other guest answers), so the test needs no ping binary.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.netns import hostctl, ip_json, links, netns, reaches

VM_IPS = ("10.88.0.11", "10.88.0.12")





def sh(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True, text=True)




@dataclass(frozen=True)
class Lab:
    switch: str
    host: str
    vms: tuple[str, str]


@contextmanager
def vepa_lab(mode: str) -> Iterator[Lab]:
    """The switch, the host and two guests on macvlans in ``mode`` over the host's uplink."""
    with ExitStack() as stack:
        sw, host, vm1, vm2 = (stack.enter_context(netns(p)) for p in ("vnt-sw", "vnt-hv", "vnt-vm1", "vnt-vm2"))
        sh("ip", "-n", sw, "link", "add", "swbr0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
        sh("ip", "-n", sw, "link", "set", "swbr0", "up")
        sh("ip", "-n", host, "link", "add", "up0", "type", "veth", "peer", "name", "swp0", "netns", sw)
        sh("ip", "-n", sw, "link", "set", "swp0", "master", "swbr0")
        sh("ip", "-n", sw, "link", "set", "swp0", "up")
        sh("ip", "-n", host, "link", "set", "up0", "up")
        for i, (vm, ip) in enumerate(zip((vm1, vm2), VM_IPS), 1):
            dev = f"mv{i}"
            sh("ip", "-n", host, "link", "add", dev, "link", "up0", "type", "macvlan", "mode", mode)
            sh("ip", "-n", host, "link", "set", dev, "netns", vm)
            sh("ip", "-n", vm, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", vm, "link", "set", dev, "up")
        yield Lab(switch=sw, host=host, vms=(vm1, vm2))


def hairpin(lab: Lab) -> bool:
    data = links(lab.switch)["swp0"]["linkinfo"]["info_slave_data"]
    return bool(data["hairpin"])


def macvlan_mode(lab: Lab, i: int) -> str:
    return str(links(lab.vms[i - 1])[f"mv{i}"]["linkinfo"]["info_data"]["mode"])


def switch_learned(lab: Lab, mac: str) -> list[str]:
    """The switch ports on which the switch's FDB learned ``mac``."""
    out = subprocess.run(["ip", "netns", "exec", lab.switch, "bridge", "-j", "fdb", "show", "br", "swbr0"],
                         check=True, capture_output=True, text=True).stdout
    return [e["ifname"] for e in json.loads(out or "[]") if e.get("mac") == mac and "permanent" not in
            e.get("state", "")]


def hairpin_spec(op: str, state_dir: Path) -> dict[str, Any]:
    return {"op": op, "holder": "network:vepa-edge", "state_dir": str(state_dir),
            "actions": [{"type": "SetPortFlags", "bridge": "swbr0", "port": "swp0", "hairpin": True}]}


def test_vepa_guests_meet_only_through_a_hairpin_switch_port_that_vnet_sets_and_undoes(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with vepa_lab("vepa") as lab:
        vm1, vm2 = lab.vms
        assert macvlan_mode(lab, 1) == macvlan_mode(lab, 2) == "vepa"
        assert hairpin(lab) is False

        # hairpin off: VM1's frames do go out to the switch (it learns VM1's MAC on the
        # port), but the switch never sends them back out of that same port
        assert not reaches(vm1, VM_IPS[1], tries=2)
        mac1 = links(vm1)["mv1"]["address"]
        assert switch_learned(lab, mac1) == ["swp0"]

        # plan: one change, nothing done
        planned = hostctl(lab.switch, hairpin_spec("plan", state_dir))
        assert planned["ok"], planned
        assert [s[0] for s in planned["steps"]] == ["~"], planned["steps"]
        assert "hairpin off → on" in planned["steps"][0][2]
        assert hairpin(lab) is False

        # vnet turns hairpin on in the switch's namespace: the guests meet, both ways
        applied = hostctl(lab.switch, hairpin_spec("apply", state_dir))
        assert applied["ok"], applied
        assert applied["changed"] == ["~ port swp0 of swbr0: hairpin on"]
        assert hairpin(lab) is True
        assert reaches(vm1, VM_IPS[1], tries=3)
        assert reaches(vm2, VM_IPS[0], tries=3)

        again = hostctl(lab.switch, hairpin_spec("apply", state_dir))
        assert again["ok"] and again["changed"] == [] and again["fast_path"], again

        # destroy replays the undo record: hairpin off again, and the guests are cut off
        # (their neighbour entries are warm: only the switch's refusal stops them)
        gone = hostctl(lab.switch, hairpin_spec("destroy", state_dir))
        assert gone["ok"], gone
        assert gone["released"] == ["port swp0 of swbr0: hairpin on"]
        assert hairpin(lab) is False
        state = json.loads((state_dir / "state.json").read_text())
        assert state["objects"] == {} and state["holders"] == {} and state["pending"] == []
        neigh = ip_json(vm1, "neigh", "show", "dev", "mv1")
        assert any(n.get("dst") == VM_IPS[1] and n.get("lladdr") for n in neigh), neigh
        assert not reaches(vm1, VM_IPS[1], tries=2)


def test_macvlan_bridge_mode_needs_no_hairpin(tmp_path: Path) -> None:
    """The control: the same lab in mode bridge switches guest to guest inside the host."""
    with vepa_lab("bridge") as lab:
        vm1, vm2 = lab.vms
        assert macvlan_mode(lab, 1) == macvlan_mode(lab, 2) == "bridge"
        assert hairpin(lab) is False
        assert reaches(vm1, VM_IPS[1], tries=3)
        assert reaches(vm2, VM_IPS[0], tries=3)
