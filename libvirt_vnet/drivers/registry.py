"""Finds drivers: the built-in kinds, plus third-party ones registered under the
``libvirt_vnet.drivers`` entry-point group (``kind = module:Class``)."""

from __future__ import annotations

import importlib
import logging
from functools import cache

from ..errors import InputError
from .base import Driver

log = logging.getLogger(__name__)

BUILTIN = {
    "nat": "libvirt_vnet.drivers.nat:NatDriver",
    "route": "libvirt_vnet.drivers.route:RouteDriver",
    "open": "libvirt_vnet.drivers.open:OpenDriver",
    "isolated": "libvirt_vnet.drivers.isolated:IsolatedDriver",
    "bridge": "libvirt_vnet.drivers.bridge:BridgeDriver",
    "vlan-bridge": "libvirt_vnet.drivers.vlan_bridge:VlanBridgeDriver",
    "two-tier": "libvirt_vnet.drivers.two_tier:TwoTierDriver",
    "macvtap": "libvirt_vnet.drivers.macvtap:MacvtapDriver",
    "hostdev": "libvirt_vnet.drivers.hostdev:HostdevDriver",
    "openvswitch": "libvirt_vnet.drivers.openvswitch:OpenvswitchDriver",
}


def _load(target: str) -> Driver:
    module, _, cls = target.partition(":")
    driver = getattr(importlib.import_module(module), cls)()
    if not isinstance(driver, Driver):
        raise TypeError(f"{target} is not a libvirt_vnet Driver")
    return driver


@cache
def _table() -> dict[str, str]:
    table = dict(BUILTIN)
    try:
        from importlib.metadata import entry_points

        try:
            group = list(entry_points(group="libvirt_vnet.drivers"))
        except TypeError:  # Python 3.9: no selection by keyword
            group = list(entry_points().get("libvirt_vnet.drivers", []))  # type: ignore[attr-defined,unused-ignore]
        for ep in group:
            if ep.name not in BUILTIN:
                table[ep.name] = ep.value
    except Exception as exc:  # metadata of a broken install must not break the built-ins
        log.warning("cannot read libvirt_vnet.drivers entry points: %s", exc)
    return table


def kinds() -> tuple[str, ...]:
    return tuple(_table())


@cache
def driver_for(kind: str) -> Driver:
    target = _table().get(kind)
    if target is None:
        raise InputError(f"unknown network kind {kind!r}", hint=f"one of: {', '.join(kinds())}")
    return _load(target)
