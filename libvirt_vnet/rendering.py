"""Layer 4 — render a checked topology into libvirt documents.

For each host: the network XML of every network on it; for each VM: its ``<interface>``
elements and vnet's ``<metadata>`` element.  Drivers decide, :mod:`netxml` and
:mod:`ifacexml` format, :mod:`features` refuses what the target libvirt lacks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from lxml import etree

from . import features, ifacexml, netxml
from .assign import nic_macs
from .drivers import registry
from .errors import ErrorList, VnetError
from .features import DEFAULT_TARGET, LibvirtVersion
from .hostspec import DomainMeta, NicMeta
from .netdef import InterfaceDef, NetworkDef
from .spec import Topology, VmSpec
from .templates import skeleton

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderedNetwork:
    host: str
    name: str
    topology_network: str
    definition: NetworkDef
    element: etree._Element = field(compare=False, repr=False)

    @property
    def xml(self) -> str:
        return netxml.to_string(self.element)


@dataclass(frozen=True)
class RenderedVm:
    name: str
    host: str
    interfaces: tuple[InterfaceDef, ...]
    metadata: DomainMeta
    elements: tuple[etree._Element, ...] = field(compare=False, repr=False)

    def interface_xml(self) -> list[str]:
        return [netxml.to_string(el) for el in self.elements]

    def metadata_xml(self) -> str:
        return netxml.to_string(ifacexml.format_metadata(self.metadata))

    def merge_into(self, domain_xml: str | bytes, source: str = "<domain>",
                   force: bool = False) -> str:
        """The user's domain XML with these NICs and vnet's metadata merged in: NICs
        with the same MAC are updated (vnet's parts replaced, the rest kept), others
        added, the rest of the domain untouched.  A domain of another name is refused
        unless ``force``."""
        import copy

        return ifacexml.merge_into_domain(
            domain_xml, [copy.deepcopy(e) for e in self.elements],
            ifacexml.format_metadata(self.metadata), source,
            expect_name=None if force else self.name)

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


def render(topo: Topology, target: LibvirtVersion = DEFAULT_TARGET) -> Rendering:
    errors: list[VnetError] = []
    networks: list[RenderedNetwork] = []
    for host in topo.hosts:
        for net in topo.networks_on(host.name):
            try:
                nds = registry.driver_for(net.kind).networks(net, topo, host.name)
                for nd in nds:
                    features.check_network(nd, target, net.path)
            except VnetError as exc:
                if not any(str(exc) == str(e) for e in errors):  # same on every host
                    errors.append(exc)
                continue
            for nd in nds:
                networks.append(RenderedNetwork(host=host.name, name=nd.name,
                                                topology_network=net.name, definition=nd,
                                                element=netxml.format_network(nd)))
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
        features.check_interface(iface, net.kind, target, nic.path)
        ifaces.append(iface)
        metas.append(NicMeta(mac=mac, network=net.name, kind=net.kind,
                             objects=driver.nic_objects(nic, mac, vm, net, topo)))
    meta = DomainMeta(topology=topo.name, vm=vm.name, nics=tuple(metas))
    return RenderedVm(name=vm.name, host=vm.host, interfaces=tuple(ifaces), metadata=meta,
                      elements=tuple(ifacexml.format_interface(i) for i in ifaces))
