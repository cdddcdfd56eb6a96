"""A real libvirtd for end-to-end tests: a ``vnet lab`` (libvirt_vnet.lab) per test module.

The lab is a private libvirtd + virtlogd + QEMU in its own network and mount namespaces
(see :mod:`libvirt_vnet.lab`): tests may start NAT networks and VMs there without touching
the host's libvirt, links, addresses or routes.  Needs root, libvirtd, qemu-system-x86_64,
dnsmasq and util-linux; without them the tests are skipped (failed under VNET_REQUIRE_ALL=1).

Use it in a test module like this::

    from labfix import clean, clean_lab_fixture, lab_fixture  # noqa: F401  (fixtures)

    from libvirt_vnet import virt
    from libvirt_vnet.lab import Lab

    def test_something(lab: Lab) -> None:
        clean(lab)                                  # start from an empty libvirt
        with virt.connect(lab.uri) as conn:          # the lab's libvirtd
            ...
        subprocess.run(["ip", "-n", lab.netns, "-j", "link"], ...)   # its links
        subprocess.run(lab.command(["ip", "-j", "addr"]), ...)      # run inside it

The fixtures are named ``lab`` and ``clean_lab`` (import them as ``lab_fixture`` and
``clean_lab_fixture``, so that a test's parameter ``lab`` does not shadow the import).

``lab`` is module-scoped: one lab (hooks not installed) per test module that imports it,
brought up before its first test and removed after its last (``down``: everything in it
destroyed, nothing left on the host).  ``clean(lab)`` destroys and undefines every domain
and network in it: call it at the start of each test, or take ``clean_lab`` instead of
``lab`` (the same lab, cleaned before and after the test).  ``fresh_name()`` gives a unique
lab name for a test that needs a lab of its own (always ``down()`` it in a ``finally``).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator

import pytest
from conftest import require

from libvirt_vnet import virt
from libvirt_vnet.lab import Lab

#: what a lab needs on this host (binary: Debian package)
NEEDS = {"libvirtd": "libvirt-daemon-system", "virtlogd": "libvirt-daemon-system",
         "qemu-system-x86_64": "qemu-system-x86", "dnsmasq": "dnsmasq-base",
         "unshare": "util-linux", "nsenter": "util-linux", "ip": "iproute2"}
SBIN = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"


def require_lab() -> None:
    """Skip (or fail, under VNET_REQUIRE_ALL=1) unless a lab can run here."""
    require(os.geteuid() == 0, "vnet lab tests need root (namespaces, mounts)")
    for binary, package in NEEDS.items():
        require(shutil.which(binary, path=SBIN) is not None, f"vnet lab tests need {binary} ({package})")


def fresh_name() -> str:
    """A lab name no other test run uses."""
    return "t" + secrets.token_hex(3)


def clean(lab: Lab) -> list[str]:
    """Destroy and undefine every domain and network in the lab; returns what it removed."""
    with virt.connect(lab.uri) as conn:
        return virt.undefine_all(conn)


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
