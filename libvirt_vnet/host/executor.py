"""Plan, apply and destroy host plumbing for one *holder* (a topology on a host, a
network, a domain), with reference counts shared by all holders.

``apply`` works like nmstate: take the lock, finish whatever a dead process left
(:func:`recover`), read kernel state once, skip satisfied actions, apply the rest in
order, verify with a bounded poll (netlink is asynchronous), then commit undo records
and holds to the state — or, on any failure, undo what this run did, in reverse, and
raise one :class:`~libvirt_vnet.errors.ApplyError` saying which step failed, why, and
what was rolled back.  Objects the holder no longer needs are released; an object is
removed only when its last holder lets go.

The fast path: when sysfs shows every action satisfied and the holder's holds are
already on record, nothing imports pyroute2 (the hooks' common case: a second VM on a
VLAN whose bridge is up).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..errors import ApplyError, ConflictError, ErrorList, VnetError
from .actions import Action, Kernel, Planned, SetPortFlags, Undo, Verdict, owned, replay
from .snapshot import Snapshot, SysfsPortKernel, read_sysfs, sysfs_matches_netns
from .state import Ledger, Store

log = logging.getLogger("libvirt_vnet.host")

KernelFactory = Callable[[], AbstractContextManager[Kernel]]


def netlink_kernel() -> AbstractContextManager[Kernel]:
    """The real kernel (imports pyroute2: only call when a change is needed)."""
    from .netlink import NetlinkKernel

    return NetlinkKernel()


@dataclass(frozen=True)
class Step:
    sign: str  # + create, ~ change, = in place, - destroy, < release (others still hold it)
    text: str
    detail: str = ""
    key: str = ""


@dataclass(frozen=True)
class Plan:
    holder: str
    steps: tuple[Step, ...]
    source: str

    def count(self, sign: str) -> int:
        return sum(1 for s in self.steps if s.sign == sign)

    @property
    def empty(self) -> bool:
        return not any(s.sign in "+~-" for s in self.steps)

    def render(self, verbose: bool = False) -> str:
        lines = []
        for s in self.steps:
            if s.sign in "=<" and not verbose:
                continue
            detail = f"  [{s.detail}]" if s.detail else ""
            lines.append(f"  {'−' if s.sign == '-' else s.sign} {s.text}{detail}")
        summary = (f"{self.count('+')} to create, {self.count('~')} to change, {self.count('-')} to destroy, "
                   f"{self.count('=')} in place")
        if self.empty:
            lines.append(f"No changes: the host already matches ({summary}).")
        else:
            lines.append(f"Plan: {summary}.")
        return "\n".join(lines)


@dataclass
class Result:
    holder: str
    changed: list[str] = field(default_factory=list)
    in_place: int = 0
    released: list[str] = field(default_factory=list)
    #: objects let go of that other holders still use (they stay)
    kept: list[str] = field(default_factory=list)
    #: the change was decided from sysfs alone (pyroute2 never imported)
    fast_path: bool = False
    #: the changes were bridge-port flags only, written through sysfs (no pyroute2 either)
    sysfs_writes: bool = False


class _RunLog:
    """Undo records of the current run: journaled before each kernel change."""

    def __init__(self, store: Store):
        self.store = store
        self.records: list[tuple[str, Undo]] = []
        self._by_key: dict[str, list[Undo]] = {}
        self.key = ""

    def record(self, undo: Undo) -> None:
        try:
            self.store.journal.record(self.key, undo)
        except ValueError as exc:  # refused before it is journalled, and before the change
            raise ApplyError(f"{self.key.split(':', 1)[-1]}: refusing a change whose undo record would be "
                             f"invalid ({exc})", path=self.key,
                             hint="a value in the topology or the domain's metadata is wrong; fix it "
                             "and run again") from None
        self.records.append((self.key, undo))

    def cancel(self) -> None:
        self.store.journal.cancel()
        self.records.pop()

    def for_key(self, key: str) -> list[Undo]:
        if len(self._by_key) != len(self.records):
            self._by_key = {}
            for k, u in self.records:
                self._by_key.setdefault(k, []).append(u)
        return self._by_key.get(key, [])


def evaluate(actions: Sequence[Action], snap: Snapshot) -> list[Verdict]:
    """Each action's verdict against one snapshot; all conflicts raised together."""
    planned = Planned()
    verdicts: list[Verdict] = []
    errors: list[VnetError] = []
    for act in actions:
        try:
            v = act.assess(snap, planned)
        except ConflictError as exc:
            if act.origin:
                exc.path = f"{act.origin} → {exc.path}" if exc.path else act.origin
            errors.append(exc)
            v = Verdict("!")
        if v.needed or v.sign == "!":  # a conflicting object counts as planned: no cascade of errors
            for token in act.provides():
                planned[token] = act
        verdicts.append(v)
    if errors:
        raise ErrorList.of(errors) if len(errors) > 1 else errors[0]
    if snap.complete:  # netlink saw everything: an undecided action would be silently skipped
        unknown = [ConflictError("the kernel shows a device under this name that vnet cannot tell apart "
                                 "from the one wanted", path=a.origin or a.describe(),
                                 hint="rename or delete that device, or change the topology's names")
                   for a, v in zip(actions, verdicts) if v.sign == "?"]
        if unknown:
            raise ErrorList.of(list(unknown)) if len(unknown) > 1 else unknown[0]
    return verdicts


