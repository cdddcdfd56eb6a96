"""Shared fixtures.  ``VNET_REQUIRE_ALL=1`` (set by .ci/run) turns every skip for a
missing prerequisite into a failure: in CI nothing may be skipped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


def require(condition: bool, reason: str) -> None:
    """Skip when ``condition`` is false — or fail, under VNET_REQUIRE_ALL=1."""
    if condition:
        return
    if os.environ.get("VNET_REQUIRE_ALL") == "1":
        pytest.fail(f"prerequisite missing (VNET_REQUIRE_ALL=1): {reason}")
    pytest.skip(reason)


def corpus_dir() -> Path:
    return Path(os.environ.get("VNET_CORPUS", REPO.parent / "shared" / "libvirt-corpus"))


@pytest.fixture(scope="session")
def corpus() -> Path:
    path = corpus_dir()
    require(path.is_dir(), f"libvirt corpus not found at {path} (set VNET_CORPUS)")
    return path


@pytest.fixture()
def test_conn() -> Iterator[Any]:
    """A connection to libvirt's test driver with its built-in objects removed."""
    from libvirt_vnet import virt

    with virt.connect(virt.TEST_URI) as conn:
        virt.clear_test_driver(conn)
        yield conn
