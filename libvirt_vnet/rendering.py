"""Render a checked topology into libvirt documents, and write them to a folder.

For each host: the network XML of every network on it; for each VM: its ``<interface>``
elements and vnet's ``<metadata>`` element; and the host objects the topology needs there
(:func:`host_needs`).  Drivers decide, :mod:`libvirt_vnet.libvirtxml` formats and refuses
what the target libvirt lacks.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from . import outdir
from .drivers import registry
from .errors import ErrorList, VnetError
from .libvirtxml import interface as ifacexml
from .libvirtxml import versions
from .libvirtxml.common import to_string
from .libvirtxml.network import format_network
from .libvirtxml.skeletons import skeleton
from .libvirtxml.versions import DEFAULT_TARGET, LibvirtVersion
from .model.derived import nic_macs
from .model.libvirt import InterfaceDef, NetworkDef
from .model.plumbing import DomainMeta, HostObject, NicMeta, SriovVfs, VfConfig
from .model.topology import Topology, VmSpec

log = logging.getLogger(__name__)

#: the files a render writes, as a later render recognises them when they went stale
STALE_SHAPES = (re.compile(r"[^/]+/networks/[^/]+\.xml"), re.compile(r"[^/]+/vms/[^/]+/(nic[0-9]+|metadata)\.xml"))


@dataclass(frozen=True)
class RenderedNetwork:
    host: str
    name: str
    topology_network: str
    definition: NetworkDef
    element: etree._Element = field(compare=False, repr=False)

    @property
    def xml(self) -> str:
        return to_string(self.element)


@dataclass(frozen=True)
class RenderedVm:
    name: str
    host: str
    interfaces: tuple[InterfaceDef, ...]
    metadata: DomainMeta
    elements: tuple[etree._Element, ...] = field(compare=False, repr=False)

    def interface_xml(self) -> list[str]:
        return [to_string(el) for el in self.elements]

    def metadata_xml(self) -> str:
        return to_string(ifacexml.format_metadata(self.metadata))

    def merge_into(self, domain_xml: str | bytes, source: str = "<domain>",
                   force: bool = False, replace_foreign: bool = False) -> str:
        """The user's domain XML with these NICs and vnet's metadata merged in: NICs
        with the same MAC are updated (vnet's parts replaced, the rest kept), others
        added, the rest of the domain untouched.  A domain of another name is refused
        unless ``force``; NICs vnet merged for another topology or VM are refused unless
        ``replace_foreign`` (see :func:`libvirt_vnet.libvirtxml.interface.merge_domain`)."""
        return self.merge(domain_xml, source, force, replace_foreign).xml

    def merge(self, domain_xml: str | bytes, source: str = "<domain>", force: bool = False,
              replace_foreign: bool = False) -> ifacexml.MergeResult:
        """Like :meth:`merge_into`, with the notes of what the merge removed or replaced."""
        import copy

        return ifacexml.merge_domain(
            domain_xml, [copy.deepcopy(e) for e in self.elements],
            ifacexml.format_metadata(self.metadata), source,
            expect_name=None if force else self.name, replace_foreign=replace_foreign)

    def domain_xml(self) -> str:
        """A minimal diskless domain with these NICs (for test drivers and sandboxes)."""
        dom = skeleton("domain.xml")
        dom.find("name").text = self.name  # type: ignore[union-attr]
        return self.merge_into(etree.tostring(dom))


@dataclass(frozen=True)
class Rendering:
    topology: Topology
    target: LibvirtVersion
    networks: tuple[RenderedNetwork, ...]
    vms: tuple[RenderedVm, ...]

    def networks_on(self, host: str) -> tuple[RenderedNetwork, ...]:
        return tuple(n for n in self.networks if n.host == host)

    def vm(self, name: str) -> RenderedVm:
        return next(v for v in self.vms if v.name == name)

    def files(self) -> dict[str, str]:
        """What :meth:`write` writes: ``<host>/networks/<net>.xml``, and per VM
        ``<host>/vms/<vm>/nicN.xml`` and ``metadata.xml`` (relative path → text)."""
        files: dict[str, str] = {}
        for rn in self.networks:
            files[f"{rn.host}/networks/{rn.name}.xml"] = rn.xml
        for vm in self.vms:
            for i, xml in enumerate(vm.interface_xml()):
                files[f"{vm.host}/vms/{vm.name}/nic{i}.xml"] = xml
            files[f"{vm.host}/vms/{vm.name}/metadata.xml"] = vm.metadata_xml()
        return files

    def write(self, out: Path) -> list[Path]:
        """Write :meth:`files` into the folder ``out`` (see :mod:`libvirt_vnet.outdir`: never
        through a symlink out of it, all files replaced together or none).  Files an earlier
        render into ``out`` wrote and this one does not (a network removed from the
        topology) are deleted — only those, listed in ``out/.vnet-rendered`` — so a loop
        over ``networks/*.xml`` never sees stale ones."""
        files = self.files()
        outdir.write_tree(str(out), files, stale_shapes=STALE_SHAPES)
        return [out / rel for rel in files]


def render(topo: Topology, target: LibvirtVersion = DEFAULT_TARGET) -> Rendering:
    errors: list[VnetError] = []
    networks: list[RenderedNetwork] = []
    for host in topo.hosts:
        for net in topo.networks_on(host.name):
            try:
                nds = registry.driver_for(net.kind).networks(net, topo, host.name)
                for nd in nds:
                    versions.check_network(nd, target, net.path)
            except VnetError as exc:
                if not any(str(exc) == str(e) for e in errors):  # same on every host
                    errors.append(exc)
                continue
            for nd in nds:
                networks.append(RenderedNetwork(host=host.name, name=nd.name,
                                                topology_network=net.name, definition=nd,
                                                element=format_network(nd)))
    vms = []
    for vm in topo.vms:
        try:
            vms.append(render_vm(topo, vm, target))
        except VnetError as exc:
            errors.append(exc)
    if errors:
        raise ErrorList.of(errors)
    log.info("rendered %d libvirt networks on %d hosts and %d VMs for libvirt %s",
             len(networks), len(topo.hosts), len(vms), target)
    return Rendering(topology=topo, target=target, networks=tuple(networks), vms=tuple(vms))


def render_vm(topo: Topology, vm: VmSpec, target: LibvirtVersion = DEFAULT_TARGET) -> RenderedVm:
    macs = nic_macs(topo)
    ifaces = []
    metas = []
    for nic in vm.nics:
        net = topo.network(nic.network)
        driver = registry.driver_for(net.kind)
        mac = macs[(vm.name, nic.index)]
        iface = driver.interface(nic, mac, vm, net, topo)
        versions.check_interface(iface, driver.nic_vlan_on_linux_bridge, target, nic.path)
        ifaces.append(iface)
        metas.append(NicMeta(mac=mac, network=net.name, kind=net.kind,
                             objects=driver.nic_objects(nic, mac, vm, net, topo)))
    meta = DomainMeta(topology=topo.name, vm=vm.name, nics=tuple(metas))
    return RenderedVm(name=vm.name, host=vm.host, interfaces=tuple(ifaces), metadata=meta,
                      elements=tuple(ifacexml.format_interface(i) for i in ifaces))


def host_needs(topo: Topology, host: str) -> list[tuple[str, tuple[HostObject, ...]]]:
    """Everything ``topo`` needs on ``host`` as host objects, grouped by their place in the
    topology: SR-IOV VF counts, then each network's objects, then settings of VFs that NICs
    name by PCI address.  (VFs a guest takes from a pool are known only when libvirt picks
    one: the qemu hook sets those.)  :func:`libvirt_vnet.host.planner.actions_for_needs`
    turns them into host actions."""
    hspec = topo.host(host)
    needs: list[tuple[str, tuple[HostObject, ...]]] = [
        (f"{hspec.path}.sriov.{pf.name}", (SriovVfs(pf=pf.name, count=pf.vfs),)) for pf in hspec.sriov]
    macs = nic_macs(topo)
    for net in topo.networks_on(host):
        needs.append((net.path, registry.driver_for(net.kind).host_objects(net, topo, host)))
    for vm in topo.vms:
        if vm.host != host:
            continue
        for nic in vm.nics:
            net = topo.network(nic.network)
            objs = registry.driver_for(net.kind).nic_objects(nic, macs[(vm.name, nic.index)], vm, net, topo)
            needs.append((nic.path, tuple(obj for obj in objs if isinstance(obj, VfConfig) and obj.address)))
    return needs
