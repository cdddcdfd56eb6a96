"""The hooks' own state files, under ``<state dir>/hooks``: one per domain and network
holding plumbing (``domains/NAME``, ``networks/NAME``: release finds what to let go of even
when libvirt's XML at release is incomplete), and the needs of each port that a network's
``port-created`` recorded for its domain's ``start begin`` (``ports/DOMAIN/MAC.json``)."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from . import Config, state_name


def write_bytes(path: str, data: bytes) -> None:
    """Replace the file at ``path`` at once (temp file + rename), its folder made if need be."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_json(path: str, obj: object) -> None:
    write_bytes(path, json.dumps(obj).encode())


def remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def remove_tree(folder: str) -> None:
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    for fn in names:
        remove(os.path.join(folder, fn))
    with contextlib.suppress(OSError):  # not empty: a port recorded meanwhile
        os.rmdir(folder)

def port_records(cfg: Config) -> dict[str, dict[str, Any]]:
    folder = cfg.path("ports", state_name(cfg.name))
    out: dict[str, dict[str, Any]] = {}
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return out
    for fn in names:
        if fn.endswith(".json"):
            with open(os.path.join(folder, fn)) as f:
                rec = json.load(f)
            out[rec["mac"].lower()] = rec
    return out
