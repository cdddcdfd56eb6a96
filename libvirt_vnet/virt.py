"""The only module that imports libvirt (libvirt-python).

Connections, the target version of a connection, defining rendered documents, and
reading networks back for import.  Every libvirt failure becomes a
:class:`~libvirt_vnet.errors.LibvirtError` carrying libvirt's own message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .errors import LibvirtError, UnsupportedError
from .features import LibvirtVersion

TEST_URI = "test:///default"


def _libvirt() -> Any:
    try:
        import libvirt
    except ImportError:
        raise UnsupportedError(
            "libvirt-python is not installed",
            hint="pip install libvirt-python (needs Debian's libvirt-dev and pkg-config)",
        ) from None
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # no stderr noise
    return libvirt


@contextlib.contextmanager
def connect(uri: str) -> Iterator[Any]:
    libvirt = _libvirt()
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise LibvirtError(f"cannot connect: {exc.get_error_message()}", path=uri,
                           hint="is libvirtd (or virtqemud/virtnetworkd) running, and may you "
                           "use it (group libvirt)?") from None
    try:
        yield conn
    finally:
        conn.close()


def version_of(conn: Any) -> LibvirtVersion:
    return LibvirtVersion.from_number(conn.getLibVersion())


def _fail(exc: Any, what: str, hint: str | None = None) -> LibvirtError:
    return LibvirtError(exc.get_error_message(), path=what, hint=hint)


def define_network(conn: Any, xml: str, name: str) -> str:
    """Define (or redefine) a network; returns libvirt's formatted XML of it."""
    libvirt = _libvirt()
    try:
        net = conn.networkDefineXML(xml)
        return str(net.XMLDesc(0))
    except libvirt.libvirtError as exc:
        raise _fail(exc, f"network {name}") from None


def define_domain(conn: Any, xml: str, name: str) -> str:
    libvirt = _libvirt()
    try:
        dom = conn.defineXML(xml)
        return str(dom.XMLDesc(0))
    except libvirt.libvirtError as exc:
        raise _fail(exc, f"domain {name}") from None


def undefine_network(conn: Any, name: str) -> None:
    libvirt = _libvirt()
    try:
        net = conn.networkLookupByName(name)
        if net.isActive():
            net.destroy()
        net.undefine()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_NETWORK:
            raise _fail(exc, f"network {name}") from None


def undefine_domain(conn: Any, name: str) -> None:
    libvirt = _libvirt()
    try:
        dom = conn.lookupByName(name)
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise _fail(exc, f"domain {name}") from None


def network_xml(conn: Any, name: str, inactive: bool = True) -> str:
    """The XML of a defined network (its persistent config by default)."""
    libvirt = _libvirt()
    try:
        net = conn.networkLookupByName(name)
        if inactive:
            try:
                return str(net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE))
            except libvirt.libvirtError as exc:  # e.g. the test driver knows no flags
                if exc.get_error_code() != libvirt.VIR_ERR_INVALID_ARG:
                    raise
        return str(net.XMLDesc(0))
    except libvirt.libvirtError as exc:
        raise _fail(exc, f"network {name}", hint="list networks with: virsh net-list --all") from None


def network_names(conn: Any) -> list[str]:
    return sorted(str(n.name()) for n in conn.listAllNetworks())


def clear_test_driver(conn: Any) -> None:
    """Remove the built-in objects of ``test:///default`` so names cannot clash."""
    for net in conn.listAllNetworks():
        if net.isActive():
            net.destroy()
        net.undefine()
    for dom in conn.listAllDomains():
        if dom.isActive():
            dom.destroy()
        dom.undefine()
