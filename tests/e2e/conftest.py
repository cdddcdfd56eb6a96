"""End-to-end tests: a real libvirtd + virtlogd + QEMU in a private ``vnet lab`` per test
module (helpers: :mod:`support.lab`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.lab import clean, fresh_name, require_lab

from libvirt_vnet.lab import Lab


@pytest.fixture(scope="module", name="lab")
def lab_fixture() -> Iterator[Lab]:
    """An up lab (hooks=False) for the whole test module; removed afterwards."""
    require_lab()
    the_lab = Lab(fresh_name())
    try:
        the_lab.up()
        yield the_lab
    finally:
        the_lab.down()


@pytest.fixture(name="clean_lab")
def clean_lab_fixture(lab: Lab) -> Iterator[Lab]:
    """The module's lab, empty (no domains, no networks) before and after the test."""
    clean(lab)
    yield lab
    clean(lab)
