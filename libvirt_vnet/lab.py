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
and file.  Used by the end-to-end tests (``tests/labfix.py``) and by ``vnet lab``.
Only ``libvirt_vnet.virt`` talks to libvirt; this module never runs ``ip`` or ``virsh``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import importlib
import logging
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Optional

from .errors import ConflictError, HostError, InputError, UnsupportedError, VnetError

log = logging.getLogger("libvirt_vnet.lab")

ROOT = "/run/vnet-lab"
NETNS_DIR = "/run/netns"
NETNS_PREFIX = "vnet-lab-"
NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,14}\Z")
PACKAGES = "apt-get install libvirt-daemon-system libvirt-daemon-driver-qemu qemu-system-x86 dnsmasq-base"
#: binaries ``up`` needs, with the Debian package that ships each
BINARIES = {"unshare": "util-linux", "nsenter": "util-linux", "mount": "mount", "umount": "mount",
            "libvirtd": "libvirt-daemon-system", "virtlogd": "libvirt-daemon-system",
            "qemu-system-x86_64": "qemu-system-x86", "dnsmasq": "dnsmasq-base"}
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

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
MNT_DETACH = 2
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InputError(f"bad lab name {name!r}",
                         hint="use 1-15 characters a-z, 0-9 and '-', starting with a letter or digit "
                         "(it becomes the network namespace vnet-lab-NAME)")
    return name


def _which(name: str) -> Optional[str]:
    path = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin"
    return shutil.which(name, path=path)


def _binary(name: str) -> str:
    found = _which(name)
    if found is None:
        raise UnsupportedError(f"vnet lab needs {name} (Debian package {BINARIES.get(name, name)}), "
                               "which is not installed", hint=PACKAGES)
    return found


def _require_root() -> None:
    if os.geteuid() != 0:
        raise HostError("vnet lab needs root (it creates namespaces and mounts)",
                        hint="run it with sudo")


