"""libvirt's qemu and network hooks: the code behind ``hooks/qemu`` and ``hooks/network``
(installed by ``vnet hooks install``, :mod:`.install`).

libvirt runs a hook synchronously while it holds the domain or network, so this module
keeps to a few rules:

- it never calls libvirt (the daemon waits for us: a deadlock) and never imports it;
- it reads stdin and its own state only, and prints nothing on stdout (for ``migrate``
  and ``restore`` libvirt would take stdout as the new domain XML);
- it starts no child process, so nothing can hold the hook's stdout/stderr after it
  returns;
- a failure is one line on stderr (libvirt puts it into the error ``virsh start`` shows),
  after the executor rolled back whatever this run changed; the details go to syslog
  (and to a file, when installed with ``--log-file``);
- operations it does not handle, and domains and networks without vnet's metadata, cost
  a read of stdin and a substring test: nothing heavier than ``os`` and ``sys`` is
  imported, and nothing is written.

What each operation does (holders are the executor's reference-count owners):

====================  =====================================================================
qemu prepare begin    plumbing of every vnet NIC (VLAN device, bridge, veth, shim) and
                      settings of VFs named by PCI address — holder ``domain:NAME``; the
                      domain's state file is written first, so release always finds it
qemu start begin      the taps exist now: bridge-port flags (hairpin, isolated, learning)
                      per tap, settings of VFs libvirt took from a pool — holder
                      ``domain:NAME/ports``
qemu release end      both holders let go, from the saved state (the XML at release can
                      lack what the NICs were attached to); owned devices nobody else
                      holds are removed
qemu reconnect begin  the daemon restarted with the VM running: re-ensure, never remove,
                      never fail (a failing reconnect hook kills the VM)
qemu migrate begin    nothing: the destination's ``prepare begin`` does the work
network start begin   a bridge-mode network's plumbing (holder ``network:NAME``), before
                      libvirt starts it
network stopped end   release it
network port-created  record the port's needs (flags of the network's ports, the VF libvirt
                      picked) for its domain's ``start begin``; ``port-deleted`` forgets them
====================  =====================================================================

A network's ``started begin`` (its bridge exists again after ``net-destroy`` +
``net-start``) re-attaches what vnet hung on the bridge: the veth ends of access networks
and the taps of running guests that were its ports (:mod:`.restore`).

This module is the entry and the fast path (it imports only ``os`` and ``sys``); the work
is in :mod:`.runner` (logging, the one-line failure, applying through the host engine),
:mod:`.qemu`, :mod:`.network` and :mod:`.records` (the hooks' own state files).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: importing typing costs ~7 ms on every hook call
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Optional


MARKER = b"urn:libvirt-vnet:metadata:1"
DEFAULT_STATE_DIR = "/run/libvirt-vnet"

#: qemu (op, subop) pairs that do work; every other call returns at once
QEMU_OPS = frozenset({("prepare", "begin"), ("start", "begin"), ("release", "end"), ("reconnect", "begin")})
NETWORK_OPS = frozenset({("start", "begin"), ("started", "begin"), ("stopped", "end"), ("port-created", "begin"),
                         ("port-deleted", "begin")})


class Config:
    """Settings the installer pins into the hook script."""

    def __init__(self, kind: str, argv: Sequence[str], state_dir: Optional[str], log_file: Optional[str]):
        self.kind = kind
        self.name = argv[0] if argv else ""
        self.op = argv[1] if len(argv) > 1 else ""
        self.subop = argv[2] if len(argv) > 2 else ""
        self.state_dir = state_dir or DEFAULT_STATE_DIR
        self.log_file = log_file

    @property
    def what(self) -> str:
        return f"{'domain' if self.kind == 'qemu' else 'network'} {self.name} {self.op} {self.subop}"

    def path(self, *parts: str) -> str:
        return os.path.join(self.state_dir, "hooks", *parts)


def main(kind: str, argv: Sequence[str], *, state_dir: Optional[str] = None,
         log_file: Optional[str] = None, stdin: Optional[int] = None) -> int:
    """Run the ``kind`` ("qemu" or "network") hook with libvirt's arguments; the exit
    status for libvirt."""
    data = _drain(0 if stdin is None else stdin)
    cfg = Config(kind, argv, state_dir, log_file)
    if kind == "qemu":
        if (cfg.op, cfg.subop) not in QEMU_OPS:
            return 0
        if MARKER not in data and not _qemu_has_state(cfg):
            return 0
    elif kind == "network":
        if (cfg.op, cfg.subop) not in NETWORK_OPS:
            return 0
        if MARKER not in data and not _network_has_state(cfg):
            return 0
    else:
        print(f"libvirt-vnet: unknown hook kind {kind!r}", file=sys.stderr)
        return 2
    from .runner import run

    return run(cfg, data)


def _drain(fd: int) -> bytes:
    """All of stdin (libvirt writes the whole document and closes its end)."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _qemu_has_state(cfg: Config) -> bool:
    """A domain without vnet metadata can still need work: we hold plumbing for it (its
    metadata was removed while it ran), or a vnet network recorded needs of its ports."""
    if cfg.op == "release":
        return os.path.exists(cfg.path("domains", state_name(cfg.name)))
    if cfg.op == "start":
        return os.path.isdir(cfg.path("ports", state_name(cfg.name)))
    return False


def _network_has_state(cfg: Config) -> bool:
    """A network whose XML lost vnet's metadata while it ran still holds its plumbing:
    its release (``stopped end``) must consult the saved state (one stat)."""
    return cfg.op == "stopped" and os.path.exists(cfg.path("networks", state_name(cfg.name)))


_PLAIN = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")


def state_name(name: str) -> str:
    """A libvirt name as one file name, injectively: bytes outside ``[A-Za-z0-9_.-]``
    (and a leading '.', so no name is hidden, ``.`` or ``..``) become ``%XX``; the empty
    name is ``%`` (never produced otherwise); a result too long for a file name is cut and
    ends in ``%~`` and a SHA-256 of the name.  Readable names stay as they are."""
    raw = name.encode("utf-8", "surrogateescape")
    out = "".join(chr(b) if b in _PLAIN and not (i == 0 and b == 0x2E) else f"%{b:02X}"
                  for i, b in enumerate(raw))
    if not out:
        return "%"
    if len(out) > 180:
        import hashlib

        out = f"{out[:100]}%~{hashlib.sha256(raw).hexdigest()}"
    return out
