"""The host preflight against real devices: in a throwaway namespace, a veth pair (the
uplink that hung libvirtd in issue 10), a bridge and a macvlan on a veth are each refused
for 802.1Qbg, read from the namespace's own sysfs (``ip netns exec`` remounts /sys)."""

from __future__ import annotations

import json
import subprocess
import sys

from support.netns import netns

CODE = """
import json, sys
from libvirt_vnet.host import preflight
out = {n: [preflight.device_kind(n), preflight.vdp_uplink_problem(n)] for n in sys.argv[1:]}
print(json.dumps(out))
"""


def test_real_devices_that_cannot_carry_vdp() -> None:
    with netns("h3pf") as ns:
        for cmd in (["link", "add", "up0", "type", "veth", "peer", "name", "up0p"],
                    ["link", "add", "br0", "type", "bridge"],
                    ["link", "add", "mv0", "link", "up0", "type", "macvlan", "mode", "vepa"]):
            subprocess.run(["ip", "-n", ns, *cmd], check=True, capture_output=True)
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", CODE,
                            "up0", "up0p", "br0", "mv0", "lo", "eth0"],
                           check=True, capture_output=True, text=True)
    found = json.loads(r.stdout)
    assert found["up0"][0] == found["up0p"][0] == "veth"
    assert "hanging the daemon" in found["up0"][1] and "hanging the daemon" in found["up0p"][1]
    assert found["br0"] == ["bridge", "is a bridge device, not a physical NIC: there is no switch port for VDP"]
    assert found["mv0"] == ["stacked", "is a device stacked on 'up0' (a macvlan or the like), not a "
                            "physical NIC: there is no switch port for VDP"]
    assert found["lo"][0] == "loopback"
    assert found["eth0"] == ["missing", "the device does not exist on this host"]  # not the host's eth0
