"""The ``vnet`` command line (:mod:`.main`); ``vnet = libvirt_vnet.cli:main``."""

from __future__ import annotations

from .main import main

__all__ = ["main"]
