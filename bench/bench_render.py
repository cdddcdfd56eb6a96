#!/usr/bin/env python3
"""Benchmark: load + render + RelaxNG-validate topologies of growing size.

For each size N: a topology dict of N networks (nat, route, isolated, vlan-bridge,
macvtap and bridge kinds in turn; distinct /24 subnets out of 10.0.0.0/8; one host with
declared uplinks) and 10*N NICs, 10 per VM.  Timed phases, each repeated ``--repeat``
times (the median is reported):

* load      ``topology.load(doc)`` (all input checks, cross-object checks included)
* render    ``render(topo)`` plus the XML text of every network and every VM's
            ``domain_xml()`` (the documents a user gets out)
* rng       parse each document and validate it against libvirt's RelaxNG schemas
            (``network.rng``, ``domain.rng``; each schema loaded once, untimed)

Then the verdict: is ``total(N_max) / total(N_min)`` within 1.1x of the work ratio?
If not, one extra run of the largest size is profiled (cProfile) and the hotspots shown.

    .venv/bin/python bench/bench_render.py --sizes 100,1000 --repeat 3
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from libvirt_vnet.rendering import render
from libvirt_vnet.topology import load

SCHEMAS = Path("/usr/share/libvirt/schemas")
KINDS = ("nat", "route", "isolated", "vlan-bridge", "macvtap", "bridge")
NICS_PER_VM = 10


def topology(n: int) -> dict[str, Any]:
    """N networks, 10*N NICs (N VMs of 10 NICs each), one host."""
    if n > 65536:
        raise SystemExit("at most 65536 distinct /24s fit in 10.0.0.0/8")
    networks: dict[str, Any] = {}
    vid = 0
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        subnet = f"10.{i // 256}.{i % 256}.0/24"
        net: dict[str, Any] = {"kind": kind}
        if kind in ("nat", "route", "isolated"):
            net["subnet"] = subnet
        elif kind == "vlan-bridge":
            vid += 1
            if vid > 4094:
                raise SystemExit("too many vlan-bridge networks for one uplink")
            net.update(uplink="eth0", vlan=vid, subnet=subnet)
        elif kind == "macvtap":
            net.update(mode="bridge", uplink="eth1")
        else:  # bridge: an existing host bridge per network
            net.update(bridge=f"hbr{i}", subnet=subnet)
        networks[f"net{i:05d}"] = net
    names = list(networks)
    vms = {}
    for v in range(n * 10 // NICS_PER_VM):
        nics = [{"network": names[(v * NICS_PER_VM + j) % n]} for j in range(NICS_PER_VM)]
        vms[f"vm{v:05d}"] = {"nics": nics}
    return {"name": f"bench-{n}",
            "hosts": {"hv1": {"uplinks": ["eth0", "eth1"]}},
            "networks": networks, "vms": vms}


class Schemas:
    def __init__(self) -> None:
        self.network = etree.RelaxNG(file=str(SCHEMAS / "network.rng"))
        self.domain = etree.RelaxNG(file=str(SCHEMAS / "domain.rng"))


def validate(schema: etree.RelaxNG, text: str, what: str) -> None:
    doc = etree.fromstring(text.encode())
    if not schema.validate(doc):
        raise SystemExit(f"{what} does not validate against libvirt's schema:\n"
                         f"{schema.error_log}\n{text}")


def run_once(doc: dict[str, Any], schemas: Schemas) -> dict[str, float]:
    gc.collect()
    t0 = time.perf_counter()
    topo = load(doc)
    t1 = time.perf_counter()
    rendering = render(topo)
    net_xml = [(n.name, n.xml) for n in rendering.networks]
    dom_xml = [(v.name, v.domain_xml()) for v in rendering.vms]
    t2 = time.perf_counter()
    for name, text in net_xml:
        validate(schemas.network, text, f"network {name}")
    for name, text in dom_xml:
        validate(schemas.domain, text, f"domain {name}")
    t3 = time.perf_counter()
    counts = (len(rendering.networks), sum(len(v.interfaces) for v in rendering.vms))
    return {"load": t1 - t0, "render": t2 - t1, "rng": t3 - t2, "total": t3 - t0,
            "networks": counts[0], "nics": counts[1]}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def profile(doc: dict[str, Any], schemas: Schemas, top: int) -> None:
    prof = cProfile.Profile()
    prof.enable()
    run_once(doc, schemas)
    prof.disable()
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(prof, stream=out).strip_dirs().sort_stats(key).print_stats(top)
        body = out.getvalue()
        start = body.find("   ncalls")
        print(f"\n--- cProfile, largest size, top {top} by {key} ---")
        print(body[start:].rstrip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,1000",
                    help="comma-separated network counts N (NICs = 10*N); default 100,1000")
    ap.add_argument("--repeat", type=int, default=3, help="runs per size (median); default 3")
    ap.add_argument("--profile", action="store_true",
                    help="profile the largest size even when the scaling is linear")
    ap.add_argument("--top", type=int, default=15, help="profile lines to show; default 15")
    args = ap.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if not sizes or min(sizes) < 1 or args.repeat < 1:
        ap.error("sizes and repeat must be positive")

    t = time.perf_counter()
    schemas = Schemas()
    print(f"libvirt RelaxNG schemas loaded in {time.perf_counter() - t:.2f} s "
          f"(network.rng, domain.rng; not timed below)")
    print(f"python {sys.version.split()[0]}, lxml {etree.__version__}, "
          f"repeat {args.repeat} (median)")
    print("render = render() + XML text of every network and domain_xml() of every VM\n")
    header = (f"{'N':>6} {'networks':>9} {'NICs':>7} {'load s':>8} {'render s':>9} "
              f"{'rng-validate s':>15} {'total s':>8} {'peak RSS MiB':>13}")
    print(header)
    print("-" * len(header))
    results: dict[int, dict[str, float]] = {}
    docs = {}
    for n in sizes:
        docs[n] = topology(n)
        runs = [run_once(docs[n], schemas) for _ in range(args.repeat)]
        med = {k: statistics.median(r[k] for r in runs) for k in ("load", "render", "rng",
                                                                   "total")}
        med["networks"], med["nics"] = runs[0]["networks"], runs[0]["nics"]
        results[n] = med
        print(f"{n:>6} {med['networks']:>9} {med['nics']:>7} {med['load']:>8.3f} "
              f"{med['render']:>9.3f} {med['rng']:>15.3f} {med['total']:>8.3f} "
              f"{peak_rss_mib():>13.1f}", flush=True)

    print(f"\npeak RSS (whole run): {peak_rss_mib():.1f} MiB")
    linear = True
    if len(sizes) > 1:
        lo, hi = sizes[0], sizes[-1]
        work = hi / lo
        goal = work * 1.1
        ratio = results[hi]["total"] / results[lo]["total"]
        linear = ratio <= goal
        for phase in ("load", "render", "rng"):
            r = results[hi][phase] / results[lo][phase] if results[lo][phase] else float("inf")
            print(f"  {phase:<7} total({hi})/total({lo}) = {r:.2f}x")
        print(f"linear: {work:g}x work took {ratio:.2f}x time (goal <= {goal:g}x)"
              f" -> {'OK' if linear else 'NOT LINEAR'}")
    if not linear or args.profile:
        profile(docs[sizes[-1]], schemas, args.top)
    return 0 if linear else 1


if __name__ == "__main__":
    sys.exit(main())
