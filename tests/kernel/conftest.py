"""Kernel tests: real devices in throwaway network namespaces, as root (helpers:
:mod:`support.netns`, :mod:`support.kernel`).  Every test here needs root and ``ip``: that is
checked once, for the whole tier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.kernel import Host
from support.netns import netns
from support.prereq import require_root


@pytest.fixture(autouse=True)
def _root() -> None:
    require_root("kernel tests")


@pytest.fixture()
def host(tmp_path: Path) -> Iterator[Host]:
    """A fresh namespace and state directory (both gone after the test)."""
    with netns() as ns:
        yield Host(ns, tmp_path / "state")
