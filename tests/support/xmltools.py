"""XML for assertions: lxml elements typed loosely (``Any``), because tests walk documents they
expect to hold the elements they name — a missing one fails the test with an
AttributeError on ``None``, which is the failure wanted."""

from __future__ import annotations

from typing import Any

from lxml import etree


def xml_of(text: str | bytes) -> Any:
    """The root element of ``text``."""
    return etree.fromstring(text.encode() if isinstance(text, str) else text)
