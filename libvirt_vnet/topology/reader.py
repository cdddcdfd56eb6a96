"""Reading a topology document: :class:`Doc` (a mapping that knows its place in the
document and refuses unknown keys) and the scalar converters (text, numbers in range,
names, MACs, addresses, subnets, PCI addresses, lease times).

Every converter takes ``(value, path)`` and returns the checked value or raises an
:class:`~libvirt_vnet.errors.InputError` naming ``path`` and how to fix it.
"""

from __future__ import annotations

import datetime
import difflib
import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Callable, Optional, TypeVar, Union

from ..errors import ErrorList, InputError, VnetError
from ..model import names
from ..model.libvirt import Lease, PciAddress

T = TypeVar("T")
IPAddr = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPIface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]
IPNet = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


class Doc:
    """A mapping in the document at ``path``; tracks consumed keys.  Keys that are not
    text (what YAML makes of unquoted ``0x10``, ``yes`` or ``2024-01-01``) are set aside
    as problems (:attr:`key_errors`, also raised by :meth:`done`), so the other keys are
    still read."""

    def __init__(self, value: object, path: str, what: str = "this section"):
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise InputError(
                f"expected a mapping (key: value pairs) for {what}, got {describe(value)}",
                path=path or None,
            )
        self.key_errors: list[InputError] = [
            InputError(f"keys must be text, got {describe(key)}",
                       path=f"{path}.{key_text(key)}" if path else key_text(key),
                       hint=QUOTE_HINT) for key in value if not isinstance(key, str)]
        self.value: Mapping[str, Any] = {k: v for k, v in value.items() if isinstance(k, str)}
        self.path = path
        self.used: set[str] = set()
        #: keys already named in another problem (the typo of a required key)
        self.excused: set[str] = set()

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.value

    def get(self, key: str, conv: Callable[[Any, str], T], default: Optional[T] = None) -> Optional[T]:
        self.used.add(key)
        if key not in self.value or self.value[key] is None:
            return default
        return conv(self.value[key], self.sub(key))

    def need(self, key: str, conv: Callable[[Any, str], T], hint: Optional[str] = None) -> T:
        self.used.add(key)
        if key not in self.value or self.value[key] is None:
            typo = difflib.get_close_matches(key, [k for k in self.value if k != key], n=1, cutoff=0.75)
            if typo:
                hint = f"{typo[0]!r} is given: a typo for {key!r}?"
                self.excused.add(typo[0])  # one problem, not also "unknown key"
            raise InputError(f"{key!r} is required here", path=self.path or key, hint=hint)
        return conv(self.value[key], self.sub(key))

    def done(self, allowed: Optional[AbstractSet[str]] = None) -> None:
        """Refuse every key not consumed (or not in ``allowed``), and every key that is not
        text, all at once."""
        known = allowed if allowed is not None else self.used
        unknown = [unknown_key(key, known, self.path) for key in self.value
                   if key not in known and key not in self.excused]
        if unknown or self.key_errors:
            raise ErrorList.of([*self.key_errors, *unknown])


class Problems:
    """The independent problems of one object, collected so that one run reports them
    all: :meth:`run` calls a converter or a check and returns ``None`` when it failed."""

    def __init__(self) -> None:
        self.errors: list[VnetError] = []

    def add(self, err: VnetError) -> None:
        self.errors.extend(err.errors if isinstance(err, ErrorList) else [err])

    def extend(self, errors: Iterable[VnetError]) -> None:
        for err in errors:
            self.add(err)

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Optional[T]:
        try:
            return fn(*args, **kwargs)
        except VnetError as exc:
            self.add(exc)
            return None

    def check(self) -> None:
        """Raise everything collected so far (nothing when there is nothing)."""
        if self.errors:
            raise ErrorList.of(list(self.errors))


