"""Prove that libvirt accepts a rendering, without touching any real host.

Every network and domain document is validated against libvirt's RelaxNG schemas, then
defined on libvirt's ``test:///default`` driver (libvirt's real XML parser, in-process),
and libvirt's formatted XML is parsed back and compared with what vnet meant.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from . import netxml, schemas, virt
from .errors import ErrorList, LibvirtError, VnetError
from .render import Rendering


@dataclass(frozen=True)
class Verified:
    networks: int
    domains: int


def verify(rendering: Rendering, uri: str = virt.TEST_URI) -> Verified:
    """Raise if libvirt rejects or changes any rendered document."""
    errors: list[VnetError] = []
    for rn in rendering.networks:
        try:
            schemas.validate(rn.element, "network", f"{rn.host}/networks/{rn.name}.xml")
        except VnetError as exc:
            errors.append(exc)
    domains = []
    for vm in rendering.vms:
        dom = etree.fromstring(vm.domain_xml().encode())
        try:
            schemas.validate(dom, "domain", f"{vm.host}/vms/{vm.name}")
        except VnetError as exc:
            errors.append(exc)
        domains.append((vm, etree.tostring(dom, encoding="unicode")))
    if errors:
        raise ErrorList(errors)
    n_net = 0
    with virt.connect(uri) as conn:
        if uri == virt.TEST_URI:
            virt.clear_test_driver(conn)
        for host in rendering.topology.hosts:
            # networks of different hosts may share names: define host by host
            defined = []
            try:
                for rn in rendering.networks_on(host.name):
                    back = virt.define_network(conn, rn.xml, f"{host.name}/{rn.name}")
                    defined.append(rn.name)
                    n_net += 1
                    theirs = netxml.parse_network_string(back)
                    ours = rn.definition
                    if ours != theirs:
                        errors.append(LibvirtError(
                            "libvirt changed the network while defining it",
                            path=f"{host.name}/networks/{rn.name}.xml",
                            hint=f"ours: {ours}\n  libvirt's: {theirs}"))
                for vm, xml in domains:
                    if vm.host == host.name:
                        virt.define_domain(conn, xml, vm.name)
                        virt.undefine_domain(conn, vm.name)
            except VnetError as exc:
                errors.append(exc)
            finally:
                for name in defined:
                    virt.undefine_network(conn, name)
    if errors:
        raise ErrorList(errors)
    return Verified(networks=n_net, domains=len(domains))
