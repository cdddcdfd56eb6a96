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
from .libvirtxml.versions import LibvirtVersion

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
    """Stop (if running) and undefine a network; one that does not exist is fine."""
    libvirt = _libvirt()
    _undefine(libvirt, conn.networkLookupByName, name, "network", libvirt.VIR_ERR_NO_NETWORK)


def undefine_domain(conn: Any, name: str) -> None:
    """Stop (if running) and undefine a domain; one that does not exist is fine."""
    libvirt = _libvirt()
    _undefine(libvirt, conn.lookupByName, name, "domain", libvirt.VIR_ERR_NO_DOMAIN)


def _undefine(libvirt: Any, lookup: Any, name: str, kind: str, missing: int) -> None:
    try:
        obj = lookup(name)
        if obj.isActive():
            obj.destroy()
        obj.undefine()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != missing:
            raise _fail(exc, f"{kind} {name}") from None


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


def hostname(conn: Any) -> str:
    libvirt = _libvirt()
    try:
        return str(conn.getHostname())
    except libvirt.libvirtError as exc:
        raise _fail(exc, "hostname") from None


def _gone(libvirt: Any, exc: Any) -> bool:
    """The object vanished or stopped meanwhile (not an error when tearing down)."""
    return exc.get_error_code() in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_NETWORK,
                                    libvirt.VIR_ERR_OPERATION_INVALID)


def _each(libvirt: Any, kind: str, objects: Any, method: str, note: str, done: list[str]) -> None:
    """Call ``method`` on each object; one that vanished meanwhile is fine, any other
    failure is a LibvirtError.  What was done goes to ``done``."""
    for obj in objects:
        name = str(obj.name())
        try:
            getattr(obj, method)()
            done.append(f"{kind} {name}{note}")
        except libvirt.libvirtError as exc:
            if not _gone(libvirt, exc):
                raise _fail(exc, f"{kind} {name}") from None


def destroy_all(conn: Any) -> list[str]:
    """Destroy (stop) every active domain, then every active network — in that order, so
    libvirt itself stops each network's dnsmasq and removes its bridge.  Definitions stay.
    Returns what was stopped, e.g. ``["domain vm1", "network lan"]``."""
    libvirt = _libvirt()
    done: list[str] = []
    _each(libvirt, "domain", conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE), "destroy", "", done)
    _each(libvirt, "network", conn.listAllNetworks(libvirt.VIR_CONNECT_LIST_NETWORKS_ACTIVE), "destroy", "", done)
    return done


def undefine_all(conn: Any) -> list[str]:
    """:func:`destroy_all`, then undefine every domain and network that is left.
    Returns what was stopped and removed."""
    libvirt = _libvirt()
    done = destroy_all(conn)
    _each(libvirt, "domain", conn.listAllDomains(), "undefine", " undefined", done)
    _each(libvirt, "network", conn.listAllNetworks(), "undefine", " undefined", done)
    return done


def object_counts(conn: Any) -> dict[str, int]:
    """How many domains and networks a connection has, and how many of them run:
    keys ``domains``, ``domains_active``, ``networks``, ``networks_active``."""
    libvirt = _libvirt()
    try:
        doms = conn.listAllDomains()
        nets = conn.listAllNetworks()
        return {"domains": len(doms), "domains_active": sum(1 for d in doms if d.isActive()),
                "networks": len(nets), "networks_active": sum(1 for n in nets if n.isActive())}
    except libvirt.libvirtError as exc:
        raise _fail(exc, "list") from None


def library_version() -> tuple[int, int, int]:
    """The version of the libvirt library on this host (no connection needed): the
    daemon beside it decides the hook layout (``vnet hooks install``)."""
    v = _libvirt().getVersion()
    return (v // 1_000_000, (v // 1000) % 1000, v % 1000)


def settle_domains(conn: Any) -> int:
    """Return once the daemon has finished reconnecting to its running domains (after a
    restart it answers before its reconnect threads, which run the qemu hook's
    "reconnect", are done): a query job on each domain waits for the reconnect job.
    Returns how many running domains there are."""
    libvirt = _libvirt()
    try:
        doms = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
    except libvirt.libvirtError as exc:
        raise _fail(exc, "list") from None
    for dom in doms:
        with contextlib.suppress(libvirt.libvirtError):  # gone meanwhile, or nothing to report
            dom.memoryStats()
    return len(doms)


def is_active(conn: Any, kind: str, name: str) -> bool:
    """Whether the domain or network ``name`` is running (``False`` when not defined)."""
    libvirt = _libvirt()
    lookup = conn.lookupByName if kind == "domain" else conn.networkLookupByName
    try:
        return bool(lookup(name).isActive())
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_NETWORK):
            return False
        raise _fail(exc, f"{kind} {name}") from None
