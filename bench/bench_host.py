#!/usr/bin/env python3
"""Benchmark: vnet's host executor against iproute2, in throwaway network namespaces.

Workload, the same for every variant: N bridges ``vbr<i>`` (pinned MAC, STP off, forward
delay 0, up) and N veth pairs ``vth<i>a`` <-> ``vth<i>b`` (``a`` enslaved to ``vbr<i>``, both
ends up), every device carrying vnet's ownership mark as its ifalias: 3N links.

* (a) ``ip -batch FILE``: one ``ip`` process, the equivalent commands (the netlink floor);
* (b) one ``ip`` process per command (``--per-change-sample M`` times the first M commands
  only and extrapolates linearly);
* (c) vnet first apply: ``executor.apply`` of EnsureBridge + EnsureVethPair + SetMaster;
  ``--profile`` breaks it (and the destroy) down by phase and runs it under cProfile;
* (d) vnet idempotent re-apply, in a fresh process (does it import pyroute2?);
* (e) vnet destroy (and, for reference, ``ip -batch`` of the 2N ``ip link del``);
* (f) process times on the hook path: ``python -c pass``, ``python -c 'import pyroute2'``,
  ``import libvirt_vnet.host.executor``, and a satisfied-plan check (``executor.plan`` on
  the applied namespace), median of 5 each.

The ip commands include ``ip link set ... alias MARK`` because marking is part of vnet's
work (the kernel ignores IFLA_IFALIAS on creation, so it is a separate change for ip too).
vnet runs as a child process ``ip netns exec NS python bench_host.py --worker ...`` (that
remounts /sys, so sysfs is the namespace's); the executor call is timed inside the child,
the whole process (interpreter start, imports, executor) from outside.  Every variant of
every run gets a fresh namespace, deleted afterwards (also on Ctrl-C or failure), and is
checked to have produced exactly the wanted links before its time counts.  A namespace that
still holds links is emptied with ``ip -batch`` (untimed) before it is deleted: the kernel
tears a deleted namespace down asynchronously under the RTNL lock, which would slow down
the next variant by seconds.  The state
directory is a fresh temporary one per run, on tmpfs (``/dev/shm``) like ``/run`` on a
normal host.

    .venv/bin/python bench/bench_host.py -n 500 --repeat 3 --profile apply
    .venv/bin/python bench/bench_host.py -n 100 --repeat 0 --profile        # only the profiles

Exit status 1 when a goal is missed (vnet <= 1.5x ip -batch, >= 10x faster than ip per
change, re-apply <= 0.1x the first apply, re-apply without pyroute2).
"""

# Imports are kept light at module level: the worker is this file too, and its process
# time is one of the measurements.  The parent's heavier modules are imported where used.
from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    from libvirt_vnet.host.actions import Action

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout

TOPOLOGY = "bench"
HOLDER = "topology:bench@hv1"
NS_PREFIX = "vnb"
GOAL_VS_BATCH = 1.5
GOAL_VS_PER_CHANGE = 10.0
GOAL_REAPPLY = 0.1
IMPORT_SAMPLES = 5
IMPORT_NOTHING = "python -c pass"
IMPORT_PYROUTE2 = "python -c 'import pyroute2'"


# ---- the workload ------------------------------------------------------------------
def names(i: int) -> tuple[str, str, str]:
    return f"vbr{i}", f"vth{i}a", f"vth{i}b"


def mac(i: int) -> str:
    return f"02:76:6e:{(i >> 16) & 0xFF:02x}:{(i >> 8) & 0xFF:02x}:{i & 0xFF:02x}"


def mark(obj: str) -> str:
    """vnet's ownership mark (the format of ``planner.mark``; planner itself imports the drivers)."""
    return f"vnet:{TOPOLOGY}:{obj}"


def ip_commands(n: int) -> list[list[str]]:
    """The fewest ``ip`` commands that leave what vnet's apply leaves: 5 per bridge + veth pair."""
    cmds: list[list[str]] = []
    for i in range(n):
        br, a, b = names(i)
        cmds += [
            ["link", "add", br, "address", mac(i), "up", "type", "bridge", "stp_state", "0", "forward_delay", "0"],
            ["link", "set", br, "alias", mark(br)],
            ["link", "add", a, "up", "type", "veth", "peer", "name", b],
            ["link", "set", a, "alias", mark(a), "master", br],
            ["link", "set", b, "alias", mark(a), "up"],
        ]
    return cmds


