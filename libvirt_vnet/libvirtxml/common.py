"""Pieces of libvirt XML that network and domain documents share: attribute and element
helpers, ``<address type='pci'>``, ``<vlan>``, ``<virtualport>``, ``<bandwidth>``, the
deterministic serializer, the strict :class:`Reader` used by every parser, and the safe
XML parser settings for documents from outside (no entities, no network).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable, Optional, TypeVar

from lxml import etree

from ..errors import ImportRefused, VnetError
from ..model.libvirt import BandwidthDef, PciAddress, Rate, VirtualPortDef, VirtualPortType, VlanDef, VlanTag

T = TypeVar("T")


def yesno(value: bool) -> str:
    return "yes" if value else "no"


def set_attr(el: etree._Element, name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        el.set(name, yesno(value))
    else:
        el.set(name, str(value))


def sub(parent: etree._Element, tag: str, **attrs: object) -> etree._Element:
    el = etree.SubElement(parent, tag)
    for key, value in attrs.items():
        set_attr(el, key, value)
    return el


def format_pci(parent: etree._Element, addr: PciAddress) -> etree._Element:
    return sub(
        parent,
        "address",
        type="pci",
        domain=f"0x{addr.domain:04x}",
        bus=f"0x{addr.bus:02x}",
        slot=f"0x{addr.slot:02x}",
        function=f"0x{addr.function:x}",
    )


def format_vlan(parent: etree._Element, vlan: VlanDef) -> None:
    el = sub(parent, "vlan", trunk=vlan.trunk)
    for tag in vlan.tags:
        sub(el, "tag", id=tag.id, nativeMode=tag.native_mode)


def format_virtualport(parent: etree._Element, vp: VirtualPortDef) -> None:
    el = sub(parent, "virtualport", type=vp.type.value if vp.type else None)
    params = {
        "managerid": vp.managerid,
        "typeid": vp.typeid,
        "typeidversion": vp.typeidversion,
        "instanceid": vp.instanceid,
        "profileid": vp.profileid,
        "interfaceid": vp.interfaceid,
    }
    if any(v is not None for v in params.values()):
        sub(el, "parameters", **params)


def format_bandwidth(parent: etree._Element, bw: BandwidthDef) -> None:
    el = sub(parent, "bandwidth")
    for tag, rate in (("inbound", bw.inbound), ("outbound", bw.outbound)):
        if rate is not None:
            sub(el, tag, average=rate.average, peak=rate.peak, burst=rate.burst, floor=rate.floor)


_DECLARATION = re.compile(r"^\ufeff?\s*<\?xml\b[^>]*\?>")


def parse_untrusted(data: str | bytes, source: str, error: type[VnetError] = ImportRefused,
                    **options: Any) -> etree._Element:
    """A document from outside (a file, stdin, a libvirt connection), parsed safely: the
    encoding as its XML declaration says (bytes; text has no encoding left, so its
    declaration is dropped), no network, no external or internal entities, no DTD at all
    — libvirt writes none, and an entity could make the document say what its text does
    not — and libxml2's depth and size limits.  Anything else is one ``error`` naming
    ``source``."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, **options)
    try:
        if isinstance(data, str):
            root = etree.fromstring(_DECLARATION.sub("", data, count=1), parser)
        else:
            root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        hint = ("the bytes are not in the encoding the XML declaration names (UTF-8 when it "
                "names none): convert the file (iconv -t utf-8) or declare its encoding"
                if "encoding" in str(exc).lower() else None)
        raise error(f"not well-formed XML: {exc}", path=source, hint=hint) from None
    if getattr(root.getroottree().docinfo, "doctype", ""):
        raise error("the document has a <!DOCTYPE>: libvirt's documents have none, and its "
                    "entities could make the document say what its text does not",
                    path=source, hint="remove the <!DOCTYPE ...> declaration")
    if any(isinstance(el, etree._Entity) for el in root.iter()):
        raise error("the document uses an entity reference", path=source,
                    hint="write the text itself instead of &name;")
    return root


def to_string(el: etree._Element) -> str:
    """Deterministic, indented text of an element (no XML declaration)."""
    etree.indent(el, space="  ")
    text: str = etree.tostring(el, encoding="unicode")
    return text + "\n"


