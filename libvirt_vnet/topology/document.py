"""The whole topology document: YAML text or plain data → :class:`Topology`, or one
:class:`~libvirt_vnet.errors.ErrorList` with every problem found (each naming its place,
``networks.lan.dhcp.range``, and how to fix it).

Accepts a YAML file, YAML text or the same structure as plain Python dicts and lists.
Entries are checked one by one (:mod:`.entries`), then together (:mod:`.consistency`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar, Union

from ..errors import InputError, VnetError
from ..model.topology import HostSpec, Topology, VmSpec
from .consistency import validate_together
from .entries import load_host, load_network, load_vm_parts
from .reader import Doc, Problems, as_str, clip_echo

T = TypeVar("T")

DEFAULT_HOST = "localhost"
_TOPOLOGY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def load(data: Any, source: str = "<topology>") -> Topology:
    """Check a topology given as plain data and return the model (or raise).

    Every independent problem comes in one run: each entry's own, and the rules across
    entries over the entries that loaded (a NIC naming a network that failed to load is
    not reported again as naming a missing one)."""
    top = Doc(data, "", "the topology document")
    p = Problems()
    p.extend(top.key_errors)
    name = p.run(top.need, "name", _topology_name,
                 hint="give the topology a name, e.g. name: office")
    hosts, known_hosts = _hosts(top, p)
    networks, broken_networks = _section(top, "networks", "networks (name: settings)", p,
                                         lambda n, v, at: load_network(n, v, at, known_hosts))
    vms = _vms(top, p, known_hosts)
    p.run(top.done, {"name", "hosts", "networks", "vms", "$schema"})
    loaded = {h.name for h in hosts}
    topo = Topology(name=name or "", hosts=tuple(hosts), networks=tuple(networks),
                    vms=tuple(v for v in vms if v.host in loaded), source=source)
    if hosts:
        p.extend(validate_together(topo, broken_networks))
    try:
        p.check()
    except VnetError as exc:
        raise clip_echo(exc) from None
    return topo


def _topology_name(value: Any, path: str) -> str:
    name = as_str(value, path)
    if not _TOPOLOGY_NAME.match(name):
        raise InputError(f"{name!r} is not a usable topology name", path=path,
                         hint="letters, digits, '.', '_' and '-', at most 63 characters")
    return name


def _hosts(top: Doc, p: Problems) -> tuple[list[HostSpec], Optional[tuple[str, ...]]]:
    """The hosts that loaded, and the names of all hosts given (loaded or not: a
    reference to a host whose entry is broken is not a second problem), or ``None`` when
    the section itself is unreadable (then references to hosts cannot be checked)."""
    top.used.add("hosts")
    if not (top.has("hosts") and top.value["hosts"]):
        return [HostSpec(name=DEFAULT_HOST, path="hosts")], (DEFAULT_HOST,)
    hd = p.run(Doc, top.value["hosts"], "hosts", "hosts (name: settings)")
    if hd is None:
        return [], None
    p.extend(hd.key_errors)
    hosts = [h for h in (p.run(load_host, n, hd.value[n], hd.sub(n)) for n in hd.value) if h]
    return hosts, tuple(hd.value)


def _vms(top: Doc, p: Problems, known_hosts: Optional[tuple[str, ...]]) -> list[VmSpec]:
    """The VMs, each with the NICs that loaded (the rules across entries see those too)."""
    section = p.run(Doc, top.get("vms", lambda v, _: v, {}), "vms", "vms (name: settings)")
    if section is None:
        return []
    p.extend(section.key_errors)
    vms = []
    for name, value in section.value.items():
        vm, problems = load_vm_parts(name, value, section.sub(name), known_hosts)
        p.extend(problems.errors)
        if vm is not None:
            vms.append(vm)
    return vms


def _section(top: Doc, key: str, what: str, p: Problems,
             load_one: Callable[[str, Any, str], T]) -> tuple[list[T], set[str]]:
    """The entries of ``networks`` or ``vms`` that loaded, and the names of those that did not."""
    section = p.run(Doc, top.get(key, lambda v, _: v, {}), key, what)
    if section is None:
        return [], set()
    p.extend(section.key_errors)
    loaded: list[T] = []
    broken: set[str] = set()
    for name, value in section.value.items():
        entry = p.run(load_one, name, value, section.sub(name))
        if entry is None:
            broken.add(name)
        else:
            loaded.append(entry)
    return loaded, broken


#: nesting deeper than this is no topology (the deepest key is about 8 levels down), and
#: PyYAML's composer recurses once per level: refused before Python's stack runs out
MAX_DEPTH = 64
#: digits in an integer: longer ones are no topology value (and Python refuses to convert
#: integers of over 4300 digits at all)
MAX_DIGITS = 40
#: YAML 1.1's integer and float forms without the sexagesimal ones (``1:30`` is 90 there):
#: YAML 1.2, which editors use, has none, and a network engineer never means 90 by 1:30,
#: so such a scalar stays the text it is — and is refused where a number belongs
_INT = r"""^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"""
_FLOAT = (r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"""
          r"""|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""")


