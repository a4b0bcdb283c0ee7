"""Per-call records (one row per call: arrival, queue entry and exit, service start and end, outcome,
agent, queue, customer) → the event contract, driven by a column mapping (YAML).

Each row becomes ``call.queued`` then ``call.answered`` + ``call.ended`` (answered) or
``call.abandoned`` (abandoned in the queue). A call served without queueing (straight from the IVR to
an agent) is queued and answered at the same moment: offered, answered, with a wait of 0. A caller who
hung up before reaching a queue produces no contact event.

A real export contradicts itself. A row keeps what it proves and is marked (:class:`Incomplete`, with
its line and reason) for what it lacks:

- answered, but no agent is named (the bank's ``AGENT`` rows with ``NO_SERVER``): offered, answered,
  its wait and its talk, with ``agent: null`` — the queue's figures count it, no agent's do;
- answered, but neither queue entry nor service start is known: offered and answered at its arrival,
  without a wait;
- answered, but the end of service is unknown: offered and answered, without a ``call.ended`` (its
  talk is unknown, not 0).

A row that proves nothing readable (an unknown outcome, an unreadable date, time or number, no queue,
the wrong number of fields) is refused with its line and reason (:class:`ConversionError`). None is
skipped silently.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field

from callwatch.events import Event, build
from producers.conversion import ConversionError, Incomplete, contract_refusal

#: a wait or a service longer than this is not a reading of a clock but a broken field
LONGEST_S = 7 * 86400.0


class Columns(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the columns whose values, joined with "-", identify a call
    call_id: list[str]
    queue: str
    date: str
    arrival: str
    outcome: str
    agent: str | None = None
    customer: str | None = None
    priority: str | None = None
    queue_entry: str | None = None
    queue_wait_s: str | None = None
    service_start: str | None = None
    service_end: str | None = None
    service_s: str | None = None


class CdrMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = "cdr"
    delimiter: str = ","
    encoding: str = "utf-8"
    #: rows whose field count is wrong are split on runs of white space instead, if that fits
    whitespace_fallback: bool = False
    timezone: str = "UTC"
    date_format: str = "%Y-%m-%d"
    time_format: str = "%H:%M:%S"
    #: the value a time column holds when the step did not happen
    missing_time: str = ""
    columns: Columns
    answered: list[str] = Field(default_factory=lambda: ["answered"])
    abandoned: list[str] = Field(default_factory=lambda: ["abandoned"])
    ignore: list[str] = Field(default_factory=list)
    #: values that mean "none" per column (e.g. customer 0, agent NO_SERVER)
    none_values: dict[str, list[str]] = Field(default_factory=dict)
    priority_map: dict[str, Annotated[int, Field(ge=0, le=9)]] = Field(default_factory=dict)
    ended_by: str = "customer"

    @classmethod
    def from_yaml(cls, path: str | Path) -> CdrMapping:
        return cls.model_validate(yaml.safe_load(Path(path).read_text()))


_SPLIT_WS = re.compile(r"\s+")


@dataclass
class CdrResult:
    events: list[Event] = field(default_factory=list)
    #: rows refused: nothing of them is in ``events``
    errors: list[ConversionError] = field(default_factory=list)
    #: rows converted with what they lack marked
    incomplete: list[Incomplete] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


class CdrConverter:
    def __init__(self, mapping: CdrMapping, pseudonymize: Callable[[str], str | None] | None = None) -> None:
        self.m = mapping
        self.zone = ZoneInfo(mapping.timezone)
        self.pseudonymize = pseudonymize
        self.counts: dict[str, int] = {}

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def _value(self, row: dict[str, str], column: str | None) -> str | None:
        if column is None:
            return None
        value = row.get(column, "").strip()
        if not value or value in self.m.none_values.get(column, ()):
            return None
        return value

    def _seconds_of_day(self, text: str | None) -> float | None:
        if text is None or text == self.m.missing_time:
            return None
        if self.m.time_format == "%H:%M:%S":  # the common case, without strptime's cost
            parts = text.split(":")
            if len(parts) != 3:
                raise ValueError(f"{text!r} is not H:MM:SS")
            hours, minutes, seconds = int(parts[0]), int(parts[1]), float(parts[2])
            if not (0 <= hours < 48 and 0 <= minutes < 60 and 0 <= seconds < 61):
                raise ValueError(f"{text!r} is not a time of day")
            return hours * 3600 + minutes * 60 + seconds
        t = datetime.strptime(text, self.m.time_format)
        return t.hour * 3600 + t.minute * 60 + t.second

    @staticmethod
    def _seconds(text: str | None) -> float | None:
        if text is None:
            return None
        value = float(text)
        if not math.isfinite(value) or abs(value) > LONGEST_S:
            raise ValueError(f"{text!r} is not a number of seconds")
        return value

    def convert_row(self, row: dict[str, str], line_no: int,
                    incomplete: list[Incomplete] | None = None) -> list[Event]:
        """The events of one row; a row kept although it lacks something is added to ``incomplete``.

        Counted (``counts``) and marked only once all its events are built: a row refused halfway
        leaves no trace but its error."""
        c = self.m.columns
        outcome = (self._value(row, c.outcome) or "").upper()
        if outcome in (o.upper() for o in self.m.ignore):
            self._count(f"ignored:{outcome}")
            return []
        answered = outcome in (o.upper() for o in self.m.answered)
        abandoned = outcome in (o.upper() for o in self.m.abandoned)
        if not answered and not abandoned:
            raise ConversionError(line_no, f"unknown outcome {outcome!r}", "unknown outcome")
        try:
            day = datetime.strptime(row[c.date].strip(), self.m.date_format).replace(tzinfo=self.zone)
            arrival = self._seconds_of_day(self._value(row, c.arrival))
            entry = self._seconds_of_day(self._value(row, c.queue_entry))
            start = self._seconds_of_day(self._value(row, c.service_start))
            end = self._seconds_of_day(self._value(row, c.service_end))
            wait = self._seconds(self._value(row, c.queue_wait_s))
            service = self._seconds(self._value(row, c.service_s))
        except (KeyError, ValueError) as exc:
            raise ConversionError(line_no, f"unreadable date, time or number ({exc})",
                                  "unreadable date, time or number") from None
        if arrival is None:
            raise ConversionError(line_no, "no arrival time")

        def at(seconds: float) -> datetime:
            # times after midnight wrap while the date stays the day of entry
            if seconds < arrival:
                seconds += 86400
            return datetime.combine(day.date(), datetime.min.time(), self.zone) + timedelta(seconds=seconds)

        queue = self._value(row, c.queue)
        if queue is None:
            raise ConversionError(line_no, "no queue")
        call_id = "-".join(row.get(k, "").strip() for k in c.call_id)
        customer_raw = self._value(row, c.customer)
        customer = self.pseudonymize(customer_raw) if customer_raw and self.pseudonymize else None
        priority = self.m.priority_map.get(self._value(row, c.priority) or "", 0)
        digest = hashlib.sha1(f"{self.m.source}|{call_id}".encode()).hexdigest()[:16]
        counter = iter(range(10))

        def make(kind: str, when: datetime, **fields: Any) -> Event:
            return build(id=f"cdr-{digest}-{next(counter)}", type=kind, ts=when, source=self.m.source,
                         call_id=call_id, queue=queue, priority=priority, **fields)

        if abandoned:
            if entry is None:
                self._count("hung_up_before_queue")
                return []
            left = at(entry) + timedelta(seconds=max(wait if wait is not None else 0.0, 0.0))
            events = [make("call.queued", at(entry), customer=customer), make("call.abandoned", left)]
            self._count("abandoned")
            return events
        # answered: offered and answered whatever else the row lacks; its gaps are marked, not invented
        gaps: list[str] = []
        agent = self._value(row, c.agent)
        if agent is None:
            gaps.append("answered, but no agent is named: kept with agent null (counts for the queue, no agent)")
        if entry is None:
            if start is None:
                gaps.append("answered, but neither queue entry nor service start is known: kept as answered at "
                            "its arrival, without a wait")
            queued = answered_at = at(start if start is not None else arrival)
        else:
            queued = at(entry)
            # the wait column is trusted over the two clocks of queue exit and service start
            seconds = wait if wait is not None else ((start - entry) if start is not None else 0.0)
            answered_at = queued + timedelta(seconds=max(seconds, 0.0))
        events = [make("call.queued", queued, customer=customer), make("call.answered", answered_at, agent=agent)]
        if service is not None:
            ended: datetime | None = answered_at + timedelta(seconds=max(service, 0.0))
        elif end is not None:
            ended = max(at(end), answered_at)
        else:
            gaps.append("answered, but the end of service is unknown: kept without call.ended (talk unknown)")
            ended = None
        if ended is not None:
            events.append(make("call.ended", ended, agent=agent, ended_by=self.m.ended_by))
        self._count("answered")
        if entry is None:
            self._count("served_without_queue")
        if gaps:
            self._count("incomplete")  # rows; a row can lack more than one thing
        if incomplete is not None:
            incomplete.extend(Incomplete(line_no, gap) for gap in gaps)
        return events

    def rows(self, path: str | Path) -> Iterator[tuple[int, dict[str, str]] | ConversionError]:
        """Each row with its line number, or why its line cannot be a row."""
        # read as bytes and decode line by line: one undecodable row is refused, not the whole file
        with open(path, "rb") as fh:
            first = fh.readline()
            try:
                header = first.decode(self.m.encoding).rstrip("\r\n").split(self.m.delimiter)
            except UnicodeDecodeError as exc:
                yield ConversionError(1, f"the header is not {self.m.encoding} ({exc.reason})", "unreadable header")
                return
            for n, raw in enumerate(fh, 2):
                try:
                    text = raw.decode(self.m.encoding).rstrip("\r\n")
                except UnicodeDecodeError as exc:
                    yield ConversionError(n, f"not {self.m.encoding} ({exc.reason} at byte {exc.start})",
                                          f"not {self.m.encoding}")
                    continue
                if not text.strip():
                    continue
                fields = text.split(self.m.delimiter)
                if len(fields) != len(header) and self.m.whitespace_fallback:
                    fields = _SPLIT_WS.split(text.strip())
                if len(fields) != len(header):
                    yield ConversionError(n, f"{len(fields)} fields, the header has {len(header)}",
                                          "wrong number of fields")
                    continue
                yield n, dict(zip(header, fields, strict=True))

    def convert_file(self, path: str | Path) -> CdrResult:
        result = CdrResult()
        for item in self.rows(path):
            if isinstance(item, ConversionError):
                result.errors.append(item)
                continue
            n, row = item
            gaps: list[Incomplete] = []
            try:
                result.events.extend(self.convert_row(row, n, gaps))
            except ConversionError as exc:
                result.errors.append(exc)
                continue
            except (ValueError, OverflowError) as exc:  # an event the contract refuses, a time out of range
                result.errors.append(ConversionError(n, contract_refusal(exc) if isinstance(exc, ValueError)
                                                     else f"a time out of range ({exc})", "not a valid event"))
                continue
            result.incomplete.extend(gaps)
        result.events.sort(key=lambda e: e.ts)
        result.counts = dict(self.counts)
        return result