class Reader:
    """Walks an element, records which attributes/children were consumed, and refuses
    anything left over — the guarantee that an import loses nothing silently."""

    def __init__(self, el: etree._Element, path: str):
        self.el = el
        self.path = path
        self.used_attrs: set[str] = set()
        self.used_children: set[int] = set()

    def attr(self, name: str) -> Optional[str]:
        self.used_attrs.add(name)
        value = self.el.get(name)
        return None if value is None else str(value)

    def need(self, name: str) -> str:
        value = self.attr(name)
        if value is None:
            raise ImportRefused(f"attribute {name!r} is required", path=self.path)
        return value

    def conv(self, name: str, fn: Callable[[str], T]) -> Optional[T]:
        raw = self.attr(name)
        if raw is None:
            return None
        try:
            return fn(raw)
        except ValueError as exc:
            raise ImportRefused(f"bad value {raw!r} for {name!r}: {exc}", path=self.path) from None

    def yesno(self, name: str, true: str = "yes", false: str = "no") -> Optional[bool]:
        raw = self.attr(name)
        if raw is None:
            return None
        if raw not in (true, false):
            raise ImportRefused(f"{name!r} must be {true!r} or {false!r}, not {raw!r}",
                                path=self.path)
        return raw == true

    def children(self, tag: str) -> list[Reader]:
        out = []
        for i, child in enumerate(self.el):
            if child.tag == tag:
                self.used_children.add(i)
                out.append(Reader(child, f"{self.path}/{tag}"))
        return out

    def child(self, tag: str) -> Optional[Reader]:
        found = self.children(tag)
        if len(found) > 1:
            raise ImportRefused(f"<{tag}> appears {len(found)} times; libvirt allows one",
                                path=self.path)
        return found[0] if found else None

    def text(self) -> str:
        return (self.el.text or "").strip()

    def done(self) -> None:
        extra_attrs = sorted(set(map(str, self.el.attrib)) - self.used_attrs)
        if extra_attrs:
            raise ImportRefused(
                f"attribute {extra_attrs[0]!r} is not supported by vnet",
                path=self.path,
                hint="vnet refuses what it cannot reproduce rather than dropping it; "
                "remove it or file an issue",
            )
        for i, child in enumerate(self.el):
            if i in self.used_children or not isinstance(child.tag, str):
                continue
            raise ImportRefused(
                f"element <{etree.QName(child).localname}> is not supported by vnet",
                path=self.path,
                hint="vnet refuses what it cannot reproduce rather than dropping it",
            )


def parse_ip_address(raw: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(raw)


def parse_int(raw: str) -> int:
    return int(raw, 0)


def parse_pci(r: Reader) -> PciAddress:
    kind = r.attr("type")
    if kind not in (None, "pci"):
        raise ImportRefused(f"address type {kind!r} is not supported", path=r.path)
    addr = PciAddress(
        domain=r.conv("domain", parse_int) or 0,
        bus=r.conv("bus", parse_int) or 0,
        slot=r.conv("slot", parse_int) or 0,
        function=r.conv("function", parse_int) or 0,
    )
    r.done()
    return addr


def parse_vlan(r: Reader) -> VlanDef:
    trunk = r.yesno("trunk")
    tags = []
    for t in r.children("tag"):
        tags.append(VlanTag(id=t.conv("id", int) or 0, native_mode=t.attr("nativeMode")))
        t.done()
    r.done()
    return VlanDef(tags=tuple(tags), trunk=trunk)


def parse_virtualport(r: Reader) -> VirtualPortDef:
    vtype = r.conv("type", VirtualPortType)
    kwargs: dict[str, object] = {}
    p = r.child("parameters")
    if p is not None:
        kwargs = {
            "managerid": p.conv("managerid", int),
            "typeid": p.conv("typeid", int),
            "typeidversion": p.conv("typeidversion", int),
            "instanceid": p.attr("instanceid"),
            "profileid": p.attr("profileid"),
            "interfaceid": p.attr("interfaceid"),
        }
        p.done()
    r.done()
    return VirtualPortDef(type=vtype, **kwargs)  # type: ignore[arg-type]


def parse_bandwidth(r: Reader) -> BandwidthDef:
    rates: dict[str, Rate] = {}
    for tag in ("inbound", "outbound"):
        c = r.child(tag)
        if c is not None:
            rates[tag] = Rate(average=c.conv("average", int), peak=c.conv("peak", int),
                              burst=c.conv("burst", int), floor=c.conv("floor", int))
            c.done()
    r.done()
    return BandwidthDef(inbound=rates.get("inbound"), outbound=rates.get("outbound"))


