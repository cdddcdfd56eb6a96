"""32 holders racing on 4 shared bridges, in one namespace with one state directory.

Holder ``hNN`` needs bridge ``sh(NN % 4)`` (shared by 8 holders: same mark, same MAC)
and its own veth pair ``cNNa``/``cNNb`` with ``cNNa`` enslaved to that bridge.  Each
round launches its operations at once as separate processes (``tests/support/hostctl.py``
inside the namespace); the file lock must serialise them so that:

- a holder whose apply returned finds its bridge and its port in it, even while other
  holders of the same bridge are being destroyed (no premature deletion);
- a bridge exists iff some holder holds it, and ``state.json`` counts exactly who
  (no leak, no lost or doubled reference, one undo record per object);
- a process killed in the middle of an apply or a teardown is finished or rolled back
  by whichever operation takes the lock next.

``ip -j`` is the oracle for the kernel; ``state.json`` is read as a file.
"""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from support.netns import hostctl, links, netns

HOLDERS = 32
BRIDGES = 4
SEED = 20240917
ALL = frozenset(range(HOLDERS))




def holder(i: int) -> str:
    return f"h{i:02d}"


def bridge(i: int) -> str:
    return f"sh{i % BRIDGES}"


def bridge_mac(k: int) -> str:
    return f"02:00:00:5a:00:{k:02x}"


def veth(i: int) -> tuple[str, str]:
    return f"c{i:02d}a", f"c{i:02d}b"


def plan_of(i: int) -> list[dict[str, Any]]:
    k = i % BRIDGES
    a, b = veth(i)
    return [{"type": "EnsureBridge", "name": bridge(i), "mark": f"vnet:conc:{bridge(i)}", "mac": bridge_mac(k)},
            {"type": "EnsureVethPair", "name": a, "peer": b, "mark": f"vnet:conc:{a}"},
            {"type": "SetMaster", "device": a, "bridge": bridge(i)}]


@dataclass(frozen=True)
class Op:
    kind: str  # apply | destroy
    i: int
    kill_at: Optional[int] = None


@dataclass
class Outcome:
    op: Op
    answer: dict[str, Any]
    #: the holder's links and its bridge (``ip -j link show dev``, ``None``: absent),
    #: read right after the operation returned
    seen: dict[str, Optional[dict[str, Any]]]


def link(ns: str, name: str) -> Optional[dict[str, Any]]:
    """One link, or ``None``.  A get, not a dump: dumps racing with changes come back
    interrupted (NLM_F_DUMP_INTR) and may miss links."""
    proc = subprocess.run(["ip", "-n", ns, "-j", "-d", "link", "show", "dev", name], capture_output=True, text=True)
    if proc.returncode != 0:
        assert "does not exist" in proc.stderr, proc.stderr
        return None
    found: list[dict[str, Any]] = json.loads(proc.stdout)
    return found[0]


def run(ns: str, state_dir: Path, op: Op) -> Outcome:
    spec: dict[str, Any] = {"op": op.kind, "holder": holder(op.i), "state_dir": str(state_dir),
                            "actions": plan_of(op.i)}
    if op.kill_at is not None:
        spec["kill_at"] = op.kill_at
    answer = hostctl(ns, spec)
    return Outcome(op, answer, {name: link(ns, name) for name in (*veth(op.i), bridge(op.i))})


def race(ns: str, state_dir: Path, ops: Sequence[Op]) -> list[Outcome]:
    """All of ``ops`` at once, one process each; each checked the moment it returns
    (other operations are still running then)."""
    with ThreadPoolExecutor(max_workers=len(ops)) as pool:
        outcomes = list(pool.map(lambda op: run(ns, state_dir, op), ops))
    for out in outcomes:
        check_returned(out)
    return outcomes


