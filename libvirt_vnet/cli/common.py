"""What the command groups share: the argument parser class (a bad command line exits
64), reporting a :class:`~libvirt_vnet.errors.VnetError` as one message, loading topology
arguments, the ``--libvirt-version``/``--connect`` target, and plurals."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any, Callable, NoReturn

from ..errors import VnetError

EX_USAGE = 64
log = logging.getLogger("libvirt_vnet")


def plural(count: int, noun: str) -> str:
    """``1 network``, ``2 networks``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EX_USAGE, f"{self.prog}: error: {message}\n")


def libvirt_version_arg(text: str) -> Any:
    """argparse type for --libvirt-version (a bad value is a command-line error)."""
    from ..errors import VnetError
    from ..libvirtxml.versions import LibvirtVersion

    try:
        return LibvirtVersion.parse(text)
    except VnetError as exc:
        raise argparse.ArgumentTypeError(f"{exc.message} ({exc.hint})") from None


def target_of(args: argparse.Namespace) -> Any:
    from ..libvirtxml.versions import DEFAULT_TARGET

    if getattr(args, "libvirt_version", None):
        return args.libvirt_version
    if getattr(args, "connect", None):
        from .. import virt

        with virt.connect(args.connect) as conn:
            return virt.version_of(conn)
    return DEFAULT_TARGET


def load_topology(path: str) -> Any:
    from .. import topology

    if path == "-":
        from ..topology.document import read_bounded

        return topology.load_yaml_bytes(read_bounded(sys.stdin.buffer.read, "<stdin>"), "<stdin>")
    return topology.load_file(path)


def each_file(paths: Sequence[str], work: Callable[[str], None]) -> int:
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


def usage_of(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """For a command group called without its sub-command: its help, and exit status 64."""
    def usage(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EX_USAGE
    return usage


def add_target(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--libvirt-version", metavar="X.Y", type=libvirt_version_arg,
                   help="render for this libvirt release (default 9.0, Debian 12's); "
                   "features it lacks are refused, never dropped")
    g.add_argument("--connect", metavar="URI",
                   help="take the target version from this libvirt connection "
                   "(e.g. qemu:///system); nothing is changed there")