def _names(actions: Sequence[Action]) -> set[str]:
    out: set[str] = set()
    for a in actions:
        out |= a.names()
    return out


def _check_keys(actions: Sequence[Action]) -> None:
    seen: dict[str, Action] = {}
    for a in actions:
        if a.key in seen and seen[a.key] != a:
            raise ConflictError(f"the plan asks twice for {a.key} with different settings: "
                                f"{seen[a.key].describe()} / {a.describe()}", path=a.describe())
        seen[a.key] = a


def _sysfs_snapshot(actions: Sequence[Action]) -> Optional[Snapshot]:
    return read_sysfs(_names(actions)) if sysfs_matches_netns() else None


def _shared_conflicts(actions: Sequence[Action], verdicts: Sequence[Verdict], ledger: Ledger,
                      holder: str) -> None:
    errors: list[VnetError] = []
    for act in actions:
        rec = ledger.objects.get(act.key)
        others = ledger.others(holder, act.key)
        if rec is not None and others and rec.want and rec.want != act.describe():
            errors.append(ConflictError(
                f"{act.key.split(':', 1)[1]} is shared with {', '.join(others)}, which want "
                f"{rec.want!r}; this one wants {act.describe()!r}", path=act.describe(),
                hint="make the topologies agree on the shared device, or destroy the other holder first"))
    if errors:
        raise ErrorList.of(errors) if len(errors) > 1 else errors[0]


def recover(store: Store, ledger: Ledger, kernel_factory: KernelFactory) -> None:
    """Finish what a process killed under the lock left: roll back its uncommitted apply
    (journal), carry out its half-done teardown (``pending``)."""
    jid, records = store.journal.read()
    if store.journal.exists() and jid != ledger.committed and records:
        log.warning("rolling back an interrupted apply (%d changes, journal %s)", len(records), jid)
        with kernel_factory() as kernel:
            problems = _undo_all(kernel, [u for _, u in records], unmarked_ok=True)
        if problems:
            ledger.failed.extend({"undo": u, "error": "rolling back an interrupted apply failed"}
                                 for _, u in records)
            store.save(ledger)
    store.journal.close(remove=True)
    if ledger.pending:
        log.warning("finishing an interrupted teardown (%d undo records)", len(ledger.pending))
        with kernel_factory() as kernel:
            _run_pending(kernel, store, ledger)


