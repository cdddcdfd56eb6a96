"""Error taxonomy of libvirt-vnet, keyed to who must act.

Every failure the user can cause or fix is a :class:`VnetError` carrying the place it
happened (a topology path such as ``networks.lan.dhcp.range[0]``), what is wrong, and a
hint saying how to fix it.  The CLI prints ``str(err)`` and exits with ``err.exit_code``;
it never shows a traceback for a ``VnetError``.  Programming errors stay ordinary
exceptions.

This module imports nothing from the rest of the package.
"""

from __future__ import annotations

from typing import Optional


class VnetError(Exception):
    """Base class: something the user (or their host) must act on."""

    #: exit status the CLI uses for this family of errors
    exit_code = 1
    #: short label printed before the message
    label = "error"

    def __init__(self, message: str, *, path: Optional[str] = None, hint: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.hint = hint

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        text = f"{where}{self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def at(self, prefix: str) -> VnetError:
        """Prefix the error's path with the place of the enclosing object."""
        if prefix:
            self.path = f"{prefix}.{self.path}" if self.path else prefix
        return self


class InputError(VnetError):
    """The topology (or an imported document) is wrong: the user must edit it."""

    exit_code = 2
    label = "invalid topology"


class UnsupportedError(VnetError):
    """Valid input, but the target libvirt/kernel cannot do it."""

    exit_code = 3
    label = "unsupported"


class ConflictError(VnetError):
    """The input conflicts with existing host or libvirt state."""

    exit_code = 4
    label = "conflict"


class LibvirtError(VnetError):
    """A libvirt operation failed; the message is libvirt's own."""

    exit_code = 5
    label = "libvirt"


class HostError(VnetError):
    """Changing the host failed (and was rolled back), or vnet's state cannot be used."""

    exit_code = 6
    label = "host"


class DamagedStateError(VnetError):
    """vnet's own state directory (state.json, journal.jsonl) is unreadable or damaged:
    nothing was changed; ``vnet host-repair`` moves the damaged files aside."""

    exit_code = 7
    label = "damaged state"


class ApplyError(HostError):
    """A host change failed; what had been done was rolled back."""

    label = "apply failed"


class ImportRefused(InputError):
    """An existing libvirt document uses something vnet cannot represent faithfully."""

    label = "cannot import"


class ErrorList(VnetError):
    """Several errors found in one pass, reported together (``.errors``).

    Build it with :func:`ErrorList.of`: when all errors share a family, the list is also
    an instance of that family (``except InputError`` catches a list of input errors)
    and takes its exit code and label; mixed lists count as bad input.
    """

    def __init__(self, errors: list[VnetError]):
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.message, path=first.path, hint=first.hint)
        if len({type(e) for e in self.errors}) == 1:
            self.label = first.label  # e.g. "cannot import", narrower than its family's

    @staticmethod
    def of(errors: list[VnetError]) -> ErrorList:
        flat: list[VnetError] = []
        for err in errors:
            flat.extend(err.errors if isinstance(err, ErrorList) else [err])
        for family, cls in _FAMILY_LISTS:
            if all(isinstance(e, family) for e in flat):
                return cls(flat)
        return _InputErrorList(flat)

    def __str__(self) -> str:
        if len(self.errors) == 1:
            return str(self.errors[0])
        lines = [f"{len(self.errors)} problems:"]
        for err in self.errors:
            lines.append("- " + str(err).replace("\n", "\n  "))
        return "\n".join(lines)


class _InputErrorList(ErrorList, InputError):
    pass


class _UnsupportedErrorList(ErrorList, UnsupportedError):
    pass


class _ConflictErrorList(ErrorList, ConflictError):
    pass


class _LibvirtErrorList(ErrorList, LibvirtError):
    pass


_FAMILY_LISTS: tuple[tuple[type[VnetError], type[ErrorList]], ...] = (
    (InputError, _InputErrorList),
    (UnsupportedError, _UnsupportedErrorList),
    (ConflictError, _ConflictErrorList),
    (LibvirtError, _LibvirtErrorList),
)
