"""The qemu hook: a vnet domain's plumbing at ``prepare begin``, its ports' flags and pool
VFs at ``start begin``, re-ensured at ``reconnect begin``, released at ``release end``."""

from __future__ import annotations

import os
from typing import Any, Optional

from ..host.actions import Action
from ..model.plumbing import DomainMeta
from . import MARKER, Config, state_name
from .records import port_records, remove, remove_tree
from .runner import held_apply, parse, store


def qemu(cfg: Config, data: bytes, log: Any) -> None:
    from ..libvirtxml.metadata import domain_meta_of

    holder = f"domain:{cfg.name}"
    state = cfg.path("domains", state_name(cfg.name))
    if cfg.op == "release":
        _release_domain(cfg, holder, state, log)
        return
    root = parse(data)
    meta = domain_meta_of(root) if MARKER in data else None
    if cfg.op == "prepare" or cfg.op == "reconnect":
        actions = _prepare_actions(cfg, meta)
        if cfg.op == "reconnect":
            try:  # never destructive, never fatal: a failing reconnect hook kills the VM
                if actions:
                    held_apply(cfg, actions, holder, state, _domain_record(cfg, root, meta), log, prune=False)
                _ports(cfg, root, meta, log, prune=False)
            except Exception as exc:
                log.warning("%s: could not re-ensure the plumbing (the VM keeps running): %s", cfg.what, exc)
            return
        if actions:
            held_apply(cfg, actions, holder, state, _domain_record(cfg, root, meta), log)
    elif cfg.op == "start":
        _ports(cfg, root, meta, log, prune=True)


def _prepare_actions(cfg: Config, meta: Optional[DomainMeta]) -> list[Action]:
    """What a VM's NICs need before its taps exist: everything but per-port flags and
    VFs that libvirt has yet to pick from a pool."""
    from ..host.planner import actions_for, dedupe
    from ..model.plumbing import PortFlags, VfConfig

    if meta is None:
        return []
    out: list[Action] = []
    for nic in meta.nics:
        objs = [o for o in nic.objects
                if not isinstance(o, PortFlags) and not (isinstance(o, VfConfig) and not o.address)]
        out += actions_for(objs, meta.topology, f"nic {nic.mac}")
    return dedupe(out)


def _interfaces(root: Any) -> dict[str, dict[str, Optional[str]]]:
    """MAC → the live ``<interface>``'s tap (``target dev``), bridge and VF PCI address."""
    out: dict[str, dict[str, Optional[str]]] = {}
    for iface in root.iterfind("devices/interface"):
        mac = iface.find("mac")
        if mac is None or not mac.get("address"):
            continue
        target = iface.find("target")
        source = iface.find("source")
        addr = iface.find("source/address")
        pci = None
        if addr is not None and addr.get("type") == "pci":
            pci = pci_address(addr)
        out[mac.get("address").lower()] = {
            "tap": target.get("dev") if target is not None else None,
            "bridge": source.get("bridge") if source is not None else None,
            "pci": pci,
        }
    return out


def pci_address(addr: Any) -> str:
    def num(key: str) -> int:
        return int(addr.get(key, "0"), 0)

    return f"{num('domain'):04x}:{num('bus'):02x}:{num('slot'):02x}.{num('function'):x}"



def _ports(cfg: Config, root: Any, meta: Optional[DomainMeta], log: Any, *, prune: bool) -> None:
    """Per-port work once the taps exist: flags on each NIC's tap, VF settings of pool VFs."""
    from ..errors import HostError
    from ..host.actions import SetPortFlags, SetVf
    from ..host.planner import dedupe
    from ..model.plumbing import PortFlags, VfConfig

    live = _interfaces(root)
    records = port_records(cfg)
    actions: list[Action] = []

    def tap_of(mac: str, bridge: str) -> str:
        tap = (live.get(mac) or {}).get("tap")
        if not tap:
            raise HostError(f"NIC {mac} has no tap device in the domain XML to set {bridge}'s port flags on",
                            hint="port flags apply to NICs that join a bridge (type network or bridge)")
        return tap

    def flags(mac: str, bridge: str, hairpin: Any, isolated: Any, learning: Any, origin: str) -> None:
        actions.append(SetPortFlags(bridge=bridge, port=tap_of(mac, bridge), hairpin=hairpin,
                                    isolated=isolated, learning=learning).placed(origin))

    for nic in meta.nics if meta else ():
        mac = nic.mac.lower()
        for o in nic.objects:
            if isinstance(o, PortFlags):
                flags(mac, o.bridge, o.hairpin, o.isolated, o.learning, f"nic {mac}")
            elif isinstance(o, VfConfig) and not o.address:
                # the VF libvirt picked: by PCI address (live XML, or the port the network
                # hook recorded), else the VF of the PF to which libvirt gave the NIC's MAC
                pci = (live.get(mac) or {}).get("pci") or (records.get(mac) or {}).get("pci")
                if not pci and not o.pf:
                    raise HostError(f"NIC {mac}: cannot tell which VF libvirt gave it",
                                    hint="the pool network's port-created hook records it: is the "
                                    "vnet network hook installed (vnet hooks install)?")
                actions.append(SetVf(pf=None if pci else o.pf, pci=pci, mac=o.mac, vlan=o.vlan, qos=o.qos,
                                     trust=o.trust, spoofchk=o.spoofchk, link_state=o.link_state)
                               .placed(f"nic {mac}"))
    for mac, rec in records.items():
        f = rec.get("flags")
        if f and rec.get("bridge"):
            flags(mac, rec["bridge"], f.get("hairpin"), f.get("isolated"), f.get("learning"),
                  f"network {rec.get('network')} port {mac}")
    actions = dedupe(actions)
    if not actions:
        return
    held_apply(cfg, actions, f"domain:{cfg.name}/ports", cfg.path("domains", state_name(cfg.name)),
                _domain_record(cfg, root, meta), log, prune=prune, also=(f"domain:{cfg.name}",))


def _domain_record(cfg: Config, root: Any, meta: Optional[DomainMeta]) -> dict[str, Any]:
    return {"domain": cfg.name, "uuid": root.findtext("uuid"), "topology": meta.topology if meta else ""}



def _release_domain(cfg: Config, holder: str, state: str, log: Any) -> None:
    from ..host import executor

    if not os.path.exists(state):
        return
    st = store(cfg)
    for h in (f"{holder}/ports", holder):
        result = executor.destroy(h, store=st)
        log.info("%s: released %s%s", h, ", ".join(result.released) or "nothing",
                 f"; kept (still used): {', '.join(result.kept)}" if result.kept else "")
    remove(state)
    remove_tree(cfg.path("ports", state_name(cfg.name)))