def interrupted(store: Store) -> str:
    """What a killed run left for the next command to finish ("" when nothing); read-only."""
    bits = []
    if store.journal.exists():
        jid, records = store.journal.read()
        try:
            committed = store.load().committed
        except VnetError:
            committed = ""
        if records and jid != committed:
            bits.append(f"an interrupted apply ({len(records)} change(s) to roll back)")
    try:
        pending = len(store.load().pending)
    except VnetError:
        pending = 0
    if pending:
        bits.append(f"an interrupted teardown ({pending} step(s) pending)")
    return " and ".join(bits)


def settle(store: Optional[Store] = None, kernel_factory: KernelFactory = netlink_kernel) -> str:
    """Finish or undo what an interrupted run left (under the lock); what was done, or ""."""
    store = store or Store()
    left = interrupted(store)
    if not left:
        return ""
    with store.locked() as ledger:
        if store.journal.exists() or ledger.pending:
            recover(store, ledger, kernel_factory)
    return left


def _undo_all(kernel: Kernel, undo: Sequence[Undo], *, unmarked_ok: bool = False) -> list[str]:
    """Replay undo records in reverse; the problems (never raised: undo all we can)."""
    problems = []
    for rec in reversed(undo):
        try:
            replay(kernel, rec, unmarked_ok=unmarked_ok)
        except Exception as exc:  # whatever one step raises, undo the rest
            problems.append(f"{rec['op']} {rec.get('name') or rec.get('pf')}: {exc}")
            log.error("undo %r failed: %s", rec, exc)
    return problems


def _run_pending(kernel: Kernel, store: Store, ledger: Ledger,
                 left: Optional[dict[int, str]] = None) -> list[str]:
    """Carry out the pending teardown; a step that fails is kept in ``ledger.failed`` (shown
    by ``vnet host-status``) instead of being forgotten.  ``left`` collects, by ``id`` of
    the record, the steps that found the object no longer vnet's and left it."""
    problems = []
    while ledger.pending:
        rec = ledger.pending[0]
        try:
            why = replay(kernel, rec)
            if why and left is not None:
                left[id(rec)] = why
        except Exception as exc:  # a failed step is recorded, the others still run
            problem = f"{rec['op']} {rec.get('name') or rec.get('pf')}: {getattr(exc, 'strerror', None) or exc}"
            problems.append(problem)
            ledger.failed.append({"undo": rec, "error": problem})
            log.error("teardown step %r failed: %s", rec, exc)
        ledger.pending.pop(0)
    store.save(ledger)
    return problems


def _hint_for(exc: BaseException) -> Optional[str]:
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.EPERM, errno.EACCES):
        return "changing network devices needs root (CAP_NET_ADMIN)"
    if isinstance(exc, OSError) and exc.errno == errno.EEXIST:
        return "something else created that device meanwhile; run the command again to see it as a conflict"
    if isinstance(exc, OSError) and exc.errno == errno.EOPNOTSUPP:
        return ("this kernel lacks the device type: load its module (modprobe 8021q for VLAN devices, "
                "macvlan, tun, bridge)")
    if isinstance(exc, OSError) and exc.errno == errno.EBUSY:
        return "the device is in use in a way that excludes this (a passthrough macvtap, a bridge port)"
    if isinstance(exc, OSError) and exc.errno == errno.ERANGE:
        return "the kernel refused the value's range (a bridge's forward delay is 2..30 s while STP runs)"
    return None


