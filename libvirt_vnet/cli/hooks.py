"""``vnet hooks install / uninstall / status``: libvirt's qemu and network hooks."""

from __future__ import annotations

import argparse
from typing import Any

from .common import usage_of


def cmd_hooks_install(args: argparse.Namespace) -> int:
    from ..hook.install import install_hooks

    for line in install_hooks(args.root, layout=args.layout, state_dir=args.state_dir, log_file=args.log_file):
        print(line)
    return 0


def cmd_hooks_uninstall(args: argparse.Namespace) -> int:
    from ..hook.install import uninstall_hooks

    for line in uninstall_hooks(args.root):
        print(line)
    return 0


def cmd_hooks_status(args: argparse.Namespace) -> int:
    from ..hook.install import is_ours, paths

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


def add_parsers(sub: argparse._SubParsersAction[Any]) -> None:
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
