"""Carrying out undo records (rollback and teardown), guarded by ownership."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ..snapshot import Link, vfs_in_use
from .base import Kernel, Undo
from .ports import port_have

_NAME_OK = re.compile(r"^[^\s/:]{1,15}$")
_SCALAR = (bool, int, str, type(None))


def _name(undo: Undo, field: str) -> str:
    value = undo.get(field)
    if not isinstance(value, str) or not _NAME_OK.match(value):
        raise ValueError(f"{field} {value!r} is not a device name")
    return value


def _attrs(undo: Undo, field: str, required: bool = True) -> None:
    value = undo.get(field)
    if value is None and not required:
        return
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, _SCALAR)
                                              for k, v in value.items()):
        raise ValueError(f"{field} {value!r} is not a mapping of attribute names to plain values")


def _count(undo: Undo, field: str) -> None:
    value = undo.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 16:
        raise ValueError(f"{field} {value!r} is not a count")


def check_undo(undo: object) -> Undo:
    """``undo`` if it is a well-formed undo record, else ``ValueError`` saying what is wrong.
    Records are checked before they are journalled and whenever they are read back (the
    state directory is input like any other): replay then meets only what it knows."""
    if not isinstance(undo, dict):
        raise ValueError(f"an undo record must be a mapping, not {type(undo).__name__}")
    op = undo.get("op")
    if op == "delete":
        _name(undo, "name")
        if not isinstance(undo.get("mark"), str) or not undo["mark"]:
            raise ValueError(f"mark {undo.get('mark')!r} is not a mark")
        if not isinstance(undo.get("kind", ""), (str, type(None))):
            raise ValueError(f"kind {undo.get('kind')!r} is not a link kind")
        index = undo.get("ifindex")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool) or index <= 0):
            raise ValueError(f"ifindex {index!r} is not an interface index")
    elif op in ("set", "port"):
        _name(undo, "name")
        _attrs(undo, "attrs")
        _attrs(undo, "expect", required=False)
    elif op == "vf":
        _name(undo, "pf")
        _count(undo, "vf")
        _attrs(undo, "attrs")
    elif op == "numvfs":
        _name(undo, "pf")
        _count(undo, "count")
    elif op == "deladdr":
        _name(undo, "name")
        address = undo.get("address")
        try:
            if not isinstance(address, str) or "/" not in address:
                raise ValueError
            ipaddress.ip_interface(address)
        except ValueError:
            raise ValueError(f"address {address!r} is not an address/prefix") from None
    else:
        raise ValueError(f"unknown undo operation {op!r}")
    return undo


def _still_ours(lk: Link, undo: Undo) -> dict[str, Any]:
    """The attributes of a ``set``/``port`` record to restore — none when the link no
    longer shows what vnet set (``expect``): the user moved their uplink into another
    bridge, a tap name now belongs to another guest.  Such a link is left as it is."""
    expect = undo.get("expect") or {}
    have = {"master": lk.master, "up": lk.up, "mtu": lk.mtu, "mac": lk.mac, **port_have(lk)}
    if any(have.get(k) != v for k, v in expect.items()):
        return {}
    return dict(undo["attrs"])


def replay(kernel: Kernel, undo: Undo, *, unmarked_ok: bool = False) -> str:
    """Carry out one undo record.  Deletion is guarded by ownership: only a link that
    still carries the mark vnet gave it is deleted — or, with ``unmarked_ok`` (rolling
    back an apply that was interrupted between creating a link and marking it), one with
    no mark at all, the kind vnet created and the interface index recorded before the
    creation (the proof it is that device).  A recorded index that differs means the
    device is someone else's, marked or not.  Anything else is left and logged.
    Returns "" when done (or already gone), else why the object was left as it is."""
    import errno
    import logging

    log = logging.getLogger("libvirt_vnet.host")
    op = undo["op"]
    try:
        if op == "delete":
            lk = kernel.lookup(undo["name"])
            if lk is None:
                return ""
            index = undo.get("ifindex")
            if index is not None and lk.index != index:
                log.warning("not deleting %s: it is not the device vnet created (ifindex %s, not %s)",
                            undo["name"], lk.index, index)
                return f"left: {undo['name']} is not the device vnet created"
            elif lk.alias == undo["mark"] or (unmarked_ok and index is not None and lk.alias == ""
                                             and lk.kind == undo.get("kind")):
                kernel.delete(undo["name"])
            else:
                log.warning("not deleting %s: it does not carry vnet's mark %r (alias %r)",
                            undo["name"], undo["mark"], lk.alias)
                return f"left: {undo['name']} no longer carries vnet's mark"
        elif op in ("set", "port"):
            lk = kernel.lookup(undo["name"])
            if lk is None:
                return ""
            attrs = _still_ours(lk, undo)
            if not attrs:
                log.warning("%s changed since vnet set %s: leaving it as it is", undo["name"],
                            ", ".join(sorted(undo.get("expect") or {})))
                return f"left: {undo['name']} changed since vnet set it"
            else:
                (kernel.set if op == "set" else kernel.set_port)(undo["name"], **attrs)
        elif op == "vf":
            kernel.set_vf(undo["pf"], undo["vf"], **undo["attrs"])
        elif op == "numvfs":
            busy = vfs_in_use(undo["pf"])
            if busy:  # removing VFs would pull them out of running guests (or block on vfio)
                raise OSError(errno.EBUSY, f"{undo['pf']} keeps its VFs: {', '.join(busy)} still bound to "
                              "vfio-pci (guests using them?)")
            kernel.set_numvfs(undo["pf"], undo["count"])
        elif op == "deladdr":
            kernel.del_address(undo["name"], undo["address"])
        else:
            raise ValueError(f"unknown undo record {undo!r}")
    except OSError as exc:
        if exc.errno in (errno.ENODEV, errno.ENOENT, errno.EADDRNOTAVAIL):
            log.info("undo %s: %s is already gone", op, undo.get("name") or undo.get("pf"))
            return ""
        raise
    return ""
