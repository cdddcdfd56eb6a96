"""Layer 5 — libvirt's qemu and network hooks: the code behind ``hooks/qemu`` and
``hooks/network`` (installed by ``vnet hooks install``).

libvirt runs a hook synchronously while it holds the domain or network, so this module
keeps to a few rules:

- it never calls libvirt (the daemon waits for us: a deadlock) and never imports it;
- it reads stdin and its own state only, and prints nothing on stdout (for ``migrate``
  and ``restore`` libvirt would take stdout as the new domain XML);
- it starts no child process, so nothing can hold the hook's stdout/stderr after it
  returns;
- a failure is one line on stderr (libvirt puts it into the error ``virsh start`` shows),
  after the executor rolled back whatever this run changed; the details go to syslog
  (and to a file, when installed with ``--log-file``);
- operations it does not handle, and domains and networks without vnet's metadata, cost
  a read of stdin and a substring test: nothing heavier than ``os`` and ``sys`` is
  imported, and nothing is written.

What each operation does (holders are the executor's reference-count owners):

====================  =====================================================================
qemu prepare begin    plumbing of every vnet NIC (VLAN device, bridge, veth, shim) and
                      settings of VFs named by PCI address — holder ``domain:NAME``; the
                      domain's state file is written first, so release always finds it
qemu start begin      the taps exist now: bridge-port flags (hairpin, isolated, learning)
                      per tap, settings of VFs libvirt took from a pool — holder
                      ``domain:NAME/ports``
qemu release end      both holders let go, from the saved state (the XML at release can
                      lack what the NICs were attached to); owned devices nobody else
                      holds are removed
qemu reconnect begin  the daemon restarted with the VM running: re-ensure, never remove,
                      never fail (a failing reconnect hook kills the VM)
qemu migrate begin    nothing: the destination's ``prepare begin`` does the work
network start begin   a bridge-mode network's plumbing (holder ``network:NAME``), before
                      libvirt starts it
network stopped end   release it
network port-created  record the port's needs (flags of the network's ports, the VF libvirt
                      picked) for its domain's ``start begin``; ``port-deleted`` forgets them
====================  =====================================================================
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: importing typing costs ~7 ms on every hook call
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Optional

    from .host.actions import Action
    from .hostspec import DomainMeta

MARKER = b"urn:libvirt-vnet:metadata:1"
DEFAULT_STATE_DIR = "/run/libvirt-vnet"

#: qemu (op, subop) pairs that do work; every other call returns at once
QEMU_OPS = frozenset({("prepare", "begin"), ("start", "begin"), ("release", "end"), ("reconnect", "begin")})
NETWORK_OPS = frozenset({("start", "begin"), ("stopped", "end"), ("port-created", "begin"),
                         ("port-deleted", "begin")})


class Config:
    """Settings the installer pins into the hook script."""

    def __init__(self, kind: str, argv: Sequence[str], state_dir: Optional[str], log_file: Optional[str]):
        self.kind = kind
        self.name = argv[0] if argv else ""
        self.op = argv[1] if len(argv) > 1 else ""
        self.subop = argv[2] if len(argv) > 2 else ""
        self.state_dir = state_dir or DEFAULT_STATE_DIR
        self.log_file = log_file

    @property
    def what(self) -> str:
        return f"{'domain' if self.kind == 'qemu' else 'network'} {self.name} {self.op} {self.subop}"

    def path(self, *parts: str) -> str:
        return os.path.join(self.state_dir, "hooks", *parts)


def main(kind: str, argv: Sequence[str], *, state_dir: Optional[str] = None,
         log_file: Optional[str] = None, stdin: Optional[int] = None) -> int:
    """Run the ``kind`` ("qemu" or "network") hook with libvirt's arguments; the exit
    status for libvirt."""
    data = _drain(0 if stdin is None else stdin)
    cfg = Config(kind, argv, state_dir, log_file)
    if kind == "qemu":
        if (cfg.op, cfg.subop) not in QEMU_OPS:
            return 0
        if MARKER not in data and not _qemu_has_state(cfg):
            return 0
    elif kind == "network":
        if (cfg.op, cfg.subop) not in NETWORK_OPS or MARKER not in data:
            return 0
    else:
        print(f"libvirt-vnet: unknown hook kind {kind!r}", file=sys.stderr)
        return 2
    return _run(cfg, data)


def _drain(fd: int) -> bytes:
    """All of stdin (libvirt writes the whole document and closes its end)."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _qemu_has_state(cfg: Config) -> bool:
    """A domain without vnet metadata can still need work: we hold plumbing for it (its
    metadata was removed while it ran), or a vnet network recorded needs of its ports."""
    if cfg.op == "release":
        return os.path.exists(cfg.path("domains", _fname(cfg.name)))
    if cfg.op == "start":
        return os.path.isdir(cfg.path("ports", _fname(cfg.name)))
    return False


def _fname(name: str) -> str:
    """A libvirt name as one file name (names cannot hold '/', but be safe)."""
    return name.replace("%", "%25").replace("/", "%2F").lstrip(".") or "%2E"


