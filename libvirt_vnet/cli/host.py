"""``vnet plan / host-apply / host-destroy / host-status``: the host plumbing of a topology,
built through the host engine (:mod:`libvirt_vnet.host`) on hosts without vnet's hooks."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Optional

from ..errors import ConflictError, ErrorList, InputError
from .common import load_topology, plural

HOST_EPILOG = """\
examples:
  vnet plan office.yaml --host hv1          # what would change (read-only)
  sudo vnet host-apply office.yaml --host hv1
  sudo vnet host-status
  sudo vnet host-destroy office.yaml --host hv1

Devices vnet creates carry the ifalias vnet:<topology>:<name>; only devices still carrying it
are ever deleted, and a device that exists without it is a conflict, never replaced.
State lives in /run/libvirt-vnet (tmpfs: forgotten at reboot, like the devices).  Several
topologies may share a VLAN device or bridge: it is removed only when its last user is
destroyed, and never while guests are still on it (host-destroy --force unplugs them).
With `vnet hooks install`, libvirt's hooks do the same when networks and VMs start and stop
(holders network:NAME, domain:NAME in host-status).
Every host command first finishes a teardown, or rolls back an apply, that a killed run left.
"""


def host_of(topo: Any, host: Optional[str]) -> str:
    names = [h.name for h in topo.hosts]
    if host is None:
        if len(names) == 1:
            return str(names[0])
        raise InputError(f"topology {topo.name!r} has {len(names)} hosts ({', '.join(names)})",
                         hint="pick one with --host")
    if host not in names:
        raise InputError(f"topology {topo.name!r} has no host {host!r}", path="hosts",
                         hint=f"hosts: {', '.join(names)}")
    return host


def _host_plan(args: argparse.Namespace) -> tuple[Any, str, list[Any], str]:
    from ..host import planner
    from ..rendering import host_needs

    topo = load_topology(args.topology)
    host = host_of(topo, args.host)
    actions = planner.actions_for_needs(host_needs(topo, host), topo.name)
    return topo, host, actions, planner.holder_for(topo.name, host)


def preflight_problems(topo: Any, host: str) -> list[ConflictError]:
    """What this host lacks beyond devices for the topology's networks on it (lldpad and
    a physical uplink for 802.1Qbg: host.preflight; any uplink a network names), each at
    the topology place that asks for it."""
    from ..drivers import registry
    from ..host import preflight

    wanted: dict[str, dict[str, str]] = {}
    for net in topo.networks_on(host):
        for req in registry.driver_for(net.kind).host_requirements(net, topo, host):
            wanted.setdefault(req.need, {}).setdefault(req.device, req.path)
    out = [ConflictError(f"needs {p.need}: {p.device + ': ' if p.device else ''}{p.message}",
                         path=devices.get(p.device or "", next(iter(devices.values()))), hint=p.hint)
           for need, devices in wanted.items() for p in preflight.check(devices, need)]
    # an uplink only libvirt uses (a macvtap network without shim) is in no host action:
    # without this, plan says "No changes" on a host that lacks it
    told = {dev for devices in wanted.values() for dev in devices}
    uplinks: dict[str, str] = {}
    for net in topo.networks_on(host):
        if net.kind != "macvtap":  # guests attach to it directly (a NAT's forward dev may be absent)
            continue
        for up in (getattr(net, "uplink", None), *(getattr(net, "uplinks", None) or ())):
            if up and up not in told:
                uplinks.setdefault(up, f"{net.path}.uplink")
    out += [ConflictError(f"the uplink {dev} does not exist on this host", path=uplinks[dev],
                          hint=f"fix the network's uplink (or hosts.{host}.uplinks), or create the device")
            for dev in preflight.missing_devices(uplinks)]
    return out


def settle_first(state_dir: Optional[str]) -> None:
    """Every host command first finishes or undoes what an interrupted (killed) run left:
    as root it does so under the lock; without the rights to, it says so."""
    import os

    from ..host import executor
    from ..host.state import Store

    store = Store(state_dir)
    left = executor.interrupted(store)
    if not left:
        return
    if os.path.isdir(store.root) and not os.access(store.root, os.W_OK):
        print(f"note: {store.root} records {left}; run vnet host-status as root to finish it")
        return
    executor.settle(store)
    print(f"Finished {left} first.")


def cmd_plan(args: argparse.Namespace) -> int:
    from ..host import executor
    from ..host.state import Store

    topo, host, actions, holder = _host_plan(args)
    settle_first(args.state_dir)
    result = executor.plan(actions, holder, store=Store(args.state_dir))
    print(f"Host plan for topology {topo.name!r} on host {host!r} (read from {result.source}):")
    problems = preflight_problems(topo, host)
    text = result.render(verbose=args.verbose)
    if problems:  # the host does not match: it lacks what no device change can bring
        text = text.replace("No changes: the host already matches", "No device changes, but the host lacks "
                            "what the preflight below names")
    print(text)
    if problems:  # what host-apply refuses, and what would wedge libvirt at a guest's start
        print(f"Preflight: {plural(len(problems), 'problem')} (host-apply refuses until fixed):")
        for err in problems:
            print("  ! " + str(err).replace("\n", "\n    "))
        return ConflictError.exit_code
    if not result.empty:
        extra = (f" --host {host}" if args.host else "") + (f" --state-dir {args.state_dir}" if args.state_dir else "")
        print(f"Apply it with: vnet host-apply {args.topology}{extra}")
    return 0


def cmd_host_apply(args: argparse.Namespace) -> int:
    from ..host import executor
    from ..host.state import Store

    topo, host, actions, holder = _host_plan(args)
    problems = preflight_problems(topo, host)
    if problems:
        raise ErrorList.of(list(problems))
    settle_first(args.state_dir)
    result = executor.apply(actions, holder, store=Store(args.state_dir))
    for line in result.changed:
        print(f"  {line}")
    for text in result.released:
        print(f"  − {text}")
    print(f"{holder}: {plural(len(result.changed), 'change')}, {plural(len(result.released), 'object')} removed, "
          f"{result.in_place} already in place.")
    if not actions:
        print(f"(topology {topo.name!r} needs no host plumbing on {host}: libvirt builds its networks)")
    return 0


def cmd_host_destroy(args: argparse.Namespace) -> int:
    from ..host import executor
    from ..host.state import Store

    if Path(args.topology).exists() or args.topology.endswith((".yaml", ".yml")) or args.topology == "-":
        topo = load_topology(args.topology)
        host = host_of(topo, args.host)
        from ..host import planner

        holder = planner.holder_for(topo.name, host)
    else:
        holder = args.topology
    settle_first(args.state_dir)
    known = executor.holders(Store(args.state_dir))
    if holder not in known:
        listed = ", ".join(sorted(known)) or "none"
        print(f"{holder}: nothing held (already clean; holders on record: {listed})")
        return 0
    forced = _refuse_running(holder, args.connect, args.force)
    result = executor.destroy(holder, store=Store(args.state_dir), force=args.force)
    if forced:
        print(f"forced: {forced}; its host plumbing is removed anyway")
    for text in result.released:
        print(f"  − {text}")
    for text in result.kept:
        print(f"  < {text}")
    if result.released or result.kept:
        print(f"{holder}: {plural(len(result.released), 'object')} removed, {len(result.kept)} kept "
              "(other holders use them, or they are no longer vnet's).")
    return 0


def _refuse_running(holder: str, uri: str, force: bool) -> str:
    """A hook holder (``domain:NAME[/ports]``, ``network:NAME``) whose domain or network is
    still running keeps its plumbing: refused unless ``force`` (then what was forced).
    libvirt is asked at ``uri``; when it cannot answer, only ``force`` goes on."""
    from .. import virt
    from ..errors import LibvirtError, VnetError

    kind, _, rest = holder.partition(":")
    if kind not in ("domain", "network") or not rest:
        return ""
    name = rest.split("/", 1)[0]
    try:
        with virt.connect(uri) as conn:
            running = virt.is_active(conn, kind, name)
    except VnetError as exc:
        if force:
            return f"libvirt at {uri} could not say whether {kind} {name} runs ({exc.message})"
        raise LibvirtError(f"cannot ask libvirt at {uri} whether {kind} {name} is running: {exc.message}",
                           path=holder, hint="give the right URI with --connect, or --force to remove its "
                           "plumbing without asking (a running one loses its network)") from None
    if not running:
        return ""
    if force:
        return f"{kind} {name} is running (its guests lose their network)"
    stop = f"virsh -c {uri} {'destroy' if kind == 'domain' else 'net-destroy'} {name}"
    raise ConflictError(f"{kind} {name} is running: its plumbing is in use", path=holder,
                        hint=f"stop it first ({stop}), which releases it through the hooks; or --force")


def cmd_host_status(args: argparse.Namespace) -> int:
    from ..host.state import Store

    settle_first(args.state_dir)
    store = Store(args.state_dir)
    ledger = store.load()
    if not ledger.holders:
        print(f"No host plumbing recorded in {store.root}.")
    for holder, keys in sorted(ledger.holders.items()):
        print(f"{holder}:")
        for key in keys:
            rec = ledger.objects.get(key)
            shared = [h for h in (rec.holders if rec else []) if h != holder]
            note = f"  (shared with {', '.join(shared)})" if shared else ""
            print(f"  {rec.want if rec and rec.want else key}{note}")
    if ledger.pending:
        print(f"{len(ledger.pending)} teardown step(s) pending: the next vnet host command finishes them.")
    for item in ledger.failed:
        undo = item.get("undo", {})
        print(f"could not undo: {undo.get('op')} {undo.get('name') or undo.get('pf')}: {item.get('error')} "
              "(left as it is; check it by hand)")
    return 0


def cmd_host_repair(args: argparse.Namespace) -> int:
    from ..host.state import Store

    store = Store(args.state_dir)
    moved = store.repair()
    if not moved:
        print(f"{store.root}: nothing damaged; nothing changed.")
        return 0
    for path in moved:
        print(f"  moved aside: {path}")
    print("vnet no longer remembers what those files recorded.  Devices vnet created keep their mark "
          "(ifalias vnet:<topology>:<name>): `vnet host-apply` of their topology takes them back; "
          "delete the others by hand (ip -d link shows the alias).")
    return 0


def add_host_args(p: argparse.ArgumentParser, topology_help: str) -> None:
    p.add_argument("topology", help=topology_help)
    p.add_argument("--host", help="which of the topology's hosts this machine is (needed when it has several)")
    p.add_argument("--state-dir", metavar="DIR", help="where vnet records what it created "
                   "(default $VNET_STATE_DIR or /run/libvirt-vnet)")


def add_parsers(sub: argparse._SubParsersAction[Any]) -> None:
    s = sub.add_parser("plan", help="show what host-apply would change on this host",
                       description="Compare what the topology needs on this host (VLAN devices, "
                       "bridges with pinned MACs, veth links, bridge-port flags, the macvlan "
                       "shim, SR-IOV VF counts and VF settings) with the kernel's current state, "
                       "and print the difference: + create, ~ change, − destroy (objects this "
                       "topology no longer needs).  Read-only and works without root — except that, "
                       "like every host command, it first finishes or rolls back what an interrupted "
                       "(killed) vnet run left, when it has the rights to.  With -v also "
                       "what is already in place.", epilog=HOST_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_host_args(s, "topology YAML file")
    s.add_argument("-v", "--verbose", action="store_true", help="also list objects already in place")
    s.set_defaults(func=cmd_plan)

    s = sub.add_parser("host-apply", help="build the host plumbing a topology needs",
                       description="Make this host match the topology's plan (see `vnet plan`) "
                       "through netlink: skip what is in place, apply the rest in order, verify, "
                       "and record how to undo it.  All or nothing: on a failure everything this "
                       "run changed is rolled back.  Running it again changes nothing.  Devices "
                       "vnet creates carry the ifalias vnet:<topology>:<name>; devices that exist "
                       "and are not vnet's are never replaced (a conflict is reported instead).",
                       epilog=HOST_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_host_args(s, "topology YAML file")
    s.set_defaults(func=cmd_host_apply)

    s = sub.add_parser("host-destroy", help="remove the host plumbing host-apply built",
                       description="Release what host-apply recorded for this topology on this "
                       "host and undo it (delete vnet's devices, give uplinks back) — except "
                       "objects another topology, network or VM still uses: those stay until "
                       "their last user lets go.  Only devices that still carry vnet's mark are "
                       "deleted.", epilog=HOST_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_host_args(s, "topology YAML file, or a holder name from host-status")
    s.add_argument("--force", action="store_true",
                   help="delete vnet's bridges even when guests' ports are still on them (they are unplugged), "
                   "and release a domain:/network: holder whose domain or network still runs (or whose "
                   "libvirt cannot be asked)")
    s.add_argument("--connect", metavar="URI", default="qemu:///system",
                   help="libvirt asked whether a domain:/network: holder still runs (default qemu:///system)")
    s.set_defaults(func=cmd_host_destroy)

    s = sub.add_parser("host-status", help="list the host plumbing vnet holds, by holder",
                       description="List what vnet created or changed on this host, per holder "
                       "(topology@host, network, domain), and what is shared.")
    s.add_argument("--state-dir", metavar="DIR", help="state directory (default $VNET_STATE_DIR or /run/libvirt-vnet)")
    s.set_defaults(func=cmd_host_status)

    s = sub.add_parser("host-repair", help="move a damaged state directory's files aside",
                       description="When host commands or hooks fail with 'damaged state' (exit 7: "
                       "state.json or journal.jsonl cannot be read back), move the damaged files "
                       "aside (NAME.damaged-TIME, kept for inspection) under the lock, so that vnet "
                       "works again.  Their undo records are not carried out (they cannot be "
                       "trusted): vnet's devices keep their ifalias vnet:… mark, host-apply of their "
                       "topology takes them back, others are deleted by hand.  Files that read back "
                       "fine are left alone.", epilog=HOST_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--state-dir", metavar="DIR", help="state directory (default $VNET_STATE_DIR or /run/libvirt-vnet)")
    s.set_defaults(func=cmd_host_repair)
