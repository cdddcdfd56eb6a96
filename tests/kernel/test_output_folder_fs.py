"""``vnet render -o DIR`` on a file system that fills up or is read-only (a small tmpfs in a
private mount namespace, as root): one clear error, and the folder keeps the old files —
never a 0-byte file, never a temporary file left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.prereq import REPO

SCRIPT = r"""
set -e
mount -t tmpfs -o size=64k vnet-test "$OUT"
"$PY" -m libvirt_vnet render "$TOPO_SMALL" -o "$OUT" > /dev/null
cp -a "$OUT" "$SNAP"
case "$MODE" in
  full) dd if=/dev/zero of="$OUT/filler" bs=1k count=1000 2>/dev/null || true ;;
  ro)   mount -o remount,ro "$OUT" ;;
esac
set +e
"$PY" -m libvirt_vnet render "$TOPO_BIG" -o "$OUT" > "$RESULT.out" 2> "$RESULT.err"
echo $? > "$RESULT.rc"
[ "$MODE" = full ] && rm -f "$OUT/filler"
diff -r "$SNAP" "$OUT" > "$RESULT.diff"
find "$OUT" -name '*.tmp' > "$RESULT.temps"
umount "$OUT"
"""


def topology(path: Path, networks: int) -> Path:
    nets = "".join(f"  n{i}: {{kind: nat, subnet: 10.{i}.0.0/24, dns: {{txt: [{{name: t, value: {'x' * 200}}}]}}}}\n"
                   for i in range(networks))
    path.write_text(f"name: t\nnetworks:\n{nets}")
    return path


@pytest.mark.parametrize(("mode", "reason"), [("full", "No space left on device"),
                                              ("ro", "Read-only file system")])
def test_a_failed_write_keeps_the_old_files(tmp_path: Path, mode: str, reason: str) -> None:
    out, snap, result = tmp_path / "out", tmp_path / "snap", tmp_path / "result"
    out.mkdir()
    env = {"OUT": str(out), "SNAP": str(snap), "RESULT": str(result), "MODE": mode, "PY": sys.executable,
           "TOPO_SMALL": str(topology(tmp_path / "small.yaml", 2)),
           "TOPO_BIG": str(topology(tmp_path / "big.yaml", 40)), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
           "PYTHONPATH": str(REPO)}
    subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", SCRIPT], env=env, check=True,
                   timeout=120)
    rc = int((tmp_path / "result.rc").read_text())
    err = (tmp_path / "result.err").read_text()
    assert rc == 1 and "Traceback" not in err, err
    assert err.startswith("vnet: cannot write output: ") and reason in err, err
    assert (tmp_path / "result.diff").read_text() == "", "the old files changed"
    assert (tmp_path / "result.temps").read_text() == "", "temporary files were left"
