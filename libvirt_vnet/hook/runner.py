"""The work behind a hook call: logging (syslog, and the ``--log-file``), the one line on
stderr that libvirt shows when a call fails, and applying actions through the host engine
with the holder's state file written first."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import VnetError
from ..host.actions import Action
from . import Config
from .records import remove, write_json


def run(cfg: Config, data: bytes) -> int:
    """Do the work of one hook call; the exit status for libvirt (a failure is one line on
    stderr, after the executor rolled back what this call changed)."""
    log = _setup_logging(cfg)
    try:
        if cfg.kind == "qemu":
            from .qemu import qemu

            qemu(cfg, data, log)
        else:
            from .network import network

            network(cfg, data, log)
        return 0
    except BaseException as exc:
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


def store(cfg: Config) -> Any:
    from ..host.state import Store

    return Store(cfg.state_dir)


def parse(data: bytes) -> Any:
    import xml.etree.ElementTree as ET

    return ET.fromstring(data)


def held_apply(cfg: Config, actions: Sequence[Action], holder: str, state: str, record: dict[str, Any],
                log: Any, *, prune: bool = True, also: Sequence[str] = ()) -> None:
    """Apply ``actions`` for ``holder`` with its state file written first, so the release
    finds it even if this process dies mid-apply; when the apply fails and leaves neither
    ``holder`` nor ``also`` holding anything, the state file goes again."""
    from ..host import executor

    write_json(state, record)
    try:
        result = executor.apply(actions, holder, store=store(cfg), prune=prune)
    except BaseException:
        held = executor.holders(store(cfg))
        if not any(held.get(h) for h in (holder, *also)):
            remove(state)
        raise
    if not result.fast_path:  # the executor said "all in place" itself
        log.info("%s: %s", holder, summary(result))

def summary(result: Any) -> str:
    parts = [f"{len(result.changed)} changed{' (through sysfs)' if result.sysfs_writes else ''}",
             f"{result.in_place} in place"]
    if result.released:
        parts.append(f"released {', '.join(result.released)}")
    return ", ".join(parts) + (": " + "; ".join(result.changed) if result.changed else "")