def plan(actions: Sequence[Action], holder: str, *, store: Optional[Store] = None,
         kernel_factory: KernelFactory = netlink_kernel) -> Plan:
    """What ``apply`` would do (read-only: no lock, no change; works without root)."""
    store = store or Store()
    _check_keys(actions)
    try:
        ledger = store.load()
    except VnetError:
        ledger = Ledger()
    snap = _sysfs_snapshot(actions)
    verdicts = evaluate(actions, snap) if snap is not None else None
    if verdicts is None or any(v.sign == "?" for v in verdicts):
        with kernel_factory() as kernel:
            snap = kernel.snapshot()
        verdicts = evaluate(actions, snap)
    assert snap is not None
    _shared_conflicts(actions, verdicts, ledger, holder)
    steps = [Step(v.sign, a.describe(), v.detail, a.key) for a, v in zip(actions, verdicts)]
    keys = {a.key for a in actions}
    for key in reversed(ledger.holders.get(holder, [])):
        if key in keys:
            continue
        rec = ledger.objects.get(key)
        others = ledger.others(holder, key)
        text = rec.want if rec and rec.want else key
        steps.append(Step("<" if others else "-", text,
                          f"still used by {', '.join(others)}" if others else "no longer in the topology", key))
    return Plan(holder=holder, steps=tuple(steps), source=snap.source)


def apply(actions: Sequence[Action], holder: str, *, store: Optional[Store] = None,
          kernel_factory: KernelFactory = netlink_kernel, verify_timeout: float = 3.0,
          prune: bool = True) -> Result:
    """Make the host match ``actions`` for ``holder``; idempotent; all or nothing.
    ``prune=False`` keeps what the holder held before and no longer lists (a hook
    re-ensuring a running VM's plumbing must never take anything away)."""
    store = store or Store()
    _check_keys(actions)
    result = Result(holder=holder)
    with store.locked() as ledger:
        if store.journal.exists() or ledger.pending:
            recover(store, ledger, kernel_factory)
        keys = [a.key for a in actions]
        wanted = set(keys)
        stale = [k for k in ledger.holders.get(holder, []) if k not in wanted] if prune else []
        snap = _sysfs_snapshot(actions)
        factory = kernel_factory
        if snap is not None and not stale:
            verdicts = evaluate(actions, snap)
            if all(v.sign == "=" for v in verdicts):
                _shared_conflicts(actions, verdicts, ledger, holder)
                if _hold_all(ledger, holder, actions, snap, None):
                    store.save(ledger)
                result.in_place = len(actions)
                result.fast_path = True
                log.info("%s: all %d host objects in place (sysfs)", holder, len(actions))
                return result
            if kernel_factory is netlink_kernel and _only_port_flags(actions, verdicts):
                names = _names(actions)
                factory = lambda: SysfsPortKernel(names)  # noqa: E731
                result.sysfs_writes = True
        with factory() as kernel:
            snap = kernel.snapshot()
            verdicts = evaluate(actions, snap)
            _shared_conflicts(actions, verdicts, ledger, holder)
            if stale:  # what this apply will prune must not pull guests off a bridge
                trial = Ledger.from_json(ledger.to_json())
                _release(trial, holder, stale)
                _refuse_busy_bridges(kernel, trial.pending)
            run = _RunLog(store)
            store.journal.open(holder)
            step = 0
            try:
                for act, v in zip(actions, verdicts):
                    step += 1
                    if not v.needed:
                        continue
                    run.key = act.key
                    log.info("%s: %s %s %s", holder, v.sign, act.describe(), v.detail)
                    act.apply(kernel, snap, run)
                    result.changed.append(f"{v.sign} {act.describe()}")
                step = 0
                _verify(kernel, _to_verify(actions, verdicts, snap), verify_timeout)
            except BaseException as exc:
                problems = _undo_all(kernel, [u for _, u in run.records], unmarked_ok=True)
                store.journal.close(remove=not problems)
                if not isinstance(exc, (OSError, VnetError)):
                    raise
                raise _apply_error(exc, actions, step, run, problems) from exc
            result.in_place = sum(1 for v in verdicts if v.sign == "=")
            _hold_all(ledger, holder, actions, snap, run)
            ledger.committed = store.journal.id
            result.released = _release(ledger, holder, stale)
            store.save(ledger)
            store.journal.close(remove=True)
            if ledger.pending:
                problems = _run_pending(kernel, store, ledger)
                if problems:
                    raise ApplyError("applied, but releasing objects no longer in the topology failed: "
                                     + "; ".join(problems))
    return result