def unknown_key(key: str, known: AbstractSet[str], path: str) -> InputError:
    close = close_match(key, sorted(known), cutoff=0.6)
    hint = f"did you mean {close!r}?" if close else f"known keys: {', '.join(sorted(known))}"
    return InputError(f"unknown key {key!r}", path=f"{path}.{key}" if path else key, hint=hint)


#: a word longer than this is no misspelt option (and comparing it would only cost time)
_MAX_SUGGESTED = 100


def close_match(word: str, options: Sequence[str], cutoff: float = 0.6) -> Optional[str]:
    """The option ``word`` most likely means: the same word in another case first
    (``NAT`` for ``nat``), else the closest spelling."""
    if len(word) > _MAX_SUGGESTED:
        return None
    folded = [o for o in options if o.lower() == word.lower()]
    if folded:
        return folded[0]
    lowered = {o.lower(): o for o in options}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=cutoff)
    return lowered[close[0]] if close else None


#: a run of text without spaces longer than this, in a problem's place, message or hint,
#: is something the document echoed (a key or value of thousands of characters): only its
#: start is shown.  Names are at most 200 characters, so a path naming two of them fits.
MAX_ECHO = 480
_LONG_WORD = re.compile(rf"\S{{{MAX_ECHO + 1},}}")


def clip_echo(err: VnetError) -> VnetError:
    """``err`` with every overlong run of text in it shortened to its start and its length
    (one problem stays one readable line, whatever the document held)."""
    def clip(text: Optional[str]) -> Optional[str]:
        if text is None or len(text) <= MAX_ECHO:
            return text
        return _LONG_WORD.sub(lambda m: f"{m.group()[:60]}...({len(m.group())} characters)", text)

    for inner in err.errors if isinstance(err, ErrorList) else [err]:
        inner.path, inner.hint = clip(inner.path), clip(inner.hint)
        inner.message = clip(inner.message) or ""
        inner.args = (inner.message,)
    if isinstance(err, ErrorList):
        err.path, err.hint, err.message = err.errors[0].path, err.errors[0].hint, err.errors[0].message
    return err


#: the hint for a value YAML did not read as text
QUOTE_HINT = ("quote it: YAML reads unquoted 0x10, 1e3, .inf, yes/no/on/off and dates as "
              "numbers, booleans and dates, not as the text written")


def show_number(value: float) -> str:
    """A number as text, even one too long for Python's int-to-text conversion."""
    if isinstance(value, int) and not -10**40 < value < 10**40:
        return f"a {value.bit_length()}-bit number"
    return repr(value) if isinstance(value, float) else str(value)


def key_text(key: object) -> str:
    """A key that is not text, as it can appear in a path."""
    if isinstance(key, bool) or key is None:
        return str(key).lower() if key is not None else "null"
    if isinstance(key, (int, float)):
        return show_number(key)
    return type(key).__name__


def describe(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, (int, float)):
        return f"a number ({show_number(value)})"
    if isinstance(value, str):
        return f"the text {value[:80]!r}" + ("..." if len(value) > 80 else "")
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"a date ({value})"
    if isinstance(value, (bytes, bytearray)):
        return "binary data"
    return type(value).__name__


# ------------------------------------------------------------------ scalar converters
def as_str(value: Any, path: str) -> str:
    """Text, and only text: a number, boolean or date where text belongs is what YAML
    made of something unquoted (``0x10`` is 16), never silently turned back into text."""
    if not isinstance(value, str):
        hint = QUOTE_HINT if isinstance(value, (int, float, datetime.date)) else None
        raise InputError(f"expected text, got {describe(value)}", path=path, hint=hint)
    return value


def as_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"expected true or false, got {describe(value)}", path=path,
                         hint="write true or false without quotes")
    return value