def _run(argv: Sequence[str], what: str, timeout: float = 60.0, env: Optional[dict[str, str]] = None) -> str:
    """Run a command (never through a shell); its output, or HostError naming ``what``."""
    log.debug("running %s", argv)
    with tempfile.TemporaryFile() as out:  # not a pipe: a daemon child may keep it open
        try:
            res = subprocess.run(list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 timeout=timeout, env=env, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise HostError(f"{what}: {exc}") from None
        out.seek(0)
        text = out.read().decode(errors="replace").strip()
    if res.returncode != 0:
        raise HostError(f"{what} failed (exit {res.returncode}): {text or 'no output'}")
    return text


# ---- /proc and mount helpers -----------------------------------------------------------

def _unescape(field: str) -> str:
    """Mount points in mountinfo escape space, tab, newline and backslash as \\ooo."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts(mountinfo: str = "/proc/self/mountinfo") -> list[tuple[str, str, bool]]:
    """(mount point, file system type, shared?) of every mount, in mount order."""
    found = []
    with open(mountinfo, encoding="utf-8", errors="replace") as f:
        for line in f:
            head, _, tail = line.partition(" - ")
            fields = head.split()
            fstype = tail.split()[0] if tail else ""
            found.append((_unescape(fields[4]), fstype, any(x.startswith("shared:") for x in fields[6:])))
    return found


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


_NSFS_DEV: Optional[int] = None


def _ns_inode(path: str) -> Optional[int]:
    """The inode of the namespace bind-mounted at ``path``, or None if nothing (or an
    ordinary file) is there."""
    global _NSFS_DEV
    try:
        if _NSFS_DEV is None:
            _NSFS_DEV = os.stat("/proc/self/ns/net").st_dev
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino if st.st_dev == _NSFS_DEV else None


def _proc_ns(pid: int, kind: str) -> Optional[int]:
    try:
        return os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    except OSError:
        return None


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return "?"


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _detach(path: str) -> bool:
    """umount -l, without a process per mount."""
    if _libc().umount2(path.encode(), MNT_DETACH) != 0:
        log.debug("cannot detach %s: %s", path, os.strerror(ctypes.get_errno()))
        return False
    return True


def _tail(path: str, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(cannot read it: {exc.strerror})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


# ---- the lab -----------------------------------------------------------------------------

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

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside the lab's namespaces (as an argument list for subprocess)."""
        return [_which("nsenter") or "nsenter", f"--mount={self.mnt}", f"--net={self.netns_path}", "--", *argv]

    # -- state -----------------------------------------------------------------------------
    def _daemon_pid(self, pidfile: str) -> Optional[int]:
        """The pid in the lab's pid file, if that process runs in the lab's netns."""
        try:
            pid = int(Path(self.host_path(pidfile)).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None
        net = _ns_inode(self.netns_path)
        if net is None or not _alive(pid) or _proc_ns(pid, "net") != net:
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
        from . import virt

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
        return (_ns_inode(self.netns_path) is not None and _ns_inode(self.mnt) is not None
                and self.libvirtd_pid() is not None and self.answers())

    def traces(self) -> list[str]:
        """What exists of this lab (for "half there" messages and ``status``)."""
        found = []
        if os.path.lexists(self.dir):
            found.append(self.dir)
        if os.path.lexists(self.netns_path):
            found.append(self.netns_path)
        found += [m for m, _, _ in _mounts() if _under(m, self.dir) or m == self.netns_path]
        if _ns_inode(self.netns_path) is not None or _ns_inode(self.mnt) is not None:
            found += [f"{comm} (pid {pid})" for pid, comm in sorted(self.pids().items())]
        return list(dict.fromkeys(found))

    def pids(self) -> dict[int, str]:
        """Processes inside the lab (in its network or mount namespace): pid -> comm."""
        net, mnt = _ns_inode(self.netns_path), _ns_inode(self.mnt)
        if net is None and mnt is None:
            return {}
        me = os.getpid()
        found = {}
        for pid in _all_pids():
            if pid == me or not _alive(pid):
                continue
            if (net is not None and _proc_ns(pid, "net") == net) or (mnt is not None and _proc_ns(pid, "mnt") == mnt):
                found[pid] = _comm(pid)
        return found

    # -- up --------------------------------------------------------------------------------
    def up(self, *, hooks: bool = False) -> Lab:
        """Start the lab (idempotent: a lab that is up and answers is left as it is)."""
        _require_root()
        if self.is_up():
            log.info("lab %s is already up (libvirtd pid %s)", self.name, self.libvirtd_pid())
            return self
        self._refuse_half_there()
        for name in BINARIES:
            _binary(name)
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
        _run([_binary("mount"), "-t", "tmpfs", "-o", "mode=0755", self.netns, self.fs],
             f"mounting the lab's tmpfs on {self.fs}")
        self._seed()
        if hooks:
            self._install_hooks()
        env = dict(os.environ)
        pkg_parent = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
        argv = [_binary("unshare"), f"--mount={self.mnt}", f"--net={self.netns_path}", "--propagation", "private",
                "--", sys.executable, "-m", "libvirt_vnet.lab", "_inside", self.fs]
        gone = "the lab was removed again; the log lines above say why its daemons failed"
        try:
            _run(argv, f"lab {self.name}: starting its daemons", timeout=UP_TIMEOUT + 30, env=env)
        except HostError as exc:
            raise HostError(exc.message + self._log_lines(), hint=gone) from None
        self._wait_answers(hint=gone)

    def _private_root(self) -> None:
        """``unshare --mount=FILE`` needs FILE on a private mount: bind the root onto
        itself and make that private (once; it stays for later labs)."""
        mounts = {m: shared for m, _, shared in _mounts()}
        mount = _binary("mount")
        if self.root not in mounts:
            _run([mount, "--bind", self.root, self.root], f"bind-mounting {self.root}")
            mounts[self.root] = True
        if mounts[self.root]:
            _run([mount, "--make-private", self.root], f"making {self.root} a private mount")

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
        try:  # written separately; imported by name so this module does not depend on it
            install_hooks = importlib.import_module(".hookinstall", __package__).install_hooks
        except (ImportError, AttributeError) as exc:
            raise UnsupportedError(f"cannot install vnet's libvirt hooks: {exc}",
                                   hint="start the lab without them: vnet lab up --no-hooks") from None
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
        return f"\nlast lines of {self.libvirtd_log}:\n{_tail(self.libvirtd_log)}"

    def _starting(self) -> bool:
        """libvirtd is there but has not written its pid file yet."""
        return any(comm == "libvirtd" for comm in self.pids().values())

    # -- libvirtd restart ------------------------------------------------------------------
    def restart_libvirtd(self) -> None:
        """Stop and start the lab's libvirtd only (it discovers hooks when it starts);
        domains and networks keep running.  Returns once it answers again."""
        _require_root()
        if _ns_inode(self.netns_path) is None or _ns_inode(self.mnt) is None:
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
        from . import virt

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
        while any(_alive(p) for p in pids):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def down(self) -> list[str]:
        """Destroy everything in the lab and remove it (idempotent).  Returns what it did."""
        _require_root()
        done: list[str] = []
        if self.libvirtd_pid() is not None and self.answers():
            from . import virt

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
        umount = _which("umount") or "umount"
        targets = [self.mnt, self.netns_path, self.fs]
        # anything else mounted under the lab's directory (should not happen), deepest first
        targets += sorted({m for m, _, _ in _mounts() if _under(m, self.dir)} - set(targets), key=len, reverse=True)
        for target in targets:
            while any(m == target for m, _, _ in _mounts()):
                res = subprocess.run([umount, target], capture_output=True, text=True, check=False)
                if res.returncode != 0:
                    log.info("umount %s: %s; detaching it lazily", target, res.stderr.strip())
                    if not _detach(target):
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
            busy = [m for m, _, _ in _mounts() if _under(m, self.dir)]
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


# ---- inside the namespaces (run by `up` through unshare) ---------------------------------

def _link_up(name: str = "lo") -> None:
    """``ip link set NAME up`` by ioctl."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = struct.pack("16sH22x", name.encode(), 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, struct.pack("16sH22x", name.encode(), flags | IFF_UP))


def _inside(fsroot: str) -> None:
    """Run by ``unshare`` in the lab's fresh (private) mount and network namespaces."""
    mount = _binary("mount")
    _run([mount, "-t", "sysfs", "-o", "nosuid,nodev,noexec", "sysfs", "/sys"], "mounting the lab's /sys")
    # Drop the copies of namespace files and of other labs' mounts: held here they would
    # keep those namespaces (and other labs' files) alive after their owners remove them.
    root = os.path.dirname(os.path.dirname(fsroot))
    for point, fstype, _ in reversed(_mounts()):
        if fstype == "nsfs" or (_under(point, root) and point != root and not _under(fsroot, point)):
            _detach(point)
    for inside in BIND_DIRS:
        os.makedirs(fsroot + inside, exist_ok=True)
        _run([mount, "--bind", fsroot + inside, inside], f"bind-mounting the lab's {inside}")
    _link_up("lo")
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
    _run([_binary("libvirtd"), "-d", "-p", LIBVIRTD_PID], "starting libvirtd")


def _init(status_fd: int) -> int:
    """The lab's init: starts virtlogd and libvirtd and stays, a child subreaper, so every
    process the daemons leave behind (qemu, dnsmasq: they daemonize) becomes its child and
    is reaped at once.  (Reparented to the host's pid 1 instead, a dead qemu would wait for
    that, and libvirt's ``destroy`` with it.)  SIGUSR1 starts libvirtd again
    (:meth:`Lab.restart_libvirtd`); SIGTERM ends it."""
    os.setsid()  # not killed with the terminal that ran `vnet lab up`
    libc = _libc()
    libc.prctl(PR_SET_NAME, b"vnet-lab-init", 0, 0, 0)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    Path(INIT_PID).write_text(f"{os.getpid()}\n", encoding="ascii")
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(sig, lambda _sig, _frame: None)  # noted through the wakeup fd
    try:
        _run([_binary("virtlogd"), "-d", "-p", VIRTLOGD_PID], "starting virtlogd")
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
                print(f"vnet-lab-init: {exc}", file=sys.stderr, flush=True)


# ---- command line ----------------------------------------------------------------------

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
    from . import virt

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
    _require_root()
    if _ns_inode(lab.netns_path) is None or _ns_inode(lab.mnt) is None:
        raise HostError(f"lab {lab.name} is not up", hint=f"vnet lab up {lab.name}")
    _binary("nsenter")
    cmd = lab.command(argv)
    cwd = os.getcwd()
    if not any(_under(cwd, d) for d in BIND_DIRS):  # the same directory exists inside
        cmd.insert(1, f"--wd={cwd}")
    sys.stdout.flush()
    os.execvp(cmd[0], cmd)
    return 127  # not reached


def add_lab_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Register ``lab`` (up, down, status, exec) on the CLI's sub-command parsers."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("lab", help="a private libvirtd sandbox to try topologies safely",
                       description=LAB_DESCRIPTION, epilog=LAB_EPILOG, formatter_class=fmt)
    actions = p.add_subparsers(dest="lab_command", metavar="ACTION")

    from .cli import usage_of  # the CLI is loaded already: it is what calls this

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


def _main(argv: Sequence[str]) -> int:
    """``python -m libvirt_vnet.lab ACTION ...`` (the same as ``vnet lab ACTION ...``)."""
    if argv[:1] == ["_inside"]:
        try:
            _inside(argv[1])
        except (VnetError, OSError) as exc:
            print(f"vnet lab (inside): {exc}", file=sys.stderr)
            return 1
        return 0
    parser = argparse.ArgumentParser(prog="vnet")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what vnet does")
    add_lab_parser(parser.add_subparsers(dest="command", metavar="COMMAND"))
    args = parser.parse_args(["lab", *argv] if argv[:1] != ["-v"] else ["-v", "lab", *argv[1:]])
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="vnet: %(message)s")
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except VnetError as exc:
        print(f"vnet: {exc.label}: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