# ---- the work (heavier imports from here on) ------------------------------------


def _run(cfg: Config, data: bytes) -> int:
    import logging

    log = _setup_logging(cfg)
    try:
        if cfg.kind == "qemu":
            _qemu(cfg, data, log)
        else:
            _network(cfg, data, log)
        return 0
    except BaseException as exc:
        from .errors import VnetError

        if isinstance(exc, (SystemExit, KeyboardInterrupt)) and not isinstance(exc, Exception):
            log.error("%s: interrupted", cfg.what)
        if isinstance(exc, VnetError):
            line = exc.message if not exc.path else f"{exc.path}: {exc.message}"
            if exc.hint:
                line += f" (hint: {exc.hint})"
            log.error("%s failed: %s", cfg.what, line)
        else:
            line = f"internal error: {type(exc).__name__}: {exc}"
            log.error("%s failed", cfg.what, exc_info=True)
        subject = f"domain {cfg.name}" if cfg.kind == "qemu" else f"network {cfg.name}"
        sys.stderr.write(f"libvirt-vnet: {subject}: {' '.join(line.split())}\n")
        sys.stderr.flush()
        return 1
    finally:
        logging.shutdown()


def _setup_logging(cfg: Config) -> Any:
    import contextlib
    import logging

    class Syslog(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            import syslog

            prio = (syslog.LOG_ERR if record.levelno >= logging.ERROR else syslog.LOG_WARNING
                    if record.levelno >= logging.WARNING else syslog.LOG_INFO)
            with contextlib.suppress(Exception):  # syslog is best effort
                syslog.syslog(prio, self.format(record))

    import syslog

    syslog.openlog("libvirt-vnet", syslog.LOG_PID, syslog.LOG_DAEMON)
    pkg = logging.getLogger("libvirt_vnet")
    pkg.setLevel(logging.INFO)
    pkg.propagate = False
    handler: logging.Handler = Syslog()
    handler.setFormatter(logging.Formatter(f"{cfg.kind} hook: %(message)s"))
    pkg.addHandler(handler)
    if cfg.log_file:
        try:
            fh = logging.FileHandler(cfg.log_file)
        except OSError:
            pass
        else:
            fh.setFormatter(logging.Formatter(
                f"%(asctime)s [{os.getpid()}] {cfg.kind} hook: %(levelname)s %(message)s"))
            pkg.addHandler(fh)
    log = logging.getLogger("libvirt_vnet.hook")
    log.info("%s", cfg.what)
    return log


def _store(cfg: Config) -> Any:
    from .host.state import Store

    return Store(cfg.state_dir)


def _write_json(path: str, obj: object) -> None:
    import json

    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def _remove(path: str) -> None:
    import contextlib

    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _parse(data: bytes) -> Any:
    import xml.etree.ElementTree as ET

    return ET.fromstring(data)


# ---- qemu -----------------------------------------------------------------------


def _qemu(cfg: Config, data: bytes, log: Any) -> None:
    from .hostspec import domain_meta_of

    holder = f"domain:{cfg.name}"
    state = cfg.path("domains", _fname(cfg.name))
    if cfg.op == "release":
        _release_domain(cfg, holder, state, log)
        return
    root = _parse(data)
    meta = domain_meta_of(root) if MARKER in data else None
    if cfg.op == "prepare" or cfg.op == "reconnect":
        actions = _prepare_actions(cfg, meta)
        if cfg.op == "reconnect":
            try:  # never destructive, never fatal: a failing reconnect hook kills the VM
                if actions:
                    _held_apply(cfg, actions, holder, state, _domain_record(cfg, root, meta), log, prune=False)
                _ports(cfg, root, meta, log, prune=False)
            except Exception as exc:
                log.warning("%s: could not re-ensure the plumbing (the VM keeps running): %s", cfg.what, exc)
            return
        if actions:
            _held_apply(cfg, actions, holder, state, _domain_record(cfg, root, meta), log)
    elif cfg.op == "start":
        _ports(cfg, root, meta, log, prune=True)


def _prepare_actions(cfg: Config, meta: Optional[DomainMeta]) -> list[Action]:
    """What a VM's NICs need before its taps exist: everything but per-port flags and
    VFs that libvirt has yet to pick from a pool."""
    from .host.planner import actions_for, dedupe
    from .hostspec import PortFlags, VfConfig

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
            pci = _pci(addr)
        out[mac.get("address").lower()] = {
            "tap": target.get("dev") if target is not None else None,
            "bridge": source.get("bridge") if source is not None else None,
            "pci": pci,
        }
    return out


def _pci(addr: Any) -> str:
    def num(key: str) -> int:
        return int(addr.get(key, "0"), 0)

    return f"{num('domain'):04x}:{num('bus'):02x}:{num('slot'):02x}.{num('function'):x}"


def _port_records(cfg: Config) -> dict[str, dict[str, Any]]:
    import json

    folder = cfg.path("ports", _fname(cfg.name))
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


def _ports(cfg: Config, root: Any, meta: Optional[DomainMeta], log: Any, *, prune: bool) -> None:
    """Per-port work once the taps exist: flags on each NIC's tap, VF settings of pool VFs."""
    from .errors import HostError
    from .host.actions import SetPortFlags, SetVf
    from .host.planner import dedupe
    from .hostspec import PortFlags, VfConfig

    live = _interfaces(root)
    records = _port_records(cfg)
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
    _held_apply(cfg, actions, f"domain:{cfg.name}/ports", cfg.path("domains", _fname(cfg.name)),
                _domain_record(cfg, root, meta), log, prune=prune, also=(f"domain:{cfg.name}",))


def _domain_record(cfg: Config, root: Any, meta: Optional[DomainMeta]) -> dict[str, Any]:
    return {"domain": cfg.name, "uuid": root.findtext("uuid"), "topology": meta.topology if meta else ""}


def _held_apply(cfg: Config, actions: Sequence[Action], holder: str, state: str, record: dict[str, Any],
                log: Any, *, prune: bool = True, also: Sequence[str] = ()) -> None:
    """Apply ``actions`` for ``holder`` with its state file written first, so the release
    finds it even if this process dies mid-apply; when the apply fails and leaves neither
    ``holder`` nor ``also`` holding anything, the state file goes again."""
    from .host import executor

    _write_json(state, record)
    try:
        result = executor.apply(actions, holder, store=_store(cfg), prune=prune)
    except BaseException:
        held = executor.holders(_store(cfg))
        if not any(held.get(h) for h in (holder, *also)):
            _remove(state)
        raise
    if not result.fast_path:  # the executor said "all in place" itself
        log.info("%s: %s", holder, _summary(result))


def _release_domain(cfg: Config, holder: str, state: str, log: Any) -> None:
    from .host import executor

    if not os.path.exists(state):
        return
    store = _store(cfg)
    for h in (f"{holder}/ports", holder):
        result = executor.destroy(h, store=store)
        log.info("%s: released %s%s", h, ", ".join(result.released) or "nothing",
                 f"; kept (still used): {', '.join(result.kept)}" if result.kept else "")
    _remove(state)
    _remove_tree(cfg.path("ports", _fname(cfg.name)))


def _remove_tree(folder: str) -> None:
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    for fn in names:
        _remove(os.path.join(folder, fn))
    import contextlib

    with contextlib.suppress(OSError):  # not empty: a port recorded meanwhile
        os.rmdir(folder)


def _summary(result: Any) -> str:
    parts = [f"{len(result.changed)} changed{' (through sysfs)' if result.sysfs_writes else ''}",
             f"{result.in_place} in place"]
    if result.released:
        parts.append(f"released {', '.join(result.released)}")
    return ", ".join(parts) + (": " + "; ".join(result.changed) if result.changed else "")


# ---- network --------------------------------------------------------------------


def _network(cfg: Config, data: bytes, log: Any) -> None:
    from .host import executor
    from .host.planner import actions_for
    from .hostspec import PortFlags, network_meta_of

    holder = f"network:{cfg.name}"
    marker = cfg.path("networks", _fname(cfg.name))
    if cfg.op == "stopped":
        if os.path.exists(marker):
            result = executor.destroy(holder, store=_store(cfg))
            log.info("%s: released %s", holder, ", ".join(result.released) or "nothing")
            _remove(marker)
        return
    root = _parse(data)
    network = root.find("network")
    meta = network_meta_of(network) if network is not None else None
    if meta is None:
        return
    if cfg.op == "start":
        objs = [o for o in meta.objects if not isinstance(o, PortFlags)]
        if not objs:
            return
        _held_apply(cfg, actions_for(objs, meta.topology, f"network {cfg.name}"), holder, marker,
                    {"network": cfg.name, "topology": meta.topology}, log)
        return
    port = root.find("networkport")
    if port is None:
        return
    owner = port.findtext("owner/name") or ""
    mac_el = port.find("mac")
    mac = (mac_el.get("address") if mac_el is not None else "") or ""
    if not owner or not mac:
        return
    path = cfg.path("ports", _fname(owner), f"{mac.lower()}.json")
    if cfg.op == "port-deleted":
        _remove(path)
        return
    plug = port.find("plug")
    rec: dict[str, Any] = {"mac": mac.lower(), "network": cfg.name, "owner": owner}
    if plug is not None:
        rec["bridge"] = plug.get("bridge")
        addr = plug.find("address")
        if addr is not None and addr.get("type", "pci") == "pci":
            rec["pci"] = _pci(addr)
    pf = next((o for o in meta.objects if isinstance(o, PortFlags)), None)
    if pf is not None:
        rec["flags"] = {"hairpin": pf.hairpin, "isolated": pf.isolated, "learning": pf.learning}
        rec["bridge"] = rec.get("bridge") or pf.bridge
    if "flags" in rec or "pci" in rec:
        _write_json(path, rec)
        log.info("%s: port %s of %s recorded for its start", holder, mac, owner)
