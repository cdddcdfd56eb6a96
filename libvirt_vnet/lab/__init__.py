"""The lab: a private libvirtd + virtlogd + QEMU in its own network and mount namespaces, to
try topologies on and to run the end-to-end tests against.

:mod:`.sandbox` holds :class:`Lab` (up, down, restart of its libvirtd, running commands in
it), :mod:`.init` the code run inside the fresh namespaces (the lab's init), and
:mod:`.procfs` the operating-system helpers both use.  ``vnet lab`` is
:mod:`libvirt_vnet.cli.lab`.
"""

from __future__ import annotations

from .sandbox import Lab, check_name, labs

__all__ = ["Lab", "check_name", "labs"]