def _yaml_loader() -> Any:
    """PyYAML's safe loader, stricter where YAML 1.1 surprises network engineers:
    a key given twice is an error (not "last one wins"), an integer with a leading
    zero (``vlan: 010``, octal 8 in YAML 1.1) is an error, not a silent conversion,
    ``1:30`` is text (not the sexagesimal 90), and nesting and integers are bounded."""
    import re as regex

    import yaml

    class StrictLoader(yaml.SafeLoader):
        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            self.depth += 1
            try:
                if self.depth > MAX_DEPTH:
                    raise yaml.composer.ComposerError(
                        None, None, f"the document is nested more than {MAX_DEPTH} levels deep",
                        self.peek_event().start_mark)  # type: ignore[no-untyped-call]
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    StrictLoader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers
                if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    StrictLoader.add_implicit_resolver("tag:yaml.org,2002:int", regex.compile(_INT, regex.X),
                                       list("-+0123456789"))
    StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", regex.compile(_FLOAT, regex.X),
                                       list("-+0123456789."))

    def mapping(loader: Any, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, Any] = {}
        for key_node, _value in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key_node.value!r} is given twice in this mapping (first at "
                    f"line {seen[key].start_mark.line + 1})", key_node.start_mark)
            if isinstance(key, (str, int, float, bool)):
                seen[key] = key_node
        return loader.construct_mapping(node, deep=deep)

    def integer(loader: Any, node: Any) -> Any:
        text = str(node.value).replace("_", "")
        digits = text.lstrip("+-")
        if len(digits) > MAX_DIGITS:
            raise yaml.constructor.ConstructorError(
                None, None, f"a number of {len(digits)} digits is no value of a topology",
                node.start_mark)
        if len(digits) > 1 and digits.startswith("0") and digits.isdigit():
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value} has a leading zero, which YAML reads as an octal "
                f"number ({int(digits, 8) if set(digits) <= set('01234567') else 'invalid'}); "
                f"write {int(digits)}", node.start_mark)
        return loader.construct_yaml_int(node)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    StrictLoader.add_constructor("tag:yaml.org,2002:int", integer)
    return StrictLoader


_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"),
         (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def decode_text(data: bytes, source: str, what: str = "the topology") -> str:
    """``data`` as text: UTF-8, or UTF-16/32 with a byte-order mark (as YAML allows); any
    other encoding is refused with the place of the first byte that is not UTF-8."""
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), "utf-8")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        before = data[:exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise InputError(
            f"{what} is not {encoding.upper().replace('-SIG', '')} text (byte "
            f"{data[exc.start]:#04x} at line {line}, column {column})", path=source,
            hint="save it as UTF-8 (e.g. iconv -f latin1 -t utf-8 FILE)") from None


def load_yaml_bytes(data: bytes, source: str = "<bytes>") -> Topology:
    """A topology from the bytes of a YAML document (a file, stdin)."""
    return load_yaml_text(decode_text(data, source), source)


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


#: a topology file larger than this is no topology (and /dev/zero never ends)
MAX_BYTES = 64 << 20


def read_bounded(read: Callable[[int], bytes], source: str, what: str = "the topology") -> bytes:
    """At most :data:`MAX_BYTES` from ``read`` (a file's or stdin's), else a clear error."""
    data = read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise InputError(f"{what} is larger than {MAX_BYTES >> 20} MiB", path=source)
    return data


def load_file(path: Union[str, Path]) -> Topology:
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = read_bounded(f.read, str(p))
    except OSError as exc:
        raise InputError(f"cannot read the topology: {exc.strerror or exc}", path=str(p)) from None
    return load_yaml_bytes(data, str(p))
