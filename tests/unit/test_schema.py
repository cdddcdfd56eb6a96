"""The editor schema (libvirt_vnet/topology/schema.json) against the loader and examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

import libvirt_vnet
from libvirt_vnet.drivers.base import COMMON_KEYS
from libvirt_vnet.topology.entries import NIC_KEYS

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def _package_dir() -> Path:
    # the same lookup works from the source tree and after install
    if libvirt_vnet.__file__:
        return Path(libvirt_vnet.__file__).parent
    return Path(next(iter(libvirt_vnet.__path__)))  # namespace package (no __init__.py)


SCHEMA_PATH = _package_dir() / "topology" / "schema.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Any:
    return jsonschema.Draft202012Validator(schema)


def _errors(validator: Any, doc: Any) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path)) or '<top>'}: {e.message}"
            for e in validator.iter_errors(doc)]


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow local ``$ref``s and pick the object branch of a oneOf/anyOf."""
    while True:
        if "$ref" in node and "properties" not in node:
            ref = node["$ref"]
            assert ref.startswith("#/"), ref
            target: Any = schema
            for part in ref[2:].split("/"):
                target = target[part]
            node = target
            continue
        if "properties" in node:
            return node
        for key in ("oneOf", "anyOf"):
            objects = [b for b in node.get(key, ()) if "properties" in b]
            if len(objects) == 1:
                node = objects[0]
                break
        else:
            raise AssertionError(f"no object schema in {node}")


