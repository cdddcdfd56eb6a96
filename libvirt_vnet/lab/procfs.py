"""Operating-system helpers for the lab: finding and running binaries (never through a
shell), ``/proc/self/mountinfo`` and namespace inodes, processes by namespace, ``umount -l``
and bringing a link up without a child process."""

from __future__ import annotations

import ctypes
import fcntl
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from ..errors import HostError, UnsupportedError

log = __import__("logging").getLogger("libvirt_vnet.lab")

PACKAGES = "apt-get install libvirt-daemon-system libvirt-daemon-driver-qemu qemu-system-x86 dnsmasq-base"
#: binaries a lab needs, with the Debian package that ships each
BINARIES = {"unshare": "util-linux", "nsenter": "util-linux", "mount": "mount", "umount": "mount",
            "libvirtd": "libvirt-daemon-system", "virtlogd": "libvirt-daemon-system",
            "qemu-system-x86_64": "qemu-system-x86", "dnsmasq": "dnsmasq-base"}
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
MNT_DETACH = 2


def which(name: str) -> Optional[str]:
    path = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin"
    return shutil.which(name, path=path)


def binary(name: str) -> str:
    found = which(name)
    if found is None:
        raise UnsupportedError(f"vnet lab needs {name} (Debian package {BINARIES.get(name, name)}), "
                               "which is not installed", hint=PACKAGES)
    return found


def require_root() -> None:
    if os.geteuid() != 0:
        raise HostError("vnet lab needs root (it creates namespaces and mounts)",
                        hint="run it with sudo")


def run(argv: Sequence[str], what: str, timeout: float = 60.0, env: Optional[dict[str, str]] = None) -> str:
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


def unescape(field: str) -> str:
    """Mount points in mountinfo escape space, tab, newline and backslash as \\ooo."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts(mountinfo: str = "/proc/self/mountinfo") -> list[tuple[str, str, bool]]:
    """(mount point, file system type, shared?) of every mount, in mount order."""
    found = []
    with open(mountinfo, encoding="utf-8", errors="replace") as f:
        for line in f:
            head, _, tail = line.partition(" - ")
            fields = head.split()
            fstype = tail.split()[0] if tail else ""
            found.append((unescape(fields[4]), fstype, any(x.startswith("shared:") for x in fields[6:])))
    return found


def under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


_NSFS_DEV: Optional[int] = None


def ns_inode(path: str) -> Optional[int]:
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


def proc_ns(pid: int, kind: str) -> Optional[int]:
    try:
        return os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    except OSError:
        return None


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return "?"


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def detach(path: str) -> bool:
    """umount -l, without a process per mount."""
    if libc().umount2(path.encode(), MNT_DETACH) != 0:
        log.debug("cannot detach %s: %s", path, os.strerror(ctypes.get_errno()))
        return False
    return True


def tail(path: str, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(cannot read it: {exc.strerror})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def link_up(name: str = "lo") -> None:
    """``ip link set NAME up`` by ioctl."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = struct.pack("16sH22x", name.encode(), 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, struct.pack("16sH22x", name.encode(), flags | IFF_UP))
