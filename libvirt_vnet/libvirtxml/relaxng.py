"""Validation of generated documents against libvirt's RelaxNG schemas.

The schemas come from the installed libvirt (Debian's ``libvirt0`` puts them in
/usr/share/libvirt/schemas); ``VNET_LIBVIRT_SCHEMAS`` points elsewhere (e.g. upstream's).
Each schema is compiled once per process.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from lxml import etree

from ..errors import UnsupportedError, VnetError

DEFAULT_DIR = "/usr/share/libvirt/schemas"


def schema_dir() -> Path:
    return Path(os.environ.get("VNET_LIBVIRT_SCHEMAS", DEFAULT_DIR))


@cache
def _schema(name: str, directory: str) -> etree.RelaxNG:
    path = Path(directory) / f"{name}.rng"
    if not path.exists():
        raise UnsupportedError(
            f"libvirt's RelaxNG schema {path} is missing",
            hint="install libvirt0 (Debian) or set VNET_LIBVIRT_SCHEMAS to a schema folder")
    return etree.RelaxNG(file=str(path))


def validate(element: etree._Element, kind: str, what: str) -> None:
    """Raise :class:`VnetError` if ``element`` is not a valid ``kind`` document
    (``network`` or ``domain``)."""
    schema = _schema(kind, str(schema_dir()))
    if not schema.validate(element):
        err = schema.error_log.last_error
        raise VnetError(f"libvirt's {kind}.rng rejects {what}: {err.message if err else '?'}",
                        path=what)
