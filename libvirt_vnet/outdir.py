"""Writing a tree of files into a folder the user names, safely — the folder may sit in a
world-writable place another user prepared.

- Everything below the folder is reached through directory file descriptors opened with
  ``O_NOFOLLOW``: a symlink inside the folder (at a sub-folder, at a file's own path, at the
  manifest) is never followed out of it.  A sub-folder that is a symlink is refused; a file
  that is one is replaced by the new file (``rename`` replaces the link, not its target).
- The folder itself may be a symlink only when it belongs to us or to root (the rule the
  kernel's ``fs.protected_symlinks`` applies in sticky directories).
- New contents are written to temporary files first (``O_EXCL``, ``fsync``), and renamed over
  the old ones only when every file was written: a full disk leaves the old tree as it was,
  never a 0-byte file.
- The files of an earlier write that this one no longer has are deleted — only those listed
  in the manifest ``.vnet-rendered``, only regular files, only of the shape this module
  writes, and empty folders are removed only inside the folder.

This module knows nothing of libvirt; it imports only :mod:`libvirt_vnet.errors`.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import stat
from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import Optional

from .errors import VnetError

log = logging.getLogger(__name__)

#: the list of files an earlier write put into the folder (its stale ones are removed)
MANIFEST = ".vnet-rendered"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PART = re.compile(r"[^/\x00]+")


class OutputError(VnetError):
    """The output folder cannot be written as asked; nothing was changed in it."""

    exit_code = 1
    label = "cannot write output"


def _valid_part(part: str) -> bool:
    return bool(_PART.fullmatch(part)) and part not in (".", "..")


def _split(rel: str) -> Optional[tuple[str, ...]]:
    parts = tuple(rel.split("/"))
    return parts if parts and all(_valid_part(p) for p in parts) else None


def _fail(exc: OSError, where: str, what: str) -> OutputError:
    reason = exc.strerror or str(exc)
    hint = {errno.ENOSPC: "free some space, or write elsewhere",
            errno.EROFS: "the file system is read-only: write elsewhere",
            errno.EACCES: "you may not write there: write elsewhere, or fix its permissions",
            errno.EPERM: "you may not write there: write elsewhere, or fix its permissions",
            errno.ENOTDIR: "a file is where a folder is needed: remove it, or write elsewhere",
            errno.EISDIR: "a folder is where a file is needed: remove it, or write elsewhere",
            errno.ELOOP: "vnet never writes through a symlink inside the output folder: remove it",
            }.get(exc.errno or 0)
    return OutputError(f"cannot {what}: {reason}", path=where, hint=hint)


def _open_root(root: str) -> int:
    """The output folder (created if missing); a symlink only if ours or root's."""
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        try:
            os.makedirs(root, mode=0o755, exist_ok=True)
        except OSError as exc:
            raise _fail(exc, root, "create the output folder") from None
        st = os.lstat(root)
    except OSError as exc:
        raise _fail(exc, root, "open the output folder") from None
    if stat.S_ISLNK(st.st_mode) and st.st_uid not in (0, os.geteuid()):
        raise OutputError(f"{root} is a symlink owned by uid {st.st_uid}, not by you",
                          path=root, hint="write into a folder you own (another user could point "
                          "that link anywhere)")
    try:
        return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise _fail(exc, root, "open the output folder") from None