def _only_port_flags(actions: Sequence[Action], verdicts: Sequence[Verdict]) -> bool:
    """Whether all this run changes is bridge-port flags (sysfs writes them: no pyroute2)."""
    return all(v.sign == "=" or (v.sign != "?" and isinstance(a, SetPortFlags)) for a, v in zip(actions, verdicts))


def _apply_error(exc: BaseException, actions: Sequence[Action], step: int, run: _RunLog,
                 problems: list[str]) -> ApplyError:
    what = f"step {step} of {len(actions)} ({actions[step - 1].describe()})" if step else "verification"
    rolled = f"rolled back {len(run.records)} change(s)" if run.records else "nothing had been changed"
    if problems:
        rolled += f"; could NOT undo: {'; '.join(problems)} (the journal is kept: the next run retries)"
    reason = exc.message if isinstance(exc, VnetError) else (
        exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc))
    hint = exc.hint if isinstance(exc, VnetError) else _hint_for(exc)
    return ApplyError(f"{what} failed: {reason}; {rolled}", hint=hint)


def _hold_all(ledger: Ledger, holder: str, actions: Sequence[Action], snap: Snapshot,
              run: Optional[_RunLog]) -> bool:
    """Record ``holder``'s holds; ``True`` if the ledger changed."""
    changed = False
    for act in actions:
        rec = ledger.objects.get(act.key)
        undo = run.for_key(act.key) if run else []
        if rec is None and not undo:
            undo = act.adopt(snap)
        if rec is not None and holder in rec.holders and not undo and rec.want == act.describe():
            continue
        ledger.hold(holder, act.key, undo, act.describe())
        changed = True
    return changed


def _release(ledger: Ledger, holder: str, keys: Sequence[str],
             kept: Optional[list[str]] = None, groups: Optional[list[tuple[str, list[Undo]]]] = None) -> list[str]:
    released = []
    for key in reversed(keys):
        rec = ledger.objects.get(key)
        others = ledger.others(holder, key)
        undo = ledger.release(holder, key)
        if undo:
            ledger.pending.extend(undo)
            released.append(rec.want if rec and rec.want else key)
            if groups is not None:
                groups.append((released[-1], undo))
        elif others and kept is not None:
            kept.append(f"{rec.want if rec and rec.want else key}  [still used by {', '.join(others)}]")
    return released


def _verify(kernel: Kernel, actions: Sequence[Action], timeout: float) -> None:
    """Netlink is asynchronous: poll until every applied action assesses as satisfied, or fail.
    sysfs answers for most objects, cheaply; netlink when it cannot tell."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        verdicts = _sysfs_verdicts(actions)
        if verdicts is None:
            snap = kernel.snapshot()
            verdicts = []
            for act in actions:
                try:
                    verdicts.append(act.assess(snap, Planned()))
                except ConflictError as exc:
                    verdicts.append(Verdict("!", exc.message))
        missing = [f"{a.describe()} [{v.detail or v.sign}]" for a, v in zip(actions, verdicts) if v.sign != "="]
        if not missing:
            return
        broken = [v.detail for v in verdicts if v.sign == "!"]
        if broken:  # not a matter of time: what was applied contradicts the plan
            raise ApplyError(f"after applying: {'; '.join(broken)}")
        if time.monotonic() > deadline:
            raise ApplyError(f"after applying, the kernel does not show: {'; '.join(missing[:3])}"
                             + (f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""),
                             hint="something else on this host may be changing these devices "
                             "(NetworkManager, systemd-networkd, udev rules)")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _to_verify(actions: Sequence[Action], verdicts: Sequence[Verdict], snap: Snapshot) -> list[Action]:
    """The applied actions, as verification should see them: port flags of "the guests'
    ports" only on the ports this run changed (a guest starting meanwhile is not a failure)."""
    out: list[Action] = []
    for act, v in zip(actions, verdicts):
        if not v.needed:
            continue
        if isinstance(act, SetPortFlags) and act.port is None:
            out.extend(dataclasses.replace(act, port=lk.name) for lk in act.ports(snap))
        else:
            out.append(act)
    return out


