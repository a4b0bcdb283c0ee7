"""What the importers (``producers.asterisk``, ``producers.cdr``) share: a line refused with its reason,
a row kept although it lacks something, and an import's summary by reason.

A real export is messy. An importer keeps what a line proves and marks what it lacks (:class:`Incomplete`);
it refuses only a line it cannot read at all (:class:`ConversionError`). Either way the line is named
with its number and a reason, never skipped silently. Each carries a ``kind``: the reason without the
line's own values, so that ten thousand lines with ten thousand different epochs count as one reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError


class ConversionError(ValueError):
    """A line that could not be converted: its number, why, and the kind of reason it is counted under."""

    def __init__(self, line_no: int, reason: str, kind: str | None = None) -> None:
        super().__init__(f"line {line_no}: {reason}")
        self.line_no = line_no
        self.reason = reason
        self.kind = kind or reason


@dataclass(frozen=True, slots=True)
class Incomplete:
    """A row converted although it lacks something: what it lacks and how it was kept."""

    line_no: int
    reason: str

    @property
    def kind(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True)
class ReasonCount:
    """One reason of an import's summary: how many lines, their numbers, the first few messages."""

    kind: str
    count: int
    lines: tuple[int, ...]
    examples: tuple[str, ...]


def by_reason(items: Iterable[ConversionError | Incomplete], examples: int = 3) -> list[ReasonCount]:
    """The lines grouped by their kind of reason, the most frequent first (then by the first line)."""
    lines: dict[str, list[int]] = {}
    messages: dict[str, list[str]] = {}
    for item in items:
        lines.setdefault(item.kind, []).append(item.line_no)
        shown = messages.setdefault(item.kind, [])
        if len(shown) < examples:
            shown.append(f"line {item.line_no}: {item.reason}")
    return sorted((ReasonCount(kind, len(numbers), tuple(numbers), tuple(messages[kind]))
                   for kind, numbers in lines.items()), key=lambda r: (-r.count, r.lines[0]))


def contract_refusal(exc: ValueError) -> str:
    """Why the event contract refused what a line would become: the field and the rule, one line, without
    the value (which may be a caller's number before it was pseudonymised)."""
    if not isinstance(exc, ValidationError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    first = exc.errors(include_url=False, include_input=False)[0]
    # the first element of a tagged union's location is the event type: the field is what follows it
    loc = ".".join(str(p) for p in first["loc"][1:]) or "event"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{loc}: {first['msg']}{more}"
