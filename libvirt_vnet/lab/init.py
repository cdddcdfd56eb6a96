"""The lab's init, run inside its fresh namespaces: ``unshare ... python -m
libvirt_vnet.lab.init FSROOT`` (started by :meth:`~libvirt_vnet.lab.sandbox.Lab.up`).

:func:`inside` mounts the lab's own ``/sys`` and bind-mounts its tmpfs over libvirt's
directories, then forks the lab's init, which starts virtlogd and libvirtd and stays as
their child subreaper.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

from ..errors import HostError, VnetError
from . import procfs
from .sandbox import BIND_DIRS, INIT_LOG, INIT_PID, LIBVIRTD_PID, VIRTLOGD_PID

PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36

def inside(fsroot: str) -> None:
    """Run by ``unshare`` in the lab's fresh (private) mount and network namespaces."""
    mount = procfs.binary("mount")
    procfs.run([mount, "-t", "sysfs", "-o", "nosuid,nodev,noexec", "sysfs", "/sys"], "mounting the lab's /sys")
    # Drop the copies of namespace files and of other labs' mounts: held here they would
    # keep those namespaces (and other labs' files) alive after their owners remove them.
    root = os.path.dirname(os.path.dirname(fsroot))
    for point, fstype, _ in reversed(procfs.mounts()):
        if fstype == "nsfs" or (procfs.under(point, root) and point != root and not procfs.under(fsroot, point)):
            procfs.detach(point)
    for inside in BIND_DIRS:
        os.makedirs(fsroot + inside, exist_ok=True)
        procfs.run([mount, "--bind", fsroot + inside, inside], f"bind-mounting the lab's {inside}")
    procfs.link_up("lo")
    # the daemons start under the lab's init, which stays; its first words say how it went
    status_r, status_w = os.pipe()
    if os.fork() == 0:
        os.close(status_r)
        code = 1
        try:
            code = _init(status_w)
        finally:
            os._exit(code)
    os.close(status_w)
    with os.fdopen(status_r, encoding="utf-8", errors="replace") as status:
        said = status.read()
    if said != "ok":
        raise HostError(said or "the lab's init died")


def _start_libvirtd() -> None:
    procfs.run([procfs.binary("libvirtd"), "-d", "-p", LIBVIRTD_PID], "starting libvirtd")


def _init(status_fd: int) -> int:
    """The lab's init: starts virtlogd and libvirtd and stays, a child subreaper, so every
    process the daemons leave behind (qemu, dnsmasq: they daemonize) becomes its child and
    is reaped at once.  (Reparented to the host's pid 1 instead, a dead qemu would wait for
    that, and libvirt's ``destroy`` with it.)  SIGUSR1 starts libvirtd again
    (:meth:`Lab.restart_libvirtd`); SIGTERM ends it."""
    os.setsid()  # not killed with the terminal that ran `vnet lab up`
    libc = procfs.libc()
    libc.prctl(PR_SET_NAME, b"vnet-lab-init", 0, 0, 0)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    Path(INIT_PID).write_text(f"{os.getpid()}\n", encoding="ascii")
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(sig, lambda _sig, _frame: None)  # noted through the wakeup fd
    try:
        procfs.run([procfs.binary("virtlogd"), "-d", "-p", VIRTLOGD_PID], "starting virtlogd")
        _start_libvirtd()
        said = "ok"
    except VnetError as exc:
        said = str(exc)
    os.write(status_fd, said.encode())
    os.close(status_fd)
    if said != "ok":
        return 1
    log_fd = os.open(INIT_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    while True:
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        try:
            woken = os.read(wake_r, 64)
        except InterruptedError:
            continue
        if any(sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP) for sig in woken):
            return 0
        if signal.SIGUSR1 in woken:
            try:
                _start_libvirtd()
            except VnetError as exc:
                os.write(2, f"vnet-lab-init: {exc}\n".encode())


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        os.write(2, b"usage: python -m libvirt_vnet.lab.init FSROOT (run by vnet lab up)\n")
        return 64
    try:
        inside(argv[0])
    except (VnetError, OSError) as exc:
        os.write(2, f"vnet lab (inside): {exc}\n".encode())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
