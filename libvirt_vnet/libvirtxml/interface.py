"""Domain XML: ``<interface>`` elements, vnet's ``<metadata>``, and merging
both into an existing domain document.

Formatting is pure and deterministic and starts from ``xml_templates/interface.xml``.
Merging replaces interfaces whose MAC vnet owns, appends the others, and replaces only
vnet's own metadata element: everything else in the user's domain is left as it was.
"""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree

from ..errors import InputError
from ..model.libvirt import InterfaceDef
from ..model.plumbing import DomainMeta
from . import metadata as vnetmeta
from .common import format_bandwidth, format_pci, format_virtualport, format_vlan, parse_untrusted, set_attr, sub
from .skeletons import skeleton


def format_interface(iface: InterfaceDef) -> etree._Element:
    el = skeleton("interface.xml")
    el.set("type", iface.type)
    if iface.managed:  # libvirt writes managed only when yes
        el.set("managed", "yes")
    set_attr(el, "trustGuestRxFilters", iface.trust_guest_rx_filters)
    el.find("mac").set("address", iface.mac)  # type: ignore[union-attr]
    if iface.type == "network":
        sub(el, "source", network=iface.source_network, portgroup=iface.source_portgroup)
    elif iface.type == "bridge":
        sub(el, "source", bridge=iface.source_bridge)
    elif iface.type == "direct":
        sub(el, "source", dev=iface.source_dev, mode=iface.source_mode)
    elif iface.type == "hostdev":
        src = sub(el, "source")
        assert iface.source_address is not None
        format_pci(src, iface.source_address)
    else:  # a programming error: drivers only build the four types above
        raise ValueError(f"unknown interface type {iface.type!r}")
    if iface.vlan is not None:
        format_vlan(el, iface.vlan)
    if iface.virtualport is not None:
        format_virtualport(el, iface.virtualport)
    if iface.bandwidth is not None:
        format_bandwidth(el, iface.bandwidth)
    if iface.model:
        sub(el, "model", type=iface.model)
    if iface.mtu is not None:
        sub(el, "mtu", size=iface.mtu)
    if iface.link_state:
        sub(el, "link", state=iface.link_state)
    if iface.port_isolated is not None:
        sub(el, "port", isolated=iface.port_isolated)
    if iface.alias:
        sub(el, "alias", name=iface.alias)
    return el


def format_metadata(meta: DomainMeta) -> etree._Element:
    return vnetmeta.domain_meta_element(meta)


def _parse_domain(text: str | bytes, source: str) -> etree._Element:
    root = parse_untrusted(text, source, InputError, remove_blank_text=True)
    if root.tag != "domain":
        raise InputError(f"expected a <domain> document, got <{root.tag}>", path=source)
    return root


#: children of <interface> that vnet decides; everything else in a replaced interface
#: (filterref, boot order, driver queues, rom, target, alias, address, ...) is the user's
#: or libvirt's and is kept
OWNED_CHILDREN = frozenset({"mac", "source", "vlan", "virtualport", "bandwidth", "model",
                            "mtu", "link", "port"})


def merge_into_domain(domain_xml: str | bytes, interfaces: Iterable[etree._Element],
                      metadata: etree._Element, source: str = "<domain>",
                      expect_name: str | None = None) -> str:
    """``domain_xml`` with vnet's interfaces and metadata merged in (see module doc).
    With ``expect_name``, a domain of another name is refused."""
    root = _parse_domain(domain_xml, source)
    name = root.findtext("name")
    if expect_name is not None and name != expect_name:
        raise InputError(f"this is domain {name!r}, not the topology's VM {expect_name!r}",
                         path=source, hint="merge the VM's own domain XML (or force it)")
    devices = root.find("devices")
    if devices is None:
        devices = etree.SubElement(root, "devices")
    existing = {}
    for el in devices.findall("interface"):
        mac = el.find("mac")
        if mac is not None and mac.get("address"):
            existing[str(mac.get("address")).lower()] = el
    for new in interfaces:
        new_mac = new.find("mac").get("address")  # type: ignore[union-attr]
        old = existing.get(str(new_mac).lower())
        if old is not None:
            # vnet's parts are replaced; the rest of the NIC (its PCI address, boot order,
            # nwfilter, driver tuning, ...) is kept as it was
            mine = {child.tag for child in new}
            for child in list(old):
                if isinstance(child.tag, str) and child.tag not in OWNED_CHILDREN \
                        and child.tag not in mine:
                    new.append(child)
            old.getparent().replace(old, new)  # type: ignore[union-attr]
        else:
            after = devices.findall("interface")
            if after:
                after[-1].addnext(new)
            else:
                devices.append(new)
    md = root.find("metadata")
    if md is None:
        md = etree.Element("metadata")
        # libvirt's order: name, uuid, (genid), title, description, metadata, ...
        anchor = None
        for tag in ("description", "title", "genid", "uuid", "name"):
            anchor = root.find(tag)
            if anchor is not None:
                break
        if anchor is not None:
            anchor.addnext(md)
        else:
            root.insert(0, md)
    for old_meta in md.findall(vnetmeta.q("domain")):
        md.remove(old_meta)
    md.append(metadata)
    etree.indent(root, space="  ")
    text: str = etree.tostring(root, encoding="unicode")
    return text + "\n"


def read_domain_meta(domain_xml: str | bytes) -> DomainMeta | None:
    """vnet's metadata of a domain document, or ``None`` when it has none."""
    return vnetmeta.domain_meta_of(_parse_domain(domain_xml, "<domain>"))
