"""A libvirt sandbox ("lab"): a real libvirtd + virtlogd + QEMU in private namespaces.

Each lab has its own network namespace (``/run/netns/vnet-lab-NAME``: its bridges, taps,
dnsmasq and firewall rules never touch the host's eth0, addresses or routes) and its own
mount namespace (``/run/vnet-lab/NAME/mnt``) in which a tmpfs holding the lab's files is
bind-mounted over ``/etc/libvirt``, ``/var/lib/libvirt``, ``/var/log/libvirt``,
``/var/cache/libvirt`` and ``/run`` (so the lab sees neither the host's libvirt state,
nor its D-Bus, firewalld or network namespaces).  The tmpfs is mounted in the host's
mount namespace too, at ``/run/vnet-lab/NAME/fs``, so the host reaches the lab's
libvirtd through its socket::

    qemu:///system?socket=/run/vnet-lab/NAME/fs/run/libvirt/libvirt-sock

Layout from the host::

    /run/vnet-lab/NAME/mnt       the lab's mount namespace (nsfs bind mount)
    /run/vnet-lab/NAME/fs/...    the lab's /etc/libvirt, /var/*/libvirt and /run
    /run/netns/vnet-lab-NAME     the lab's network namespace (``ip -n vnet-lab-NAME ...``)

``Lab(name).up()`` builds it, ``down()`` destroys every domain and network through libvirt,
stops the daemons, kills whatever else still runs in the namespaces and removes every mount
and file.  Used by the end-to-end tests (their ``lab`` fixture) and by ``vnet lab``
(:mod:`libvirt_vnet.cli.lab`).  Only :mod:`libvirt_vnet.virt` talks to libvirt; this module
never runs ``ip`` or ``virsh``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Optional

from ..errors import ConflictError, HostError, InputError, VnetError
from . import procfs

log = logging.getLogger("libvirt_vnet.lab")

ROOT = "/run/vnet-lab"
NETNS_DIR = "/run/netns"
NETNS_PREFIX = "vnet-lab-"
NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,14}\Z")
#: directories the lab gets its own copy of (inside path; the host path is ``fs + path``)
BIND_DIRS = ("/etc/libvirt", "/var/lib/libvirt", "/var/log/libvirt", "/var/cache/libvirt", "/run")
#: host directories whose tree (directories only, never files) is copied into the lab
TREE_DIRS = ("/var/lib/libvirt", "/var/cache/libvirt", "/var/log/libvirt")
LIBVIRTD_PID = "/run/libvirt/libvirtd.pid"
VIRTLOGD_PID = "/run/libvirt/virtlogd.pid"
LIBVIRTD_LOG = "/var/log/libvirt/libvirtd.log"
VIRTLOGD_LOG = "/var/log/libvirt/virtlogd.log"
HOOKS_LOG = "/var/log/libvirt/vnet-hooks.log"
INIT_PID = "/run/vnet-lab-init.pid"
INIT_LOG = "/var/log/libvirt/vnet-lab-init.log"
#: settings put first in the lab's copies of the host's config files (libvirt takes the
#: first occurrence of a key, so they win over anything the host's copy sets below)
CONF_OVERRIDES = {
    "libvirtd.conf": [f'log_outputs = "3:file:{LIBVIRTD_LOG}"'],
    "virtlogd.conf": [f'log_outputs = "3:file:{VIRTLOGD_LOG}"'],
    # the lab's /sys is the netns's own sysfs, without the host's cgroup mounts:
    # without this a domain fails with "Failed to create v1 controller cpu for group"
    "qemu.conf": ["cgroup_controllers = [ ]"],
}
UP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0



def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InputError(f"bad lab name {name!r}",
                         hint="use 1-15 characters a-z, 0-9 and '-', starting with a letter or digit "
                         "(it becomes the network namespace vnet-lab-NAME)")
    return name



#: variables that point vnet at the host's own things; inside a lab they must not apply
#: (the lab has its own /run/libvirt-vnet, libvirt and hooks)
HOST_ONLY_ENV = ("VNET_STATE_DIR",)


def inner_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without the variables that would point vnet inside the lab at the host's state."""
    return {k: v for k, v in env.items() if k not in HOST_ONLY_ENV}

