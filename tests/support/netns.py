"""Throwaway network namespaces for kernel tests, and ``ip -j`` as the independent oracle.

Everything a test creates lives in a namespace it made (``vnt-<random>``) and is gone
when the namespace is deleted; nothing here touches the machine's own links.  Product
code runs inside the namespace as a child process (``ip netns exec``, which also
remounts /sys so sysfs shows the namespace's devices) through ``tests/support/hostctl.py``.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[2]
HOSTCTL = REPO / "tests" / "support" / "hostctl.py"
#: bridge/port attributes that tick by themselves (timers, counters)
_VOLATILE_SUFFIXES = ("_timer", "_timers")
_VOLATILE_KEYS = {"operstate", "linkmode", "stats", "stats64", "carrier_changes", "carrier_up_count",
                  "carrier_down_count", "topology_change", "topology_change_detected", "root_id",
                  "designated_root", "root_port", "root_path_cost", "bridge_id", "designated_bridge",
                  "designated_port", "designated_cost", "port_no", "port_id", "state", "no",
                  "forward_delay_timer", "hold_timer", "message_age_timer", "tcn_timer", "gc_timer"}


def sh(*args: str, check: bool = True, ns: Optional[str] = None) -> str:
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    return subprocess.run(cmd, check=check, capture_output=True, text=True).stdout


@contextmanager
def netns(prefix: str = "vnt") -> Iterator[str]:
    """A fresh network namespace with ``lo`` up; deleted afterwards."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def ip_json(ns: str, *args: str) -> Any:
    out = subprocess.run(["ip", "-n", ns, "-j", "-d", *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out or "[]")


def links(ns: str) -> dict[str, dict[str, Any]]:
    """``ip -j -d link`` of the namespace, by name."""
    return {lk["ifname"]: lk for lk in ip_json(ns, "link", "show")}


#: sizes the kernel recomputes on a bridge when ports come and go
_VOLATILE_KEYS |= {"tso_max_size", "tso_max_segs", "gso_max_size", "gso_max_segs", "gro_max_size",
                   "gso_ipv4_max_size", "gro_ipv4_max_size"}
#: carrier flags the kernel updates up to a second late (not part of what vnet sets)
_CARRIER_FLAGS = {"NO-CARRIER", "LOWER_UP"}


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        if isinstance(value.get("flags"), list):
            value = dict(value, flags=[f for f in value["flags"] if f not in _CARRIER_FLAGS])
        return {k: _clean(v) for k, v in value.items()
                if k not in _VOLATILE_KEYS and not k.endswith(_VOLATILE_SUFFIXES)}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def link_state(ns: str) -> dict[str, Any]:
    """Comparable state of every link (timers and counters dropped)."""
    return {name: _clean(lk) for name, lk in links(ns).items()}


#: (no ping binary needed) one ICMP echo per try, ``wait`` seconds for the reply; exit 0 on a reply from ``dst``
PROBE = r"""
import os, select, socket, struct, sys, time
dst, tries, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def csum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF
ident = os.getpid() & 0xFFFF
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
for seq in range(1, tries + 1):
    body = b"vnet-vepa-probe!"
    head = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    try:
        sock.sendto(struct.pack("!BBHHH", 8, 0, csum(head + body), ident, seq) + body, (dst, 0))
    except OSError:
        pass  # neighbour resolution failed earlier: counts as no reply
    end = time.monotonic() + wait
    while (left := end - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            break
        pkt, (src, _) = sock.recvfrom(4096)
        ihl = (pkt[0] & 0x0F) * 4
        kind, _, _, rid, _ = struct.unpack("!BBHHH", pkt[ihl:ihl + 8])
        if src == dst and kind == 0 and rid == ident:
            print("reply", seq)
            sys.exit(0)
print("no reply")
sys.exit(1)
"""


def reaches(ns: str, dst: str, tries: int, wait: float = 1.0) -> bool:
    """Does an ICMP echo from namespace ``ns`` to ``dst`` get an answer?"""
    proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", PROBE, dst, str(tries), str(wait)],
                          capture_output=True, text=True, timeout=tries * wait + 10)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode == 0


def hostctl(ns: str, spec: dict[str, Any], *, timeout: float = 60) -> dict[str, Any]:
    """Run ``tests/support/hostctl.py`` with ``spec`` inside ``ns``; its JSON answer, plus
    ``returncode`` (``-9`` when the spec asked it to be killed)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, str(HOSTCTL)], input=json.dumps(spec),
                          capture_output=True, text=True, timeout=timeout, env=env)
    try:
        answer: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
    except ValueError:
        answer = {"raw": proc.stdout}
    answer["returncode"] = proc.returncode
    answer["stderr"] = proc.stderr
    return answer
