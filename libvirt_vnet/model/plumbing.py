"""The plumbing contract: host-side objects a network or NIC needs.

libvirt does not create VLAN devices, the bridges of ``forward mode='bridge'``
networks, veth links between bridges, or SR-IOV VF trust/spoof-check settings.  Drivers
describe those needs as the frozen objects below; they travel inside libvirt's own
documents as vnet's namespaced ``<metadata>`` element (encoded and decoded by
:mod:`libvirt_vnet.libvirtxml.metadata`), so the hooks, which must not call libvirt, read
everything from the XML on their stdin; the host engine (:mod:`libvirt_vnet.host`) turns
them into actions.  This module only describes: it imports nothing of this package and
never touches the host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union


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


@dataclass(frozen=True)
class SriovVfs:
    """``sriov_numvfs`` of a PF: how many VFs the host creates on it (``hosts.<h>.sriov``)."""

    pf: str
    count: int


HostObject = Union[VlanDevice, HostBridge, BridgeUplink, VethLink, PortFlags, VfConfig, MacvlanShim, SriovVfs]


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
