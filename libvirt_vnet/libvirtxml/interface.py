"""Domain XML: ``<interface>`` elements, vnet's ``<metadata>``, and merging
both into an existing domain document.

Formatting is pure and deterministic and starts from ``xml_templates/interface.xml``.
Merging replaces interfaces whose MAC vnet owns, appends the others, and replaces only
vnet's own metadata element: everything else in the user's domain is left as it was —
except NICs vnet itself merged before (its metadata lists them), which belong to their
topology and VM: another owner's are a conflict unless explicitly replaced, and this
owner's that the topology dropped are removed.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

from ..errors import ConflictError, InputError
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


@dataclass(frozen=True)
class MergeResult:
    """The merged domain XML, and what the merge did besides adding and updating
    vnet's NICs (one line each: NICs removed, metadata of another owner replaced)."""

    xml: str
    notes: tuple[str, ...] = ()


def merge_into_domain(domain_xml: str | bytes, interfaces: Iterable[etree._Element],
                      metadata: etree._Element, source: str = "<domain>",
                      expect_name: str | None = None, replace_foreign: bool = False) -> str:
    """``domain_xml`` with vnet's interfaces and metadata merged in (see :func:`merge_domain`)."""
    return merge_domain(domain_xml, interfaces, metadata, source, expect_name, replace_foreign).xml


def merge_domain(domain_xml: str | bytes, interfaces: Iterable[etree._Element],
                 metadata: etree._Element, source: str = "<domain>",
                 expect_name: str | None = None, replace_foreign: bool = False) -> MergeResult:
    """``domain_xml`` with vnet's interfaces and metadata merged in (see module doc).
    With ``expect_name``, a domain of another name is refused.

    Ownership comes from the domain's vnet metadata, which lists the NICs vnet merged
    and for which topology and VM: NICs vnet merged for another topology or VM are a
    conflict (merging would mix two owners' NICs under one owner's metadata), unless
    ``replace_foreign``: then they are removed and these merged.  NICs vnet merged for
    this same VM that its topology no longer has are removed (they would be left without
    the metadata the hooks plumb them from).  The user's own NICs are never removed."""
    root = _parse_domain(domain_xml, source)
    name = root.findtext("name")
    if expect_name is not None and name != expect_name:
        raise InputError(f"this is domain {name!r}, not the topology's VM {expect_name!r}",
                         path=source, hint="merge the VM's own domain XML (or force it)")
    devices = root.find("devices")
    if devices is None:
        devices = etree.SubElement(root, "devices")
    new_ifaces = list(interfaces)
    ours = {mac_key(str(new.find("mac").get("address"))) for new in new_ifaces}  # type: ignore[union-attr]
    previous = _old_meta(root, source)
    claimed = ours | {mac_key(nic.mac) for nic in (previous.nics if previous else ())}
    existing = _interfaces_by_mac(devices, claimed, source)
    notes = _release_owned(existing, ours, previous, metadata, name, source, replace_foreign)
    for new in new_ifaces:
        new_mac = new.find("mac").get("address")  # type: ignore[union-attr]
        old = existing.get(mac_key(str(new_mac)))
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
    return MergeResult(xml=text + "\n", notes=tuple(notes))


def mac_key(text: str) -> str:
    """A MAC address as libvirt compares it: six groups of one or two hex digits, in any
    case (``52:54:0:A:0:1`` is ``52:54:00:0a:00:01``); anything else as written, lowered."""
    parts = text.strip().split(":")
    if len(parts) == 6 and all(1 <= len(x) <= 2 and all(c in string.hexdigits for c in x) for x in parts):
        return ":".join(f"{int(x, 16):02x}" for x in parts)
    return text.strip().lower()


def _interfaces_by_mac(devices: etree._Element, claimed: set[str], source: str) -> dict[str, etree._Element]:
    """The domain's ``<interface>`` elements by MAC; refused when a MAC vnet merges or
    merged is on several of them (which one is vnet's could not be told: merging one
    would leave the other with vnet's MAC, and the hooks would see two NICs for one)."""
    found: dict[str, list[etree._Element]] = {}
    for el in devices.findall("interface"):
        mac = el.find("mac")
        if mac is not None and mac.get("address"):
            found.setdefault(mac_key(str(mac.get("address"))), []).append(el)
    twice = sorted(mac for mac, els in found.items() if len(els) > 1 and mac in claimed)
    if twice:
        raise InputError(
            f"the domain has several <interface>s with MAC {', '.join(twice)}, which vnet merges: "
            "which of them is vnet's NIC cannot be told", path=source,
            hint="give the other interfaces their own MACs (or remove them), then merge again")
    return {mac: els[0] for mac, els in found.items()}


def _old_meta(root: etree._Element, source: str) -> DomainMeta | None:
    if len(root.findall(f"metadata/{vnetmeta.q('domain')}")) > 1:
        raise InputError("the domain has several <vnet:domain> metadata elements: vnet writes one",
                         path=source, hint="remove all but the one vnet wrote last")
    try:
        return vnetmeta.domain_meta_of(root)
    except (ValueError, TypeError) as exc:
        raise InputError(f"the domain's vnet metadata cannot be read: {exc}", path=source,
                         hint="remove its <vnet:domain> element (and the NICs vnet merged) by "
                         "hand, then merge again") from None


def _release_owned(existing: dict[str, etree._Element], ours: set[str], old: DomainMeta | None,
                   metadata: etree._Element, domain: str | None, source: str,
                   replace_foreign: bool) -> list[str]:
    """Remove (from the domain and ``existing``) the NICs vnet merged earlier that this
    merge does not bring back, as the rules of :func:`merge_domain` say; their notes."""
    if old is None:
        return []
    owner = (metadata.get("topology"), metadata.get("vm"))
    merged = {mac_key(nic.mac): nic for nic in old.nics if mac_key(nic.mac) in existing}
    foreign = (old.topology, old.vm) != owner
    notes = []
    if foreign:
        if merged and not replace_foreign:
            listed = ", ".join(f"{mac} (network {nic.network!r})" for mac, nic in sorted(merged.items()))
            raise ConflictError(
                f"domain {domain!r} holds NICs vnet merged for VM {old.vm!r} of topology "
                f"{old.topology!r}: {listed}; merging VM {owner[1]!r} of topology {owner[0]!r} "
                "would mix both under one owner's metadata", path=source,
                hint="--replace-foreign removes those NICs and merges these (or, from Python, "
                "replace_foreign=True); or merge into the domain they belong to")
        notes.append(f"replaced vnet's metadata of VM {old.vm!r} of topology {old.topology!r}")
    for mac, nic in sorted(merged.items()):
        if mac in ours and not foreign:
            continue
        el = existing.pop(mac)
        el.getparent().remove(el)  # type: ignore[union-attr]
        why = (f"vnet's for VM {old.vm!r} of topology {old.topology!r}" if foreign
               else "vnet's, and no longer in the topology")
        notes.append(f"removed NIC {mac} on network {nic.network!r} ({why})")
    return notes


def read_domain_meta(domain_xml: str | bytes, source: str = "<domain>") -> DomainMeta | None:
    """vnet's metadata of a domain document, or ``None`` when it has none."""
    return _old_meta(_parse_domain(domain_xml, source), source)
