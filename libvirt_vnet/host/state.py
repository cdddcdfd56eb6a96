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

from ..errors import DamagedStateError, HostError
from .actions import Undo, check_undo

DEFAULT_STATE_DIR = "/run/libvirt-vnet"
VERSION = 1


class StateError(HostError):
    """The state directory cannot be used (permissions, a damaged file)."""

    label = "host state"


def damaged(path: str, why: str, root: str) -> DamagedStateError:
    root = os.path.dirname(root) if root.endswith(".jsonl") else root
    return DamagedStateError(
        f"{path} is damaged: {why}",
        hint=f"nothing was changed; `vnet host-repair --state-dir {root}` moves the damaged files aside "
        "(vnet then forgets what they recorded: its devices stay, marked with ifalias vnet:…, and the "
        "next host-apply of their topology takes them back; delete the others by hand)")


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
    def from_json(cls, raw_in: object) -> Ledger:
        """The ledger ``raw`` describes, checked through (``ValueError`` naming the place):
        the state file is input, and its undo records are carried out as root."""
        raw: dict[str, Any]

        def need(value: object, kind: type, where: str) -> Any:
            if not isinstance(value, kind):
                raise ValueError(f"{where}: expected a {kind.__name__}, found {type(value).__name__}")
            return value

        def strings(value: object, where: str) -> list[str]:
            return [need(x, str, f"{where}[{i}]") for i, x in enumerate(need(value, list, where))]

        def undos(value: object, where: str) -> list[Undo]:
            out = []
            for i, u in enumerate(need(value, list, where)):
                try:
                    out.append(check_undo(u))
                except ValueError as exc:
                    raise ValueError(f"{where}[{i}]: {exc}") from None
            return out

        raw = need(raw_in, dict, "the file")
        if raw.get("version") != VERSION:
            raise ValueError(f"unknown state version {raw.get('version')!r}")
        for name in ("committed", "objects", "holders", "pending", "failed"):
            if name not in raw:
                raise ValueError(f"{name}: missing")
        objects = {}
        for key, v in need(raw["objects"], dict, "objects").items():
            where = f"objects.{key}"
            need(v, dict, where)
            for name in ("want", "holders", "undo"):
                if name not in v:
                    raise ValueError(f"{where}.{name}: missing")
            objects[key] = ObjectRecord(want=need(v["want"], str, f"{where}.want"),
                                        holders=strings(v["holders"], f"{where}.holders"),
                                        undo=undos(v["undo"], f"{where}.undo"))
        holders = {k: strings(v, f"holders.{k}") for k, v in need(raw["holders"], dict, "holders").items()}
        for holder, keys in holders.items():  # the invariant the reference counts rest on
            for key in keys:
                if key not in objects or holder not in objects[key].holders:
                    raise ValueError(f"holders.{holder}: {key} is not on record as held by it")
        for key, rec in objects.items():
            for holder in rec.holders:
                if key not in holders.get(holder, []):
                    raise ValueError(f"objects.{key}.holders: {holder} does not list it")
        failed = need(raw["failed"], list, "failed")
        for i, item in enumerate(failed):
            need(item, dict, f"failed[{i}]")
            need(item.get("error"), str, f"failed[{i}].error")
            need(item.get("undo"), dict, f"failed[{i}].undo")
        return cls(objects=objects, holders=holders, pending=undos(raw["pending"], "pending"),
                   failed=list(failed), committed=need(raw["committed"], str, "committed"))

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
        self._write({"key": key, "undo": check_undo(undo)})

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
        """The id and records of an unfinished apply, in order.  A torn last line (the
        writer killed mid-write) is dropped; anything else that is not a record this
        module writes is a :class:`DamagedStateError`."""
        out: list[tuple[str, Undo]] = []
        jid = ""
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return jid, out
        except OSError as exc:
            raise StateError(f"cannot read {self.path}: {exc.strerror}",
                             hint="run as root, or point --state-dir at a readable directory") from exc
        lines = data.split(b"\n")
        for n, line in enumerate(lines, 1):
            if not line and n == len(lines):
                continue
            try:
                obj = json.loads(line.decode())
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
                if "begin" in obj:
                    if n != 1 or not isinstance(obj["begin"], str) or not isinstance(obj.get("id"), str):
                        raise ValueError("a misplaced or malformed begin line")
                    jid = obj["id"]
                elif "undo" in obj:
                    if not isinstance(obj.get("key"), str):
                        raise ValueError("a record without a key")
                    out.append((obj["key"], check_undo(obj["undo"])))
                elif obj.get("cancel") is True and len(obj) == 1:
                    if not out:
                        raise ValueError("a cancel with no record before it")
                    out.pop()
                else:
                    raise ValueError("an unknown line")
            except (ValueError, RecursionError) as exc:
                if n == len(lines) and not data.endswith(b"\n"):
                    continue  # the torn last line of a killed writer
                raise damaged(self.path, f"line {n}: {exc}", self.path) from None
        if lines and lines[0] and not jid:
            raise damaged(self.path, "no begin line", self.path)
        return jid, out

    def exists(self) -> bool:
        return os.path.exists(self.path)


class Store:
    """The state directory."""

    def __init__(self, root: Optional[str] = None, lock_timeout: float = 120.0):
        # normalised: a trailing slash would make lstat() follow a symlink (trust check bypassed)
        self.root = os.path.normpath(os.path.abspath(state_dir(root)))
        self.lock_timeout = lock_timeout
        self.journal = Journal(os.path.join(self.root, "journal.jsonl"))
        self._path = os.path.join(self.root, "state.json")

    @contextmanager
    def locked(self) -> Iterator[Ledger]:
        with self._lock():
            yield self.load()

    @contextmanager
    def _lock(self) -> Iterator[None]:
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
            self._clean_stale_temporaries()
            yield
        finally:
            os.close(fd)  # releases the lock

    def _clean_stale_temporaries(self) -> None:
        """Remove ``state.json.tmp[.PID]`` files killed writers left (under the lock, no
        writer is alive; older versions named them by pid)."""
        with suppress(OSError):
            for name in os.listdir(self.root):
                if name == "state.json.tmp" or name.startswith("state.json.tmp."):
                    with suppress(OSError):
                        os.unlink(os.path.join(self.root, name))

    def repair(self) -> list[str]:
        """Move a damaged ``state.json`` / ``journal.jsonl`` aside (``NAME.damaged-TIME``),
        under the lock; the new names.  Files that read back fine are left alone; the
        records of damaged ones are never carried out (they cannot be trusted)."""
        moved: list[str] = []
        with self._lock():
            stamp = time.strftime("%Y%m%dT%H%M%S")
            for path, check in ((self.journal.path, self.journal.read), (self._path, self.load)):
                try:
                    check()
                    continue
                except DamagedStateError:
                    pass
                new = f"{path}.damaged-{stamp}"
                os.replace(path, new)
                moved.append(new)
        return moved

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
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise damaged(self._path, str(exc) if not isinstance(exc, RecursionError) else "nested too deeply",
                          self.root) from None

    def save(self, ledger: Ledger) -> None:
        """Atomically, through one fixed temporary name (saves happen under the lock): a
        killed writer leaves at most that one file, which the next save overwrites."""
        tmp = f"{self._path}.tmp"
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600), "w") as f:
            json.dump(ledger.to_json(), f, indent=1, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._path)
