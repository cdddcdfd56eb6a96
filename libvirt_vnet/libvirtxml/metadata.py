"""vnet's ``<metadata>`` element: the plumbing contract (:mod:`libvirt_vnet.model.plumbing`)
encoded into, and decoded from, libvirt's network and domain documents.

Reading works on any ElementTree-like element (lxml's, or the standard library's, which
the hooks use: lxml is imported only to *write* metadata, so a hook starting a VM never
pays for it).  The namespace is ``urn:libvirt-vnet:metadata:1``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Optional

from ..model.plumbing import (
    BridgeUplink,
    DomainMeta,
    HostBridge,
    HostObject,
    MacvlanShim,
    NetworkMeta,
    NicMeta,
    PortFlags,
    SriovVfs,
    VethLink,
    VfConfig,
    VlanDevice,
)

if TYPE_CHECKING:
    from lxml import etree

NS = "urn:libvirt-vnet:metadata:1"
NSMAP = {"vnet": NS}


def q(tag: str) -> str:
    """Qualified name in the vnet namespace."""
    return f"{{{NS}}}{tag}"


_TAGS: dict[str, type[Any]] = {
    "vlan-device": VlanDevice,
    "bridge": HostBridge,
    "bridge-uplink": BridgeUplink,
    "veth": VethLink,
    "port-flags": PortFlags,
    "vf": VfConfig,
    "macvlan-shim": MacvlanShim,
    "sriov-vfs": SriovVfs,
}
_TAG_OF = {cls: tag for tag, cls in _TAGS.items()}


#: an element to read metadata from: lxml's or the standard library's (both have
#: ``tag``, ``attrib``, ``get``, ``findall`` and iterate over their children)
Element = Any


def _attr(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _object_element(obj: HostObject) -> etree._Element:
    from lxml import etree

    el = etree.Element(q(_TAG_OF[type(obj)]), nsmap=NSMAP)
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is not None:
            el.set(f.name.replace("_", "-"), _attr(value))
    return el


_KINDS: dict[type[Any], dict[str, str]] = {}


def _field_kinds(cls: type[Any]) -> dict[str, str]:
    """Field name → "bool", "int" or "str" (from the annotation's text: cheap, no
    ``typing.get_type_hints``)."""
    kinds = _KINDS.get(cls)
    if kinds is None:
        kinds = {}
        for f in dataclasses.fields(cls):
            hint = str(f.type)
            kinds[f.name] = "bool" if "bool" in hint else "int" if "int" in hint else "str"
        _KINDS[cls] = kinds
    return kinds


def _convert(raw: str, kind: str) -> object:
    if kind == "bool":
        if raw not in ("yes", "no"):
            raise ValueError(f"expected yes or no, got {raw!r}")
        return raw == "yes"
    if kind == "int":
        return int(raw, 0)
    return raw


def _localname(el: Element) -> str:
    return str(el.tag).rpartition("}")[2]


def _children(el: Element) -> list[Element]:
    return [c for c in el if isinstance(c.tag, str)]


def _object_from(el: Element) -> HostObject:
    tag = _localname(el)
    cls = _TAGS.get(tag)
    if cls is None:
        raise ValueError(f"unknown vnet metadata element <{tag}>")
    kinds = _field_kinds(cls)
    kwargs: dict[str, object] = {}
    for key, raw in el.attrib.items():
        name = str(key).replace("-", "_")
        if name not in kinds:
            raise ValueError(f"unknown attribute {key!r} on <vnet:{tag}>")
        kwargs[name] = _convert(str(raw), kinds[name])
    obj: HostObject = cls(**kwargs)
    return obj


def network_meta_element(meta: NetworkMeta) -> etree._Element:
    from lxml import etree

    el = etree.Element(q("network"), nsmap=NSMAP)
    el.set("topology", meta.topology)
    el.set("name", meta.name)
    el.set("kind", meta.kind)
    for obj in meta.objects:
        el.append(_object_element(obj))
    return el


def network_meta_from(el: Element) -> NetworkMeta:
    return NetworkMeta(
        topology=el.get("topology", ""),
        name=el.get("name", ""),
        kind=el.get("kind", ""),
        objects=tuple(_object_from(c) for c in _children(el)),
    )


def domain_meta_element(meta: DomainMeta) -> etree._Element:
    from lxml import etree

    el = etree.Element(q("domain"), nsmap=NSMAP)
    el.set("topology", meta.topology)
    el.set("vm", meta.vm)
    for nic in meta.nics:
        nel = etree.SubElement(el, q("nic"))
        nel.set("mac", nic.mac)
        nel.set("network", nic.network)
        nel.set("kind", nic.kind)
        for obj in nic.objects:
            nel.append(_object_element(obj))
    return el


def domain_meta_of(domain: Element) -> Optional[DomainMeta]:
    """vnet's metadata of a ``<domain>`` element, or ``None`` when it has none."""
    el = domain.find(f"metadata/{q('domain')}")
    return None if el is None else domain_meta_from(el)


def network_meta_of(network: Element) -> Optional[NetworkMeta]:
    """vnet's metadata of a ``<network>`` element, or ``None`` when it has none."""
    el = network.find(f"metadata/{q('network')}")
    return None if el is None else network_meta_from(el)


def domain_meta_from(el: Element) -> DomainMeta:
    nics = []
    for nel in el.findall(q("nic")):
        nics.append(
            NicMeta(
                mac=nel.get("mac", ""),
                network=nel.get("network", ""),
                kind=nel.get("kind", ""),
                objects=tuple(_object_from(c) for c in _children(nel)),
            )
        )
    return DomainMeta(topology=el.get("topology", ""), vm=el.get("vm", ""), nics=tuple(nics))
