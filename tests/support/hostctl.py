"""Test driver, run *inside* a test's network namespace: apply / plan / destroy one
plan given as JSON on stdin, optionally with a fault injected at the k-th kernel change
(``fault_at``: that call raises EIO without changing anything) or the process killed
with SIGKILL just before it (``kill_at``).  Prints one JSON line.

Spec keys: ``op`` (apply, plan, destroy), ``holder``, ``state_dir``, and either
``actions`` (``[{"type": "EnsureBridge", ...fields}]``) or ``topology`` + ``host``;
``force`` for destroy.
The kernel is the real one (netlink through libvirt_vnet.host.netlink); the wrapper only
counts calls, so a fault stops a real apply at a real point.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
from typing import Any, Optional

from libvirt_vnet.errors import VnetError
from libvirt_vnet.host import actions as A
from libvirt_vnet.host import executor
from libvirt_vnet.host.state import Store

MUTATING = ("create", "set", "set_port", "delete", "add_address", "del_address", "set_vf", "set_numvfs")


class FaultKernel:
    """The real netlink kernel, with a fault or a kill at the k-th change."""

    calls = 0  # across every kernel of this process (recovery opens its own)

    def __init__(self, fault_at: Optional[int], kill_at: Optional[int]):
        from libvirt_vnet.host.netlink import NetlinkKernel

        self.real = NetlinkKernel()
        self.fault_at, self.kill_at = fault_at, kill_at

    def __enter__(self) -> FaultKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.real.close()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if name not in MUTATING:
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            FaultKernel.calls += 1
            if FaultKernel.calls == self.kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            if FaultKernel.calls == self.fault_at:
                raise OSError(errno.EIO, f"injected fault at kernel change {FaultKernel.calls} ({name} {args})")
            return attr(*args, **kwargs)

        return counted


def build(spec: dict[str, Any]) -> tuple[list[A.Action], str]:
    if "topology" in spec:
        from libvirt_vnet import topology as topo_input
        from libvirt_vnet.host import planner
        from libvirt_vnet.rendering import host_needs

        topo = topo_input.load_file(spec["topology"])
        host = spec.get("host") or topo.hosts[0].name
        actions = planner.actions_for_needs(host_needs(topo, host), topo.name)
        return actions, spec.get("holder") or planner.holder_for(topo.name, host)
    acts: list[A.Action] = []
    for raw in spec.get("actions", []):
        fields = dict(raw)
        cls = getattr(A, fields.pop("type"))
        acts.append(cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}))
    return acts, spec["holder"]


def main() -> int:
    spec = json.loads(sys.stdin.read())
    store = Store(spec["state_dir"])
    fault_at, kill_at = spec.get("fault_at"), spec.get("kill_at")
    factory = (lambda: FaultKernel(fault_at, kill_at)) if (fault_at or kill_at) else executor.netlink_kernel
    out: dict[str, Any] = {"ok": True}
    try:
        acts, holder = build(spec)
        op = spec["op"]
        if op == "plan":
            p = executor.plan(acts, holder, store=store, kernel_factory=factory)
            out.update(steps=[[s.sign, s.text, s.detail] for s in p.steps], empty=p.empty, text=p.render(True))
        elif op == "apply":
            r = executor.apply(acts, holder, store=store, kernel_factory=factory,
                               verify_timeout=spec.get("verify_timeout", 3.0))
            out.update(changed=r.changed, in_place=r.in_place, released=r.released, fast_path=r.fast_path)
        elif op == "destroy":
            r = executor.destroy(holder, store=store, kernel_factory=factory, force=spec.get("force", False))
            out.update(released=r.released, kept=r.kept)
        else:
            raise ValueError(op)
    except VnetError as exc:
        out = {"ok": False, "error": str(exc), "type": type(exc).__name__, "exit_code": exc.exit_code}
    out["kernel_changes"] = FaultKernel.calls
    out["pyroute2_imported"] = "pyroute2" in sys.modules
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
