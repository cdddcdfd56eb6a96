"""``vnet lab``: up, down, status and exec of the libvirt sandbox
(:mod:`libvirt_vnet.lab`)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from ..errors import HostError, InputError, VnetError
from ..lab import procfs
from ..lab.sandbox import BIND_DIRS, ROOT, Lab, labs
from .common import usage_of

LAB_DESCRIPTION = """\
A lab is a private libvirtd (with virtlogd, dnsmasq and QEMU) in its own network and mount
namespaces: networks and VMs started there get bridges, taps, addresses and firewall rules
in the lab's namespace only, never on the host's eth0, addresses or routes, and the host's
own libvirt (its /etc/libvirt, /var/lib/libvirt, /run/libvirt) is not touched.  The lab's
files live on a tmpfs; `vnet lab down` destroys everything in it.  Needs root."""

LAB_EPILOG = """\
examples:
  sudo vnet lab up                          # the lab "default"; prints the export line below
  export LIBVIRT_DEFAULT_URI='qemu:///system?socket=/run/vnet-lab/default/fs/run/libvirt/libvirt-sock'
  virsh net-define out/hv1/networks/lan.xml && virsh net-start lan    # now in the lab
  ip -n vnet-lab-default -br link           # the lab's links (bridges, taps) from the host
  sudo vnet lab exec default -- virsh list --all   # inside the lab plain virsh reaches it
  sudo vnet lab status
  sudo vnet lab down                        # destroys every VM and network in it, removes it

Layout: /run/vnet-lab/NAME/fs holds the lab's /etc/libvirt, /var/{lib,log,cache}/libvirt and
/run (its libvirtd log: /run/vnet-lab/NAME/fs/var/log/libvirt/libvirtd.log); its network
namespace is /run/netns/vnet-lab-NAME.
"""


UP_DESCRIPTION = """\
`up` starts lab NAME: a tmpfs under /run/vnet-lab/NAME, the network namespace
vnet-lab-NAME, virtlogd and libvirtd in it (no networks, no VMs yet), with vnet's libvirt
hooks installed unless --no-hooks.  It prints the line that points virsh at the lab:
  export LIBVIRT_DEFAULT_URI='qemu:///system?socket=/run/vnet-lab/NAME/fs/run/libvirt/libvirt-sock'"""

EXEC_DESCRIPTION = """\
Run CMD in lab NAME's network and mount namespaces: it sees the lab's links and the lab's
/run/libvirt, so `ip -br link` lists the lab's bridges and taps, and plain `virsh` talks to
the lab's libvirtd.  (From the host, `ip -n vnet-lab-NAME ...` shows the same links.)"""


def export_line(lab: Lab) -> str:
    return f"export LIBVIRT_DEFAULT_URI='{lab.uri}'"


def cmd_lab_up(args: argparse.Namespace) -> int:
    lab = Lab(args.name)
    was_up = lab.is_up()
    started = time.monotonic()
    lab.up(hooks=not args.no_hooks)
    if was_up:
        print(f"lab {lab.name} was already up (libvirtd pid {lab.libvirtd_pid()})")
    else:
        print(f"lab {lab.name} is up in {time.monotonic() - started:.1f} s (libvirtd pid {lab.libvirtd_pid()}"
              f"{', vnet hooks installed' if not args.no_hooks else ''})")
    print(export_line(lab))
    print(f"its links: ip -n {lab.netns} -br link; run inside it: vnet lab exec {lab.name} -- CMD; "
          f"remove it: vnet lab down {lab.name}")
    return 0


def cmd_lab_down(args: argparse.Namespace) -> int:
    done = Lab(args.name).down()
    for line in done:
        print(f"  {line}")
    print(f"lab {args.name} is down" if done else f"lab {args.name}: nothing to remove (not up)")
    return 0


def _status_line(lab: Lab) -> list[str]:
    from .. import virt

    pid = lab.libvirtd_pid()
    if pid is not None and lab.answers():
        try:
            with virt.connect(lab.uri) as conn:
                c = virt.object_counts(conn)
            objects = (f"{c['domains']} domains ({c['domains_active']} running), "
                       f"{c['networks']} networks ({c['networks_active']} active)")
        except VnetError as exc:
            objects = f"cannot list: {exc.message}"
        return [f"{lab.name:16} up    libvirtd pid {pid:<8} {objects}", f"  {export_line(lab)}"]
    traces = lab.traces()
    if traces:
        state = f"libvirtd pid {pid} does not answer" if pid else "no libvirtd"
        return [f"{lab.name:16} half there ({state}): run vnet lab down {lab.name}"]
    return [f"{lab.name:16} down"]


