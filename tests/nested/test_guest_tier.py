"""The nested-kernel tier: boot the Debian 6.1 guest once (tools/nested) and run tests/guest in it.

tests/guest needs kernel features this machine's kernel lacks (8021q, dummy, netdevsim).  This
is the only host test that touches it; deselect it locally with ``-m 'not nested'``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support.prereq import REPO, require

pytestmark = pytest.mark.nested

NESTED = REPO / "tools" / "nested"
PYTHON = REPO / ".venv" / "bin" / "python"
GUEST_TIMEOUT = int(os.environ.get("VNET_NESTED_TIMEOUT", "900"))
SETUP_TIMEOUT = 1800  # a fresh machine downloads ~300 MB of Debian packages
TAIL_LINES = 80


def tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def junit_totals(path: Path) -> dict[str, int]:
    """Sum tests/failures/errors/skipped over every <testsuite> of a junit xml file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    keys = ("tests", "failures", "errors", "skipped")
    return {key: sum(int(suite.get(key, "0")) for suite in suites) for key in keys}


def test_guest_tier(tmp_path: Path) -> None:
    require(os.geteuid() == 0, "the nested-kernel tier needs root (apt-get, depmod, sharing / over 9p)")
    require(
        shutil.which("qemu-system-x86_64") is not None or os.environ.get("VNET_SKIP_APT") != "1",
        "qemu-system-x86_64 missing and VNET_SKIP_APT=1 forbids installing it",
    )
    require(PYTHON.is_file(), f"{PYTHON} missing (run tools/bootstrap)")

    setup = subprocess.run([str(NESTED), "setup"], capture_output=True, text=True, timeout=SETUP_TIMEOUT, check=False)
    assert setup.returncode == 0, f"tools/nested setup failed ({setup.returncode}):\n{tail(setup.stderr)}"

    out = tmp_path / "out"
    out.mkdir()
    junit = out / "junit.xml"
    in_guest = [str(PYTHON), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/guest", f"--junitxml={junit}"]
    guest = subprocess.run(
        [str(NESTED), "run", "--out", str(out), "--", *in_guest],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # tools/nested's own messages, in order with the guest's output
        text=True,
        timeout=GUEST_TIMEOUT + 120,  # tools/nested enforces GUEST_TIMEOUT itself
        check=False,
    )
    (tmp_path / "guest.log").write_text(guest.stdout)
    context = f"exit status {guest.returncode}; last lines of the guest output:\n{tail(guest.stdout)}"

    if guest.returncode != 0:
        pytest.fail(f"tools/nested run failed: {context}", pytrace=False)
    assert junit.is_file(), f"the guest wrote no {junit.name}; {context}"
    totals = junit_totals(junit)
    defined = sum(text.count("\ndef test_") for text in
                  (p.read_text() for p in (REPO / "tests" / "guest").glob("test_*.py")))
    assert totals["tests"] >= defined >= 1, f"the guest ran {totals['tests']} of {defined} tests: {context}"
    assert totals["skipped"] == 0, f"tests skipped in the guest: {totals}; {context}"
    assert totals["failures"] == totals["errors"] == 0, f"guest tests failed: {totals}; {context}"
