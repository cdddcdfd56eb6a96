"""``vnet validate / render / check / import / interfaces / kinds / schema``: topologies
to libvirt XML and back, proved against libvirt's own parser."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from ..errors import InputError
from .common import add_target, each_file, load_topology, log, plural, target_of


def cmd_validate(args: argparse.Namespace) -> int:
    from ..rendering import render

    target = target_of(args)

    def one(path: str) -> None:
        topo = load_topology(path)
        rendering = render(topo, target)
        nics = sum(len(vm.nics) for vm in topo.vms)
        print(f"{path}: ok — topology {topo.name!r}: {plural(len(rendering.networks), 'libvirt network')}, "
              f"{plural(len(topo.vms), 'VM')}, {plural(nics, 'NIC')} on {plural(len(topo.hosts), 'host')}; "
              f"target libvirt {rendering.target}")

    return each_file(args.topology, one)


def _next_steps(rendering: Any, topo: Any, out: Path, source: str) -> None:
    from ..drivers import registry

    nets = rendering.networks
    print("next steps:")
    # every word comes from the topology or the command line: quoted, so that pasting the
    # lines runs exactly these commands whatever the names hold (';', '$(...)', spaces)
    q = shlex.quote
    for rn in nets[:8]:
        uri = q(topo.host(rn.host).uri)
        print(f"  virsh -c {uri} net-define {q(str(out / rn.host / 'networks' / (rn.name + '.xml')))}"
              f" && virsh -c {uri} net-start {q(rn.name)}")
    if len(nets) > 8:
        print(f"  ... and {len(nets) - 8} more networks under {q(str(out))}/<host>/networks/")
    for vm in rendering.vms[:3]:
        uri = q(topo.host(vm.host).uri)
        name, saved, merged = q(vm.name), q(f"./{vm.name}.xml"), q(f"./{vm.name}-vnet.xml")
        print(f"  virsh -c {uri} dumpxml --inactive {name} > {saved} && "
              f"vnet interfaces {q(source)} {name} --merge {saved} > {merged} && "
              f"virsh -c {uri} define {merged}")
    if len(rendering.vms) > 3:
        print(f"  ... the same for the other {len(rendering.vms) - 3} VMs")
    plumbed = sorted({rn.topology_network for rn in nets
                      if rn.definition.vnet_metadata is not None and rn.definition.vnet_metadata.objects})
    if plumbed:
        hosts = sorted({rn.host for rn in nets if rn.topology_network in plumbed})
        print(f"note: {', '.join(plumbed)} {'needs' if len(plumbed) == 1 else 'need'} host plumbing "
              "libvirt does not create (VLAN devices, bridges, veth links, described in each "
              "network's <vnet:network> metadata).  With vnet's hooks installed on each host "
              "(vnet hooks install, then restart libvirtd) libvirt builds it at net-start and VM "
              "start; without them build it first, as root:")
        for host in hosts:
            print(f"  vnet host-apply {q(source)} --host {q(host)}")
        notes: dict[str, list[str]] = {}
        for net in topo.networks:
            if net.name in plumbed:
                notes.setdefault(net.kind, []).append(net.name)
        for kind, names in sorted(notes.items()):
            note = registry.driver_for(kind).start_note
            if note:
                print(f"  ({kind} {', '.join(sorted(names))}: {note})")


def cmd_render(args: argparse.Namespace) -> int:
    from ..rendering import render

    topo = load_topology(args.topology)
    rendering = render(topo, target_of(args))
    if args.verify:
        from ..prove import prove

        prove(rendering)
    out = Path(args.output)
    written = rendering.write(out)
    print(f"wrote {plural(len(written), 'file')} under {out}/ for libvirt {rendering.target}")
    _next_steps(rendering, topo, out, args.topology)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from ..prove import prove
    from ..rendering import render

    target = target_of(args)

    def one(path: str) -> None:
        topo = load_topology(path)
        rendering = render(topo, target)
        result = prove(rendering)
        if args.output:
            rendering.write(Path(args.output) / topo.name)
        print(f"{path}: ok — {plural(result.networks, 'network')} and {plural(result.domains, 'domain')} "
              f"valid against libvirt's RelaxNG schemas and accepted by libvirt's parser "
              f"(test:///default), target libvirt {rendering.target}")

    return each_file(args.topology, one)


def cmd_import(args: argparse.Namespace) -> int:
    import yaml

    from ..importer import TopologyImport

    imported = TopologyImport(args.name)
    if args.connect:
        from .. import virt

        with virt.connect(args.connect) as conn:
            for name in args.source or virt.network_names(conn):
                imported.add(virt.network_xml(conn, name), f"{args.connect}/{name}")
    else:
        if not args.source:
            raise InputError("name network XML files to import, or use --connect URI",
                             hint="vnet import /etc/libvirt/qemu/networks/default.xml")
        from ..topology.document import read_bounded

        for src in args.source:
            # bytes: the XML declaration says the encoding (UTF-8, latin-1, UTF-16 ...)
            try:
                if src == "-":
                    data = read_bounded(sys.stdin.buffer.read, "<stdin>", "the network XML")
                else:
                    with open(src, "rb") as f:
                        data = read_bounded(f.read, src, "the network XML")
            except OSError as exc:
                raise InputError(f"cannot read: {exc.strerror or exc}", path=src) from None
            imported.add(data, "<stdin>" if src == "-" else src)
    doc = imported.document()
    log.info("imported %s", ", ".join(f"{k} from {v}" for k, v in imported.sources.items()))
    for entry, parts in imported.assembled.items():
        kind = doc["networks"][entry]["kind"]
        print(f"vnet: note: {kind} network {entry!r} rebuilt from libvirt networks {', '.join(parts)}",
              file=sys.stderr)
    sys.stdout.write(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))
    return 0


def cmd_interfaces(args: argparse.Namespace) -> int:
    from ..rendering import render_vm

    topo = load_topology(args.topology)
    vm = next((v for v in topo.vms if v.name == args.vm), None)
    if vm is None:
        raise InputError(f"no VM {args.vm!r} in the topology", path="vms",
                         hint=f"VMs: {', '.join(v.name for v in topo.vms) or '(none)'}")
    rendered = render_vm(topo, vm, target_of(args))
    if args.merge:
        try:
            text = Path(args.merge).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", path=args.merge) from None
        result = rendered.merge(text, args.merge, force=args.force,
                                replace_foreign=args.replace_foreign)
        for note in result.notes:
            print(f"vnet: note: {note}", file=sys.stderr)
        sys.stdout.write(result.xml)
    elif args.nic is not None:
        docs = rendered.interface_xml()
        if not 0 <= args.nic < len(docs):
            raise InputError(f"VM {vm.name!r} has {plural(len(docs), 'NIC')}; --nic counts from 0",
                             path=f"{vm.path}.nics")
        sys.stdout.write(docs[args.nic])
    else:
        for i, xml in enumerate(rendered.interface_xml()):
            sys.stdout.write(f"<!-- nic{i}: virsh attach-device {vm.name} FILE --config -->\n{xml}")
        sys.stdout.write(f"<!-- vnet metadata (the hooks read it): -->\n{rendered.metadata_xml()}")
    return 0


def cmd_kinds(args: argparse.Namespace) -> int:
    from ..drivers import registry

    for kind in registry.kinds():
        driver = registry.driver_for(kind)
        summary = driver.summary or (type(driver).__doc__ or "").strip().split("\n")[0]
        print(f"{kind:12} {summary}")
        if args.verbose:
            from ..drivers.base import COMMON_KEYS

            print(f"{'':12} keys: {', '.join(sorted(driver.keys | COMMON_KEYS))}")
            print(f"{'':12} NIC attach: {', '.join(driver.attach)} (default {driver.attach[0]})")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from ..resources import topology_schema

    path = topology_schema()
    if args.path:
        print(path)
    else:
        sys.stdout.write(path.read_text(encoding="utf-8"))
    return 0


def add_parsers(sub: argparse._SubParsersAction[Any]) -> None:
    s = sub.add_parser("validate", help="check topology files and report problems",
                       description="Check topology files: every problem is reported with "
                       "its place in the file and a hint.  Nothing is written.")
    s.add_argument("topology", nargs="+", help="topology YAML file ('-' for stdin)")
    add_target(s)
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser("render", help="write libvirt XML for a topology",
                       description="Write OUTPUT/<host>/networks/<net>.xml (for virsh "
                       "net-define) and, per VM, OUTPUT/<host>/vms/<vm>/nicN.xml (one <interface> "
                       "each, for virsh attach-device) and metadata.xml (vnet's <metadata>; `vnet "
                       "interfaces --merge` puts both into your domain XML).  Output is "
                       "deterministic: re-rendering gives the same bytes.  Every file is replaced "
                       "at once (written aside, then renamed): a full disk leaves the old ones.  "
                       "Files an earlier render wrote that this one no longer has are removed "
                       "(only those, listed in OUTPUT/.vnet-rendered); vnet never writes or "
                       "deletes through a symlink inside OUTPUT.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("topology", help="topology YAML file ('-' for stdin)")
    s.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="output folder (created if missing)")
    s.add_argument("--verify", action="store_true",
                   help="also check the output like `vnet check`")
    add_target(s)
    s.set_defaults(func=cmd_render)

    s = sub.add_parser("check", help="prove libvirt accepts what a topology renders",
                       description="Render each topology, validate every document against "
                       "libvirt's RelaxNG schemas and define it on libvirt's test driver "
                       "(test:///default: libvirt's real parser, in this process).  No host "
                       "and no libvirtd is touched.")
    s.add_argument("topology", nargs="+", help="topology YAML files")
    s.add_argument("-o", "--output", metavar="DIR",
                   help="also write each rendering to DIR/<topology name>/")
    add_target(s)
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("import", help="turn existing libvirt networks into topology YAML",
                       description="Read libvirt network XML (files, or networks of a live "
                       "connection) and print a topology document for them.  Anything vnet "
                       "cannot reproduce exactly is refused with its place, never dropped.")
    s.add_argument("source", nargs="*", help="network XML files ('-' for stdin), or with "
                   "--connect the network names (default: all)")
    s.add_argument("--connect", metavar="URI", help="read networks from this libvirt")
    s.add_argument("--name", help="topology name (default: the one vnet's metadata gives the "
                   "networks, else imported)")
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("interfaces", help="print one VM's <interface> XML, or merge it "
                       "into a domain", description="Print the VM's <interface> elements "
                       "and vnet's <metadata>; with --nic N only that NIC (ready for virsh "
                       "attach-device); with --merge the given domain XML with them merged in: "
                       "NICs with the same MAC get vnet's parts replaced (source, model, "
                       "VLAN, ...) and keep the rest (PCI address, boot order, filters); other "
                       "NICs are added; NICs vnet merged earlier for this VM that the topology "
                       "no longer has are removed, and NICs vnet merged for another topology or "
                       "VM are refused (--replace-foreign removes them); each removal is noted "
                       "on stderr; nothing else in the domain changes.")
    s.add_argument("topology", help="topology YAML file")
    s.add_argument("vm", help="the VM's name under vms:")
    s.add_argument("--nic", type=int, metavar="N", help="print only NIC N (0 is the first)")
    s.add_argument("--merge", metavar="DOMAIN.xml", help="domain XML to merge into "
                   "(e.g. from virsh dumpxml --inactive VM)")
    s.add_argument("--force", action="store_true",
                   help="merge even into a domain whose name is not the VM's")
    s.add_argument("--replace-foreign", action="store_true",
                   help="remove the NICs vnet merged into the domain for another topology or "
                   "VM (refused otherwise) and merge this VM's")
    add_target(s)
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
