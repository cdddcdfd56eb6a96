"""One throwaway network namespace playing a hypervisor, with its own vnet state directory:
what kernel tests drive the product through (``tests/support/hostctl.py`` runs inside it)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Optional

from support.netns import hostctl, link_state, links
from support.prereq import HOST_TOPOLOGIES


class Host:
    """One namespace and one state directory: the product's view of "this host"."""

    def __init__(self, ns: str, state_dir: Path):
        self.ns = ns
        self.state_dir = state_dir

    def ip(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "-n", self.ns, *args], check=True, capture_output=True, text=True)

    def exec(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.ns, *args], capture_output=True, text=True)

    def veth(self, name: str, peer: str, *extra: str, up: bool = True) -> None:
        self.ip("link", "add", name, *extra, "type", "veth", "peer", "name", peer)
        if up:
            self.ip("link", "set", name, "up")
            self.ip("link", "set", peer, "up")

    def run(self, op: str, actions: Optional[list[dict[str, Any]]] = None, *, holder: str = "test:h",
            topology: Optional[str] = None, **extra: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {"op": op, "state_dir": str(self.state_dir), **extra}
        if topology is not None:
            spec.update(topology=str(HOST_TOPOLOGIES / topology), host="hv1")
        else:
            spec.update(holder=holder, actions=actions or [])
        return hostctl(self.ns, spec)

    def ok(self, op: str, actions: Optional[list[dict[str, Any]]] = None, **kw: Any) -> dict[str, Any]:
        r = self.run(op, actions, **kw)
        assert r.get("ok") and r["returncode"] == 0, f"{op} failed: {r}"
        return r

    def links(self) -> dict[str, dict[str, Any]]:
        return links(self.ns)

    def link(self, name: str) -> dict[str, Any]:
        found = self.links().get(name)
        assert found is not None, f"{name} does not exist in {self.ns}"
        return found

    def state(self) -> dict[str, Any]:
        return link_state(self.ns)

    def ledger(self) -> dict[str, Any]:
        path = self.state_dir / "state.json"
        return json.loads(path.read_text()) if path.exists() else {"holders": {}, "objects": {}, "pending": []}

    def journal_left(self) -> bool:
        return (self.state_dir / "journal.jsonl").exists()

    def shape(self) -> dict[str, tuple[Any, ...]]:
        """What a converged plan must reproduce, independent of random MACs and ifindexes."""
        return {name: (lk.get("linkinfo", {}).get("info_kind"), lk.get("master"), "UP" in lk["flags"],
                       lk.get("ifalias", ""), lk["mtu"])
                for name, lk in self.links().items()}