def ip_destroy_commands(n: int) -> list[list[str]]:
    """What vnet's destroy does, the ip way: each veth (its peer goes with it), then its bridge."""
    cmds: list[list[str]] = []
    for i in reversed(range(n)):
        br, a, _ = names(i)
        cmds += [["link", "del", a], ["link", "del", br]]
    return cmds


def vnet_actions(n: int) -> list[Action]:
    from libvirt_vnet.host.actions import EnsureBridge, EnsureVethPair, SetMaster

    acts: list[Action] = []
    for i in range(n):
        br, a, b = names(i)
        acts += [EnsureBridge(name=br, mark=mark(br), mac=mac(i)),
                 EnsureVethPair(name=a, peer=b, mark=mark(a)),
                 SetMaster(device=a, bridge=br)]
    return acts


# ---- the worker (runs inside the namespace) -------------------------------------------
class _Phases:
    """Wall time and call counts of named phases (the profile run's breakdown)."""

    def __init__(self) -> None:
        self.time: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def add(self, name: str, dt: float) -> None:
        self.time[name] = self.time.get(name, 0.0) + dt
        self.calls[name] = self.calls.get(name, 0) + 1

    def patch(self, owner: Any, attr: str, label: str) -> None:
        real = getattr(owner, attr, None)
        if callable(real):
            setattr(owner, attr, self.wrap(label, real))

    def wrap(self, name: str | Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            label = name(*args, **kwargs) if callable(name) else name
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(label, time.perf_counter() - t)

        return timed


class _CountingIPR:
    """Proxy of pyroute2's IPRoute: every call is one netlink request (and its answers)."""

    def __init__(self, ipr: Any, phases: _Phases) -> None:
        self._ipr, self._phases = ipr, phases

    def __getattr__(self, attr: str) -> Any:
        real = getattr(self._ipr, attr)
        if not callable(real):
            return real

        def label(*args: Any, **kwargs: Any) -> str:
            what = f"{attr}({args[0]!r})" if args and isinstance(args[0], str) else f"{attr}()"
            return f"netlink request: ipr.{what}"

        return self._phases.wrap(label, real)


def _instrument(phases: _Phases) -> Callable[[], Any]:
    """Time the executor's phases by wrapping functions in this process only (the product
    code is not changed); returns the kernel factory to pass to the executor.  A function
    the product no longer has is skipped."""
    from libvirt_vnet.host import executor, state

    for owner, attr, label in (
            (executor, "_sysfs_snapshot", "sysfs snapshot (read_sysfs of the plan's names)"),
            (executor, "evaluate", "evaluate (checks against the snapshot)"),
            (executor, "_verify", "verify (bounded poll)"),
            (executor, "_hold_all", "ledger: _hold_all (holds + undo records)"),
            (executor, "_run_pending", "teardown: _run_pending (replay released undo records)"),
            (executor, "replay", "  replay of one undo record"),
            (state.Journal, "record", "journal: record (one write each)"),
            (state.Store, "save", "state.json save (json.dump + fsync + rename)"),
            (state.Store, "load", "state.json load")):
        phases.patch(owner, attr, label)

    def factory() -> Any:
        t = time.perf_counter()
        from libvirt_vnet.host import netlink

        phases.add("import pyroute2 (libvirt_vnet.host.netlink)", time.perf_counter() - t)
        for attr in ("read_link", "read_int", "read_sysfs"):
            phases.patch(netlink, attr, f"  sysfs {attr} inside netlink snapshots")
        t = time.perf_counter()
        kernel = netlink.NetlinkKernel()
        phases.add("open the netlink socket (IPRoute())", time.perf_counter() - t)
        kernel.ipr = _CountingIPR(kernel.ipr, phases)
        dumps = [0]
        real_snapshot = kernel.snapshot

        def snapshot(names: Optional[set[str]] = None) -> Any:
            if names is None:
                dumps[0] += 1
                label = ("netlink snapshot: full dump, first" if dumps[0] == 1
                         else "netlink snapshot: full dump, later (verify polls)")
            else:
                label = "netlink snapshot of named links (undo replay)"
            return phases.wrap(label, real_snapshot)(names)

        kernel.snapshot = snapshot  # type: ignore[method-assign]  # this instance only
        for op in ("create", "set", "set_port", "delete"):
            setattr(kernel, op, phases.wrap(f"kernel change: {op}", getattr(kernel, op)))
        return kernel

    return factory


def worker(argv: list[str]) -> int:
    """``--worker OP N STATE_DIR [profile|phases]``; prints one JSON line."""
    t_start = time.perf_counter()
    op, n, state_dir = argv[0], int(argv[1]), argv[2]
    mode = argv[3] if len(argv) > 3 else ""
    from libvirt_vnet.host import executor
    from libvirt_vnet.host.state import Store

    t_imported = time.perf_counter()
    acts = vnet_actions(n)
    store = Store(state_dir)
    t_built = time.perf_counter()
    out: dict[str, Any] = {"op": op, "import_s": t_imported - t_start, "build_s": t_built - t_imported}
    kwargs: dict[str, Any] = {}
    phases = _Phases()
    if mode == "phases":
        kwargs["kernel_factory"] = _instrument(phases)
    prof = None
    if mode == "profile":
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0 = time.perf_counter()
    if op == "apply":
        result = executor.apply(acts, HOLDER, store=store, **kwargs)
        out.update(changed=len(result.changed), in_place=result.in_place, fast_path=result.fast_path)
    elif op == "destroy":
        result = executor.destroy(HOLDER, store=store, **kwargs)
        out.update(released=len(result.released))
    elif op == "check":
        plan = executor.plan(acts, HOLDER, store=store, **kwargs)
        out.update(empty=plan.empty, in_place=plan.count("="), source=plan.source)
    else:
        raise SystemExit(f"unknown worker op {op}")
    out["exec_s"] = time.perf_counter() - t0
    if prof is not None:
        prof.disable()
        out["profile"] = _profile_text(prof, 25, "first apply" if op == "apply" else op)
    if mode == "phases":
        out["phases"] = {k: [phases.time[k], phases.calls[k]] for k in phases.time}
    out["pyroute2_imported"] = "pyroute2" in sys.modules
    print(json.dumps(out))
    return 0


def _profile_text(prof: Any, top: int, what: str) -> str:
    import io
    import pstats

    parts = []
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key).print_stats(top)
        body = buf.getvalue()
        parts.append(f"--- cProfile of the {what}, top {top} by {key} ---\n"
                     + body[body.find("   ncalls"):].rstrip())
    return "\n\n".join(parts)


