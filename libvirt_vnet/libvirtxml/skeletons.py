"""Loads the static skeletons in ``xml_templates/`` (found by :mod:`libvirt_vnet.resources`).

Callers get a fresh deep copy each time, so a skeleton can never be mutated by accident.
"""

from __future__ import annotations

import copy
from functools import cache

from lxml import etree

from ..resources import templates_dir

_PARSER = etree.XMLParser(remove_blank_text=True, remove_comments=True)


@cache
def _skeleton(name: str) -> etree._Element:
    return etree.parse(str(templates_dir() / name), _PARSER).getroot()


def skeleton(name: str) -> etree._Element:
    """A fresh copy of ``xml_templates/<name>``."""
    return copy.deepcopy(_skeleton(name))
