"""Paths, the libvirt corpus, and prerequisites.  ``VNET_REQUIRE_ALL=1`` (set by .ci/run)
turns every skip for a missing prerequisite into a failure: in CI nothing may be skipped."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
GOLDEN = TESTS / "golden"
HOST_TOPOLOGIES = TESTS / "host_topologies"
EXAMPLES = REPO / "examples"
SBIN_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"


def require(condition: bool, reason: str) -> None:
    """Skip when ``condition`` is false — or fail, under VNET_REQUIRE_ALL=1."""
    if condition:
        return
    if os.environ.get("VNET_REQUIRE_ALL") == "1":
        pytest.fail(f"prerequisite missing (VNET_REQUIRE_ALL=1): {reason}")
    pytest.skip(reason)


def require_root(what: str) -> None:
    """``what`` (e.g. "kernel tests") needs root and iproute2's ``ip``."""
    require(os.geteuid() == 0, f"{what} need root (network namespaces)")
    require(shutil.which("ip", path=SBIN_PATH) is not None, f"{what} need iproute2 (ip)")


def corpus_dir() -> Path:
    """libvirt's upstream test data: ``../shared/libvirt-corpus`` or ``$VNET_CORPUS``."""
    return Path(os.environ.get("VNET_CORPUS", REPO.parent / "shared" / "libvirt-corpus"))


def corpus() -> Path:
    """The corpus folder, or skip/fail when it is missing."""
    path = corpus_dir()
    require(path.is_dir(), f"libvirt corpus not found at {path} (set VNET_CORPUS)")
    return path
