"""Carrying out undo records (rollback and teardown), guarded by ownership."""

from __future__ import annotations

from typing import Any

from ..snapshot import Link, vfs_in_use
from .base import Kernel, Undo
from .ports import port_have


def _still_ours(lk: Link, undo: Undo) -> dict[str, Any]:
    """The attributes of a ``set``/``port`` record to restore — none when the link no
    longer shows what vnet set (``expect``): the user moved their uplink into another
    bridge, a tap name now belongs to another guest.  Such a link is left as it is."""
    expect = undo.get("expect") or {}
    have = {"master": lk.master, "up": lk.up, "mtu": lk.mtu, "mac": lk.mac, **port_have(lk)}
    if any(have.get(k) != v for k, v in expect.items()):
        return {}
    return dict(undo["attrs"])


def replay(kernel: Kernel, undo: Undo, *, unmarked_ok: bool = False) -> None:
    """Carry out one undo record.  Deletion is guarded by ownership: only a link that
    still carries the mark vnet gave it is deleted — or, with ``unmarked_ok`` (rolling
    back an apply that was interrupted between creating a link and marking it), one with
    no mark at all and the kind vnet created.  Anything else is left and logged."""
    import errno
    import logging

    log = logging.getLogger("libvirt_vnet.host")
    op = undo["op"]
    try:
        if op == "delete":
            lk = kernel.lookup(undo["name"])
            if lk is None:
                return
            if lk.alias == undo["mark"] or (unmarked_ok and lk.alias == "" and lk.kind == undo.get("kind")):
                kernel.delete(undo["name"])
            else:
                log.warning("not deleting %s: it does not carry vnet's mark %r (alias %r)",
                            undo["name"], undo["mark"], lk.alias)
        elif op in ("set", "port"):
            lk = kernel.lookup(undo["name"])
            if lk is None:
                return
            attrs = _still_ours(lk, undo)
            if not attrs:
                log.warning("%s changed since vnet set %s: leaving it as it is", undo["name"],
                            ", ".join(sorted(undo.get("expect") or {})))
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
            return
        raise
