"""Loads the static skeletons in ``xml_templates/``.

After ``pip install .`` the folder is the package ``libvirt_vnet.xml_templates``; in a
source checkout it is the top-level ``xml_templates/`` beside the package.  Callers get a
fresh deep copy each time, so a skeleton can never be mutated by accident.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

from lxml import etree

_PARSER = etree.XMLParser(remove_blank_text=True, remove_comments=True)


def data_dir(package: str, folder: str) -> Path:
    """Where a top-level folder of the source tree shipped as package data is: the package
    ``package`` after ``pip install .``, the folder beside this package in a checkout."""
    import importlib.util

    spec = importlib.util.find_spec(package)  # installed layout
    if spec is not None and spec.origin:
        return Path(spec.origin).parent
    return Path(__file__).resolve().parent.parent / folder


def _template_dir() -> Path:
    return data_dir("libvirt_vnet.xml_templates", "xml_templates")


@cache
def _skeleton(name: str) -> etree._Element:
    return etree.parse(str(_template_dir() / name), _PARSER).getroot()


def skeleton(name: str) -> etree._Element:
    """A fresh copy of ``xml_templates/<name>``."""
    return copy.deepcopy(_skeleton(name))
