"""libvirt-vnet: map a real network design onto libvirt.

The Python API for provisioning scripts::

    import libvirt_vnet as vnet

    topo = vnet.load_file("office.yaml")          # or vnet.load({...}) with a dict
    rendering = vnet.render(topo)                 # target libvirt 9.0 by default
    for net in rendering.networks_on("hv1"):      # one per (host, libvirt network)
        print(net.name, net.xml)
    web1 = rendering.vm("web1")
    web1.interface_xml()                          # list of <interface> documents
    web1.merge_into(existing_domain_xml)          # your domain with vnet's NICs merged

    from libvirt_vnet.prove import prove
    prove(rendering)                              # RelaxNG + libvirt's parser, no host touched

Every problem raises :class:`VnetError` (``.path`` says where, ``.hint`` how to fix).

The names below are imported on first use (PEP 562), so ``import libvirt_vnet.<module>``
stays cheap: libvirt's hooks import small modules of this package on every VM start.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs a hook ~7 ms

__version__ = "0.1.0"

_EXPORTS = {
    "ConflictError": "errors",
    "ErrorList": "errors",
    "InputError": "errors",
    "LibvirtError": "errors",
    "UnsupportedError": "errors",
    "VnetError": "errors",
    "LibvirtVersion": "libvirtxml.versions",
    "load": "topology",
    "load_file": "topology",
    "load_yaml_text": "topology",
    "Rendering": "rendering",
    "render": "rendering",
    "render_vm": "rendering",
}
__all__ = [  # noqa: RUF022 - grouped like _EXPORTS
    "ConflictError", "ErrorList", "InputError", "LibvirtError", "UnsupportedError", "VnetError",
    "LibvirtVersion", "load", "load_file", "load_yaml_text", "Rendering", "render", "render_vm",
]
assert set(__all__) == set(_EXPORTS)

if TYPE_CHECKING:
    from typing import Any

    from .errors import ConflictError, ErrorList, InputError, LibvirtError, UnsupportedError, VnetError
    from .libvirtxml.versions import LibvirtVersion
    from .rendering import Rendering, render, render_vm
    from .topology import load, load_file, load_yaml_text


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'libvirt_vnet' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