def _sysfs_verdicts(actions: Sequence[Action]) -> Optional[list[Verdict]]:
    """Verdicts from sysfs, or ``None`` when sysfs cannot decide them all."""
    snap = _sysfs_snapshot(actions) if actions else None
    if snap is None:
        return None
    try:
        verdicts = [a.assess(snap, Planned()) for a in actions]
    except ConflictError:
        return None  # let netlink confirm it, with its full view
    return None if any(v.sign == "?" for v in verdicts) else verdicts


def destroy(holder: str, *, store: Optional[Store] = None,
            kernel_factory: KernelFactory = netlink_kernel, force: bool = False) -> Result:
    """Release everything ``holder`` holds; remove what no other holder needs.  A bridge
    that still has ports vnet did not put there (running guests) is not deleted unless
    ``force``: nothing is changed and a conflict names them."""
    store = store or Store()
    result = Result(holder=holder)
    with store.locked() as ledger:
        if store.journal.exists() or ledger.pending:
            recover(store, ledger, kernel_factory)
        keys = list(ledger.holders.get(holder, []))
        if not keys:
            return result
        groups: list[tuple[str, list[Undo]]] = []
        result.released = _release(ledger, holder, keys, result.kept, groups)
        if not ledger.pending:
            store.save(ledger)
            return result
        factory = kernel_factory
        if kernel_factory is netlink_kernel and all(u["op"] == "port" for u in ledger.pending) \
                and sysfs_matches_netns():
            factory = SysfsPortKernel  # a VM's port flags (its tap is usually gone already)
        with factory() as kernel:
            if not force:
                _refuse_busy_bridges(kernel, ledger.pending)
            store.save(ledger)  # first the intent (pending), then the kernel: a crash rolls forward
            left: dict[int, str] = {}
            problems = _run_pending(kernel, store, ledger, left)
            for text, undo in groups:  # say exactly what was removed and what was left
                why = [left[id(u)] for u in undo if id(u) in left]
                if why:
                    result.released.remove(text)
                    result.kept.append(f"{text}  [{'; '.join(why)}]")
            if problems:
                raise ApplyError(f"teardown of {holder} could not undo: {'; '.join(problems)}",
                                 hint="the devices named are left as they are; remove them by hand if "
                                 "nothing uses them")
    return result


def _refuse_busy_bridges(kernel: Kernel, pending: Sequence[Undo]) -> None:
    """Deleting a bridge detaches its ports: refuse while guests (ports vnet neither
    created nor enslaved) are on one that is about to go."""
    deleting = {u["name"] for u in pending if u["op"] == "delete"}
    if not deleting:
        return
    freed = {u["name"] for u in pending if u["op"] == "set" and "master" in (u.get("expect") or {})}
    snap = kernel.snapshot()
    errors: list[VnetError] = []
    for name in sorted(deleting):
        lk = snap.get(name)
        if lk is None or lk.bridge is None or lk.alias != next(
                (u["mark"] for u in pending if u["op"] == "delete" and u["name"] == name), None):
            continue
        busy = [p.name for p in snap.ports_of(name) if p.name not in deleting | freed and not owned(p)]
        if busy:
            errors.append(ConflictError(
                f"bridge {name} still has port{'s' if len(busy) > 1 else ''} {', '.join(busy)} (running guests?)",
                path=name, hint="shut those guests down or move their NICs first; --force deletes the "
                "bridge anyway and leaves them unplugged"))
    if errors:
        raise ErrorList.of(errors) if len(errors) > 1 else errors[0]


def holders(store: Optional[Store] = None) -> dict[str, list[str]]:
    """Holder → the object keys it holds (for ``vnet host-status``)."""
    return dict((store or Store()).load().holders)
