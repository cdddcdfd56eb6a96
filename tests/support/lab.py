"""Helpers for end-to-end tests on a real libvirtd: a ``vnet lab`` (:mod:`libvirt_vnet.lab`).

The lab is a private libvirtd + virtlogd + QEMU in its own network and mount namespaces:
tests may start NAT networks and VMs there without touching the host's libvirt, links,
addresses or routes.  Needs root, libvirtd, qemu-system-x86_64, dnsmasq and util-linux;
without them the tests are skipped (failed under VNET_REQUIRE_ALL=1).

The fixtures ``lab`` (one lab per test module) and ``clean_lab`` (that lab, emptied before
and after the test) are in ``tests/e2e/conftest.py``::

    def test_something(clean_lab: Lab) -> None:
        with virt.connect(clean_lab.uri) as conn:          # the lab's libvirtd
            ...
        subprocess.run(["ip", "-n", clean_lab.netns, "-j", "link"], ...)   # its links
        subprocess.run(clean_lab.command(["ip", "-j", "addr"]), ...)      # run inside it

``fresh_name()`` gives a unique lab name for a test that needs a lab of its own (always
``down()`` it in a ``finally``); ``clean(lab)`` destroys and undefines everything in one.
"""

from __future__ import annotations

import os
import secrets
import shutil

from libvirt_vnet import virt
from libvirt_vnet.lab import Lab
from support.prereq import SBIN_PATH, require

#: what a lab needs on this host (binary: Debian package)
NEEDS = {"libvirtd": "libvirt-daemon-system", "virtlogd": "libvirt-daemon-system",
         "qemu-system-x86_64": "qemu-system-x86", "dnsmasq": "dnsmasq-base",
         "unshare": "util-linux", "nsenter": "util-linux", "ip": "iproute2"}


def require_lab() -> None:
    """Skip (or fail, under VNET_REQUIRE_ALL=1) unless a lab can run here."""
    require(os.geteuid() == 0, "vnet lab tests need root (namespaces, mounts)")
    for binary, package in NEEDS.items():
        require(shutil.which(binary, path=SBIN_PATH) is not None, f"vnet lab tests need {binary} ({package})")


def fresh_name() -> str:
    """A lab name no other test run uses."""
    return "t" + secrets.token_hex(3)


def clean(lab: Lab) -> list[str]:
    """Destroy and undefine every domain and network in the lab; returns what it removed."""
    with virt.connect(lab.uri) as conn:
        return virt.undefine_all(conn)
