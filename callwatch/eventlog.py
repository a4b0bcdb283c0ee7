"""Recorded event logs: JSON Lines, optionally gzip-compressed (``.jsonl.gz``)."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, NamedTuple

from callwatch.events import Event, InvalidEvent, decode, encode


def open_log(path: str | Path, mode: str = "r") -> IO[bytes]:
    """A log's file, in bytes, uncompressed on the fly when its name ends in ``.gz``."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, mode + "b")  # type: ignore[return-value]
    return open(path, mode + "b")


class LogLine(NamedTuple):
    """One line of a log: its number, its bytes, and the event or why it is not one (a named tuple:
    made for every line of a log, it is built in C, where a frozen dataclass runs Python)."""

    number: int
    raw: bytes
    event: Event | None
    error: InvalidEvent | None


def read_lines(path: str | Path, admit: Callable[[bytes], Event] = decode) -> Iterator[LogLine]:
    """Every non-blank line, validated by ``admit`` (the contract alone by default; the offline replay
    passes the worker's :func:`callwatch.intake.admit`); invalid lines come with their error instead of
    stopping."""
    with open_log(path, "r") as fh:
        for number, line in enumerate(fh, 1):
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                continue
            try:
                yield LogLine(number, raw, admit(raw), None)
            except InvalidEvent as exc:
                yield LogLine(number, raw, None, exc)


def read_events(path: str | Path) -> Iterator[Event]:
    """The valid events of a log, in file order."""
    for line in read_lines(path):
        if line.event is not None:
            yield line.event


def read_raw(path: str | Path) -> Iterator[bytes]:
    """The lines of a log as bytes, unvalidated (what a replay publishes)."""
    with open_log(path, "r") as fh:
        for line in fh:
            raw = line.rstrip(b"\r\n")
            if raw.strip():
                yield raw


def write_events(path: str | Path, events: Iterable[Event | bytes]) -> int:
    """Write events (or already-encoded lines) as JSON Lines; returns how many were written."""
    n = 0
    with open_log(path, "w") as fh:
        for ev in events:
            fh.write((ev if isinstance(ev, bytes) else encode(ev)) + b"\n")
            n += 1
    return n