# ---- the parent --------------------------------------------------------------------
def _run(cmd: list[str], *, check: bool = True, capture: bool = True) -> tuple[float, str]:
    """Run ``cmd``; its wall time and stdout."""
    import subprocess

    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=capture, text=True)
    dt = time.perf_counter() - t
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:8])}{' ...' if len(cmd) > 8 else ''} exited {proc.returncode}: "
                           f"{(proc.stderr or '').strip()[-2000:]}")
    return dt, proc.stdout or ""


class Namespaces:
    """Throwaway namespaces, all deleted by ``close`` (called from ``finally``).

    The kernel tears a deleted namespace down asynchronously, holding the RTNL lock while it
    unregisters the devices: deleting one with 1,500 links slows down whatever runs next for
    seconds.  So ``delete(drain=True)`` first removes the links synchronously (untimed) with
    ``ip -force -batch`` of ``drain_batch``, and only then deletes the empty namespace."""

    def __init__(self, drain_batch: str = "") -> None:
        self.live: list[str] = []
        self.drain_batch = drain_batch

    def new(self) -> str:
        name = f"{NS_PREFIX}-{os.getpid()}-{os.urandom(3).hex()}"
        self.live.append(name)  # before creating: a Ctrl-C in between still deletes it
        _run(["ip", "netns", "add", name])
        _run(["ip", "-n", name, "link", "set", "lo", "up"])
        return name

    def delete(self, name: str, drain: bool = False) -> None:
        if drain and self.drain_batch:
            _run(["ip", "-force", "-n", name, "-batch", self.drain_batch], check=False)
        _run(["ip", "netns", "del", name], check=False)
        if name in self.live:
            self.live.remove(name)

    def close(self) -> None:
        for name in list(self.live):
            self.delete(name)