def _subdir(parent: int, name: str, where: str, create: bool) -> Optional[int]:
    """The sub-folder ``name`` of ``parent`` (created when ``create``), never a symlink."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        if not create:
            return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            kind = "a symlink" if _is_link(parent, name) else "not a folder"
            raise OutputError(f"{where} is {kind}", path=where,
                              hint="vnet writes only into real folders inside the output folder: "
                              "remove it, or write elsewhere") from None
        raise _fail(exc, where, "open") from None
    try:
        os.mkdir(name, 0o755, dir_fd=parent)
    except FileExistsError:
        pass
    except OSError as exc:
        raise _fail(exc, where, "create the folder") from None
    return _subdir(parent, name, where, create=False)


def _is_link(parent: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _read_manifest(root_fd: int, root: str) -> set[tuple[str, ...]]:
    """The files an earlier write listed; an unusable manifest (not a regular file, not
    UTF-8, damaged) lists nothing: nothing is deleted on its word."""
    try:
        fd = os.open(MANIFEST, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=root_fd)
    except FileNotFoundError:
        return set()
    except OSError as exc:
        log.warning("%s/%s is not a readable file (%s): no stale files are removed", root, MANIFEST, exc.strerror)
        return set()
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            log.warning("%s/%s is not a regular file: no stale files are removed", root, MANIFEST)
            return set()
        data = os.read(fd, 16 << 20)
    finally:
        os.close(fd)
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        log.warning("%s/%s is not UTF-8: no stale files are removed", root, MANIFEST)
        return set()
    return {parts for line in lines if line and (parts := _split(line)) is not None}


class _Staged:
    """Temporary files written next to their targets, renamed into place together."""

    def __init__(self, root_fd: int, root: str):
        self.root_fd, self.root = root_fd, root
        self.dirs: dict[tuple[str, ...], int] = {(): root_fd}
        self.temps: list[tuple[int, str, str, str]] = []  # (dir fd, temp name, final name, path)

    def folder(self, parts: tuple[str, ...]) -> int:
        if parts not in self.dirs:
            parent = self.folder(parts[:-1])
            fd = _subdir(parent, parts[-1], os.path.join(self.root, *parts), create=True)
            assert fd is not None
            self.dirs[parts] = fd
        return self.dirs[parts]

    def write(self, parts: tuple[str, ...], data: bytes) -> None:
        where = os.path.join(self.root, *parts)
        dir_fd = self.folder(parts[:-1])
        name = parts[-1]
        with suppress(OSError):
            if stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                raise OutputError(f"{where} is a folder", path=where,
                                  hint="a file of the rendering goes there: remove the folder, or write elsewhere")
        temp = f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                         dir_fd=dir_fd)
        except OSError as exc:
            raise _fail(exc, where, "write") from None
        self.temps.append((dir_fd, temp, name, where))
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as exc:
            raise _fail(exc, where, "write") from None
        finally:
            os.close(fd)

    def commit(self) -> None:
        for dir_fd, temp, name, where in self.temps:
            try:
                os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except OSError as exc:
                raise _fail(exc, where, "replace") from None
        self.temps = []

    def discard(self) -> None:
        for dir_fd, temp, _, _ in self.temps:
            with suppress(OSError):
                os.unlink(temp, dir_fd=dir_fd)
        self.temps = []

    def close(self) -> None:
        for parts, fd in self.dirs.items():
            if parts:
                os.close(fd)


def write_tree(root: str, files: Mapping[str, str], *, stale_shapes: Sequence[re.Pattern[str]] = ()) -> None:
    """Write ``files`` (relative path with '/' → text) into ``root`` as described above.
    Files of an earlier write that are not in ``files`` are removed when their path matches
    one of ``stale_shapes`` (the shapes the caller writes; anything else is left)."""
    wanted = {}
    for rel, text in files.items():
        parts = _split(rel)
        assert parts is not None, rel  # a programming error: callers build these paths
        wanted[parts] = text.encode("utf-8")
    root_fd = _open_root(root)
    staged = _Staged(root_fd, root)
    try:
        previous = _read_manifest(root_fd, root)
        try:
            for parts, data in sorted(wanted.items()):
                staged.write(parts, data)
            listing = "".join(f"{'/'.join(p)}\n" for p in sorted(wanted)).encode()
            staged.write((MANIFEST,), listing)
            staged.commit()
        finally:
            staged.discard()
        for parts in sorted(previous - set(wanted)):
            rel = "/".join(parts)
            if any(shape.fullmatch(rel) for shape in stale_shapes):
                _remove_stale(staged, parts)
    finally:
        staged.close()
        os.close(root_fd)


def _remove_stale(staged: _Staged, parts: tuple[str, ...]) -> None:
    """Remove one stale regular file, then its folders as they become empty — all below the
    output folder, through descriptors that never follow a symlink."""
    fds = [staged.root_fd]
    opened: list[int] = []
    try:
        for i, name in enumerate(parts[:-1]):
            fd = _subdir(fds[-1], name, os.path.join(staged.root, *parts[: i + 1]), create=False)
            if fd is None:
                return
            fds.append(fd)
            opened.append(fd)
        where = os.path.join(staged.root, *parts)
        try:
            st = os.stat(parts[-1], dir_fd=fds[-1], follow_symlinks=False)
        except FileNotFoundError:
            return
        if not stat.S_ISREG(st.st_mode):
            log.warning("leaving %s: it is no longer the file vnet wrote there", where)
            return
        os.unlink(parts[-1], dir_fd=fds[-1])
        log.info("removed %s: no longer rendered", where)
        for depth in range(len(parts) - 1, 0, -1):
            try:
                os.rmdir(parts[depth - 1], dir_fd=fds[depth - 1])
            except OSError:  # not empty (or not ours to judge): it stays
                break
    except OutputError as exc:
        log.warning("leaving %s: %s", "/".join(parts), exc.message)
    finally:
        for fd in opened:
            os.close(fd)