def int_in(lo: int, hi: int, unit: str = "") -> Callable[[Any, str], int]:
    def conv(value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            hint = "write the number without quotes" if isinstance(value, str) \
                and value.strip().isdigit() else None
            raise InputError(f"expected a whole number, got {describe(value)}", path=path, hint=hint)
        if not lo <= value <= hi:
            raise InputError(f"{show_number(value)} is out of range {lo}..{hi}{unit}", path=path)
        return int(value)

    return conv


as_vid = int_in(1, 4094)
as_mtu = int_in(68, 65535, " bytes")
as_port = int_in(1, 65535)
as_u32 = int_in(0, 2**32 - 1)


def as_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise InputError(f"expected a list, got {describe(value)}", path=path)
    return list(value)


def each(value: Any, path: str) -> Iterator[tuple[Any, str]]:
    for i, item in enumerate(as_list(value, path)):
        yield item, f"{path}[{i}]"


def checked_by(problem_of: Callable[[str], Optional[str]]) -> Callable[[Any, str], str]:
    """A converter: text that ``problem_of`` finds nothing wrong with."""

    def conv(value: Any, path: str) -> str:
        text = as_str(value, path)
        problem = problem_of(text)
        if problem:
            raise InputError(problem, path=path)
        return text

    return conv


as_name = checked_by(names.network_name_problem)
as_dns_name = checked_by(names.dns_name_problem)


def as_nonempty(value: Any, path: str) -> str:
    text = as_str(value, path)
    if not text.strip():
        raise InputError("this cannot be empty", path=path)
    return text


def pattern(what: str, regex: str, example: str) -> Callable[[Any, str], str]:
    compiled = re.compile(regex)

    def conv(value: Any, path: str) -> str:
        text = as_str(value, path)
        if not compiled.fullmatch(text):
            raise InputError(f"{text!r} is not a valid {what}", path=path, hint=f"e.g. {example}")
        return text

    return conv


as_zone = pattern("firewalld zone name", r"[A-Za-z0-9_-]+", "libvirt")
as_portgroup = pattern("portgroup name", r"[A-Za-z0-9_.:-]+", "gold")
# DHCPv6 client identifiers, as libvirt's schema accepts them (DUID-LLT, -EN, -LL, -UUID)
as_duid = pattern(
    "DHCPv6 DUID",
    r"0{1,2}:0?1:0{1,2}:0?[a-fA-F1-9](:[a-fA-F0-9]{1,2}){4}(:[a-fA-F0-9]{1,2}){6,8}"
    r"|0{1,2}:0?2(:[a-fA-F0-9]{1,2}){4}(:[a-fA-F0-9]{1,2}){1,124}"
    r"|0{1,2}:0?3:0{1,2}:0?[a-fA-F1-9](:[a-fA-F0-9]{1,2}){6,8}"
    r"|0{1,2}:0?4(:[a-fA-F0-9]{1,2}){16}",
    "0:3:0:1:0:16:3e:11:22:33")


def as_ifname(value: Any, path: str) -> str:
    text = as_str(value, path)
    problem = names.ifname_problem(text)
    if problem:
        raise InputError(problem, path=path,
                         hint="Linux interface names: at most 15 letters, digits, '_', '.' or '-'")
    return text


def _mac_text(value: Any, path: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise InputError(f"{describe(value)} is not a MAC address", path=path,
                         hint="YAML reads some MACs as numbers: quote them")
    return as_str(value, path)


def as_mac(value: Any, path: str, *, guest: bool = True) -> str:
    try:
        mac = names.normalize_mac(_mac_text(value, path))
    except ValueError as exc:
        raise InputError(str(exc), path=path,
                         hint="YAML reads some MACs as numbers: quote them") from None
    problem = names.mac_problem(mac, guest=guest)
    if problem:
        raise InputError(problem, path=path, hint=names.MAC_HINT)
    return mac


def as_host_mac(value: Any, path: str) -> str:
    """A MAC in a DHCP host entry: any unicast MAC of a (possibly foreign) guest."""
    try:
        mac = names.normalize_mac(_mac_text(value, path))
    except ValueError as exc:
        raise InputError(str(exc), path=path) from None
    if int(mac[:2], 16) & 1:
        raise InputError(names.mac_problem(mac, guest=False) or "", path=path,
                         hint=names.MAC_HINT)
    return mac


def as_ip(value: Any, path: str) -> IPAddr:
    try:
        return ipaddress.ip_address(as_str(value, path))
    except ValueError:
        raise InputError(f"{value!r} is not an IP address", path=path) from None


def as_ipv4(value: Any, path: str) -> ipaddress.IPv4Address:
    ip = as_ip(value, path)
    if not isinstance(ip, ipaddress.IPv4Address):
        raise InputError(f"{ip} is not an IPv4 address", path=path, hint="use ip6 for IPv6")
    return ip


def as_ipv6(value: Any, path: str) -> ipaddress.IPv6Address:
    ip = as_ip(value, path)
    if not isinstance(ip, ipaddress.IPv6Address):
        raise InputError(f"{ip} is not an IPv6 address", path=path)
    return ip


def as_subnet(value: Any, path: str) -> IPNet:
    text = as_str(value, path)
    if "/" not in text:
        raise InputError(f"{text!r} has no prefix length", path=path,
                         hint="write the subnet in CIDR form, e.g. 192.168.1.0/24")
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            iface = ipaddress.ip_interface(text)
        except ValueError:
            raise InputError(f"{text!r} is not a subnet in CIDR form", path=path,
                             hint="e.g. 192.168.1.0/24 or fd00:1::/64") from None
        raise InputError(
            f"{text} has host bits set", path=path,
            hint=f"did you mean subnet {iface.network} with gateway {iface.ip}?",
        ) from None


def as_iface(value: Any, path: str) -> IPIface:
    text = as_str(value, path)
    try:
        if "/" not in text:
            raise ValueError
        return ipaddress.ip_interface(text)
    except ValueError:
        raise InputError(f"{text!r} is not an address with prefix", path=path,
                         hint="e.g. 192.168.1.5/24") from None


_PCI_RE = re.compile(r"^(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$")


def as_pci(value: Any, path: str) -> PciAddress:
    text = as_str(value, path)
    m = _PCI_RE.match(text)
    if not m or int(m.group(3), 16) > 31:
        raise InputError(f"{text!r} is not a PCI address", path=path,
                         hint="write it like lspci -D does: 0000:03:10.2")
    return PciAddress(int(m.group(1) or "0", 16), int(m.group(2), 16), int(m.group(3), 16),
                      int(m.group(4)))


_LEASE_RE = re.compile(r"^(\d+)\s*([smh])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours"}


def as_lease(value: Any, path: str) -> Lease:
    if value == "infinite":
        return Lease(expiry=0)
    text = as_str(value, path).strip()
    m = _LEASE_RE.match(text)
    if not m or int(m.group(1)) == 0:
        raise InputError(f"{value!r} is not a lease time", path=path,
                         hint="write e.g. 120s, 10m, 1h or infinite")
    lease = Lease(expiry=int(m.group(1)), unit=_UNITS[m.group(2)])
    seconds = lease.expiry * {"seconds": 1, "minutes": 60, "hours": 3600}[lease.unit or "minutes"]
    if seconds < 120:
        raise InputError(f"a lease of {text} is too short: libvirt's minimum is 2 minutes",
                         path=path, hint="e.g. 2m, 1h or infinite")
    if seconds > 2**32 - 1:
        raise InputError(f"a lease of {text} is too long", path=path, hint="use infinite")
    return lease


def choice(what: str, options: tuple[str, ...]) -> Callable[[Any, str], str]:
    def conv(value: Any, path: str) -> str:
        text = as_str(value, path)
        if text not in options:
            close = close_match(text, options)
            hint = f"did you mean {close!r}?" if close else None
            raise InputError(f"{what} must be one of {', '.join(options)}; got {text!r}",
                             path=path, hint=hint)
        return text

    return conv


def as_uuid(value: Any, path: str) -> str:
    import uuid

    text = as_str(value, path)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise InputError(f"{text!r} is not a UUID", path=path) from None