class Lab:
    """One sandbox: ``Lab("x").up()``, ``.uri`` for libvirt, ``.command([...])`` to run
    something inside, ``.down()`` to remove everything.  Also a context manager."""

    def __init__(self, name: str = "default", root: str = ROOT) -> None:
        self.name = check_name(name)
        self.root = root
        self.dir = os.path.join(root, name)
        self.fs = os.path.join(self.dir, "fs")
        self.mnt = os.path.join(self.dir, "mnt")
        self.netns = NETNS_PREFIX + name
        self.netns_path = os.path.join(NETNS_DIR, self.netns)

    def __repr__(self) -> str:
        return f"Lab({self.name!r}, root={self.root!r})"

    # -- paths -----------------------------------------------------------------------------
    def host_path(self, inside: str) -> str:
        """Where the host sees a path of the lab's own (bind-mounted) directories."""
        return self.fs + inside

    @property
    def uri(self) -> str:
        return f"qemu:///system?socket={self.host_path('/run/libvirt/libvirt-sock')}"

    @property
    def etc_libvirt(self) -> str:
        return self.host_path("/etc/libvirt")

    @property
    def state_dir(self) -> str:
        return self.host_path("/run/libvirt-vnet")

    @property
    def libvirtd_log(self) -> str:
        return self.host_path(LIBVIRTD_LOG)

    def env(self) -> dict[str, str]:
        """The environment for commands run inside the lab (see :func:`inner_env`)."""
        return inner_env(os.environ)

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside the lab's namespaces (as an argument list for subprocess)."""
        return [procfs.which("nsenter") or "nsenter", f"--mount={self.mnt}", f"--net={self.netns_path}", "--", *argv]

    # -- state -----------------------------------------------------------------------------
    def _daemon_pid(self, pidfile: str) -> Optional[int]:
        """The pid in the lab's pid file, if that process runs in the lab's netns."""
        try:
            pid = int(Path(self.host_path(pidfile)).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None
        net = procfs.ns_inode(self.netns_path)
        if net is None or not procfs.alive(pid) or procfs.proc_ns(pid, "net") != net:
            return None
        return pid

    def libvirtd_pid(self) -> Optional[int]:
        return self._daemon_pid(LIBVIRTD_PID)

    def virtlogd_pid(self) -> Optional[int]:
        return self._daemon_pid(VIRTLOGD_PID)

    def init_pid(self) -> Optional[int]:
        """The lab's init (``vnet-lab-init``): parent and reaper of everything in the lab."""
        return self._daemon_pid(INIT_PID)

    def answers(self) -> bool:
        """The lab's libvirtd accepts a connection and answers a call."""
        from .. import virt

        if not os.path.exists(self.host_path("/run/libvirt/libvirt-sock")):
            return False
        try:
            with virt.connect(self.uri) as conn:
                virt.version_of(conn)
        except VnetError as exc:
            log.debug("lab %s: libvirtd does not answer: %s", self.name, exc)
            return False
        return True

    def is_up(self) -> bool:
        return (procfs.ns_inode(self.netns_path) is not None and procfs.ns_inode(self.mnt) is not None
                and self.libvirtd_pid() is not None and self.answers())

    def traces(self) -> list[str]:
        """What exists of this lab (for "half there" messages and ``status``)."""
        found = []
        if os.path.lexists(self.dir):
            found.append(self.dir)
        if os.path.lexists(self.netns_path):
            found.append(self.netns_path)
        found += [m for m, _, _ in procfs.mounts() if procfs.under(m, self.dir) or m == self.netns_path]
        if procfs.ns_inode(self.netns_path) is not None or procfs.ns_inode(self.mnt) is not None:
            found += [f"{comm} (pid {pid})" for pid, comm in sorted(self.pids().items())]
        return list(dict.fromkeys(found))

    def pids(self) -> dict[int, str]:
        """Processes inside the lab (in its network or mount namespace): pid -> comm."""
        net, mnt = procfs.ns_inode(self.netns_path), procfs.ns_inode(self.mnt)
        if net is None and mnt is None:
            return {}
        me = os.getpid()
        found = {}
        for pid in procfs.all_pids():
            if pid == me or not procfs.alive(pid):
                continue
            if (net is not None and procfs.proc_ns(pid, "net") == net) or (
                    mnt is not None and procfs.proc_ns(pid, "mnt") == mnt):
                found[pid] = procfs.comm(pid)
        return found

    # -- up --------------------------------------------------------------------------------
    def up(self, *, hooks: bool = False) -> Lab:
        """Start the lab (idempotent: a lab that is up and answers is left as it is)."""
        procfs.require_root()
        if self.is_up():
            log.info("lab %s is already up (libvirtd pid %s)", self.name, self.libvirtd_pid())
            return self
        self._refuse_half_there()
        for name in procfs.BINARIES:
            procfs.binary(name)
        started = time.monotonic()
        self._claim()
        try:
            self._build(hooks)
        except BaseException:
            log.info("lab %s did not come up: removing what was built", self.name)
            try:
                self.down()
            except VnetError as exc:
                log.warning("lab %s: cleanup after the failed start failed too: %s", self.name, exc)
            raise
        log.info("lab %s is up in %.1f s (libvirtd pid %s)", self.name, time.monotonic() - started,
                 self.libvirtd_pid())
        return self

    def _refuse_half_there(self) -> None:
        traces = self.traces()
        if traces:
            pid = self.libvirtd_pid()
            state = (f"its libvirtd (pid {pid}) does not answer" if pid is not None
                     else "its libvirtd is not running")
            raise ConflictError(f"lab {self.name} is half there: {state}; found {', '.join(traces[:6])}",
                                hint=f"remove it with: vnet lab down {self.name} (then up again); "
                                f"its libvirtd log is {self.libvirtd_log}")

    def _claim(self) -> None:
        """Create the lab's directory: the lock against a concurrent ``up`` of the same name."""
        os.makedirs(self.root, mode=0o755, exist_ok=True)
        self._private_root()
        try:
            os.mkdir(self.dir, 0o755)
        except FileExistsError:
            raise ConflictError(f"{self.dir} appeared meanwhile (another `vnet lab up {self.name}`?)",
                                hint=f"vnet lab status {self.name}") from None

    def _build(self, hooks: bool) -> None:
        os.mkdir(self.fs, 0o755)
        os.makedirs(NETNS_DIR, mode=0o755, exist_ok=True)
        for path in (self.mnt, self.netns_path):
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444))
            except FileExistsError:
                raise ConflictError(f"{path} exists already", hint=f"vnet lab down {self.name}") from None
        procfs.run([procfs.binary("mount"), "-t", "tmpfs", "-o", "mode=0755", self.netns, self.fs],
             f"mounting the lab's tmpfs on {self.fs}")
        self._seed()
        if hooks:
            self._install_hooks()
        env = inner_env(os.environ)
        pkg_parent = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
        argv = [procfs.binary("unshare"), f"--mount={self.mnt}", f"--net={self.netns_path}", "--propagation", "private",
                "--", sys.executable, "-m", "libvirt_vnet.lab.init", self.fs]
        gone = "the lab was removed again; the log lines above say why its daemons failed"
        try:
            procfs.run(argv, f"lab {self.name}: starting its daemons", timeout=UP_TIMEOUT + 30, env=env)
        except HostError as exc:
            raise HostError(exc.message + self._log_lines(), hint=gone) from None
        self._wait_answers(hint=gone)

    def _private_root(self) -> None:
        """``unshare --mount=FILE`` needs FILE on a private mount: bind the root onto
        itself and make that private (once; it stays for later labs)."""
        mounts = {m: shared for m, _, shared in procfs.mounts()}
        mount = procfs.binary("mount")
        if self.root not in mounts:
            procfs.run([mount, "--bind", self.root, self.root], f"bind-mounting {self.root}")
            mounts[self.root] = True
        if mounts[self.root]:
            procfs.run([mount, "--make-private", self.root], f"making {self.root} a private mount")

    def _seed(self) -> None:
        """The lab's files, from the host's: config copies, empty state directories."""
        etc = Path(self.etc_libvirt)
        etc.mkdir(parents=True, mode=0o755)
        for conf in sorted(Path("/etc/libvirt").glob("*.conf")):
            shutil.copy2(conf, etc / conf.name)
        for name, settings in CONF_OVERRIDES.items():
            path = etc / name
            old = path.read_text(encoding="utf-8") if path.exists() else ""
            head = "# vnet lab: first, so these win over the host's settings copied below\n"
            path.write_text(head + "".join(s + "\n" for s in settings) + "\n" + old, encoding="utf-8")
            if not old:
                path.chmod(0o600)
        if Path("/etc/libvirt/nwfilter").is_dir():
            shutil.copytree("/etc/libvirt/nwfilter", etc / "nwfilter", symlinks=True)
        for sub in ("qemu/networks", "hooks"):
            (etc / sub).mkdir(parents=True, exist_ok=True)
        for top in TREE_DIRS:
            self._copy_tree(top)
        run = Path(self.host_path("/run"))
        for sub in ("libvirt", "libvirt-vnet", "lock"):
            (run / sub).mkdir(parents=True, exist_ok=True)
        (run / "lock").chmod(0o1777)

    def _copy_tree(self, top: str) -> None:
        """The directories under ``top`` (owner, group, mode), never the files."""
        dest = Path(self.host_path(top))
        dest.mkdir(parents=True, exist_ok=True)
        if not os.path.isdir(top):
            return
        for here, _dirs, _files in os.walk(top):
            st = os.stat(here)
            target = dest / os.path.relpath(here, top)
            target.mkdir(exist_ok=True)
            os.chown(target, st.st_uid, st.st_gid)
            os.chmod(target, st.st_mode & 0o7777)

    def _install_hooks(self) -> None:
        from ..hook.install import install_hooks

        install_hooks(self.etc_libvirt, layout="dir", log_file=HOOKS_LOG)

    def _wait_answers(self, timeout: float = UP_TIMEOUT, hint: Optional[str] = None) -> None:
        started = time.monotonic()
        deadline = started + timeout
        delay = 0.02
        while True:
            if self.answers():
                return
            # (the first seconds, it may not be started yet: restart_libvirtd only asks for it)
            if time.monotonic() - started > 3 and self.libvirtd_pid() is None and not self._starting():
                problem = "its libvirtd exited"
                break
            if time.monotonic() > deadline:
                problem = f"its libvirtd did not answer within {timeout:.0f} s"
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
        raise HostError(f"lab {self.name}: {problem}" + self._log_lines(),
                        hint=hint or f"read {self.libvirtd_log}; remove the lab with: vnet lab down {self.name}")

    def _log_lines(self) -> str:
        if not os.path.exists(self.libvirtd_log):
            return ""
        return f"\nlast lines of {self.libvirtd_log}:\n{procfs.tail(self.libvirtd_log)}"

    def _starting(self) -> bool:
        """libvirtd is there but has not written its pid file yet."""
        return any(comm == "libvirtd" for comm in self.pids().values())

    # -- libvirtd restart ------------------------------------------------------------------
    def restart_libvirtd(self) -> None:
        """Stop and start the lab's libvirtd only (it discovers hooks when it starts);
        domains and networks keep running.  Returns once it answers again."""
        procfs.require_root()
        if procfs.ns_inode(self.netns_path) is None or procfs.ns_inode(self.mnt) is None:
            raise HostError(f"lab {self.name} is not up", hint=f"vnet lab up {self.name}")
        init = self.init_pid()
        if init is None:
            raise HostError(f"lab {self.name} is half there: its init (vnet-lab-init) is not running",
                            hint=f"vnet lab down {self.name}, then up again")
        pid = self.libvirtd_pid()
        if pid is not None:
            self._stop(pid, "libvirtd")
        os.kill(init, signal.SIGUSR1)  # its init starts it: qemu and dnsmasq stay its children
        self._wait_answers()
        from .. import virt

        with virt.connect(self.uri) as conn:  # its reconnect hooks have run when this returns
            virt.settle_domains(conn)
        log.info("lab %s: libvirtd restarted (pid %s)", self.name, self.libvirtd_pid())

    # -- down ------------------------------------------------------------------------------
    def _stop(self, pid: int, what: str, timeout: float = STOP_TIMEOUT) -> str:
        """SIGTERM, wait, SIGKILL if needed; a line saying what happened."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if self._wait_gone([pid], timeout):
            return f"stopped {what} (pid {pid})"
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        self._wait_gone([pid], 5.0)
        return f"killed {what} (pid {pid}): it ignored SIGTERM for {timeout:.0f} s"

    @staticmethod
    def _wait_gone(pids: Sequence[int], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while any(procfs.alive(p) for p in pids):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def down(self) -> list[str]:
        """Destroy everything in the lab and remove it (idempotent).  Returns what it did."""
        procfs.require_root()
        done: list[str] = []
        if self.libvirtd_pid() is not None and self.answers():
            from .. import virt

            try:
                with virt.connect(self.uri) as conn:
                    done += [f"destroyed {what}" for what in virt.destroy_all(conn)]
            except VnetError as exc:  # the processes are killed below anyway
                log.warning("lab %s: destroying its domains and networks failed: %s", self.name, exc)
        for what, pidfile in (("libvirtd", LIBVIRTD_PID), ("virtlogd", VIRTLOGD_PID)):
            pid = self._daemon_pid(pidfile)
            if pid is not None:
                done.append(self._stop(pid, what))
        init = self.init_pid()
        left = {pid: comm for pid, comm in self.pids().items() if pid != init}
        if left:
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            if not self._wait_gone(list(left), 3.0):
                for pid in left:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self._wait_gone(list(left), 5.0)
            done += [f"killed {comm} (pid {pid})" for pid, comm in sorted(left.items())]
        if init is not None:  # last: it reaps the others
            done.append(self._stop(init, "vnet-lab-init"))
        done += self._unmount()
        done += self._remove_files()
        if done:
            log.info("lab %s is down: %s", self.name, "; ".join(done))
        return done

    def _unmount(self) -> list[str]:
        done = []
        umount = procfs.which("umount") or "umount"
        targets = [self.mnt, self.netns_path, self.fs]
        # anything else mounted under the lab's directory (should not happen), deepest first
        below = {m for m, _, _ in procfs.mounts() if procfs.under(m, self.dir)}
        targets += sorted(below - set(targets), key=len, reverse=True)
        for target in targets:
            while any(m == target for m, _, _ in procfs.mounts()):
                res = subprocess.run([umount, target], capture_output=True, text=True, check=False)
                if res.returncode != 0:
                    log.info("umount %s: %s; detaching it lazily", target, res.stderr.strip())
                    if not procfs.detach(target):
                        raise HostError(f"cannot unmount {target}: {res.stderr.strip()}",
                                        hint=f"find what holds it (fuser -vm {target}), then run "
                                        f"vnet lab down {self.name} again")
                done.append(f"unmounted {target}")
        return done

    def _remove_files(self) -> list[str]:
        done = []
        if os.path.lexists(self.netns_path):
            os.unlink(self.netns_path)
            done.append(f"removed {self.netns_path}")
        if os.path.lexists(self.dir):
            busy = [m for m, _, _ in procfs.mounts() if procfs.under(m, self.dir)]
            if busy:  # never delete through a mount
                raise HostError(f"still mounted: {', '.join(busy)}", hint=f"vnet lab down {self.name} again")
            shutil.rmtree(self.dir)
            done.append(f"removed {self.dir}")
        return done

    # -- context manager -------------------------------------------------------------------
    def __enter__(self) -> Lab:
        return self.up()

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.down()


def labs(root: str = ROOT) -> list[Lab]:
    """Every lab that has traces on this host (up or half there), by name."""
    names = set()
    with contextlib.suppress(OSError):
        names |= {n for n in os.listdir(root) if NAME_RE.match(n)}
    with contextlib.suppress(OSError):
        names |= {n[len(NETNS_PREFIX):] for n in os.listdir(NETNS_DIR)
                  if n.startswith(NETNS_PREFIX) and NAME_RE.match(n[len(NETNS_PREFIX):])}
    return [Lab(n, root) for n in sorted(names)]
