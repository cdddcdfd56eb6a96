"""Where the files shipped beside the code are: the XML skeletons (``xml_templates/``),
the hook scripts (``hooks/``) and the topology JSON Schema.

A top-level folder of the source tree is installed as a package of its own (setup.cfg's
``package_dir``): ``xml_templates/`` becomes ``libvirt_vnet.xml_templates`` and ``hooks/``
``libvirt_vnet.hook_scripts``.  This module finds either layout, so the same lookups work
after a plain ``pip install .`` and in a source checkout.
"""

from __future__ import annotations

from pathlib import Path


def data_dir(package: str, folder: str) -> Path:
    """Where a top-level folder of the source tree shipped as package data is: the package
    ``package`` after ``pip install .``, the folder beside this package in a checkout."""
    import importlib.util

    spec = importlib.util.find_spec(package)  # installed layout
    if spec is not None and spec.origin:
        return Path(spec.origin).parent
    return Path(__file__).resolve().parent.parent / folder


def templates_dir() -> Path:
    """``xml_templates/``: the static skeletons of libvirt documents."""
    return data_dir("libvirt_vnet.xml_templates", "xml_templates")


def hook_scripts_dir() -> Path:
    """``hooks/``: the libvirt hook entry scripts ``qemu`` and ``network``."""
    return data_dir("libvirt_vnet.hook_scripts", "hooks")


def topology_schema() -> Path:
    """The topology document's JSON Schema."""
    return Path(__file__).resolve().parent / "topology" / "schema.json"
