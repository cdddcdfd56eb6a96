"""The kernel through netlink: the only module that imports pyroute2.

:class:`NetlinkKernel` implements :class:`~.actions.Kernel` over one ``IPRoute``
socket, and reads complete snapshots (link kinds, bridge and port attributes, VFs,
addresses).  Netlink errors become ``OSError`` with the kernel's errno and a message
naming the operation and the device, so callers never see pyroute2's types.
Importing pyroute2 costs a few tenths of a second (its package imports everything),
which is why nothing imports this module until a change is really needed.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, Optional

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from .snapshot import (
    NET_ADDR_SET,
    SYSFS_NET,
    BridgeAttrs,
    Link,
    PortAttrs,
    Snapshot,
    VfState,
    read_int,
    sysfs_matches_netns,
)

_LINK_STATES = {0: "auto", 1: "enable", 2: "disable"}
_LINK_STATE_CODES = {v: k for k, v in _LINK_STATES.items()}
_BRIDGE_ATTRS = {"stp": "br_stp_state", "forward_delay": "br_forward_delay",
                 "group_fwd_mask": "br_group_fwd_mask", "multicast_snooping": "br_mcast_snooping"}
_PORT_ATTRS = {"hairpin": "mode", "isolated": "isolated", "learning": "learning"}
RTEXT_FILTER_VF = 1


def _data(msg: Any, which: str) -> dict[str, Any]:
    info = msg.get("IFLA_LINKINFO")
    data = info.get(which) if info else None
    if not data:
        return {}
    return {k: v for k, v in data["attrs"]}


def _vfs(msg: Any) -> Optional[tuple[VfState, ...]]:
    vlist = msg.get("IFLA_VFINFO_LIST")
    if vlist is None:
        return () if msg.get("IFLA_NUM_VF") == 0 else None
    out = []
    for vf in vlist.get_attrs("IFLA_VF_INFO"):
        mac = vf.get("IFLA_VF_MAC")
        vlan = vf.get("IFLA_VF_VLAN")
        spoof = vf.get("IFLA_VF_SPOOFCHK")
        trust = vf.get("IFLA_VF_TRUST")
        state = vf.get("IFLA_VF_LINK_STATE")
        out.append(VfState(
            vf=mac["vf"], mac=str(mac["mac"]).lower(), vlan=vlan["vlan"] if vlan else 0,
            qos=vlan["qos"] if vlan else 0,
            spoofchk=None if spoof is None or spoof["spoofchk"] > 1 else bool(spoof["spoofchk"]),
            trust=None if trust is None or trust["trust"] > 1 else bool(trust["trust"]),
            link_state=_LINK_STATES.get(state["link_state"]) if state else None))
    return tuple(out)


def _kind(msg: Any) -> Optional[str]:
    info = msg.get("IFLA_LINKINFO")
    kind = info.get("IFLA_INFO_KIND") if info else None
    return str(kind) if kind else None


class NetlinkKernel:
    """One netlink socket for one run (a context manager)."""

    def __init__(self) -> None:
        self.ipr = IPRoute()
        self._sysfs_ok = sysfs_matches_netns()
        #: name -> ifindex, for the attributes that take an index (master, parent link)
        self._indexes: dict[str, int] = {}

    def close(self) -> None:
        self.ipr.close()

    def __enter__(self) -> NetlinkKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- reading -----------------------------------------------------------
    def _index(self, name: str) -> int:
        cached = self._indexes.get(name)
        if cached is not None:
            return cached
        found = self.ipr.link_lookup(ifname=name)
        if not found:
            raise OSError(errno.ENODEV, f"{name}: no such device")
        self._indexes[name] = int(found[0])
        return int(found[0])

    def snapshot(self, names: Optional[set[str]] = None) -> Snapshot:
        """All links with their addresses (``names`` is ``None``), or just the named ones and
        the ports of named bridges, without addresses.  Either way, a missing name really is
        missing."""
        try:
            if names is None or len(names) > 8:
                msgs = list(self.ipr.link("dump", ext_mask=RTEXT_FILTER_VF))
            else:
                msgs = []
                for name in sorted(names):
                    try:
                        msgs.extend(self.ipr.link("get", ifname=name, ext_mask=RTEXT_FILTER_VF))
                    except NetlinkError as exc:
                        if exc.code != errno.ENODEV:
                            raise
                bridges = [m["index"] for m in msgs if _kind(m) == "bridge"]
                if bridges:
                    seen = {m["index"] for m in msgs}
                    for m in self.ipr.link("dump"):
                        if m.get("IFLA_MASTER") in bridges and m["index"] not in seen:
                            msgs.append(m)
            addrs: Optional[dict[int, list[str]]] = None
            if names is None:  # addresses matter to the shim, which is checked on full snapshots
                addrs = {}
                for a in self.ipr.get_addr():
                    addr = a.get("IFA_LOCAL") or a.get("IFA_ADDRESS")
                    addrs.setdefault(a["index"], []).append(f"{addr}/{a['prefixlen']}")
        except NetlinkError as exc:
            raise OSError(exc.code, f"reading links: {os.strerror(exc.code)}") from exc
        names_by_index = {m["index"]: m.get("IFLA_IFNAME") for m in msgs}
        self._indexes = {name: index for index, name in names_by_index.items()}
        links: dict[str, Link] = {}
        for m in msgs:
            name = m.get("IFLA_IFNAME")
            links[name] = self._link(m, names_by_index, addrs)
        return Snapshot(links=links, complete=True, source="netlink")

    def lookup(self, name: str) -> Optional[Link]:
        """One link, cheaply (no ports, no addresses): one netlink round trip."""
        try:
            (m,) = self.ipr.link("get", ifname=name)
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:
                return None
            raise OSError(exc.code, f"reading {name}: {os.strerror(exc.code)}") from exc
        return self._link(m, {m["index"]: name}, None)

    def _link(self, m: Any, names_by_index: dict[int, str], addrs: Optional[dict[int, list[str]]]) -> Link:
        name = m.get("IFLA_IFNAME")
        data = _data(m, "IFLA_INFO_DATA")
        kind = _kind(m)
        bridge = None
        if kind == "bridge":
            bridge = BridgeAttrs(stp=bool(data.get("IFLA_BR_STP_STATE", 0)),
                                 forward_delay=int(data.get("IFLA_BR_FORWARD_DELAY", 0)),
                                 group_fwd_mask=int(data.get("IFLA_BR_GROUP_FWD_MASK", 0)),
                                 multicast_snooping=bool(data.get("IFLA_BR_MCAST_SNOOPING", 0)))
        port = None
        info = m.get("IFLA_LINKINFO")
        if info and info.get("IFLA_INFO_SLAVE_KIND") == "bridge":
            sd = _data(m, "IFLA_INFO_SLAVE_DATA")
            iso = sd.get("IFLA_BRPORT_ISOLATED")
            port = PortAttrs(hairpin=bool(sd.get("IFLA_BRPORT_MODE", 0)),
                             isolated=None if iso is None else bool(iso),
                             learning=bool(sd.get("IFLA_BRPORT_LEARNING", 1)))
        master = m.get("IFLA_MASTER")
        if master is not None and master not in names_by_index:
            with suppress(NetlinkError):
                names_by_index[master] = self.ipr.link("get", index=master)[0].get("IFLA_IFNAME")
        mac_pinned = numvfs = totalvfs = None
        if self._sysfs_ok:  # two facts netlink does not carry (6.1): read only where they matter
            if kind == "bridge":
                mac_pinned = read_int(f"{SYSFS_NET}/{name}/addr_assign_type") == NET_ADDR_SET
            elif kind is None:
                numvfs = read_int(f"{SYSFS_NET}/{name}/device/sriov_numvfs")
                totalvfs = read_int(f"{SYSFS_NET}/{name}/device/sriov_totalvfs")
        link = m.get("IFLA_LINK")
        return Link(
            name=name, index=m["index"], mac=str(m.get("IFLA_ADDRESS") or "").lower(),
            mtu=int(m.get("IFLA_MTU") or 0), up=bool(m["flags"] & 1), alias=m.get("IFLA_IFALIAS") or "",
            kind=kind, master=names_by_index.get(master) if master is not None else None,
            link=None if link in (None, m["index"]) else int(link),
            vlan_id=data.get("IFLA_VLAN_ID") if kind == "vlan" else None,
            macvlan_mode=(data.get("IFLA_MACVLAN_MODE") or data.get("IFLA_MACVTAP_MODE"))
            if kind in ("macvlan", "macvtap") else None,
            mac_pinned=mac_pinned, bridge=bridge, port=port,
            addresses=None if addrs is None else tuple(addrs.get(m["index"], ())),
            numvfs=numvfs, totalvfs=totalvfs,
            vfs=_vfs(m),
        )

    # ---- changing ----------------------------------------------------------
    @contextmanager
    def _op(self, what: str) -> Iterator[None]:
        try:
            yield
        except NetlinkError as exc:
            raise OSError(exc.code, f"{what}: {os.strerror(exc.code)}") from exc

    def create(self, name: str, kind: str, **attrs: Any) -> Optional[int]:
        """Create the link; its interface index (``ifindex`` asked for, when the kernel
        honours it: tuntap devices are made by an ioctl that does not)."""
        spec: dict[str, Any] = {"ifname": name}
        up = attrs.pop("up", False)
        ifindex = attrs.pop("ifindex", None)
        if ifindex:  # the index recorded in the delete record before the creation: proof it is ours
            spec["index"] = int(ifindex)
        if kind == "bridge":
            spec["kind"] = "bridge"
            if attrs.get("mac"):
                spec["address"] = attrs.pop("mac")
            for ours, theirs in _BRIDGE_ATTRS.items():
                if attrs.get(ours) is not None:
                    spec[theirs] = int(attrs.pop(ours))
        elif kind == "vlan":
            spec.update(kind="vlan", link=self._index(attrs.pop("link")), vlan_id=attrs.pop("vlan_id"))
        elif kind == "veth":
            peer: dict[str, Any] = {"ifname": attrs.pop("peer")}
            if attrs.get("mtu"):
                peer["mtu"] = attrs["mtu"]
            spec.update(kind="veth", peer=peer)
        elif kind == "macvlan":
            spec.update(kind="macvlan", link=self._index(attrs.pop("link")), macvlan_mode=attrs.pop("mode"))
        elif kind == "tap":
            spec.update(kind="tuntap", mode="tap")
        else:
            raise ValueError(f"cannot create links of kind {kind}")
        if attrs.get("mtu"):
            spec["mtu"] = attrs.pop("mtu")
        mac = attrs.pop("mac", None)
        attrs.pop("mtu", None)
        if attrs:
            raise ValueError(f"unexpected attributes for a {kind}: {sorted(attrs)}")
        if up and kind != "tap":
            spec["state"] = "up"
        with self._op(f"creating {kind} {name}"):
            self.ipr.link("add", **spec)
        made = spec.get("index")
        if kind == "tap":
            self._indexes.pop(name, None)
            made = self._index(name)
        if mac and kind == "tap":
            self.set(name, mac=mac)
        return made

    def set(self, name: str, **attrs: Any) -> None:
        spec: dict[str, Any] = {}
        for key, value in attrs.items():
            if value is None and key != "master":
                continue
            if key == "mac":
                spec["address"] = value
            elif key == "mtu":
                spec["mtu"] = value
            elif key == "up":
                spec["state"] = "up" if value else "down"
            elif key == "alias":
                spec["ifalias"] = value
            elif key == "master":
                spec["master"] = self._index(value) if value else 0
            elif key in _BRIDGE_ATTRS:
                spec["kind"] = "bridge"
                spec[_BRIDGE_ATTRS[key]] = int(value)
            else:
                raise ValueError(f"cannot set {key} on a link")
        if not spec:
            return
        if "br_stp_state" in spec and "br_forward_delay" in spec:
            # the kernel applies the delay before the STP state and keeps it within 2..30 s
            # while STP runs: turning STP off goes first, turning it on goes last
            stp = {"kind": "bridge", "br_stp_state": spec.pop("br_stp_state")}
            first, then = (stp, spec) if not stp["br_stp_state"] else (spec, stp)
            with self._op(f"changing {name} ({', '.join(sorted(attrs))})"):
                self.ipr.link("set", ifname=name, **first)
                self.ipr.link("set", ifname=name, **then)
            return
        with self._op(f"changing {name} ({', '.join(sorted(attrs))})"):
            if spec.get("master") is not None and spec.get("state") == "up":
                # enslave first: a port comes up in the bridge, never briefly outside it
                state = spec.pop("state")
                self.ipr.link("set", ifname=name, **spec)
                self.ipr.link("set", ifname=name, state=state)
            else:
                self.ipr.link("set", ifname=name, **spec)

    def set_port(self, name: str, **flags: Any) -> None:
        spec = {_PORT_ATTRS[k]: int(v) for k, v in flags.items() if v is not None}
        with self._op(f"changing bridge port {name} ({', '.join(sorted(flags))})"):
            self.ipr.brport("set", index=self._index(name), **spec)

    def delete(self, name: str) -> None:
        with self._op(f"deleting {name}"):
            self.ipr.link("del", ifname=name)
        self._indexes.pop(name, None)

    def add_address(self, name: str, cidr: str) -> None:
        addr, _, plen = cidr.partition("/")
        with self._op(f"adding {cidr} to {name}"):
            self.ipr.addr("add", index=self._index(name), address=addr, prefixlen=int(plen))

    def del_address(self, name: str, cidr: str) -> None:
        addr, _, plen = cidr.partition("/")
        with self._op(f"removing {cidr} from {name}"):
            self.ipr.addr("del", index=self._index(name), address=addr, prefixlen=int(plen))

    def set_vf(self, pf: str, vf: int, **attrs: Any) -> None:
        spec: dict[str, Any] = {"vf": vf}
        if attrs.get("mac") is not None:
            spec["mac"] = attrs["mac"]
        if attrs.get("vlan") is not None:
            spec["vlan"] = {"vlan": attrs["vlan"], "qos": attrs.get("qos") or 0}
        for key in ("trust", "spoofchk"):
            if attrs.get(key) is not None:
                spec[key] = int(attrs[key])
        if attrs.get("link_state") is not None:
            spec["link_state"] = _LINK_STATE_CODES[attrs["link_state"]]
        with self._op(f"changing VF {vf} of {pf} ({', '.join(sorted(attrs))})"):
            self.ipr.link("set", index=self._index(pf), vf=spec)

    def set_numvfs(self, pf: str, count: int) -> None:
        path = f"/sys/class/net/{pf}/device/sriov_numvfs"
        try:
            with open(path, "w") as f:
                f.write(str(count))
        except OSError as exc:
            raise OSError(exc.errno, f"setting {path} to {count}: {exc.strerror}") from exc
