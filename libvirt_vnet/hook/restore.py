"""A restarted network gets back what hung on its bridge: ``virsh net-destroy`` removes
libvirt's bridge with the veth ends vnet enslaved to it and the running guests' taps, and
``net-start`` makes a new, empty bridge (libvirt re-plugs taps only when the daemon
restarts).  At the network's ``started begin`` (its bridge exists again) this module

- re-ensures, never removes, the plumbing of every vnet network whose objects attach to
  this bridge (an access network's veth ``va-…`` end on the aggregation bridge), from the
  network XML that network's ``start begin`` saved (``restore/NAME.xml``);
- re-enslaves the taps of running guests that were ports of this network (recorded at
  ``port-created``, ``ports/DOMAIN/MAC.json``), found by MAC: a tap's MAC is the guest's
  with the first byte 0xFE.

Both are best effort: the network is already up, a failure here is logged, never fatal.

What libvirt 9.0 does (seen in a lab): ``net-destroy`` with guests running forgets the
network's ports without calling ``port-deleted`` (``listAllPorts`` is empty after the
restart), and ``net-start`` calls no ``port-created``: the records of the first
``port-created`` are all that is left, so they stay until the domain's ``release end``
(and a second restart finds them again)."""

from __future__ import annotations

import json
import os
from typing import Any, Optional

from . import Config, state_name
from .records import remove, write_bytes, write_json
from .runner import held_apply

SYSFS_NET = "/sys/class/net"


def remember(cfg: Config, data: bytes) -> None:
    """At ``start begin`` of a network vnet builds plumbing for: keep its XML, so a
    restart of the network its objects attach to can re-ensure them."""
    write_bytes(cfg.path("restore", f"{state_name(cfg.name)}.xml"), data)


def forget(cfg: Config) -> None:
    remove(cfg.path("restore", f"{state_name(cfg.name)}.xml"))


def record_port(cfg: Config, owner: str, mac: str, bridge: str) -> None:
    """Every port of a vnet network: which bridge its tap belongs on (the needs the network
    hook already records for flags/VFs are kept, this only adds the bridge)."""
    path = cfg.path("ports", state_name(owner), f"{mac}.json")
    rec = _read_record(path) or {}
    rec.update({"mac": mac, "network": cfg.name, "owner": owner})
    rec["bridge"] = rec.get("bridge") or bridge
    write_json(path, rec)


def restore(cfg: Config, root: Any, log: Any) -> None:
    """The work of ``started begin``: see the module's doc."""
    bridge = root.find("network/bridge")
    name = bridge.get("name") if bridge is not None else None
    if not name:
        return
    try:
        _replumb(cfg, name, log)
    except Exception as exc:  # the network is up already: never fatal
        log.warning("network %s: could not re-attach vnet's plumbing to %s: %s", cfg.name, name, exc)
    try:
        _retap(cfg, name, log)
    except Exception as exc:
        log.warning("network %s: could not re-attach the guests' taps to %s: %s", cfg.name, name, exc)


def _replumb(cfg: Config, bridge: str, log: Any) -> None:
    import xml.etree.ElementTree as ET

    from ..host.planner import actions_for
    from ..libvirtxml.metadata import network_meta_of
    from ..model.plumbing import BridgeUplink, PortFlags, VethLink

    folder = cfg.path("restore")
    for fn in _listing(folder):
        if not fn.endswith(".xml"):
            continue
        other = fn[:-4]
        marker = cfg.path("networks", other)
        if not os.path.exists(marker):  # that network is not running (or not ours)
            continue
        try:
            with open(os.path.join(folder, fn), "rb") as f:
                net = ET.fromstring(f.read()).find("network")
            meta = network_meta_of(net) if net is not None else None
            with open(marker) as f:
                rec = json.load(f)
        except (OSError, ValueError, ET.ParseError) as exc:
            log.warning("network %s: skipped the saved %s: %s", cfg.name, fn, exc)
            continue
        if meta is None or not isinstance(rec, dict) or not isinstance(rec.get("network"), str):
            continue
        objs = [o for o in meta.objects if not isinstance(o, PortFlags)]
        touches = any((isinstance(o, VethLink) and bridge in (o.bridge, o.peer_bridge))
                      or (isinstance(o, BridgeUplink) and o.bridge == bridge) for o in objs)
        if not touches:
            continue
        holder = f"network:{rec['network']}"
        held_apply(cfg, actions_for(objs, meta.topology, f"network {rec['network']}"), holder, marker,
                   rec, log, prune=False)
        log.info("network %s: re-attached the plumbing of %s", cfg.name, holder)


def _retap(cfg: Config, bridge: str, log: Any) -> None:
    from ..host.actions import SetMaster

    by_mac = _taps_by_mac()
    base = cfg.path("ports")
    for owner in _listing(base):
        actions: list[SetMaster] = []
        try:
            files = sorted(os.listdir(os.path.join(base, owner)))
        except OSError:
            continue
        for fn in files:
            if not fn.endswith(".json"):
                continue
            try:
                with open(os.path.join(base, owner, fn)) as f:
                    rec = json.load(f)
            except (OSError, ValueError):
                continue
            if not isinstance(rec, dict) or rec.get("network") != cfg.name:
                continue
            mac = rec.get("mac")
            if not isinstance(mac, str) or len(mac) != 17:
                continue
            tap = by_mac.get(f"fe{mac[2:]}".lower())
            if tap is not None:
                actions.append(SetMaster(device=tap, bridge=bridge, origin=f"network {cfg.name} port {mac}"))
        if not actions:
            continue
        state = cfg.path("domains", owner)
        record = _read_record(state) or {"domain": owner, "uuid": None, "topology": ""}
        held_apply(cfg, actions, f"domain:{record.get('domain') or owner}/ports", state, record, log,
                   prune=False)
        log.info("network %s: re-attached %s", cfg.name, ", ".join(a.device for a in actions))


def _listing(folder: str) -> list[str]:
    """The names in ``folder``, sorted; none when it does not exist (nothing recorded yet)."""
    try:
        return sorted(os.listdir(folder))
    except FileNotFoundError:
        return []


def _read_record(path: str) -> Optional[dict[str, Any]]:
    try:
        with open(path) as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def _taps_by_mac(root: str = SYSFS_NET) -> dict[str, str]:
    """MAC → name of every tap device (a ``tun_flags`` attribute) without a master."""
    out: dict[str, str] = {}
    for name in os.listdir(root):
        d = os.path.join(root, name)
        if not os.path.exists(os.path.join(d, "tun_flags")) or os.path.exists(os.path.join(d, "master")):
            continue
        try:
            with open(os.path.join(d, "address")) as f:
                out[f.read().strip().lower()] = name
        except OSError:
            continue
    return out
