"""Kind ``open``: libvirt adds no firewall rules at all; the host's own firewall and
routing decide (``forward mode='open'``)."""

from __future__ import annotations

from ..model.libvirt import ForwardMode
from ._l3 import L3Driver


class OpenDriver(L3Driver):
    kind = "open"
    summary = 'libvirt bridge + DHCP/DNS, no firewall rules added at all'
    forward_mode = ForwardMode.OPEN
    hints = {"uplink": "libvirt's open mode takes no forwarding device",
             "nat": "an open network translates no addresses (use kind nat)"}
