"""Layer 1 — host-side objects a network or NIC needs, and their XML metadata form.

libvirt does not create VLAN devices, the bridges of ``forward mode='bridge'``
networks, veth links between bridges, or SR-IOV VF trust/spoof-check settings.  Drivers
describe those needs as the frozen objects below; they travel inside libvirt's own
documents as a namespaced ``<metadata>`` element, so the hooks (which must not call
libvirt) read everything from the XML on their stdin.  Host plumbing turns these objects
into plans.  This module only describes; it never touches the host.

Reading the metadata works on any ElementTree-like element (lxml's, or the standard
library's, which the hooks use: lxml is imported only to *write* metadata, so a hook
starting a VM never pays for it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Union

if TYPE_CHECKING:
    from lxml import etree

NS = "urn:libvirt-vnet:metadata:1"
NSMAP = {"vnet": NS}


def q(tag: str) -> str:
    """Qualified name in the vnet namespace."""
    return f"{{{NS}}}{tag}"


@dataclass(frozen=True)
class VlanDevice:
    """An 802.1Q VLAN device ``name`` on ``parent`` with VLAN id ``vid``."""

    name: str
    parent: str
    vid: int
    mtu: Optional[int] = None


@dataclass(frozen=True)
class HostBridge:
    """A Linux bridge that vnet creates (libvirt only creates bridges of NAT/route/
    open/isolated networks).  ``mac`` is pinned so the bridge address never follows
    its lowest port; ``dummy_tap`` names the legacy ``<bridge>-nic`` tap, when asked."""

    name: str
    mac: Optional[str] = None
    stp: bool = False
    delay: int = 0
    mtu: Optional[int] = None
    dummy_tap: Optional[str] = None
    group_fwd_mask: Optional[int] = None
    multicast_snooping: Optional[bool] = None


@dataclass(frozen=True)
class BridgeUplink:
    """Enslave an existing device (a VLAN device, the user's uplink) into a bridge."""

    device: str
    bridge: str


@dataclass(frozen=True)
class VethLink:
    """A veth pair: ``name`` enslaved to ``bridge``, ``peer`` to ``peer_bridge``."""

    name: str
    peer: str
    bridge: Optional[str] = None
    peer_bridge: Optional[str] = None
    mtu: Optional[int] = None


@dataclass(frozen=True)
class PortFlags:
    """Bridge-port flags for the ports of one bridge (taps of guests joining it)."""

    bridge: str
    hairpin: Optional[bool] = None
    isolated: Optional[bool] = None
    learning: Optional[bool] = None


@dataclass(frozen=True)
class VfConfig:
    """Settings of one SR-IOV VF (by PF name and, when known, VF PCI address)."""

    pf: Optional[str] = None
    address: Optional[str] = None
    mac: Optional[str] = None
    vlan: Optional[int] = None
    qos: Optional[int] = None
    trust: Optional[bool] = None
    spoofchk: Optional[bool] = None
    link_state: Optional[str] = None


@dataclass(frozen=True)
class MacvlanShim:
    """A host macvlan (mode bridge) on a macvtap uplink so the host can reach guests."""

    name: str
    parent: str
    address: Optional[str] = None


HostObject = Union[VlanDevice, HostBridge, BridgeUplink, VethLink, PortFlags, VfConfig, MacvlanShim]

_TAGS: dict[str, type[Any]] = {
    "vlan-device": VlanDevice,
    "bridge": HostBridge,
    "bridge-uplink": BridgeUplink,
    "veth": VethLink,
    "port-flags": PortFlags,
    "vf": VfConfig,
    "macvlan-shim": MacvlanShim,
}
_TAG_OF = {cls: tag for tag, cls in _TAGS.items()}


@dataclass(frozen=True)
class NetworkMeta:
    """``<vnet:network topology name kind>`` in a network's ``<metadata>``."""

    topology: str
    name: str
    kind: str
    objects: tuple[HostObject, ...] = ()


@dataclass(frozen=True)
class NicMeta:
    """``<vnet:nic>`` inside ``<vnet:domain>``: one NIC and the host objects it needs."""

    mac: str
    network: str
    kind: str
    objects: tuple[HostObject, ...] = ()


@dataclass(frozen=True)
class DomainMeta:
    """``<vnet:domain topology vm>`` in a domain's ``<metadata>``."""

    topology: str
    vm: str
    nics: tuple[NicMeta, ...] = ()


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
