"""What vnet did to this host, so that teardown replays it: holders, undo records and a
write-ahead journal, under one file lock.

Layout of the state directory (``/run/libvirt-vnet`` by default — tmpfs, so it is
forgotten at reboot together with the devices it describes; ``VNET_STATE_DIR`` or
``--state-dir`` moves it):

- ``lock`` — ``flock``-ed for the whole of every apply and destroy, so concurrent hooks
  and commands (libvirt may run hooks for several domains at once) see each other's
  reference counts and never race on a device;
- ``state.json`` — per object key (``link:br10``, ``master:eth0.10``, …): the holders
  that need it and the undo records that remove it; per holder, its keys in order; the
  undo records of released objects still to be carried out (``pending``).  Rewritten
  atomically (temporary file, ``fsync``, ``rename``);
- ``journal.jsonl`` — the undo records of the apply in progress, appended before each
  kernel change.  A journal found at the start of the next operation belongs to a
  process that died mid-apply: its records are replayed (that apply is rolled back)
  before anything else happens.

This module reads and writes files only; replaying records is the executor's job.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import HostError
from .actions import Undo

DEFAULT_STATE_DIR = "/run/libvirt-vnet"
VERSION = 1


class StateError(HostError):
    """The state directory cannot be used (permissions, a damaged file)."""

    label = "host state"


def state_dir(explicit: Optional[str] = None) -> str:
    return explicit or os.environ.get("VNET_STATE_DIR") or DEFAULT_STATE_DIR


@dataclass
class ObjectRecord:
    #: what the holders want of the object (the action's description): holders agree
    want: str = ""
    holders: list[str] = field(default_factory=list)
    undo: list[Undo] = field(default_factory=list)


@dataclass
class Ledger:
    """The loaded ``state.json``."""

    objects: dict[str, ObjectRecord] = field(default_factory=dict)
    holders: dict[str, list[str]] = field(default_factory=dict)
    pending: list[Undo] = field(default_factory=list)
    #: undo records that could not be carried out, with why (``vnet host-status`` shows them)
    failed: list[dict[str, Any]] = field(default_factory=list)
    #: id of the last journal whose apply was committed into this state
    committed: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "committed": self.committed,
            "objects": {k: {"want": o.want, "holders": o.holders, "undo": o.undo}
                        for k, o in sorted(self.objects.items())},
            "holders": self.holders,
            "pending": self.pending,
            "failed": self.failed,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Ledger:
        if raw.get("version") != VERSION:
            raise ValueError(f"unknown state version {raw.get('version')!r}")
        return cls(
            objects={k: ObjectRecord(want=v.get("want", ""), holders=list(v["holders"]), undo=list(v["undo"]))
                     for k, v in raw["objects"].items()},
            holders={k: list(v) for k, v in raw["holders"].items()},
            pending=list(raw.get("pending", [])),
            failed=list(raw.get("failed", [])),
            committed=str(raw.get("committed", "")),
        )

    def hold(self, holder: str, key: str, undo: list[Undo], want: str = "") -> None:
        rec = self.objects.setdefault(key, ObjectRecord(want=want))
        if want:
            rec.want = want
        if holder not in rec.holders:  # invariant: key in holders[h] iff h in objects[key].holders
            rec.holders.append(holder)
            self.holders.setdefault(holder, []).append(key)
        rec.undo.extend(undo)

    def release(self, holder: str, key: str) -> list[Undo]:
        """Drop ``holder``'s hold on ``key``; the undo records to carry out (reversed)
        when it was the last holder, else nothing."""
        keys = self.holders.get(holder, [])
        if key in keys:
            keys.remove(key)
        if not keys:
            self.holders.pop(holder, None)
        rec = self.objects.get(key)
        if rec is None:
            return []
        if holder in rec.holders:
            rec.holders.remove(holder)
        if rec.holders:
            return []
        del self.objects[key]
        return list(reversed(rec.undo))

    def others(self, holder: str, key: str) -> list[str]:
        rec = self.objects.get(key)
        return [h for h in rec.holders if h != holder] if rec else []


class Journal:
    """Append-only JSON lines: ``{"begin": holder, "id": ID}``, then
    ``{"key": K, "undo": {...}}`` or ``{"cancel": true}``.
    Appends survive the writer being killed (the page cache outlives the process; /run
    does not outlive a reboot, and neither do the devices)."""

    def __init__(self, path: str):
        self.path = path
        self.id = ""
        self._fd: Optional[int] = None

    def open(self, holder: str) -> str:
        """Start the journal of one apply; its id goes into the state when it commits."""
        self.id = f"{os.getpid()}-{time.time_ns()}"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        self._write({"begin": holder, "id": self.id})
        return self.id

    def _write(self, obj: dict[str, Any]) -> None:
        assert self._fd is not None
        os.write(self._fd, (json.dumps(obj, separators=(",", ":")) + "\n").encode())

    def record(self, key: str, undo: Undo) -> None:
        self._write({"key": key, "undo": undo})

    def cancel(self) -> None:
        self._write({"cancel": True})

    def close(self, remove: bool = True) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if remove:
            with suppress(FileNotFoundError):
                os.unlink(self.path)

    def read(self) -> tuple[str, list[tuple[str, Undo]]]:
        """The id and records of an unfinished apply, in order (a torn last line is dropped)."""
        out: list[tuple[str, Undo]] = []
        jid = ""
        try:
            with open(self.path) as f:
                lines = f.read().split("\n")
        except FileNotFoundError:
            return jid, out
        for line in lines:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if "begin" in obj:
                jid = str(obj.get("id", ""))
            elif "undo" in obj:
                out.append((obj["key"], obj["undo"]))
            elif obj.get("cancel") and out:
                out.pop()
        return jid, out

    def exists(self) -> bool:
        return os.path.exists(self.path)


class Store:
    """The state directory."""

    def __init__(self, root: Optional[str] = None, lock_timeout: float = 120.0):
        self.root = state_dir(root)
        self.lock_timeout = lock_timeout
        self.journal = Journal(os.path.join(self.root, "journal.jsonl"))
        self._path = os.path.join(self.root, "state.json")

    @contextmanager
    def locked(self) -> Iterator[Ledger]:
        try:
            os.makedirs(self.root, mode=0o700, exist_ok=True)
            self._check_trust()
            fd = os.open(os.path.join(self.root, "lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except FileExistsError as exc:
            raise StateError(f"the state directory {self.root} exists and is not a directory",
                             hint="point --state-dir / VNET_STATE_DIR at a directory") from exc
        except OSError as exc:
            raise StateError(f"cannot use the state directory {self.root}: {exc.strerror}",
                             hint="run as root, or point --state-dir / VNET_STATE_DIR at a writable directory") from exc
        try:
            self._acquire(fd)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield self.load()
        finally:
            os.close(fd)  # releases the lock

    def _acquire(self, fd: int) -> None:
        """``flock`` with a deadline: a hook must never wait forever on a stuck process."""
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                    raise StateError(
                        f"{self.root}/lock is still held after {self.lock_timeout:.0f} s (by pid {holder})",
                        hint="another vnet command or hook is running or stuck; check that process") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    def _check_trust(self) -> None:
        """The undo records here are carried out with our privileges: refuse a directory
        someone else owns or may write to."""
        st = os.lstat(self.root)
        if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            raise StateError(
                f"the state directory {self.root} is a symlink, not owned by uid {os.geteuid()}, "
                "or writable by others: its undo records would be carried out as this user",
                hint=f"chown {os.geteuid()} {self.root} && chmod 700 {self.root}, or use another --state-dir")

    def load(self) -> Ledger:
        try:
            with open(self._path) as f:
                return Ledger.from_json(json.load(f))
        except FileNotFoundError:
            return Ledger()
        except OSError as exc:
            raise StateError(f"cannot read {self._path}: {exc.strerror}",
                             hint="run as root, or point --state-dir at a readable directory") from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StateError(f"{self._path} is damaged: {exc}",
                             hint="inspect it; removing it makes vnet forget what it created "
                             "(devices stay, marked with ifalias vnet:…)") from exc

    def save(self, ledger: Ledger) -> None:
        tmp = f"{self._path}.tmp.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(ledger.to_json(), f, indent=1, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._path)