def verify_ns(ns: str, n: int) -> None:
    """The namespace holds exactly the workload (the variants are equivalent)."""
    _, raw = _run(["ip", "-n", ns, "-j", "-d", "link", "show"])
    links = {lk["ifname"]: lk for lk in json.loads(raw or "[]")}
    problems = []
    if set(links) - {"lo"} != {x for i in range(n) for x in names(i)}:
        problems.append(f"{len(links) - 1} links instead of {3 * n}")
    for i in range(n):
        br, a, b = names(i)
        lb, la, lp = links.get(br, {}), links.get(a, {}), links.get(b, {})
        info = lb.get("linkinfo", {})
        data = info.get("info_data", {})
        if not (info.get("info_kind") == "bridge" and lb.get("address") == mac(i) and "UP" in lb.get("flags", [])
                and lb.get("ifalias") == mark(br) and data.get("stp_state") == 0 and data.get("forward_delay") == 0):
            problems.append(f"{br}: {lb.get('address')} {lb.get('flags')} {lb.get('ifalias')} {data.get('stp_state')}")
        if not (la.get("master") == br and "UP" in la.get("flags", []) and la.get("ifalias") == mark(a)
                and la.get("link") == b):
            problems.append(f"{a}: master {la.get('master')} {la.get('flags')} {la.get('ifalias')} {la.get('link')}")
        if not ("UP" in lp.get("flags", []) and lp.get("ifalias") == mark(a) and lp.get("link") == a):
            problems.append(f"{b}: {lp.get('flags')} {lp.get('ifalias')} {lp.get('link')}")
    if problems:
        raise RuntimeError(f"namespace {ns} does not hold the workload: " + "; ".join(problems[:5])
                           + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""))


def verify_empty(ns: str) -> None:
    _, raw = _run(["ip", "-n", ns, "-j", "link", "show"])
    left = [lk["ifname"] for lk in json.loads(raw or "[]") if lk["ifname"] != "lo"]
    if left:
        raise RuntimeError(f"destroy left {len(left)} links in {ns}: {left[:5]}")


