"""The nested-kernel tier: tests that need kernel features this machine's kernel lacks
(8021q VLAN devices, dummy links, netdevsim SR-IOV VFs).  They run only inside the guest
booted by ``tools/nested run`` (see tests/nested/test_guest_tier.py, which does that once per pytest
run); the normal host run never collects this directory (``norecursedirs`` in pyproject.toml).

By hand, as root:  tools/nested run -- .venv/bin/python -m pytest -q -p no:cacheprovider tests/guest

Nothing here may skip: outside the guest every test errors, and a skip inside the guest is
reported as a failure.  The guest CPU is 20-40x slower than the host's, so keep tests few and
cheap (one `ip` call costs ~50 ms there, importing pyroute2 ~5 s once).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

MODULES = ("8021q", "dummy", "netdevsim", "bridge", "veth", "macvlan", "macvtap", "tun")
NETDEVSIM = Path("/sys/bus/netdevsim")

_names = itertools.count(1)
_nsim_ids = itertools.count(100)


def unique_name(prefix: str) -> str:
    """A link or namespace name not used by any other test of this run (IFNAMSIZ-safe)."""
    return f"{prefix}{os.getpid() % 1000}x{next(_names)}"


def run(*argv: str) -> str:
    """Run a command, fail the test with its stderr if it fails, return its stdout."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited with {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def ip_link(name: str, netns: str | None = None) -> dict[str, Any]:
    """``ip -j -d link show dev NAME`` as a dict: the oracle for what the kernel holds."""
    ns = ["-n", netns] if netns else []
    (link,) = json.loads(run("ip", *ns, "-j", "-d", "link", "show", "dev", name))
    return link


def _write(path: Path, value: str) -> None:
    path.write_text(value)


@pytest.fixture(scope="session", autouse=True)
def guest_kernel() -> tuple[str, ...]:
    """Fail (never skip) every test unless this is the nested guest with all modules loadable;
    gives the names of those modules."""
    if os.environ.get("VNET_NESTED_GUEST") != "1":
        pytest.fail("tests/guest runs only inside the nested kernel, through tools/nested run (see its conftest.py)")
    if os.geteuid() != 0:
        pytest.fail("tests/guest must run as root")
    proc = subprocess.run(["modprobe", "-a", *MODULES], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"modprobe -a {' '.join(MODULES)} failed: {proc.stderr.strip()}")
    if not NETDEVSIM.is_dir():
        pytest.fail(f"{NETDEVSIM} missing after modprobe netdevsim")
    return MODULES


@pytest.fixture()
def sh() -> Callable[..., str]:
    """``sh("ip", "link", ...)``: run a command, fail the test if it fails, give its stdout."""
    return run


@pytest.fixture()
def link_info() -> Callable[..., dict[str, Any]]:
    """``link_info(name, netns=None)``: ``ip -j -d link show dev NAME`` as a dict."""
    return ip_link


@pytest.fixture()
def new_name() -> Callable[[str], str]:
    """``new_name(prefix)``: a link or namespace name no other test of this run uses."""
    return unique_name


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A skip in this tier hides a missing kernel feature: report it as a failure."""
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"tests/guest must not skip, but this test skipped: {reason}"
    return report


@pytest.fixture()
def ipr() -> Iterator[Any]:
    """A pyroute2 IPRoute socket in the guest's initial network namespace."""
    from pyroute2 import IPRoute

    with IPRoute() as sock:
        yield sock


@pytest.fixture()
def dummy_parent() -> Iterator[str]:
    """The name of a fresh dummy link (up), deleted afterwards with everything stacked on it."""
    name = unique_name("dmy")
    run("ip", "link", "add", name, "type", "dummy")
    run("ip", "link", "set", name, "up")
    yield name
    subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)


@pytest.fixture()
def nsim_pf(request: pytest.FixtureRequest) -> Iterator[str]:
    """The ifname of the PF of a fresh netdevsim device with N VFs (default 2; choose N with
    ``@pytest.mark.parametrize("nsim_pf", [4], indirect=True)``); the device is deleted after."""
    numvfs: int = getattr(request, "param", 2)
    dev_id = next(_nsim_ids)
    device = NETDEVSIM / "devices" / f"netdevsim{dev_id}"
    _write(NETDEVSIM / "new_device", f"{dev_id} 1")  # one port
    try:
        deadline = time.monotonic() + 10
        while not (device / "net").is_dir() or not any((device / "net").iterdir()):
            if time.monotonic() > deadline:
                pytest.fail(f"netdevsim{dev_id} created no network device")
            time.sleep(0.05)
        (pf,) = (p.name for p in (device / "net").iterdir())
        _write(device / "sriov_numvfs", str(numvfs))
        yield pf
    finally:
        _write(NETDEVSIM / "del_device", str(dev_id))


@pytest.fixture()
def netns() -> Iterator[str]:
    """The name of a fresh network namespace (/run/netns/NAME), deleted afterwards."""
    name = unique_name("ns")
    run("ip", "netns", "add", name)
    yield name
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