def cmd_lab_status(args: argparse.Namespace) -> int:
    found = [Lab(args.name)] if args.name else labs()
    if not found:
        print(f"no labs under {ROOT} (start one with: vnet lab up [NAME])")
    for lab in found:
        for line in _status_line(lab):
            print(line)
    return 0


def cmd_lab_exec(args: argparse.Namespace) -> int:
    lab = Lab(args.name)
    argv = list(args.cmd)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise InputError("name a command to run in the lab", hint=f"vnet lab exec {lab.name} -- ip -br link")
    procfs.require_root()
    if procfs.ns_inode(lab.netns_path) is None or procfs.ns_inode(lab.mnt) is None:
        raise HostError(f"lab {lab.name} is not up", hint=f"vnet lab up {lab.name}")
    procfs.binary("nsenter")
    cmd = lab.command(argv)
    cwd = os.getcwd()
    if not any(procfs.under(cwd, d) for d in BIND_DIRS):  # the same directory exists inside
        cmd.insert(1, f"--wd={cwd}")
    sys.stdout.flush()
    os.execvpe(cmd[0], cmd, lab.env())  # never the host's VNET_STATE_DIR inside the lab
    return 127  # not reached


def add_parsers(sub: argparse._SubParsersAction[Any]) -> None:
    """Register ``lab`` (up, down, status, exec) on the CLI's sub-command parsers."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("lab", help="a private libvirtd sandbox to try topologies safely",
                       description=LAB_DESCRIPTION, epilog=LAB_EPILOG, formatter_class=fmt)
    actions = p.add_subparsers(dest="lab_command", metavar="ACTION")

    p.set_defaults(func=usage_of(p))
    name_help = 'the lab\'s name (default "default"; 1-15 of a-z 0-9 -)'

    s = actions.add_parser("up", help="start a lab (does nothing if it is up already)",
                           description=LAB_DESCRIPTION + "\n\n" + UP_DESCRIPTION, epilog=LAB_EPILOG,
                           formatter_class=fmt)
    s.add_argument("name", nargs="?", default="default", help=name_help)
    s.add_argument("--no-hooks", action="store_true", help="do not install vnet's libvirt hooks in the lab")
    s.set_defaults(func=cmd_lab_up)

    s = actions.add_parser("down", help="destroy everything in a lab and remove it",
                           description="Destroy every VM and network in lab NAME (through its "
                           "libvirtd, which stops their dnsmasq), stop libvirtd and virtlogd, kill "
                           "anything else still running in its namespaces, unmount and remove its "
                           "files.  Nothing of it is kept; doing it again does nothing.",
                           epilog=LAB_EPILOG, formatter_class=fmt)
    s.add_argument("name", nargs="?", default="default", help=name_help)
    s.set_defaults(func=cmd_lab_down)

    s = actions.add_parser("status", help="list labs (or show one): up/down, libvirtd, URI, objects",
                           description="Show lab NAME, or every lab on this host: up, down or half "
                           "there, the libvirtd pid, the number of domains and networks, and the "
                           "line to point virsh at it (export LIBVIRT_DEFAULT_URI='...').",
                           epilog=LAB_EPILOG, formatter_class=fmt)
    s.add_argument("name", nargs="?", help="one lab (default: all)")
    s.set_defaults(func=cmd_lab_status)

    s = actions.add_parser("exec", help="run a command inside a lab's namespaces",
                           description=EXEC_DESCRIPTION,
                           epilog="examples:\n  sudo vnet lab exec default -- ip -br link\n"
                           "  sudo vnet lab exec default -- virsh net-list --all\n"
                           "  sudo vnet lab exec default -- bash          # a shell in the lab",
                           formatter_class=fmt)
    s.add_argument("name", help="the lab's name")
    s.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ...", help="the command and its arguments")
    s.set_defaults(func=cmd_lab_exec)