def run_worker(ns: str, op: str, n: int, state_dir: str, mode: str = "") -> dict[str, Any]:
    cmd = ["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__), "--worker", op, str(n), state_dir]
    wall, out = _run(cmd + ([mode] if mode else []))
    answer: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    answer["process_s"] = wall
    return answer


def median(xs: list[float]) -> float:
    s = sorted(xs)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def one_run(nss: Namespaces, n: int, batch_files: tuple[str, str], cmds: list[list[str]], sample: int,
            state_root: str, imports: Optional[dict[str, list[float]]]) -> dict[str, float]:
    import shutil
    import tempfile

    run: dict[str, float] = {}
    # (a) ip -batch
    ns = nss.new()
    run["ip_batch"], _ = _run(["ip", "-n", ns, "-batch", batch_files[0]])
    verify_ns(ns, n)
    run["ip_batch_destroy"], _ = _run(["ip", "-n", ns, "-batch", batch_files[1]])
    verify_empty(ns)
    nss.delete(ns)
    # (b) one ip process per change
    ns = nss.new()
    t = time.perf_counter()
    for cmd in cmds[:sample]:
        _run(["ip", "-n", ns, *cmd])
    run["ip_per_change"] = (time.perf_counter() - t) * len(cmds) / sample
    if sample == len(cmds):
        verify_ns(ns, n)
    nss.delete(ns, drain=True)
    # (c) (d) (e) vnet
    ns = nss.new()
    state_dir = tempfile.mkdtemp(prefix="vnet-bench-", dir=state_root)
    try:
        first = run_worker(ns, "apply", n, state_dir)
        if first["changed"] != 3 * n:
            raise RuntimeError(f"first apply changed {first['changed']} objects, expected {3 * n}")
        verify_ns(ns, n)
        again = run_worker(ns, "apply", n, state_dir)
        if again["changed"]:
            raise RuntimeError(f"re-apply changed {again['changed']} objects, expected none")
        if imports is not None:
            measure_imports(ns, n, state_dir, imports)
        gone = run_worker(ns, "destroy", n, state_dir)
        verify_empty(ns)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
        nss.delete(ns)
    run.update(apply_exec=first["exec_s"], apply_proc=first["process_s"], apply_import=first["import_s"],
               reapply_exec=again["exec_s"], reapply_proc=again["process_s"], reapply_import=again["import_s"],
               reapply_fast_path=float(again["fast_path"]), reapply_pyroute2=float(again["pyroute2_imported"]),
               destroy_exec=gone["exec_s"], destroy_proc=gone["process_s"])
    return run


def measure_imports(ns: str, n: int, state_dir: str, out: dict[str, list[float]]) -> None:
    """(f): process times inside the namespace, interleaved, IMPORT_SAMPLES each."""
    py = sys.executable
    base = ["ip", "netns", "exec", ns, py]
    for _ in range(IMPORT_SAMPLES):
        for key, args in ((IMPORT_NOTHING, ["-c", "pass"]),
                          (IMPORT_PYROUTE2, ["-c", "import pyroute2"]),
                          ("python -c 'import libvirt_vnet.host.executor'",
                           ["-c", "import libvirt_vnet.host.executor"])):
            out.setdefault(key, []).append(_run(base + args)[0])
        check = run_worker(ns, "check", n, state_dir)
        if not check["empty"] or check["pyroute2_imported"]:
            raise RuntimeError(f"the satisfied-plan check was not satisfied from sysfs alone: {check}")
        out.setdefault("satisfied-plan check (executor.plan): process", []).append(check["process_s"])
        out.setdefault("satisfied-plan check (executor.plan): the call", []).append(check["exec_s"])
        out.setdefault("satisfied-plan check: imports in the worker", []).append(check["import_s"])


def profile_runs(nss: Namespaces, n: int, state_root: str, ops: tuple[str, ...]) -> dict[str, Any]:
    """A first apply (and a destroy, if in ``ops``) with phase timers, then again under
    cProfile, each in a fresh namespace: ``{mode: {op: worker answer}}``."""
    import shutil
    import tempfile

    got: dict[str, Any] = {}
    for mode in ("phases", "profile"):
        ns = nss.new()
        state_dir = tempfile.mkdtemp(prefix="vnet-bench-", dir=state_root)
        try:
            got[mode] = {"apply": run_worker(ns, "apply", n, state_dir, mode)}
            verify_ns(ns, n)
            if "destroy" in ops:
                got[mode]["destroy"] = run_worker(ns, "destroy", n, state_dir, mode)
                verify_empty(ns)
        finally:
            shutil.rmtree(state_dir, ignore_errors=True)
            nss.delete(ns, drain="destroy" not in ops)
    return got


def report(res: dict[str, Any]) -> list[str]:
    n, med, runs = res["n"], res["median"], res["runs"]
    lines = [f"N = {n}: {3 * n} links ({n} bridges, {n} veth pairs), {res['ip_commands']} ip commands "
             f"(5 per bridge + pair: add bridge with mac/up/stp 0/delay 0; set its alias; add veth up; "
             f"set alias + master; set peer alias + up)",
             "the ip variants include the `ip link set ... alias MARK` changes: marking is part of vnet's work",
             f"repeat {res['repeat']} (median; each run in fresh namespaces), python {sys.version.split()[0]}, "
             f"state dir on {res['state_root']}", ""]
    rows = [("(a) ip -batch, 1 process", "ip_batch"),
            (f"(b) ip, 1 process per change{' [EXTRAPOLATED from ' + str(res['per_change_sample']) + ']' if res['per_change_extrapolated'] else ''}",  # noqa: E501
             "ip_per_change"),
            ("(c) vnet first apply: executor.apply()", "apply_exec"),
            ("    vnet first apply: whole process", "apply_proc"),
            ("(d) vnet re-apply: executor.apply()", "reapply_exec"),
            ("    vnet re-apply: whole process", "reapply_proc"),
            ("(e) vnet destroy: executor.destroy()", "destroy_exec"),
            ("    vnet destroy: whole process", "destroy_proc"),
            (f"    for reference: ip -batch destroy ({2 * n} link del)", "ip_batch_destroy")]
    width = max(len(r[0]) for r in rows)
    lines.append(f"{'variant':<{width}}  {'median s':>9}  runs")
    lines.append("-" * (width + 30))
    for label, key in rows:
        lines.append(f"{label:<{width}}  {med[key]:>9.3f}  {' '.join(f'{x:.3f}' for x in runs[key])}")
    lines.append(f"(whole process = `ip netns exec` + interpreter start + imports (worker's own import of the "
                 f"executor: {med['apply_import'] * 1000:.0f} ms) + the call)")
    lines.append(f"re-apply: fast path {'yes' if res['reapply_fast_path'] else 'NO'}, "
                 f"pyroute2 imported: {'YES' if res['reapply_pyroute2'] else 'no'}")
    lines.append("")
    lines.append("ratios (goal, verdict):")
    lw = max(len(label) for label, *_ in res["ratio_lines"])
    for label, key, goal, ok in res["ratio_lines"]:
        lines.append(f"  {label:<{lw}} {res['ratios'][key]:>8.2f}x   ({goal}) {ok}".rstrip())
    if res.get("imports"):
        lines.append("")
        lines.append(f"hook path, process times inside the namespace (`ip netns exec NS python ...`, median of "
                     f"{IMPORT_SAMPLES}, pyc and page cache warm):")
        for key, xs in res["imports"].items():
            lines.append(f"  {key:<58} {median(xs) * 1000:>8.1f} ms")
        extra = median(res["imports"][IMPORT_PYROUTE2]) - median(res["imports"][IMPORT_NOTHING])
        lines.append(f"  => import pyroute2 costs {extra * 1000:.0f} ms over a bare interpreter; "
                     "the satisfied check never pays it")
    return lines


def summarize(n: int, repeat: int, cmds: int, sample: int, state_root: str, runs: list[dict[str, float]],
              imports: dict[str, list[float]]) -> dict[str, Any]:
    keys = list(runs[0])
    med = {k: median([r[k] for r in runs]) for k in keys}
    ratios = {
        "vnet_exec_over_ip_batch": med["apply_exec"] / med["ip_batch"],
        "vnet_process_over_ip_batch": med["apply_proc"] / med["ip_batch"],
        "ip_per_change_over_vnet_exec": med["ip_per_change"] / med["apply_exec"],
        "ip_per_change_over_vnet_process": med["ip_per_change"] / med["apply_proc"],
        "reapply_over_apply_exec": med["reapply_exec"] / med["apply_exec"],
        "reapply_over_apply_process": med["reapply_proc"] / med["apply_proc"],
        "destroy_exec_over_ip_batch": med["destroy_exec"] / med["ip_batch_destroy"],
        "ip_per_change_over_ip_batch": med["ip_per_change"] / med["ip_batch"],
    }

    def verdict(ok: bool) -> str:
        return "OK" if ok else "MISSED"

    ratio_lines = [
        ("vnet first apply / ip -batch (executor call)", "vnet_exec_over_ip_batch", f"<= {GOAL_VS_BATCH}x",
         verdict(ratios["vnet_exec_over_ip_batch"] <= GOAL_VS_BATCH)),
        ("vnet first apply / ip -batch (whole process)", "vnet_process_over_ip_batch", "info", ""),
        ("ip per change / vnet first apply (executor call)", "ip_per_change_over_vnet_exec",
         f">= {GOAL_VS_PER_CHANGE:g}x", verdict(ratios["ip_per_change_over_vnet_exec"] >= GOAL_VS_PER_CHANGE)),
        ("ip per change / vnet first apply (whole process)", "ip_per_change_over_vnet_process", "info", ""),
        ("ip per change / ip -batch (the most any client gets)", "ip_per_change_over_ip_batch", "info", ""),
        ("re-apply / first apply (executor call)", "reapply_over_apply_exec", f"<= {GOAL_REAPPLY}x",
         verdict(ratios["reapply_over_apply_exec"] <= GOAL_REAPPLY)),
        ("re-apply / first apply (whole process)", "reapply_over_apply_process", "info", ""),
        ("vnet destroy / ip -batch destroy (executor call)", "destroy_exec_over_ip_batch", "info", ""),
    ]
    goals_ok = all(ok != "MISSED" for *_, ok in ratio_lines) and not med["reapply_pyroute2"]
    return {"n": n, "repeat": repeat, "links": 3 * n, "ip_commands": cmds, "per_change_sample": sample,
            "per_change_extrapolated": sample < cmds, "state_root": state_root,
            "runs": {k: [r[k] for r in runs] for k in keys}, "median": med, "ratios": ratios,
            "ratio_lines": ratio_lines, "goals_met": goals_ok,
            "reapply_fast_path": bool(med["reapply_fast_path"]), "reapply_pyroute2": bool(med["reapply_pyroute2"]),
            "imports": imports}


def print_profile(prof: dict[str, Any], n: int) -> None:
    for op, what in (("apply", "first apply"), ("destroy", "destroy")):
        if op not in prof["phases"]:
            continue
        ph = prof["phases"][op]
        print(f"\n--- where the {what}'s time goes (N={n}; one instrumented run: executor call "
              f"{ph['exec_s']:.3f} s; times nest: a kernel change holds its netlink requests) ---")
        items = sorted(ph["phases"].items(), key=lambda kv: -kv[1][0])
        for name, (t, calls) in items:
            print(f"  {name:<62} {t:>8.3f} s  {calls:>7} calls  {t / calls * 1e6:>8.0f} us/call")
        requests = sum(c for name, (_, c) in ph["phases"].items() if name.startswith("netlink request"))
        print(f"  netlink requests in all: {requests} ({requests / (3 * n):.1f} per action)")
    for op in prof["profile"]:
        pr = prof["profile"][op]
        print(f"\n{pr['profile']}")
        print(f"(cProfile run: executor call {pr['exec_s']:.3f} s with the profiler's overhead)")


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return worker(argv[1:])
    import argparse
    import signal
    import tempfile

    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("-n", type=int, default=500, help="bridges (and veth pairs); default 500")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs (median), each in fresh namespaces; default 3 (0: only --profile)")
    ap.add_argument("--per-change-sample", type=int, default=0, metavar="M",
                    help="time only the first M per-change ip commands and extrapolate; default all")
    ap.add_argument("--profile", nargs="?", const="apply,destroy", default="", metavar="OPS",
                    help="also break these down by phase and profile them with cProfile, each in a fresh namespace: "
                    "apply and/or destroy (default both; at N=500 a profiled destroy takes many minutes)")
    ap.add_argument("--state-root", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                    help="where the temporary state directories go (default /dev/shm: tmpfs, like /run)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON (progress still on stderr)")
    args = ap.parse_args(argv)
    ops = tuple(o for o in args.profile.split(",") if o)
    if args.n < 1 or args.repeat < 0 or args.per_change_sample < 0 or (args.repeat == 0 and not ops):
        ap.error("-n must be positive, --repeat and --per-change-sample not negative, --repeat 0 needs --profile")
    if set(ops) - {"apply", "destroy"}:
        ap.error("--profile takes apply, destroy or apply,destroy")
    if os.geteuid() != 0:
        ap.error("needs root (ip netns add)")
    if args.n > 99999:
        ap.error("at most 99999 (interface names are 15 characters)")

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through the finally that deletes the namespaces

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    cmds = ip_commands(args.n)
    sample = min(args.per_change_sample or len(cmds), len(cmds))
    nss = Namespaces()
    batch_files: list[str] = []
    runs: list[dict[str, float]] = []
    imports: dict[str, list[float]] = {}
    prof: dict[str, Any] = {}
    try:
        for batch in (cmds, ip_destroy_commands(args.n)):
            fd, path = tempfile.mkstemp(prefix="vnet-bench-", suffix=".ip")
            batch_files.append(path)
            with os.fdopen(fd, "w") as f:
                f.write("".join(" ".join(c) + "\n" for c in batch))
        nss.drain_batch = batch_files[1]
        for r in range(args.repeat):
            _log(f"run {r + 1}/{args.repeat}, N={args.n} ...")
            runs.append(one_run(nss, args.n, (batch_files[0], batch_files[1]), cmds, sample, args.state_root,
                                imports if r == args.repeat - 1 else None))
            _log("  " + ", ".join(f"{k} {v:.3f}" for k, v in runs[-1].items() if not k.startswith("reapply_f")
                                  and "pyroute2" not in k))
        if ops:
            _log(f"profiling: {', '.join(ops)} ...")
            prof = profile_runs(nss, args.n, args.state_root, ops)
    except KeyboardInterrupt:
        _log("interrupted: deleting the namespaces")
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop the cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        nss.close()
        for path in batch_files:
            os.unlink(path)
    res = summarize(args.n, args.repeat, len(cmds), sample, args.state_root, runs, imports) if runs else {}
    if args.json:
        out = {k: v for k, v in res.items() if k != "ratio_lines"}
        if res:
            out["goals"] = {key: ok for _, key, _, ok in res["ratio_lines"] if ok}
        if prof:
            out["profile"] = {op: {"phases": prof["phases"][op]["phases"], "exec_s": prof["phases"][op]["exec_s"],
                                   "cprofile_text": prof["profile"][op]["profile"]} for op in prof["phases"]}
        print(json.dumps(out, indent=1))
    else:
        if res:
            print("\n".join(report(res)))
        if prof:
            print_profile(prof, args.n)
    if not res:
        return 0
    return 0 if res["goals_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
