#!/usr/bin/env python3
"""Benchmark: wall time of the installed libvirt hooks, against starting Python at all.

Cases (median of ``-n`` runs each; every number is the wall time of one whole hook
process, started the way libvirt starts it: the installed script, arguments, the domain
XML on stdin):

* ``python3 -c pass`` — the baseline: the hook's own interpreter (the virtualenv's
  python3, with ``site``), and, for reference, ``python3`` from PATH;
* (a) ``prepare begin`` of a domain without vnet metadata (goal ≤ 1.5× the baseline);
* (b) ``prepare begin`` of a vnet domain whose plumbing is already there — a second VM on
  an access bridge (bridge + veth up to the aggregation bridge) that another domain holds;
  each run is a new domain, so each run records its hold in the state (goal ≤ 3×);
* (c) ``prepare begin`` of a vnet domain whose plumbing must be created: a VLAN device and
  a bridge when the kernel has 8021q (run it under ``tools/nested``), else a bridge and a
  veth pair (this machine's kernel); released (untimed) after each run;
* ``--virsh``: the time libvirt takes to start a sandbox domain (``vnet lab``, real
  libvirtd + QEMU) with vnet's hooks installed, against a lab without hooks where the same
  bridge was made by hand — the hooks' added cost to a real ``virsh start``.

Everything runs in a throwaway network namespace (the process re-executes itself inside
it, so hook and baseline see the same /sys); the state directory is a fresh one on tmpfs.

    .venv/bin/python bench/bench_hooks.py -n 30 --virsh
    tools/nested run -- .venv/bin/python bench/bench_hooks.py -n 10      # (c) with a VLAN
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GOAL_A = 1.5
GOAL_B = 3.0
BASE = ("<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
        "<devices><serial type='pty'/><console type='pty'/></devices></domain>")
PLAIN = ("<domain type='qemu'><name>plain</name><devices><interface type='network'><mac address="
         "'52:54:00:00:00:01'/><source network='default'/></interface></devices></domain>")


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def has_8021q() -> bool:
    try:
        sh("ip", "link", "add", "vnbprobe", "type", "dummy")
    except subprocess.CalledProcessError:
        return False
    try:
        sh("ip", "link", "add", "link", "vnbprobe", "name", "vnbprobe.9", "type", "vlan", "id", "9")
        return True
    except subprocess.CalledProcessError:
        return False
    finally:
        subprocess.run(["ip", "link", "del", "vnbprobe"], capture_output=True)


def topology(vlan: bool, n: int) -> dict[str, Any]:
    vms = {f"d{i}": {"nics": [{"network": "net", "attach": "bridge", **({} if vlan else {"access": "f1"})}]}
           for i in range(n + 1)}
    if vlan:
        net = {"kind": "vlan-bridge", "uplink": "vnbup", "vlan": 10, "bridge": {"name": "br10"}}
        return {"name": "bench", "hosts": {"hv1": {"uri": "qemu:///system", "uplinks": ["vnbup"]}},
                "networks": {"net": net}, "vms": vms}
    net = {"kind": "two-tier", "upstream": "isolated", "subnet": "10.99.0.0/24", "bridge": {"name": "agg0"},
           "hairpin": True, "access": {"f1": {"bridge": {"name": "acc-f1"}}}}
    return {"name": "bench", "hosts": {"hv1": {"uri": "qemu:///system"}}, "networks": {"net": net}, "vms": vms}


def timed(argv: list[str], stdin: bytes = b"") -> float:
    t = time.perf_counter()
    proc = subprocess.run(argv, input=stdin, capture_output=True)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed: {proc.stderr.decode().strip()}")
    return elapsed


def inside(n: int) -> dict[str, Any]:
    """The measurements, run inside the namespace."""
    from libvirt_vnet import load, render
    from libvirt_vnet.hook.install import install_hooks

    work = Path(tempfile.mkdtemp(prefix="vnb-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    try:
        (work / "etc").mkdir()
        install_hooks(str(work / "etc"), layout="dir", state_dir=str(work / "state"))
        hook = str(work / "etc" / "hooks" / "qemu.d" / "50-libvirt-vnet")
        out: dict[str, Any] = {"n": n}
        python3 = shutil.which("python3") or sys.executable
        out["python3 -c pass (hook's interpreter)"] = statistics.median(
            timed([sys.executable, "-c", "pass"]) for _ in range(n))
        out[f"python3 -c pass ({python3})"] = statistics.median(timed([python3, "-c", "pass"]) for _ in range(n))
        out["(a) no vnet metadata"] = statistics.median(
            timed([hook, "plain", "prepare", "begin", "-"], PLAIN.encode()) for _ in range(n))

        vlan = has_8021q()
        sh("ip", "link", "set", "lo", "up")
        if vlan:
            sh("ip", "link", "add", "vnbup", "type", "dummy")
            sh("ip", "link", "set", "vnbup", "up")
        else:
            sh("ip", "link", "add", "agg0", "type", "bridge")  # the aggregation bridge: libvirt's
        rendering = render(load(topology(vlan, n)))

        def xml(i: int) -> bytes:
            return rendering.vm(f"d{i}").merge_into(BASE.format(name=f"d{i}")).encode()

        what = "a VLAN device + bridge" if vlan else "a bridge + veth pair (no 8021q here)"
        created = []
        for _ in range(n):
            created.append(timed([hook, "d0", "prepare", "begin", "-"], xml(0)))
            timed([hook, "d0", "release", "end", "-"], xml(0))
        out[f"(c) creates {what}"] = statistics.median(created)
        timed([hook, "d0", "prepare", "begin", "-"], xml(0))  # d0 holds the plumbing from now on
        out["(b) plumbing in place"] = statistics.median(
            timed([hook, f"d{i}", "prepare", "begin", "-"], xml(i)) for i in range(1, n + 1))
        for i in range(n + 1):
            timed([hook, f"d{i}", "release", "end", "-"], xml(i))
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def virsh_start(n: int) -> dict[str, float]:
    """Median time of libvirt's domain start (create) in a lab with and without hooks."""
    import libvirt

    from libvirt_vnet import load, render
    from libvirt_vnet.lab import Lab

    rendering = render(load(topology(False, 1)))
    agg = next(x for x in rendering.networks_on("hv1") if x.name == "net")
    acc = next(x for x in rendering.networks_on("hv1") if x.name == "net-f1")
    out = {}
    for hooks in (False, True):
        lab = Lab(f"vnb{os.getpid() % 100000}{int(hooks)}")
        try:
            lab.up(hooks=hooks)
            conn = libvirt.open(lab.uri)
            conn.networkDefineXML(agg.xml).create()
            if hooks:
                conn.networkDefineXML(acc.xml).create()  # the network hook builds acc-f1 + veth
            else:
                ns = ["ip", "-n", lab.netns]
                sh(*ns, "link", "add", "acc-f1", "type", "bridge")
                sh(*ns, "link", "set", "acc-f1", "up")
            dom = conn.defineXML(rendering.vm("d0").merge_into(BASE.format(name="d0")))
            dom.create()  # the first start in a lab probes QEMU: not counted
            dom.destroy()
            times = []
            for _ in range(n):
                t = time.perf_counter()
                dom.create()
                times.append(time.perf_counter() - t)
                dom.destroy()
            out["virsh start with hooks" if hooks else "virsh start without hooks"] = statistics.median(times)
            conn.close()
        finally:
            lab.down()
    return out


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("-n", type=int, default=30, help="runs per case (default 30)")
    ap.add_argument("--virsh", action="store_true", help="also time real domain starts in two labs")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside:
        print(json.dumps(inside(args.n)))
        return 0
    ns = f"vnb-{os.getpid()}"
    sh("ip", "netns", "add", ns)
    try:
        proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, __file__, "--inside", "-n", str(args.n)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        res: dict[str, Any] = json.loads(proc.stdout)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    if args.virsh:
        res.update(virsh_start(args.n))
    base = res["python3 -c pass (hook's interpreter)"]
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        for key, value in res.items():
            if key == "n":
                continue
            print(f"{key:48} {value * 1000:8.1f} ms  {value / base:5.2f}x")
        if "virsh start with hooks" in res:
            added = res["virsh start with hooks"] - res["virsh start without hooks"]
            print(f"{'added to virsh start by the hooks':48} {added * 1000:8.1f} ms")
    ok = res["(a) no vnet metadata"] <= GOAL_A * base and res["(b) plumbing in place"] <= GOAL_B * base
    print(f"goals (a) <= {GOAL_A}x, (b) <= {GOAL_B}x: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
