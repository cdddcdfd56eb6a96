"""Naming and addressing rules: interface names, MAC addresses, stable derived values.

Pure functions, no I/O.  Derived values (MACs, UUIDs, bridge names) are hashes of the
topology name and object names, so re-rendering a topology always gives the same
output and two topologies do not collide by accident.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import uuid as uuidlib
from typing import Optional, Union

IFNAMSIZ = 16  # kernel: 15 bytes + NUL
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")  # libvirt's deviceName, less ':' '/' '\\'
_DNS_RE = re.compile(r"^[A-Za-z0-9.-]+$")  # libvirt's dnsName
_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$")
_VNET_UUID_NS = uuidlib.UUID("5b0c3f7e-2d1a-4e8a-9a4f-6c1e0d9b7a21")
QEMU_OUI = "52:54:00"


def ifname_problem(name: str) -> Optional[str]:
    """Why ``name`` cannot be a Linux interface name, or ``None`` when it can."""
    if not name:
        return "an interface name cannot be empty"
    if len(name.encode()) > IFNAMSIZ - 1:
        return f"{name!r} is {len(name.encode())} bytes; Linux interface names are at most 15"
    if name in (".", ".."):
        return f"{name!r} is not a valid interface name"
    if not _IFNAME_RE.match(name):
        bad = next(ch for ch in name if not _IFNAME_RE.match(ch))
        return (f"{name!r} contains {bad!r}; interface names here are letters, digits, "
                "'_', '.' and '-' (what Linux and libvirt's schema both accept)")
    return None


#: device names the kernel refuses or always holds ("all" and "default" clash with
#: /proc/sys/net/*/conf/, bonding_masters with the bonding driver's sysfs file)
RESERVED_IFNAMES = frozenset({"lo", "all", "default", "bonding_masters"})
#: prefixes libvirt reserves for the devices it names itself (guest taps, macvtap/macvlan)
LIBVIRT_IFNAME_PREFIXES = ("vnet", "macvtap", "macvlan", "vif")
_LIBVIRT_GENERATED = re.compile(r"^(?:vnet|macvtap|macvlan|vif)\d+$")


def reserved_ifname_problem(name: str) -> Optional[str]:
    """Why vnet must never create a device called ``name`` (a name the kernel holds or
    refuses, or one libvirt generates for its own devices), or ``None``."""
    if name == "lo":
        return "'lo' is the loopback device: it always exists and carries no traffic off the host"
    if name in RESERVED_IFNAMES:
        return f"{name!r} is a name the kernel reserves for itself (/proc/sys/net or sysfs)"
    if _LIBVIRT_GENERATED.match(name):
        return (f"{name!r} is a name libvirt generates for guest devices "
                f"({', '.join(p + 'N' for p in LIBVIRT_IFNAME_PREFIXES)})")
    return None


def host_address_problem(ip: Union[ipaddress.IPv4Address, ipaddress.IPv6Address],
                         block: Union[ipaddress.IPv4Network, ipaddress.IPv6Network]) -> Optional[str]:
    """Why ``ip`` (inside ``block``) cannot be given to a host: the network address, or the
    IPv4 broadcast address (point-to-point blocks, an IPv4 /31 or an IPv6 /127, and
    single addresses have neither)."""
    if block.prefixlen >= block.max_prefixlen - 1:
        return None
    if ip == block.network_address:
        return f"{ip} is the network address of {block}, not a host address"
    if block.version == 4 and ip == block.broadcast_address:
        return f"{ip} is the broadcast address of {block}, not a host address"
    return None


def dns_name_problem(name: str) -> Optional[str]:
    """Why ``name`` cannot be a DNS name in libvirt's network XML."""
    if not _DNS_RE.match(name):
        return f"{name!r} is not a DNS name: use letters, digits, '.' and '-'"
    return None


def normalize_mac(raw: str) -> str:
    """``raw`` as lower-case colon-separated MAC; ``ValueError`` if it is not a MAC."""
    if not isinstance(raw, str) or not _MAC_RE.match(raw):
        raise ValueError(f"{raw!r} is not a MAC address (six hex pairs like 52:54:00:12:34:56)")
    return raw.replace("-", ":").lower()


def mac_problem(mac: str, *, guest: bool) -> Optional[str]:
    """Why a normalized MAC cannot be a NIC (``guest``) or bridge address."""
    first = int(mac[:2], 16)
    if first & 1:
        return (
            f"{mac} has the multicast bit set (first byte {mac[:2]} is odd), so it can never "
            "be the address of a NIC or a bridge"
        )
    if mac == "00:00:00:00:00:00":
        return "00:00:00:00:00:00 is not a usable address"
    if guest and mac.startswith("fe:"):
        return f"{mac} starts with fe:, which libvirt reserves for host-side tap devices"
    return None


MAC_HINT = (
    "use a locally administered unicast address: the second hex digit 2, 6, a or e "
    "(e.g. 52:54:00:xx:xx:xx, the QEMU/KVM prefix), or leave it out to get a stable derived one"
)


def derive_mac(*parts: str, salt: int = 0) -> str:
    """A stable 52:54:00:xx:xx:xx address from ``parts``."""
    digest = hashlib.sha256("\0".join((*parts, str(salt))).encode()).digest()
    return QEMU_OUI + "".join(f":{b:02x}" for b in digest[:3])


def derive_uuid(*parts: str) -> str:
    return str(uuidlib.uuid5(_VNET_UUID_NS, "/".join(parts)))


def derive_ifname(prefix: str, name: str) -> str:
    """``prefix`` + ``name`` if that fits in 15 bytes, else ``prefix`` + a short hash."""
    candidate = f"{prefix}{name}"
    if ifname_problem(candidate) is None:
        return candidate
    digest = hashlib.sha256(name.encode()).hexdigest()
    return f"{prefix}{digest[: IFNAMSIZ - 1 - len(prefix)]}"


def dummy_tap_name(bridge: str) -> str:
    """libvirt's name for a bridge's dummy tap: ``<bridge>-nic``, shortened like libvirt
    (first 8 + last 3 characters) when the result would not fit in 15 bytes."""
    suffix = "-nic"
    if len(bridge) + len(suffix) + 1 > IFNAMSIZ:
        keep = IFNAMSIZ - (3 + len(suffix) + 1)
        return f"{bridge[:keep]}{bridge[-3:]}{suffix}"
    return f"{bridge}{suffix}"


def vlan_device_name(parent: str, vid: int) -> Optional[str]:
    """The conventional ``<parent>.<vid>`` name, or ``None`` when it is too long."""
    name = f"{parent}.{vid}"
    return name if ifname_problem(name) is None else None


def network_name_problem(name: str) -> Optional[str]:
    """Why ``name`` cannot be a libvirt network/domain name (used in file names too)."""
    if not name or not isinstance(name, str):
        return "a name cannot be empty"
    if "/" in name:
        return f"{name!r} contains '/', which libvirt refuses in names"
    if name.startswith(".") or any(ord(c) < 32 for c in name) or name != name.strip():
        return f"{name!r} has leading dots, spaces or control characters"
    if len(name) > 200:
        return "names longer than 200 characters are not supported"
    return None
