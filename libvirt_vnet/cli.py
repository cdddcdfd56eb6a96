"""Layer 6 — the ``vnet`` command line.  The only module that prints.

Heavy imports (lxml, libvirt) happen inside the commands that need them, so
``vnet --help`` and argument errors stay fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn, Optional, Sequence

from . import __version__
from .errors import InputError, VnetError

EX_USAGE = 64
log = logging.getLogger("libvirt_vnet")

EPILOG = """\
exit status:
  0  success
  1  other vnet error           3  unsupported by the target libvirt
  2  invalid topology/input     4  conflict with host state
  5  libvirt refused or failed  6  host change failed (rolled back)
  64 bad command line

A topology is a YAML file describing hosts, networks and VMs; `vnet kinds` lists the
network kinds and `vnet schema` prints a JSON Schema for editors.  Example:

  vnet validate office.yaml
  vnet render office.yaml -o out/          # then: virsh net-define out/hv1/networks/lan.xml
  vnet check examples/*.yaml               # RelaxNG + libvirt's own parser, touches no host
  vnet import /etc/libvirt/qemu/networks/default.xml
  vnet plan office.yaml --host hv1         # host plumbing: VLAN devices, bridges, veth, VFs
  sudo vnet host-apply office.yaml --host hv1
"""

KIND_HELP = {
    "nat": "libvirt bridge + DHCP/DNS, NATed out of the host (like libvirt's 'default')",
    "route": "libvirt bridge + DHCP/DNS, routed without NAT (upstream needs a route back)",
    "open": "libvirt bridge + DHCP/DNS, no firewall rules added at all",
    "isolated": "libvirt bridge, no forwarding; without a subnet the host has no address",
    "bridge": "guests join an existing host bridge (e.g. br0 holding eth0)",
    "vlan-bridge": "one 802.1Q VLAN of an uplink: VLAN device eth0.N + bridge brN (host side)",
    "two-tier": "access bridges joined by veth to an aggregation network (NAT/route out)",
    "macvtap": "guests directly on uplinks: mode vepa (802.1Qbg), bridge, private, passthrough",
    "hostdev": "SR-IOV VF pool (by PF or VF PCI addresses), MAC/VLAN per VF",
    "openvswitch": "guests on an Open vSwitch bridge, VLANs/trunks per portgroup (XML only)",
}


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
"""


def _n(count: int, noun: str) -> str:
    """``1 network``, ``2 networks``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EX_USAGE, f"{self.prog}: error: {message}\n")


def _version(text: str) -> Any:
    """argparse type for --libvirt-version (a bad value is a command-line error)."""
    from .errors import VnetError
    from .features import LibvirtVersion

    try:
        return LibvirtVersion.parse(text)
    except VnetError as exc:
        raise argparse.ArgumentTypeError(f"{exc.message} ({exc.hint})") from None


def _target(args: argparse.Namespace) -> Any:
    from .features import DEFAULT_TARGET

    if getattr(args, "libvirt_version", None):
        return args.libvirt_version
    if getattr(args, "connect", None):
        from . import virt

        with virt.connect(args.connect) as conn:
            return virt.version_of(conn)
    return DEFAULT_TARGET


def _load(path: str) -> Any:
    from . import loader

    if path == "-":
        return loader.load_yaml_text(sys.stdin.read(), "<stdin>")
    return loader.load_file(path)


def _each_file(paths: Sequence[str], work: Callable[[str], None]) -> int:
    """Run ``work`` on every file; a failing file is reported with its name and the
    others still run.  Returns the highest exit status."""
    worst = 0
    for path in paths:
        try:
            work(path)
        except VnetError as exc:
            if len(paths) > 1:
                print(f"vnet: {path}: {exc.label}: {exc}", file=sys.stderr)
            else:
                print(f"vnet: {exc.label}: {exc}", file=sys.stderr)
            worst = max(worst, exc.exit_code)
    return worst


def cmd_validate(args: argparse.Namespace) -> int:
    from .rendering import render

    target = _target(args)

    def one(path: str) -> None:
        topo = _load(path)
        rendering = render(topo, target)
        nics = sum(len(vm.nics) for vm in topo.vms)
        print(f"{path}: ok — topology {topo.name!r}: {_n(len(rendering.networks), 'libvirt network')}, "
              f"{_n(len(topo.vms), 'VM')}, {_n(nics, 'NIC')} on {_n(len(topo.hosts), 'host')}; "
              f"target libvirt {rendering.target}")

    return _each_file(args.topology, one)


MANIFEST = ".vnet-rendered"


def write_rendering(rendering: Any, out: Path) -> list[Path]:
    """Write ``<out>/<host>/networks/<net>.xml`` and ``<out>/<host>/vms/<vm>/nicN.xml``
    plus ``metadata.xml``.  Files a previous render into ``out`` wrote and this one does
    not (a network removed from the topology) are deleted — only those, listed in
    ``out/.vnet-rendered`` — so a loop over ``networks/*.xml`` never sees stale ones."""
    files: dict[Path, str] = {}
    for rn in rendering.networks:
        files[Path(rn.host, "networks", f"{rn.name}.xml")] = rn.xml
    for vm in rendering.vms:
        base = Path(vm.host, "vms", vm.name)
        for i, xml in enumerate(vm.interface_xml()):
            files[base / f"nic{i}.xml"] = xml
        files[base / "metadata.xml"] = vm.metadata_xml()
    manifest = out / MANIFEST
    try:
        previous = {Path(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line}
    except OSError:
        previous = set()
    for rel, text in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text, encoding="utf-8")
    for rel in sorted(previous - set(files)):
        if ".." in rel.parts or rel.is_absolute():
            continue  # not ours: never delete outside the folder
        stale = out / rel
        if stale.is_file():
            log.info("removing %s: no longer rendered", stale)
            stale.unlink()
            for parent in stale.parents:
                if parent == out or any(parent.iterdir()):
                    break
                parent.rmdir()
    manifest.write_text("".join(f"{rel}\n" for rel in sorted(files)), encoding="utf-8")
    return [out / rel for rel in files]


def _next_steps(rendering: Any, topo: Any, out: Path, source: str) -> None:
    nets = rendering.networks
    print("next steps:")
    for rn in nets[:8]:
        uri = topo.host(rn.host).uri
        print(f"  virsh -c {uri} net-define {out / rn.host / 'networks' / (rn.name + '.xml')}"
              f" && virsh -c {uri} net-start {rn.name}")
    if len(nets) > 8:
        print(f"  ... and {len(nets) - 8} more networks under {out}/<host>/networks/")
    for vm in rendering.vms[:3]:
        uri = topo.host(vm.host).uri
        print(f"  virsh -c {uri} dumpxml --inactive {vm.name} > {vm.name}.xml && "
              f"vnet interfaces {source} {vm.name} --merge {vm.name}.xml > {vm.name}-vnet.xml && "
              f"virsh -c {uri} define {vm.name}-vnet.xml")
    if len(rendering.vms) > 3:
        print(f"  ... the same for the other {len(rendering.vms) - 3} VMs")
    plumbed = sorted({rn.topology_network for rn in nets
                      if getattr(rn.definition.vnet_metadata, "objects", ())})
    if plumbed:
        hosts = sorted({rn.host for rn in nets if rn.topology_network in plumbed})
        print(f"note: {', '.join(plumbed)} {'needs' if len(plumbed) == 1 else 'need'} host plumbing "
              "libvirt does not create (VLAN devices, bridges, veth links, described in each "
              "network's <vnet:network> metadata).  With vnet's hooks installed on each host "
              "(vnet hooks install, then restart libvirtd) libvirt builds it at net-start and VM "
              "start; without them build it first, as root:")
        for host in hosts:
            print(f"  vnet host-apply {source} --host {host}")
        tiers = sorted({rn.topology_network for rn in nets
                        if getattr(rn.definition.vnet_metadata, "kind", "") == "two-tier"})
        if tiers:
            print(f"  (two-tier {', '.join(tiers)}: net-start the aggregation network first — its "
                  "bridge is libvirt's and the access switches' veth links join it — then the access "
                  "networks)")


def cmd_render(args: argparse.Namespace) -> int:
    from .rendering import render

    topo = _load(args.topology)
    rendering = render(topo, _target(args))
    if args.verify:
        from .verify import verify

        verify(rendering)
    out = Path(args.output)
    written = write_rendering(rendering, out)
    print(f"wrote {_n(len(written), 'file')} under {out}/ for libvirt {rendering.target}")
    _next_steps(rendering, topo, out, args.topology)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .rendering import render
    from .verify import verify

    target = _target(args)

    def one(path: str) -> None:
        topo = _load(path)
        rendering = render(topo, target)
        result = verify(rendering)
        if args.output:
            write_rendering(rendering, Path(args.output) / topo.name)
        print(f"{path}: ok — {_n(result.networks, 'network')} and {_n(result.domains, 'domain')} "
              f"valid against libvirt's RelaxNG schemas and accepted by libvirt's parser "
              f"(test:///default), target libvirt {rendering.target}")

    return _each_file(args.topology, one)


def cmd_import(args: argparse.Namespace) -> int:
    import yaml

    from . import importer, loader
    from .errors import ErrorList, ImportRefused

    entries: dict[str, Any] = {}
    sources: dict[str, str] = {}

    def add(text: str, src: str) -> None:
        key, entry = importer.import_xml(text, src)
        if key in entries:
            raise ImportRefused(f"network {key!r} is also in {sources[key]}", path=src,
                                hint="a topology holds one network per name: import them "
                                "into separate topologies")
        try:  # each entry must load on its own; name its source when it does not
            loader.load({"name": args.name, "networks": {key: entry}}, src)
        except VnetError as exc:
            found = exc.errors if isinstance(exc, ErrorList) else [exc]
            raise ErrorList.of([ImportRefused(e.message, path=f"{src} (as {e.path})", hint=e.hint)
                                for e in found]) from None
        entries[key] = entry
        sources[key] = src

    if args.connect:
        from . import virt

        with virt.connect(args.connect) as conn:
            for name in args.source or virt.network_names(conn):
                add(virt.network_xml(conn, name), f"{args.connect}/{name}")
    else:
        if not args.source:
            raise InputError("name network XML files to import, or use --connect URI",
                             hint="vnet import /etc/libvirt/qemu/networks/default.xml")
        for src in args.source:
            try:
                text = sys.stdin.read() if src == "-" else Path(src).read_text(encoding="utf-8")
            except OSError as exc:
                raise InputError(f"cannot read: {exc.strerror}", path=src) from None
            add(text, src)
    doc = {"name": args.name, "networks": entries}
    loader.load(doc, "<import>")  # together too (overlapping subnets, shared bridges)
    log.info("imported %s", ", ".join(f"{k} from {v}" for k, v in sources.items()))
    sys.stdout.write(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))
    return 0


def cmd_interfaces(args: argparse.Namespace) -> int:
    from .rendering import render_vm

    topo = _load(args.topology)
    vm = next((v for v in topo.vms if v.name == args.vm), None)
    if vm is None:
        raise InputError(f"no VM {args.vm!r} in the topology", path="vms",
                         hint=f"VMs: {', '.join(v.name for v in topo.vms) or '(none)'}")
    rendered = render_vm(topo, vm, _target(args))
    if args.merge:
        try:
            text = Path(args.merge).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", path=args.merge) from None
        sys.stdout.write(rendered.merge_into(text, args.merge, force=args.force))
    elif args.nic is not None:
        docs = rendered.interface_xml()
        if not 0 <= args.nic < len(docs):
            raise InputError(f"VM {vm.name!r} has {_n(len(docs), 'NIC')}; --nic counts from 0",
                             path=f"{vm.path}.nics")
        sys.stdout.write(docs[args.nic])
    else:
        for i, xml in enumerate(rendered.interface_xml()):
            sys.stdout.write(f"<!-- nic{i}: virsh attach-device {vm.name} FILE --config -->\n{xml}")
        sys.stdout.write(f"<!-- vnet metadata (the hooks read it): -->\n{rendered.metadata_xml()}")
    return 0


def cmd_kinds(args: argparse.Namespace) -> int:
    from .drivers import registry

    for kind in registry.kinds():
        driver = registry.driver_for(kind)
        print(f"{kind:12} {KIND_HELP.get(kind, type(driver).__doc__ or '')}")
        if args.verbose:
            from .loader import COMMON_KEYS

            print(f"{'':12} keys: {', '.join(sorted(driver.keys | COMMON_KEYS))}")
            print(f"{'':12} NIC attach: {', '.join(driver.attach)} (default {driver.attach[0]})")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    path = Path(__file__).resolve().parent / "topology.schema.json"
    if args.path:
        print(path)
    else:
        sys.stdout.write(path.read_text(encoding="utf-8"))
    return 0


def _host_of(topo: Any, host: Optional[str]) -> str:
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
    from .host import planner

    topo = _load(args.topology)
    host = _host_of(topo, args.host)
    return topo, host, planner.topology_actions(topo, host), planner.holder_for(topo.name, host)


def cmd_plan(args: argparse.Namespace) -> int:
    from .host import executor
    from .host.state import Store

    topo, host, actions, holder = _host_plan(args)
    result = executor.plan(actions, holder, store=Store(args.state_dir))
    print(f"Host plan for topology {topo.name!r} on host {host!r} (read from {result.source}):")
    print(result.render(verbose=args.verbose))
    if not result.empty:
        extra = (f" --host {host}" if args.host else "") + (f" --state-dir {args.state_dir}" if args.state_dir else "")
        print(f"Apply it with: vnet host-apply {args.topology}{extra}")
    return 0


def cmd_host_apply(args: argparse.Namespace) -> int:
    from .host import executor
    from .host.state import Store

    topo, host, actions, holder = _host_plan(args)
    result = executor.apply(actions, holder, store=Store(args.state_dir))
    for line in result.changed:
        print(f"  {line}")
    for text in result.released:
        print(f"  − {text}")
    print(f"{holder}: {_n(len(result.changed), 'change')}, {_n(len(result.released), 'object')} removed, "
          f"{result.in_place} already in place.")
    if not actions:
        print(f"(topology {topo.name!r} needs no host plumbing on {host}: libvirt builds its networks)")
    return 0


def cmd_host_destroy(args: argparse.Namespace) -> int:
    from .host import executor
    from .host.state import Store

    if Path(args.topology).exists() or args.topology.endswith((".yaml", ".yml")) or args.topology == "-":
        topo = _load(args.topology)
        host = _host_of(topo, args.host)
        from .host import planner

        holder = planner.holder_for(topo.name, host)
    else:
        holder = args.topology
    known = executor.holders(Store(args.state_dir))
    if holder not in known:
        listed = ", ".join(sorted(known)) or "none"
        print(f"{holder}: nothing held (already clean; holders on record: {listed})")
        return 0
    result = executor.destroy(holder, store=Store(args.state_dir), force=args.force)
    for text in result.released:
        print(f"  − {text}")
    for text in result.kept:
        print(f"  < {text}")
    if result.released or result.kept:
        print(f"{holder}: {_n(len(result.released), 'object')} removed, {len(result.kept)} kept for other holders.")
    return 0


def cmd_host_status(args: argparse.Namespace) -> int:
    from .host.state import Store

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


def usage_of(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """For a command group called without its sub-command: its help, and exit status 64."""
    def usage(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EX_USAGE
    return usage


def cmd_hooks_install(args: argparse.Namespace) -> int:
    from .hookinstall import install_hooks

    for line in install_hooks(args.root, layout=args.layout, state_dir=args.state_dir, log_file=args.log_file):
        print(line)
    return 0


def cmd_hooks_uninstall(args: argparse.Namespace) -> int:
    from .hookinstall import uninstall_hooks

    for line in uninstall_hooks(args.root):
        print(line)
    return 0


def cmd_hooks_status(args: argparse.Namespace) -> int:
    from .hookinstall import is_ours, paths

    found = False
    for layout in ("dir", "single"):
        for kind, path in paths(args.root, layout).items():
            if path.exists():
                found = True
                owner = "libvirt-vnet" if is_ours(path) else "not libvirt-vnet's"
                first = path.read_text(errors="replace").splitlines()[:1]
                print(f"{kind:8} {path}  ({owner}; {first[0][2:] if first and first[0].startswith('#!') else '?'})")
    if not found:
        print(f"No qemu or network hooks under {args.root}/hooks (vnet hooks install puts them there).")
    return 0


HOOKS_EPILOG = """\
What the hooks do (libvirt runs them; they never call libvirt back):
  qemu prepare begin    build the plumbing a vnet VM's NICs need (VLAN device, bridge,
                        veth, shim) and set VFs named by address
  qemu start begin      set bridge-port flags on the VM's taps, set pool VFs
  qemu release end      let go of it again; devices no other VM or network uses go
  network start begin   build a vlan-bridge / two-tier network's bridge before it starts
  network stopped end   let go of it
A domain or network without vnet's <metadata> is left alone and costs a few ms.
A failure stops the VM or network start with one line ("libvirt-vnet: ...") after
undoing what that start changed; details go to syslog (journalctl -t libvirt-vnet).
What the hooks hold: vnet host-status (holders domain:NAME, network:NAME).

examples:
  vnet hooks install                 # /etc/libvirt/hooks/{qemu,network}.d/50-libvirt-vnet
  systemctl restart libvirtd         # libvirt looks for new hook files only at start
  vnet hooks install --root /tmp/etc --layout single   # libvirt < 6.5: one script each
  vnet hooks uninstall
"""


def _add_host_args(p: argparse.ArgumentParser, topology_help: str) -> None:
    p.add_argument("topology", help=topology_help)
    p.add_argument("--host", help="which of the topology's hosts this machine is (needed when it has several)")
    p.add_argument("--state-dir", metavar="DIR", help="where vnet records what it created "
                   "(default $VNET_STATE_DIR or /run/libvirt-vnet)")


def _add_target(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--libvirt-version", metavar="X.Y", type=_version,
                   help="render for this libvirt release (default 9.0, Debian 12's); "
                   "features it lacks are refused, never dropped")
    g.add_argument("--connect", metavar="URI",
                   help="take the target version from this libvirt connection "
                   "(e.g. qemu:///system); nothing is changed there")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vnet", description="Map a real network design onto libvirt: "
                "network XML, domain interfaces, and the host plumbing they need (VLAN devices, "
                "bridges, veth links, port flags, SR-IOV VFs; built through netlink).",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="log what vnet does")
    p.add_argument("--version", action="version", version=f"vnet (libvirt-vnet) {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    s = sub.add_parser("validate", help="check topology files and report problems",
                       description="Check topology files: every problem is reported with "
                       "its place in the file and a hint.  Nothing is written.")
    s.add_argument("topology", nargs="+", help="topology YAML file ('-' for stdin)")
    _add_target(s)
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser("render", help="write libvirt XML for a topology",
                       description="Write OUTPUT/<host>/networks/<net>.xml (for virsh "
                       "net-define) and OUTPUT/<host>/vms/<vm>/nicN.xml, metadata.xml, "
                       "domain.xml.  Output is deterministic: re-rendering gives the same "
                       "bytes.", formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("topology", help="topology YAML file ('-' for stdin)")
    s.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    s.add_argument("--verify", action="store_true",
                   help="also check the output like `vnet check`")
    _add_target(s)
    s.set_defaults(func=cmd_render)

    s = sub.add_parser("check", help="prove libvirt accepts what a topology renders",
                       description="Render each topology, validate every document against "
                       "libvirt's RelaxNG schemas and define it on libvirt's test driver "
                       "(test:///default: libvirt's real parser, in this process).  No host "
                       "and no libvirtd is touched.")
    s.add_argument("topology", nargs="+", help="topology YAML files")
    s.add_argument("-o", "--output", metavar="DIR",
                   help="also write each rendering to DIR/<topology name>/")
    _add_target(s)
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("import", help="turn existing libvirt networks into topology YAML",
                       description="Read libvirt network XML (files, or networks of a live "
                       "connection) and print a topology document for them.  Anything vnet "
                       "cannot reproduce exactly is refused with its place, never dropped.")
    s.add_argument("source", nargs="*", help="network XML files ('-' for stdin), or with "
                   "--connect the network names (default: all)")
    s.add_argument("--connect", metavar="URI", help="read networks from this libvirt")
    s.add_argument("--name", default="imported", help="topology name (default: imported)")
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("interfaces", help="print one VM's <interface> XML, or merge it "
                       "into a domain", description="Print the VM's <interface> elements "
                       "and vnet's <metadata>; with --nic N only that NIC (ready for virsh "
                       "attach-device); with --merge the given domain XML with them merged in: "
                       "NICs with the same MAC get vnet's parts replaced (source, model, "
                       "VLAN, ...) and keep the rest (PCI address, boot order, filters); other "
                       "NICs are added; nothing else in the domain changes.")
    s.add_argument("topology", help="topology YAML file")
    s.add_argument("vm", help="the VM's name under vms:")
    s.add_argument("--nic", type=int, metavar="N", help="print only NIC N (0 is the first)")
    s.add_argument("--merge", metavar="DOMAIN.xml", help="domain XML to merge into "
                   "(e.g. from virsh dumpxml --inactive VM)")
    s.add_argument("--force", action="store_true",
                   help="merge even into a domain whose name is not the VM's")
    _add_target(s)
    s.set_defaults(func=cmd_interfaces)

    s = sub.add_parser("kinds", help="list network kinds",
                       description="List the network kinds (one driver each, including "
                       "third-party ones registered under the libvirt_vnet.drivers entry point).")
    s.add_argument("-v", "--verbose", action="store_true", help="also list accepted keys")
    s.set_defaults(func=cmd_kinds)

    s = sub.add_parser("schema", help="print the topology JSON Schema (for editors)",
                       description="Print the JSON Schema of topology files.  Editors use it "
                       "for completion and checks: put '# yaml-language-server: "
                       "$schema=PATH' (from --path) on a topology's first line.")
    s.add_argument("--path", action="store_true", help="print only the file's path")
    s.set_defaults(func=cmd_schema)

    s = sub.add_parser("plan", help="show what host-apply would change on this host",
                       description="Compare what the topology needs on this host (VLAN devices, "
                       "bridges with pinned MACs, veth links, bridge-port flags, the macvlan "
                       "shim, SR-IOV VF counts and VF settings) with the kernel's current state, "
                       "and print the difference: + create, ~ change, − destroy (objects this "
                       "topology no longer needs).  Read-only; works without root.  With -v also "
                       "what is already in place.", epilog=HOST_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_host_args(s, "topology YAML file")
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
    _add_host_args(s, "topology YAML file")
    s.set_defaults(func=cmd_host_apply)

    s = sub.add_parser("host-destroy", help="remove the host plumbing host-apply built",
                       description="Release what host-apply recorded for this topology on this "
                       "host and undo it (delete vnet's devices, give uplinks back) — except "
                       "objects another topology, network or VM still uses: those stay until "
                       "their last user lets go.  Only devices that still carry vnet's mark are "
                       "deleted.", epilog=HOST_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_host_args(s, "topology YAML file, or a holder name from host-status")
    s.add_argument("--force", action="store_true",
                   help="delete vnet's bridges even when guests' ports are still on them (they are unplugged)")
    s.set_defaults(func=cmd_host_destroy)

    s = sub.add_parser("host-status", help="list the host plumbing vnet holds, by holder",
                       description="List what vnet created or changed on this host, per holder "
                       "(topology@host, network, domain), and what is shared.")
    s.add_argument("--state-dir", metavar="DIR", help="state directory (default $VNET_STATE_DIR or /run/libvirt-vnet)")
    s.set_defaults(func=cmd_host_status)

    s = sub.add_parser("hooks", help="install libvirt's qemu and network hooks that build host plumbing",
                       description="Install, remove or show the libvirt hooks that build vnet's host "
                       "plumbing when networks and VMs start, and remove it when they stop.",
                       epilog=HOOKS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    hsub = s.add_subparsers(title="commands", metavar="COMMAND")
    s.set_defaults(func=usage_of(s))

    def root_arg(h: argparse.ArgumentParser) -> None:
        h.add_argument("--root", default="/etc/libvirt", metavar="DIR",
                       help="libvirt's configuration directory (default /etc/libvirt)")

    h = hsub.add_parser("install", help="install or update the hooks (idempotent)",
                        description="Install the qemu and network hooks under DIR/hooks, pinned to this "
                        "Python and libvirt-vnet.  Installing again changes nothing; new files need a "
                        "libvirt restart, updated ones do not.")
    root_arg(h)
    h.add_argument("--layout", choices=("auto", "dir", "single"), default="auto",
                   help="dir: qemu.d/ and network.d/ (libvirt >= 6.5, next to your own hooks); single: "
                   "the one qemu/network script of older libvirt; auto (default): by this host's libvirt")
    h.add_argument("--state-dir", metavar="DIR", help="state directory the hooks use "
                   "(default /run/libvirt-vnet; must match what vnet host-status is given)")
    h.add_argument("--log-file", metavar="FILE", help="also log to FILE (always: syslog)")
    h.set_defaults(func=cmd_hooks_install)
    h = hsub.add_parser("uninstall", help="remove vnet's hooks (others are left alone)")
    root_arg(h)
    h.set_defaults(func=cmd_hooks_uninstall)
    h = hsub.add_parser("status", help="show which qemu/network hooks are installed")
    root_arg(h)
    h.set_defaults(func=cmd_hooks_status)

    from .lab import add_lab_parser

    add_lab_parser(sub)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="vnet: %(message)s")
    func: Optional[Callable[[argparse.Namespace], int]] = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EX_USAGE
    try:
        return func(args)
    except VnetError as exc:
        print(f"vnet: {exc.label}: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
