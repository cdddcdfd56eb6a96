"""netxml: parsing and formatting are symmetric, and the parser is strict."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.prereq import corpus_dir, require

from libvirt_vnet.errors import ImportRefused
from libvirt_vnet.libvirtxml import network as netxml
from libvirt_vnet.libvirtxml.common import to_string

REPO = Path(__file__).resolve().parents[2]
CORPUS = corpus_dir()
NETWORK_IN = CORPUS / "network-in"


def _require_corpus() -> None:
    require(NETWORK_IN.is_dir(), f"libvirt corpus not found at {CORPUS} (set VNET_CORPUS)")


FILES = sorted(p.name for p in NETWORK_IN.glob("*.xml")) if NETWORK_IN.is_dir() else [
    "<corpus missing>"]


@pytest.mark.parametrize("filename", FILES)
def test_parse_format_parse_is_identity(filename: str) -> None:
    _require_corpus()
    # every upstream file parses (refusals happen later, in the importer and the loader)
    first = netxml.parse_network_string((NETWORK_IN / filename).read_bytes(), filename)
    text = to_string(netxml.format_network(first))
    second = netxml.parse_network_string(text, f"{filename} (formatted)")
    assert second == first, text
    # vnet_metadata is excluded from NetworkDef equality; compare it on its own
    assert second.vnet_metadata == first.vnet_metadata
    # and formatting is deterministic
    assert to_string(netxml.format_network(second)) == text


def test_every_corpus_network_parses() -> None:
    """The corpus holds only what libvirt itself formats: the strict parser takes it all
    (refusals of what vnet cannot reproduce happen in the importer, not here)."""
    _require_corpus()
    refused = {}
    for filename in FILES:
        try:
            netxml.parse_network_string((NETWORK_IN / filename).read_bytes(), filename)
        except ImportRefused as exc:
            refused[filename] = str(exc)
    assert not refused


@pytest.mark.parametrize(("xml", "path", "named"), [
    ("<network><name>n</name><bridge name='virbr1'/>"
     "<ip address='10.0.0.1' prefix='24'><dhcp><frobnicate/></dhcp></ip></network>",
     "/network/ip/dhcp", "<frobnicate>"),
    ("<network><name>n</name><frobnicate/></network>", "/network", "<frobnicate>"),
    ("<network><name>n</name><bridge name='virbr1'/>"
     "<ip address='10.0.0.1' prefix='24'><dhcp>"
     "<range start='10.0.0.2' end='10.0.0.9' colour='blue'/></dhcp></ip></network>",
     "/network/ip/dhcp/range", "'colour'"),
    ("<network colour='blue'><name>n</name></network>", "/network", "'colour'"),
], ids=["element", "top-level-element", "attribute", "root-attribute"])
def test_unknown_things_are_refused_with_their_path(xml: str, path: str, named: str) -> None:
    with pytest.raises(ImportRefused) as info:
        netxml.parse_network_string(xml)
    assert info.value.path == path
    assert named in info.value.message
