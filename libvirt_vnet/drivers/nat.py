"""Kind ``nat``: a libvirt-managed bridge with addresses, DHCP/DNS and NAT to the
host's uplink — libvirt's ``default`` network, with the bridge MAC pinned."""

from __future__ import annotations

from ..model.libvirt import ForwardMode
from ._l3 import L3_KEYS, L3Driver


class NatDriver(L3Driver):
    kind = "nat"
    summary = "libvirt bridge + DHCP/DNS, NATed out of the host (like libvirt's 'default')"
    keys = L3_KEYS | {"uplink", "nat"}
    forward_mode = ForwardMode.NAT
