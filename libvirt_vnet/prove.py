"""Prove that libvirt accepts a rendering, without touching any real host.

Every network and domain document is validated against libvirt's RelaxNG schemas, then
defined on libvirt's ``test:///default`` driver (libvirt's real XML parser, in-process),
and libvirt's formatted XML is parsed back and compared with what vnet meant.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from lxml import etree

from . import virt
from .errors import ErrorList, LibvirtError, VnetError
from .libvirtxml import relaxng
from .libvirtxml.network import parse_network_string
from .model.libvirt import NetworkDef
from .rendering import Rendering

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Proved:
    networks: int
    domains: int


def _canon(raw: str) -> str:
    el = etree.fromstring(raw, etree.XMLParser(remove_blank_text=True))
    return etree.tostring(el, method="c14n").decode()


def _comparable(net: NetworkDef) -> NetworkDef:
    """What must survive a define on the test driver unchanged: foreign metadata compared
    canonically; the test driver has no dnsmasq namespace handler, so it drops
    dnsmasq:options (golden files and the corpus test check those)."""
    return dataclasses.replace(net, metadata=tuple(_canon(m) for m in net.metadata),
                               dnsmasq_options=())


def _interface_changes(ours: etree._Element, back: etree._Element, where: str = "interface") -> list[str]:
    """What we wrote that libvirt's formatted element lacks or changed: every attribute
    and child of ours must be there with the same value; libvirt may add its own
    (target, alias, PCI address, generated IDs)."""
    problems = []
    for key, value in ours.attrib.items():
        if back.get(key) != value:
            problems.append(f"<{where} {key!s}={value!r}> became {back.get(key)!r}")
    if (ours.text or "").strip() != (back.text or "").strip():
        problems.append(f"the text of <{where}> changed")
    counts: dict[str, int] = {}
    for child in ours:
        tag = str(child.tag)
        index = counts.get(tag, 0)
        counts[tag] = index + 1
        same = back.findall(tag)
        if index >= len(same):
            problems.append(f"<{where}><{tag}> was dropped")
            continue
        problems += _interface_changes(child, same[index], f"{where}/{tag}")
    return problems


def prove(rendering: Rendering) -> Proved:
    """Raise if libvirt rejects or changes any rendered document.  Always runs on
    libvirt's in-process test driver: it never touches a real libvirt."""
    uri = virt.TEST_URI
    errors: list[VnetError] = []
    for rn in rendering.networks:
        try:
            relaxng.validate(rn.element, "network", f"{rn.host}/networks/{rn.name}.xml")
        except VnetError as exc:
            errors.append(exc)
    domains = []
    for vm in rendering.vms:
        dom = etree.fromstring(vm.domain_xml().encode())
        try:
            relaxng.validate(dom, "domain", f"{vm.host}/vms/{vm.name}")
        except VnetError as exc:
            errors.append(exc)
        domains.append((vm, etree.tostring(dom, encoding="unicode")))
    if errors:
        raise ErrorList.of(errors)
    n_net = 0
    with virt.connect(uri) as conn:
        virt.clear_test_driver(conn)
        for host in rendering.topology.hosts:
            # networks of different hosts may share names: define host by host
            defined = []
            try:
                for rn in rendering.networks_on(host.name):
                    back = virt.define_network(conn, rn.xml, f"{host.name}/{rn.name}")
                    defined.append(rn.name)
                    n_net += 1
                    theirs = _comparable(parse_network_string(back))
                    ours = _comparable(rn.definition)
                    if ours != theirs:
                        errors.append(LibvirtError(
                            "libvirt changed the network while defining it",
                            path=f"{host.name}/networks/{rn.name}.xml",
                            hint=f"ours: {ours}\n  libvirt's: {theirs}"))
                for vm, xml in domains:
                    if vm.host != host.name:
                        continue
                    back_dom = etree.fromstring(virt.define_domain(conn, xml, vm.name).encode())
                    virt.undefine_domain(conn, vm.name)
                    by_mac = {i.find("mac").get("address"): i  # type: ignore[union-attr]
                              for i in back_dom.findall("devices/interface")}
                    for ours_el in vm.elements:
                        mac = ours_el.find("mac").get("address")  # type: ignore[union-attr]
                        found = by_mac.get(mac)
                        changes = ["the interface was dropped"] if found is None else \
                            _interface_changes(ours_el, found)
                        if changes:
                            errors.append(LibvirtError(
                                "libvirt changed the interface while defining the domain: "
                                + "; ".join(changes), path=f"{host.name}/vms/{vm.name} ({mac})"))
            except VnetError as exc:
                errors.append(exc)
            finally:
                for name in defined:
                    virt.undefine_network(conn, name)
    if errors:
        raise ErrorList.of(errors)
    log.info("libvirt %s accepted %d networks and %d domains unchanged", uri, n_net, len(domains))
    return Proved(networks=n_net, domains=len(domains))