def check_returned(out: Outcome) -> None:
    op, ans, seen = out.op, out.answer, out.seen
    a, b = veth(op.i)
    if op.kill_at is not None:
        assert ans["returncode"] == -9, f"{op} was not killed: {ans}"
        return
    assert ans["returncode"] == 0 and ans["ok"], f"{op}: {ans}"
    if op.kind == "apply":
        port, peer, br = seen[a], seen[b], seen[bridge(op.i)]
        assert port is not None and peer is not None, f"{op}: its veth pair is missing right after apply returned"
        assert br is not None, f"{op}: {bridge(op.i)} is gone right after apply returned"
        assert port.get("master") == bridge(op.i), f"{op}: {a} is not in {bridge(op.i)}: {port}"
    else:
        assert seen[a] is None and seen[b] is None, f"{op}: its veth pair survived its destroy"


def read_state(state_dir: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((state_dir / "state.json").read_text())
    return state


def verify(ns: str, state_dir: Path, held: set[int]) -> None:
    """The kernel and the state hold exactly what the holders in ``held`` need."""
    lk = links(ns)
    bridges = {i % BRIDGES for i in held}
    want_links = {"lo"} | {f"sh{k}" for k in bridges} | {n for i in held for n in veth(i)}
    assert set(lk) == want_links, (f"extra: {sorted(set(lk) - want_links)}, "
                                   f"missing: {sorted(want_links - set(lk))}")
    for k in bridges:
        br = lk[f"sh{k}"]
        assert br["linkinfo"]["info_kind"] == "bridge"
        assert br.get("ifalias") == f"vnet:conc:sh{k}"
        assert br["address"] == bridge_mac(k)
        assert "UP" in br["flags"]
    for i in held:
        a, b = veth(i)
        assert lk[a]["linkinfo"]["info_kind"] == "veth" and lk[b]["linkinfo"]["info_kind"] == "veth"
        assert lk[a].get("master") == bridge(i), f"{a}: {lk[a].get('master')}"
        assert lk[a].get("ifalias") == f"vnet:conc:{a}" and lk[b].get("ifalias") == f"vnet:conc:{b}"
        assert "UP" in lk[a]["flags"] and "UP" in lk[b]["flags"]

    state = read_state(state_dir)
    objects = state["objects"]
    want_keys = {f"link:sh{k}" for k in bridges} | {f"{p}:{veth(i)[0]}" for i in held for p in ("link", "master")}
    assert set(objects) == want_keys, (f"extra: {sorted(set(objects) - want_keys)}, "
                                       f"missing: {sorted(want_keys - set(objects))}")
    for k in bridges:
        rec = objects[f"link:sh{k}"]
        users = sorted(holder(i) for i in held if i % BRIDGES == k)
        assert sorted(rec["holders"]) == users and len(rec["holders"]) == len(users), rec["holders"]
        assert rec["undo"] == [{"op": "delete", "name": f"sh{k}", "kind": "bridge", "mark": f"vnet:conc:sh{k}",
                                "ifindex": lk[f"sh{k}"]["ifindex"]}]
    for i in held:
        a, b = veth(i)
        assert objects[f"link:{a}"]["holders"] == [holder(i)]
        assert objects[f"link:{a}"]["undo"] == [{"op": "delete", "name": a, "kind": "veth",
                                                 "mark": f"vnet:conc:{a}", "ifindex": lk[a]["ifindex"]}]
        assert objects[f"master:{a}"]["holders"] == [holder(i)]
        assert objects[f"master:{a}"]["undo"] == [{"op": "set", "name": a, "attrs": {"master": None, "up": False},
                                                   "expect": {"master": bridge(i)}}]
    assert state["holders"] == {holder(i): [f"link:{bridge(i)}", f"link:{veth(i)[0]}", f"master:{veth(i)[0]}"]
                                for i in sorted(held)}
    assert state["pending"] == [] and state["failed"] == []
    assert not (state_dir / "journal.jsonl").exists()


def shuffled(rng: random.Random, ops: list[Op]) -> list[Op]:
    rng.shuffle(ops)
    return ops


def test_32_holders_race_on_4_shared_bridges(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    state_dir = tmp_path / "state"
    with netns() as ns:
        # round 1: every holder applies at once; each bridge is created exactly once
        outs = race(ns, state_dir, shuffled(rng, [Op("apply", i) for i in ALL]))
        for k in range(BRIDGES):
            creators = [o.op.i for o in outs if any(c.startswith(f"+ bridge sh{k} ") for c in o.answer["changed"])]
            assert len(creators) == 1, f"sh{k} created by {creators}"
        assert all(o.answer["changed"][-2:] == [f"+ veth pair {veth(o.op.i)[0]} ↔ {veth(o.op.i)[1]}",
                                                 f"+ port {veth(o.op.i)[0]} in bridge {bridge(o.op.i)}"]
                   for o in outs)
        held = set(ALL)
        verify(ns, state_dir, held)

        # round 2: half destroy (all of sh0's holders among them), half apply again
        gone = {i for i in held if i % BRIDGES == 0}
        gone |= set(rng.sample(sorted(held - gone), HOLDERS // 2 - len(gone)))
        again = held - gone
        outs = race(ns, state_dir, shuffled(rng, [Op("destroy", i) for i in gone] + [Op("apply", i) for i in again]))
        for o in outs:
            if o.op.kind == "apply":
                assert o.answer["changed"] == [] and o.answer["in_place"] == 3, o.answer
        held = again
        verify(ns, state_dir, held)
        assert "sh0" not in links(ns)

        # round 3: everyone swaps — the held destroy, the others apply (sh0 comes back
        # while the other bridges lose and regain holders in whatever order the lock gives)
        back = ALL - held
        race(ns, state_dir, shuffled(rng, [Op("destroy", i) for i in held] + [Op("apply", i) for i in back]))
        held = set(back)
        verify(ns, state_dir, held)

        # round 4: some applies are SIGKILLed at their k-th kernel change, among normal
        # applies and destroys; the next operation recovers what they left
        free = sorted(ALL - held)
        killed = rng.sample(free, 4)
        fresh = rng.sample(sorted(set(free) - set(killed)), 4)
        dropped = rng.sample(sorted(held), 4)
        ops = ([Op("apply", i, kill_at=k) for i, k in zip(killed, (1, 2, 3, 4))]
               + [Op("apply", i) for i in fresh] + [Op("destroy", i) for i in dropped])
        race(ns, state_dir, shuffled(rng, ops))
        held = (held - set(dropped)) | set(fresh)
        survivor = min(held)
        recovered = run(ns, state_dir, Op("apply", survivor))
        assert recovered.answer["ok"] and recovered.answer["changed"] == [], recovered.answer
        verify(ns, state_dir, held)
        assert not {holder(i) for i in killed} & set(read_state(state_dir)["holders"])

        # a teardown killed after its first undo step: the holder is released and its
        # remaining steps wait in ``pending``; the next operation (below) finishes them
        victim = rng.choice(sorted(held))
        a, _ = veth(victim)
        dead = run(ns, state_dir, Op("destroy", victim, kill_at=2))
        assert dead.answer["returncode"] == -9, dead.answer
        state = read_state(state_dir)
        assert holder(victim) not in state["holders"]
        assert [u for u in state["pending"] if u["op"] == "delete" and u["name"] == a
                and u["mark"] == f"vnet:conc:{a}" and u["kind"] == "veth" and isinstance(u.get("ifindex"), int)]
        port = dead.seen[a]
        assert port is not None and "master" not in port, port
        held.discard(victim)

        # round 5: everything is destroyed at once (holders that hold nothing too)
        race(ns, state_dir, shuffled(rng, [Op("destroy", i) for i in ALL]))
        verify(ns, state_dir, set())
        assert set(links(ns)) == {"lo"}
        state = read_state(state_dir)
        assert state["objects"] == {} and state["holders"] == {} and state["pending"] == []
