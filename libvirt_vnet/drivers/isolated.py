"""Kind ``isolated``: a libvirt bridge with no forwarding.  With a subnet, guests
reach each other and the host; without one ("very isolated") the host has no address
on it and guests only see each other."""

from __future__ import annotations

from ._l3 import L3Driver


class IsolatedDriver(L3Driver):
    kind = "isolated"
    summary = 'libvirt bridge, no forwarding; without a subnet the host has no address'
    hints = {"uplink": "an isolated network forwards nothing",
             "nat": "an isolated network forwards nothing"}
