"""Errors that reach the user: each names the file, the field and, where known, the line."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Loc = Sequence[str | int]


def format_loc(loc: Loc) -> str:
    """('workloads', 2, 'chip_hours') -> 'workloads[2].chip_hours'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True)
class Issue:
    """One thing wrong with the input."""

    message: str
    file: str | None = None
    field: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file or ""
        if self.file and self.line is not None:
            where += f":{self.line}"
        parts = [p for p in (where, self.field) if p]
        return ": ".join([*parts, self.message])


class PlacerError(Exception):
    """Base class for errors placer raises on purpose."""


class InputError(PlacerError):
    """Bad input: the CLI prints every issue and exits with code 2."""

    def __init__(self, issues: Iterable[Issue] | str, file: str | None = None) -> None:
        if isinstance(issues, str):
            issues = [Issue(issues, file=file)]
        self.issues: list[Issue] = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


def fail(message: str, file: str | None = None, field: str | None = None,
         line: int | None = None) -> InputError:
    """Build an InputError with one issue (for `raise fail(...)`)."""
    return InputError([Issue(message, file=file, field=field, line=line)])
