"""The whole topology document: YAML text or plain data → :class:`Topology`, or one
:class:`~libvirt_vnet.errors.ErrorList` with every problem found (each naming its place,
``networks.lan.dhcp.range``, and how to fix it).

Accepts a YAML file, YAML text or the same structure as plain Python dicts and lists.
Entries are checked one by one (:mod:`.entries`), then together (:mod:`.consistency`).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar, Union

from ..errors import ErrorList, InputError, VnetError
from ..model.topology import HostSpec, NetworkSpec, Topology, VmSpec
from .consistency import validate_together
from .entries import load_host, load_network, load_vm
from .reader import Doc, as_str

T = TypeVar("T")

DEFAULT_HOST = "localhost"
_TOPOLOGY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def _collect(errors: list[VnetError], fn: Callable[[], T]) -> Optional[T]:
    try:
        return fn()
    except ErrorList as exc:
        errors.extend(exc.errors)
    except VnetError as exc:
        errors.append(exc)
    return None


def load(data: Any, source: str = "<topology>") -> Topology:
    """Check a topology given as plain data and return the model (or raise)."""
    top = Doc(data, "", "the topology document")
    errors: list[VnetError] = []
    name = top.need("name", as_str, hint="give the topology a name, e.g. name: office")
    if not _TOPOLOGY_NAME.match(name):
        raise InputError(f"{name!r} is not a usable topology name", path="name",
                         hint="letters, digits, '.', '_' and '-', at most 63 characters")
    hosts: list[HostSpec] = []
    if top.has("hosts") and top.value["hosts"]:
        hd = Doc(top.value["hosts"], "hosts", "hosts (name: settings)")
        for hname in hd.value:
            h = _collect(errors, functools.partial(load_host, hname, hd.value[hname], hd.sub(hname)))
            if h:
                hosts.append(h)
    else:
        hosts.append(HostSpec(name=DEFAULT_HOST, path="hosts"))
    top.used.add("hosts")
    host_names = tuple(h.name for h in hosts)
    networks: list[NetworkSpec] = []
    nd = Doc(top.get("networks", lambda v, p: v, {}), "networks", "networks (name: settings)")
    for nname in nd.value:
        n = _collect(errors, functools.partial(load_network, nname, nd.value[nname], nd.sub(nname),
                                               host_names))
        if n:
            networks.append(n)
    vms: list[VmSpec] = []
    vd = Doc(top.get("vms", lambda v, p: v, {}), "vms", "vms (name: settings)")
    for vname in vd.value:
        v = _collect(errors, functools.partial(load_vm, vname, vd.value[vname], vd.sub(vname), host_names))
        if v:
            vms.append(v)
    top.used.add("$schema")
    _collect(errors, lambda: top.done({"name", "hosts", "networks", "vms", "$schema"}))
    if errors:
        raise ErrorList.of(errors)
    topo = Topology(name=name, hosts=tuple(hosts), networks=tuple(networks), vms=tuple(vms),
                    source=source)
    problems = validate_together(topo)
    if problems:
        raise ErrorList.of(problems)
    return topo


def _yaml_loader() -> Any:
    """PyYAML's safe loader, stricter where YAML 1.1 surprises network engineers:
    a key given twice is an error (not "last one wins"), and an integer with a leading
    zero (``vlan: 010``, octal 8 in YAML 1.1) is an error, not a silent conversion."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        pass

    def mapping(loader: Any, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, Any] = {}
        for key_node, _value in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is given twice in this mapping (first at line "
                    f"{seen[key].start_mark.line + 1})", key_node.start_mark)
            if isinstance(key, (str, int, float, bool)):
                seen[key] = key_node
        return loader.construct_mapping(node, deep=deep)

    def integer(loader: Any, node: Any) -> Any:
        text = str(node.value).replace("_", "")
        digits = text.lstrip("+-")
        if len(digits) > 1 and digits.startswith("0") and digits.isdigit():
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value} has a leading zero, which YAML reads as an octal "
                f"number ({int(digits, 8) if set(digits) <= set('01234567') else 'invalid'}); "
                f"write {int(digits)}", node.start_mark)
        return loader.construct_yaml_int(node)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    StrictLoader.add_constructor("tag:yaml.org,2002:int", integer)
    return StrictLoader


def load_yaml_text(text: str, source: str = "<string>") -> Topology:
    import yaml

    if not text.strip():
        raise InputError("the topology is empty", path=source,
                         hint="start with: name: office, then networks: and vms:")
    try:
        data = yaml.load(text, Loader=_yaml_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        hint = None
        if "\t" in problem or "'\\t'" in problem:
            hint = "YAML indents with spaces, not tabs"
        elif "mapping values are not allowed" in problem:
            hint = "a ':' inside a value needs quotes (e.g. MAC addresses), or the indentation is off"
        raise InputError(f"not valid YAML: {problem}", path=where, hint=hint) from None
    return load(data, source)


def load_file(path: Union[str, Path]) -> Topology:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the topology: {exc.strerror}", path=str(p)) from None
    except UnicodeDecodeError:
        raise InputError("the topology is not UTF-8 text", path=str(p)) from None
    return load_yaml_text(text, str(p))
