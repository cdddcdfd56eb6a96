"""The network hook: a bridge-mode network's plumbing at ``start begin``, released at
``stopped end``; each port's needs recorded at ``port-created`` for its domain's start."""

from __future__ import annotations

import os
from typing import Any

from . import Config, restore, state_name
from .qemu import pci_address
from .records import remove, write_json
from .runner import held_apply, parse, store


def network(cfg: Config, data: bytes, log: Any) -> None:
    from ..host import executor
    from ..host.planner import actions_for
    from ..libvirtxml.metadata import network_meta_of
    from ..model.plumbing import PortFlags

    holder = f"network:{cfg.name}"
    marker = cfg.path("networks", state_name(cfg.name))
    if cfg.op == "stopped":
        if os.path.exists(marker):
            result = executor.destroy(holder, store=store(cfg))
            log.info("%s: released %s", holder, ", ".join(result.released) or "nothing")
            remove(marker)
        restore.forget(cfg)
        return
    root = parse(data)
    network = root.find("network")
    meta = network_meta_of(network) if network is not None else None
    if meta is None:
        return
    if cfg.op == "started":
        restore.restore(cfg, root, log)
        return
    if cfg.op == "start":
        objs = [o for o in meta.objects if not isinstance(o, PortFlags)]
        if not objs:
            return
        held_apply(cfg, actions_for(objs, meta.topology, f"network {cfg.name}"), holder, marker,
                    {"network": cfg.name, "topology": meta.topology}, log)
        restore.remember(cfg, data)
        return
    port = root.find("networkport")
    if port is None:
        return
    owner = port.findtext("owner/name") or ""
    mac_el = port.find("mac")
    mac = (mac_el.get("address") if mac_el is not None else "") or ""
    if not owner or not mac:
        return
    path = cfg.path("ports", state_name(owner), f"{mac.lower()}.json")
    if cfg.op == "port-deleted":
        remove(path)
        return
    plug = port.find("plug")
    rec: dict[str, Any] = {"mac": mac.lower(), "network": cfg.name, "owner": owner}
    if plug is not None:
        rec["bridge"] = plug.get("bridge")
        addr = plug.find("address")
        if addr is not None and addr.get("type", "pci") == "pci":
            rec["pci"] = pci_address(addr)
    pf = next((o for o in meta.objects if isinstance(o, PortFlags)), None)
    if pf is not None:
        rec["flags"] = {"hairpin": pf.hairpin, "isolated": pf.isolated, "learning": pf.learning}
        rec["bridge"] = rec.get("bridge") or pf.bridge
    if "flags" in rec or "pci" in rec:
        write_json(path, rec)
        log.info("%s: port %s of %s recorded for its start", holder, mac, owner)
    if rec.get("bridge"):
        restore.record_port(cfg, owner, mac.lower(), rec["bridge"])