# ------------------------------------------------------------------ 1. the schema itself
def test_schema_is_valid_draft_2020_12(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_every_property_is_described(schema: dict[str, Any]) -> None:
    missing: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                described = isinstance(sub, dict) and sub.get("description")
                if not described and sub is not False:  # false: "not allowed here"
                    missing.append(f"{where}.{name}")
            for key, sub in node.items():
                if key not in ("if", "not"):  # conditions, not declarations
                    walk(sub, f"{where}.{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{where}[{i}]")

    walk(schema, "#")
    assert not missing, f"properties without a description: {missing}"


# ------------------------------------------------------------------ 2. the examples
def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 9


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate(validator: Any, path: Path) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert _errors(validator, doc) == []


# a document touching most of the schema (structure only: the loader checks the rest)
RICH = """
$schema: ./topology.schema.json
name: lab-1
hosts:
  kvm1:
    uri: qemu:///system
    uplinks: [eth0, eth1, eth2, eth3, eth4]
    sriov: {enp3s0f0: {vfs: 4}}
  kvm2:
networks:
  lan:
    kind: nat
    host: kvm1
    subnet: 192.168.10.0/24
    gateway: 192.168.10.1
    dhcp:
      lease: 1h
      ranges:
        - [192.168.10.100, 192.168.10.199]
        - {start: 192.168.10.200, end: 192.168.10.210, lease: infinite}
      hosts: [{mac: "52:54:00:00:00:10", ip: 192.168.10.10, name: db}]
      bootp: {file: pxelinux.0}
    tftp: /srv/tftp
    local_ptr: true
    subnet6: fd00:10::/64
    dhcp6:
      range: [fd00:10::100, fd00:10::1ff]
      hosts: [{id: "0:3:0:1:0:16:3e:11:22:33", ip: fd00:10::10}]
    ips: [{subnet: 10.99.0.0/16, gateway: 10.99.0.254, dhcp: false}]
    bridge: {name: vbr-lan, mac: "52:54:00:aa:bb:cc", stp: false, delay: 0, zone: trusted}
    mtu: 9000
    domain: {name: lab.example, local_only: true}
    dns:
      forward_plain_names: false
      forwarders: [9.9.9.9, {domain: corp.example, addr: 10.0.0.53}]
      hosts: [{ip: 192.168.10.5, names: [gw, router]}]
      srv: [{service: ldap, protocol: tcp, target: db.lab.example, port: 389}]
      txt: [{name: info, value: hello}]
    routes: [{to: 10.20.0.0/16, via: 192.168.10.2, metric: 10}]
    bandwidth: {inbound: {average: 1000, peak: 5000, burst: 1024}, outbound: {average: 1000}}
    nat: {addresses: [203.0.113.10, 203.0.113.20], ports: [1024, 65535]}
    uplink: eth0
    portgroups: {slow: {default: true, bandwidth: {inbound: {average: 100}}}, fast: }
    dnsmasq_options: ["dhcp-option=option:ntp-server,192.168.10.1"]
    metadata: ['<app:info xmlns:app="https://example.com/app"/>']
    uuid: 0f5e4b2a-6c1d-4e8f-9a3b-2c7d1e0f9a84
  v10:
    kind: vlan-bridge
    hosts: [kvm1, kvm2]
    uplink: eth1
    vlan: 10
    bridge: {mac: libvirt, dummy_tap: true, group_fwd_mask: 0x4000, multicast_snooping: false}
    hairpin: true
  trunk:
    kind: openvswitch
    bridge: ovsbr0
    vlan: {tags: [{id: 10, native_mode: untagged}, 20], trunk: true}
    virtualport: {type: openvswitch, interfaceid: 0f5e4b2a-6c1d-4e8f-9a3b-2c7d1e0f9a84}
    portgroups: {v30: {vlan: [30, 31]}}
  edge:
    kind: macvtap
    mode: bridge
    uplinks: [eth2, eth3]
  vfs:
    kind: hostdev
    vfs: ["0000:03:10.2", "03:10.4"]
    managed: true
    driver_model: vfio
  campus:
    kind: two-tier
    upstream: route
    subnet: 10.1.0.0/24
    access: {sw1: , sw2: {bridge: acc-sw2}, sw3: {bridge: {group_fwd_mask: [lldp, 802.1x]}}}
  shimmed:
    kind: macvtap
    host: kvm1
    mode: vepa
    uplink: eth4
    shim: {name: shim0, address: 192.168.50.2/24}
vms:
  db:
    host: kvm1
    nics:
      - lan
      - {network: trunk, mac: "52-54-00-12-34-56", model: e1000e, attach: bridge,
         vlan: [10, 20], link: down, mtu: 1500, virtualport: {type: openvswitch}}
      - {network: vfs, attach: hostdev, vf: "0000:03:10.2", trust: true, spoofchk: false}
      - {network: campus, access: sw2, ip: 10.1.0.20, port_isolated: true,
         bandwidth: {inbound: {average: 100}}}
      - {network: lan, portgroup: slow, ip6: fd00:10::20}
  spare: {host: kvm2, nics: [{network: v10, mac: "52:54:00:00:00:99"}]}
"""


def test_rich_document_validates(validator: Any) -> None:
    assert _errors(validator, yaml.safe_load(RICH)) == []


def test_rich_document_loads() -> None:
    """Keeps RICH honest: what the schema accepts here, the loader accepts too."""
    from libvirt_vnet.topology import load_yaml_text

    load_yaml_text(RICH)


MINIMAL_FORMS = """
name: office
hosts:
networks:
  lan: {kind: isolated, subnet: 10.0.0.0/24, dhcp: true, domain: office.lan,
        dns: {forwarders: [{domain: local.lan}]}, bandwidth: {inbound: {average: 1000}}}
  sw: {kind: bridge, bridge: br0, vlan: {tags: [7]}}
  mv: {kind: macvtap, mode: private, uplink: eth1, shim: false}
vms:
  a: {nics: [{network: lan, bandwidth: {inbound: {floor: 10}}}, sw]}
  b:
"""


def test_short_forms_validate_and_load(validator: Any) -> None:
    from libvirt_vnet.topology import load_yaml_text

    assert _errors(validator, yaml.safe_load(MINIMAL_FORMS)) == []
    load_yaml_text(MINIMAL_FORMS)


# ------------------------------------------------------------------ 3. rejected documents
BASE: dict[str, Any] = {"name": "t", "networks": {"lan": {"kind": "nat",
                                                          "subnet": "192.168.1.0/24"}}}


def _with(**networks: Any) -> dict[str, Any]:
    return {"name": "t", "networks": networks}


@pytest.mark.parametrize("doc", [
    pytest.param({**BASE, "netwroks": {}}, id="unknown-top-level-key"),
    pytest.param({"networks": {}}, id="missing-name"),
    pytest.param(_with(lan={"kind": "vlan-bridge", "uplink": "eth0", "vlan": 5000}),
                 id="vlan-5000"),
    pytest.param(_with(lan={"kind": "vlan-bridge", "uplink": "eth0", "vlan": [10, 0]}),
                 id="vlan-list-0"),
    pytest.param(_with(lan={"kind": "natt"}), id="bad-kind"),
    pytest.param(_with(lan={"subnet": "192.168.1.0/24"}), id="missing-kind"),
    pytest.param(_with(lan={"kind": "nat", "subnett": "192.168.1.0/24"}),
                 id="unknown-network-key"),
    pytest.param(_with(lan={"kind": "nat", "subnet": "192.168.1.0"}), id="subnet-no-prefix"),
    pytest.param(_with(lan={"kind": "nat", "subnet": "192.168.1.0/24", "dhcp": {"lease": "5d"}}),
                 id="bad-lease"),
    pytest.param(_with(lan={"kind": "nat", "bridge": {"mac": "01:00:5e:00:00:01"}}),
                 id="multicast-bridge-mac"),
    pytest.param(_with(lan={"kind": "nat", "bridge": {"name": "br0", "colour": "red"}}),
                 id="unknown-bridge-key"),
    pytest.param(_with(lan={"kind": "nat", "host": "a", "hosts": ["a"]}), id="host-and-hosts"),
    pytest.param(_with(v={"kind": "vlan-bridge", "uplink": "eth0", "vlan": 5,
                          "bridge": {"group_fwd_mask": 65536}}), id="group-fwd-mask-17-bits"),
    pytest.param(_with(v={"kind": "vlan-bridge", "uplink": "eth0", "vlan": 5,
                          "bridge": {"group_fwd_mask": ["lldp", "cdp"]}}), id="group-fwd-mask-unknown-name"),
    pytest.param(_with(v={"kind": "vlan-bridge", "uplink": "eth0", "vlan": 5,
                          "bridge": {"multicast_snooping": "off"}}), id="multicast-snooping-text"),
    pytest.param({**BASE, "vms": {"vm": {"nics": [{"network": "lan", "speed": 10}]}}},
                 id="unknown-nic-key"),
    pytest.param({**BASE, "vms": {"vm": {"nics": [{"mac": "52:54:00:00:00:01"}]}}},
                 id="nic-without-network"),
    pytest.param({**BASE, "vms": {"vm": {"nics": [{"network": "lan", "mac": "52:54:00:00:01"}]}}},
                 id="short-mac"),
    pytest.param({**BASE, "hosts": {"h": {"uri": "qemu:///system", "cpu": 4}}},
                 id="unknown-host-key"),
])
def test_invalid_documents_rejected(validator: Any, doc: dict[str, Any]) -> None:
    assert _errors(validator, doc), "the schema accepted an invalid document"


# ------------------------------------------------------------------ 4. schema == loader
def test_nic_keys_match_loader(schema: dict[str, Any]) -> None:
    vm = _resolve(schema, schema["properties"]["vms"]["additionalProperties"])
    nic = _resolve(schema, vm["properties"]["nics"]["items"])
    assert set(nic["properties"]) == NIC_KEYS


def test_network_keys_match_drivers(schema: dict[str, Any]) -> None:
    from libvirt_vnet.drivers import registry

    expected = set(COMMON_KEYS)
    for kind in registry.kinds():
        expected |= set(registry.driver_for(kind).keys)
    network = _resolve(schema, schema["properties"]["networks"]["additionalProperties"])
    assert set(network["properties"]) == expected
    assert set(network["properties"]["kind"]["enum"]) == set(registry.kinds())
