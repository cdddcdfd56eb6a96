"""``vnet hooks install`` / ``uninstall``: put the hook scripts where libvirt runs them.

libvirt ≥ 6.5 runs every executable file in ``/etc/libvirt/hooks/qemu.d/`` and
``network.d/`` (after the single ``qemu``/``network`` script, if there is one); older
libvirt runs only the single script.  The ``dir`` layout installs
``qemu.d/50-libvirt-vnet`` and ``network.d/50-libvirt-vnet``, next to whatever hooks the
user has; the ``single`` layout (old libvirt) installs ``qemu`` and ``network`` and
refuses to replace a script that is not ours.

The installed script is ``hooks/<kind>`` with its marked lines pinned: the interpreter
(started with ``-I -S``: no site, no environment, so a hook costs the bare interpreter
start), the search path of this libvirt-vnet and of pyroute2 (the hook imports nothing
else outside the standard library), and the state directory and log file.  Installing
twice changes nothing; a file is recognised as ours by its ``# vnet-install:`` lines.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

from ..errors import HostError, InputError

KINDS = ("qemu", "network")
DIR_NAME = "50-libvirt-vnet"
_MARK = "# vnet-install: call"
#: libvirt runs hooks/<kind>.d/* from this version on
DIR_LAYOUT_SINCE = (6, 5, 0)

RESTART = ("libvirt looks for hook files when it starts: restart it to run them — "
           "`systemctl restart libvirtd`, or with the modular daemons "
           "`systemctl restart virtqemud virtnetworkd`")


def template(kind: str) -> str:
    """The text of ``hooks/<kind>`` (package data when installed, the source tree otherwise)."""
    from ..resources import hook_scripts_dir

    return (hook_scripts_dir() / kind).read_text()


def search_path() -> list[str]:
    """Where the hook finds libvirt_vnet and pyroute2 (the only packages it imports)."""
    import importlib.util

    out: list[str] = [str(Path(__file__).resolve().parents[2])]
    spec = importlib.util.find_spec("pyroute2")
    if spec is None or not spec.origin:
        raise HostError("pyroute2 is not installed for this Python", hint="pip install pyroute2")
    dep = str(Path(spec.origin).resolve().parent.parent)
    if dep not in out:
        out.append(dep)
    return out


def script(kind: str, *, python: Optional[str] = None, state_dir: Optional[str] = None,
           log_file: Optional[str] = None) -> str:
    """The hook script as installed: ``hooks/<kind>`` with its marked lines pinned."""
    lines = template(kind).splitlines()
    lines[0] = f"#!{python or sys.executable} -IS"
    out = []
    for line in lines:
        if line.endswith("# vnet-install: path"):
            line = f"sys.path[:0] = {search_path()!r}  # vnet-install: path"
        elif line.endswith(_MARK):
            extra = "".join(f", {k}={v!r}" for k, v in (("state_dir", state_dir), ("log_file", log_file)) if v)
            line = f"sys.exit(main({kind!r}, sys.argv[1:]{extra}))  {_MARK}"
        out.append(line)
    return "\n".join(out) + "\n"


def resolve_layout(layout: str) -> str:
    if layout in ("dir", "single"):
        return layout
    if layout != "auto":
        raise InputError(f"unknown hook layout {layout!r}", hint="use auto, dir or single")
    from .. import virt

    return "dir" if virt.library_version() >= DIR_LAYOUT_SINCE else "single"


def paths(root: str, layout: str) -> dict[str, Path]:
    hooks = Path(root) / "hooks"
    if layout == "dir":
        return {k: hooks / f"{k}.d" / DIR_NAME for k in KINDS}
    return {k: hooks / k for k in KINDS}


def is_ours(path: Path) -> bool:
    try:
        return _MARK in path.read_text(errors="replace")
    except (OSError, UnicodeError):
        return False


def install_hooks(root: str = "/etc/libvirt", *, layout: str = "auto", state_dir: Optional[str] = None,
                  log_file: Optional[str] = None, python: Optional[str] = None,
                  self_test: bool = True) -> list[str]:
    """Install (or update) both hooks under ``root``; lines saying what happened."""
    if not os.path.isdir(root):
        raise HostError(f"{root} does not exist: is libvirt installed here?",
                        hint="install libvirt-daemon-system, or pass --root with libvirt's configuration directory")
    layout = resolve_layout(layout)
    targets = paths(root, layout)
    for kind, path in targets.items():  # check everything before changing anything
        if path.exists() and not is_ours(path):
            raise HostError(f"{path} exists and is not libvirt-vnet's hook",
                            path=str(path),
                            hint=f"libvirt before 6.5 runs only one {kind} script; with libvirt 6.5 or later use "
                            f"--layout dir. Otherwise merge by hand: `vnet hooks install --layout single --root DIR` "
                            f"writes vnet's script to DIR/hooks/{kind}; run it from yours with the same arguments "
                            "and stdin")
    report: list[str] = []
    created = False
    for kind, path in targets.items():
        text = script(kind, python=python, state_dir=state_dir, log_file=log_file)
        old = path.read_text() if path.exists() else None
        if old == text and os.access(path, os.X_OK):
            report.append(f"unchanged  {path}")
            continue
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
        tmp.write_text(text)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
        created |= old is None
        report.append(f"{'installed' if old is None else 'updated'}  {path}")
        if self_test:
            _self_test(path)
    if created:
        report.append(RESTART)
    elif any(line.startswith("updated") for line in report):
        report.append("libvirt runs the updated scripts from the next event on (no restart needed)")
    return report


def _self_test(path: Path) -> None:
    """Run the installed script on an operation it ignores: proves the interpreter and the
    search path work (a broken hook would fail every VM start)."""
    try:
        proc = subprocess.run([str(path), "vnet-self-test", "self-test", "begin", "-"], input=b"",
                              capture_output=True, timeout=30)
    except OSError as exc:
        raise HostError(f"the installed hook {path} cannot run: {exc.strerror}",
                        hint="check the interpreter on its first line") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise HostError(f"the installed hook {path} fails: {err[-1] if err else f'exit {proc.returncode}'}",
                        hint="reinstall libvirt-vnet for the Python on its first line")


def uninstall_hooks(root: str = "/etc/libvirt") -> list[str]:
    """Remove vnet's hook scripts (both layouts); other files are left alone."""
    report: list[str] = []
    for layout in ("dir", "single"):
        for path in paths(root, layout).values():
            if path.exists():
                if is_ours(path):
                    path.unlink()
                    report.append(f"removed  {path}")
                elif layout == "single":
                    report.append(f"left     {path} (not libvirt-vnet's)")
    if not report:
        report.append(f"no libvirt-vnet hooks under {root}/hooks")
    return report
