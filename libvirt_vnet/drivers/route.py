"""Kind ``route``: like nat, but forwarded without address translation (the upstream
router needs a route back to the subnet)."""

from __future__ import annotations

from ..model.libvirt import ForwardMode
from ._l3 import L3_KEYS, L3Driver


class RouteDriver(L3Driver):
    kind = "route"
    summary = 'libvirt bridge + DHCP/DNS, routed without NAT (upstream needs a route back)'
    keys = L3_KEYS | {"uplink"}
    forward_mode = ForwardMode.ROUTE
    hints = {"nat": "a routed network translates no addresses (use kind nat)"}
