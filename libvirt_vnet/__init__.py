"""libvirt-vnet: map a real network design onto libvirt.

The Python API for provisioning scripts::

    import libvirt_vnet as vnet

    topo = vnet.load_file("office.yaml")          # or vnet.load({...}) with a dict
    rendering = vnet.render(topo)                 # target libvirt 9.0 by default
    for net in rendering.networks:                # one per (host, libvirt network)
        print(net.host, net.name, net.xml)
    web1 = rendering.vm("web1")
    web1.interface_xml()                          # list of <interface> documents
    web1.merge_into(existing_domain_xml)          # your domain with vnet's NICs merged

Every problem raises :class:`VnetError` (``.path`` says where, ``.hint`` how to fix).
"""

from .errors import ConflictError, ErrorList, InputError, LibvirtError, UnsupportedError, VnetError
from .features import LibvirtVersion
from .loader import load, load_file, load_yaml_text
from .rendering import Rendering, render, render_vm

__all__ = [
    "ConflictError",
    "ErrorList",
    "InputError",
    "LibvirtError",
    "LibvirtVersion",
    "Rendering",
    "UnsupportedError",
    "VnetError",
    "load",
    "load_file",
    "load_yaml_text",
    "render",
    "render_vm",
]
__version__ = "0.1.0"
