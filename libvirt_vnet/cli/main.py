"""The ``vnet`` command line: the parser and :func:`main`; each command group lives in its
own module (:mod:`.render`, :mod:`.host`, :mod:`.hooks`, :mod:`.lab`).  The CLI is the only
part of vnet that prints, and nothing imports it.

Heavy imports (lxml, libvirt) happen inside the commands that need them, so
``vnet --help`` and argument errors stay fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Callable, Optional

from .. import __version__
from ..errors import VnetError
from . import hooks, host, lab, render
from .common import EX_USAGE, Parser

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


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="vnet", description="Map a real network design onto libvirt: "
               "network XML, domain interfaces, and the host plumbing they need (VLAN devices, "
               "bridges, veth links, port flags, SR-IOV VFs; built through netlink).",
               epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="log what vnet does")
    p.add_argument("--version", action="version", version=f"vnet (libvirt-vnet) {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    render.add_parsers(sub)
    host.add_parsers(sub)
    hooks.add_parsers(sub)
    lab.add_parsers(sub)
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
