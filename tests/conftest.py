"""Shared fixtures, and the tiers: a test's folder is its tier and its marker.

==========  ================================================================  =============
folder      what runs                                                         run one tier
==========  ================================================================  =============
unit/       no root: the model, rendering, libvirt's test driver, the CLI     ``-m unit``
kernel/     real devices in throwaway network namespaces (root)               ``-m kernel``
e2e/        a real libvirtd + QEMU in a ``vnet lab`` (root)                   ``-m e2e``
nested/     boots the nested Debian kernel once and runs ``guest/`` in it     ``-m nested``
guest/      runs only inside that nested kernel (never collected here)
==========  ================================================================  =============

Helpers are the ``support`` package (``from support.prereq import require``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.prereq import TESTS, corpus

TIERS = ("unit", "kernel", "e2e", "nested")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(TESTS)
        if rel.parts and rel.parts[0] in TIERS:
            item.add_marker(getattr(pytest.mark, rel.parts[0]))


@pytest.fixture(scope="session", name="corpus")
def corpus_fixture() -> Path:
    """libvirt's upstream test data (skips, or fails under VNET_REQUIRE_ALL=1, without it)."""
    return corpus()


@pytest.fixture()
def test_conn() -> Iterator[Any]:
    """A connection to libvirt's test driver with its built-in objects removed."""
    from libvirt_vnet import virt

    with virt.connect(virt.TEST_URI) as conn:
        virt.clear_test_driver(conn)
        yield conn
