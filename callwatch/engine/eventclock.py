"""Event time that cannot be poisoned: whether each event's own time is believable.

A telephony feed's ``ts`` drives everything in the engine (the watermark, the alarm timer, retention),
so one event stamped ``9999-12-31`` or ``1970-01-01`` used to move the clock for good. This room decides,
per event and before the engine sees it, whether to believe the event's time. It is pure: no I/O, no
wall clock (``now`` is passed in), state small enough to dump with the engine's meta.

- A ``ts`` (or a ``call.queued``'s ``waiting_since``) outside ``[earliest, latest)`` is refused.
- Live (a wall-clock ``now`` is given), the wall clock vouches: a ``ts`` at most ``max_skew_s`` ahead of
  it is accepted, one further ahead is refused. A live worker catching up a backlog goes by event time
  (below) but still knows the wall clock (``wall``): nothing further ahead of it is believed either.
- In event-time mode (``now`` None: a replay, or a live worker catching up a backlog) nothing outside
  vouches, so each source's events vouch for each other. A source's clock is the newest ``ts`` accepted
  from it. An event more than ``max_step_s`` ahead of it (for a source never seen: of the newest clock of
  any source) is held as a *candidate*: if the source's next events agree with it (``ts >= candidate -
  max_step_s``), the clock really jumped (a night, an idle month) and the candidates are released, in
  order, before the event that confirmed them; if the source's next event agrees with the old clock
  instead, the candidates were lone outliers and are refused. Candidates still held at the end of a
  replay (:meth:`EventClock.flush`) are refused too.

Events behind a source's clock are not refused here: the engine counts them late. Order across sources
is kept except around a held candidate (its source's later events wait with it; other sources' do not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from callwatch.events import CallQueued, Event, decode, encode

TS_OUT_OF_RANGE = "ts_out_of_range"
WAITING_SINCE_OUT_OF_RANGE = "waiting_since_out_of_range"
TS_AHEAD_OF_WALL_CLOCK = "ts_ahead_of_wall_clock"
CLOCK_JUMP_UNCONFIRMED = "clock_jump_unconfirmed"
#: every refusal code (dead letters and ``invalid:<code>`` counters use them as they are)
CODES = (TS_OUT_OF_RANGE, WAITING_SINCE_OUT_OF_RANGE, TS_AHEAD_OF_WALL_CLOCK, CLOCK_JUMP_UNCONFIRMED)


class ClockSettings(Protocol):
    """Where the limits come from (``callwatch.config.MonitorConfig`` has these fields)."""

    @property
    def earliest_event_time(self) -> datetime: ...

    @property
    def latest_event_time(self) -> datetime: ...

    @property
    def max_clock_skew_s(self) -> float: ...

    @property
    def max_clock_step_s(self) -> float: ...


@dataclass(frozen=True, slots=True)
class ClockLimits:
    """What makes an event time believable. Times are POSIX seconds."""

    #: event times before this are refused
    earliest: float
    #: event times at or after this are refused
    latest: float
    #: live: how far ahead of the wall clock an event may be
    max_skew_s: float = 300.0
    #: event time: how far ahead of its source's clock an event may be without confirmation
    max_step_s: float = 3600.0
    #: how many of a source's later events must agree with a jump before it is believed
    confirm_events: int = 1
    #: most candidates held per source (a candidate and the events confirming it so far)
    max_held: int = 100

    def __post_init__(self) -> None:
        if not (math.isfinite(self.earliest) and math.isfinite(self.latest)) or self.earliest >= self.latest:
            raise ValueError(f"earliest ({self.earliest}) must be before latest ({self.latest})")
        if not self.max_skew_s >= 0:
            raise ValueError(f"max_skew_s must be >= 0, not {self.max_skew_s}")
        if not self.max_step_s > 0:
            raise ValueError(f"max_step_s must be > 0, not {self.max_step_s}")
        if not 1 <= self.confirm_events <= self.max_held:
            raise ValueError(f"confirm_events must be between 1 and max_held ({self.max_held}), "
                             f"not {self.confirm_events}")

    @classmethod
    def from_settings(cls, settings: ClockSettings, **more: Any) -> ClockLimits:
        return cls(earliest=settings.earliest_event_time.timestamp(), latest=settings.latest_event_time.timestamp(),
                   max_skew_s=settings.max_clock_skew_s, max_step_s=settings.max_clock_step_s, **more)


@dataclass(frozen=True, slots=True)
class Refusal:
    """An event whose time is not believed: the event, a short code and a one-line human reason."""

    event: Event
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class _Held:
    seq: int  # arrival order across sources (candidates settled together are released in it)
    ts: float
    ref: float  # the clock it jumped ahead of, for the reason
    event: Event


class EventClock:
    """Per-event decisions on event time; see the module's docstring. O(1) per event."""

    def __init__(self, limits: ClockLimits) -> None:
        self.limits = limits
        #: each source's clock: the newest ts accepted from it ("" for events without a source)
        self.clocks: dict[str, float] = {}
        #: the newest clock of any source (the reference for a source never seen)
        self.newest: float | None = None
        self._held: dict[str, list[_Held]] = {}
        self._n_held = 0
        self._seq = 0

    # ----------------------------------------------------------------- the decision

    def offer(self, event: Event, ts: float, now: float | None,
              wall: float | None = None) -> tuple[list[Event], list[Refusal]]:
        """Decide on one event whose time is ``ts``; ``now`` is the wall clock live, None in event time;
        ``wall`` is the wall clock when it is known although this event goes by event time.

        Returns the events to apply now, in order (the event itself, candidates it confirmed before it,
        or nothing while it is held) and the events refused.
        """
        released: list[Event] = []
        refused: list[Refusal] = []
        if now is not None:
            wall = now
            if self._n_held:
                self._settle(now, released, refused)  # the wall clock now vouches for (or against) candidates
        bad = self._out_of_range(event, ts)
        if bad is not None:
            refused.append(bad)
        elif wall is not None and ts > wall + self.limits.max_skew_s:
            refused.append(Refusal(event, TS_AHEAD_OF_WALL_CLOCK,
                                   f"ts {_iso(ts)} is {_span(ts - wall)} ahead of the wall clock {_iso(wall)} "
                                   f"(max_clock_skew_s {self.limits.max_skew_s:g})"))
        elif now is not None:
            self._accept(event.source or "", ts)
            released.append(event)
        else:
            self._event_time(event, ts, released, refused)
        return released, refused

    def flush(self) -> tuple[list[Event], list[Refusal]]:
        """The end of a replay: candidates still held were never confirmed, and are refused."""
        refused = [self._unconfirmed(h, "no later event of its source confirmed it") for h in self._take_all()]
        return [], refused

    def _event_time(self, event: Event, ts: float, released: list[Event], refused: list[Refusal]) -> None:
        source = event.source or ""
        step = self.limits.max_step_s
        held = self._held.get(source)
        if not held:
            ref = self.clocks.get(source, self.newest)
            if ref is None or ts <= ref + step:
                self._accept(source, ts)
                released.append(event)
            else:
                self._hold(source, ts, ref, event)
            return
        candidate = held[0]
        if ts <= candidate.ref + step:
            # the source is still on the clock the candidate jumped from: the candidates were lone outliers
            for h in self._take(source):
                refused.append(self._unconfirmed(h, f"the source's next event ({_iso(ts)}) kept the old clock"))
            self._event_time(event, ts, released, refused)
        elif ts >= candidate.ts - step:
            if len(held) >= self.limits.confirm_events:
                # confirmed: the clock really jumped. The candidate goes first; the events held with it
                # and this one are decided afresh against the new clock (one may be an outlier itself)
                rest = self._take(source)[1:]
                self._accept(source, candidate.ts)
                released.append(candidate.event)
                for h in rest:
                    self._event_time(h.event, h.ts, released, refused)
                self._event_time(event, ts, released, refused)
            elif len(held) >= self.limits.max_held:
                refused.append(Refusal(event, CLOCK_JUMP_UNCONFIRMED,
                                       f"ts {_iso(ts)} is ahead of source {source!r}'s clock {_iso(candidate.ref)} "
                                       f"and {len(held)} of its events are held already (the most)"))
            else:
                self._hold(source, ts, candidate.ref, event)
        else:
            # ahead of the old clock and far behind the candidate: another jump, which discredits the first
            for h in self._take(source):
                refused.append(self._unconfirmed(h, f"the source's next event ({_iso(ts)}) was far behind it"))
            self._event_time(event, ts, released, refused)

    # --------------------------------------------------------------------- helpers

    def _out_of_range(self, event: Event, ts: float) -> Refusal | None:
        lim = self.limits
        if not lim.earliest <= ts < lim.latest:
            return Refusal(event, TS_OUT_OF_RANGE,
                           f"ts {event.ts.isoformat()} is outside the believable event times "
                           f"[{_iso(lim.earliest)}, {_iso(lim.latest)}) (earliest/latest_event_time)")
        if isinstance(event, CallQueued) and event.waiting_since is not None:
            since = event.waiting_since.timestamp()
            if not lim.earliest <= since < lim.latest:
                return Refusal(event, WAITING_SINCE_OUT_OF_RANGE,
                               f"waiting_since {event.waiting_since.isoformat()} is outside the believable event "
                               f"times [{_iso(lim.earliest)}, {_iso(lim.latest)}) (earliest/latest_event_time)")
        return None

    def _accept(self, source: str, ts: float) -> None:
        if ts > self.clocks.get(source, -math.inf):
            self.clocks[source] = ts
        if self.newest is None or ts > self.newest:
            self.newest = ts

    def _hold(self, source: str, ts: float, ref: float, event: Event) -> None:
        self._seq += 1
        self._held.setdefault(source, []).append(_Held(self._seq, ts, ref, event))
        self._n_held += 1

    def _take(self, source: str) -> list[_Held]:
        held = self._held.pop(source, [])
        self._n_held -= len(held)
        return held

    def _take_all(self) -> list[_Held]:
        out = sorted((h for held in self._held.values() for h in held), key=lambda h: h.seq)
        self._held.clear()
        self._n_held = 0
        return out

    def _settle(self, now: float, released: list[Event], refused: list[Refusal]) -> None:
        skew = self.limits.max_skew_s
        for h in self._take_all():
            if h.ts <= now + skew:
                self._accept(h.event.source or "", h.ts)
                released.append(h.event)
            else:
                refused.append(Refusal(h.event, TS_AHEAD_OF_WALL_CLOCK,
                                       f"ts {_iso(h.ts)} is {_span(h.ts - now)} ahead of the wall clock "
                                       f"{_iso(now)} (max_clock_skew_s {skew:g})"))

    def _unconfirmed(self, h: _Held, why: str) -> Refusal:
        source = h.event.source or ""
        return Refusal(h.event, CLOCK_JUMP_UNCONFIRMED,
                       f"ts {_iso(h.ts)} jumped {_span(h.ts - h.ref)} ahead of source {source!r}'s clock "
                       f"{_iso(h.ref)} (max_clock_step_s {self.limits.max_step_s:g}) and {why}")

    # ---------------------------------------------------------------- inspection

    @property
    def held_count(self) -> int:
        """How many events are held as candidates, all sources together."""
        return self._n_held

    def is_held(self, event: Event) -> bool:
        """Whether this event (by id) is held as a candidate now."""
        return any(h.event.id == event.id for h in self._held.get(event.source or "", ()))

    def held_ids(self) -> set[str]:
        """The ids of the events held now (as many as are held: a handful at most)."""
        return {h.event.id for held in self._held.values() for h in held}

    # --------------------------------------------------------------- persistence

    def to_state(self) -> dict[str, Any]:
        """A JSON-able dump: the clocks and the held candidates (as their contract JSON)."""
        return {
            "clocks": dict(self.clocks),
            "newest": self.newest,
            "seq": self._seq,
            "held": {source: [[h.seq, h.ts, h.ref, encode(h.event).decode()] for h in held]
                     for source, held in self._held.items() if held},
        }

    @classmethod
    def from_state(cls, limits: ClockLimits, state: dict[str, Any] | None) -> EventClock:
        """The clock :meth:`to_state` dumped (a fresh one for None or an empty dict)."""
        clock = cls(limits)
        if not state:
            return clock
        clock.clocks = {str(k): float(v) for k, v in (state.get("clocks") or {}).items()}
        newest = state.get("newest")
        clock.newest = None if newest is None else float(newest)
        clock._seq = int(state.get("seq", 0))
        for source, items in (state.get("held") or {}).items():
            # validated when it came in: the limits of today must not make a stored state unreadable
            clock._held[source] = [_Held(int(seq), float(ts), float(ref), decode(raw, limits=None))
                                   for seq, ts, ref, raw in items]
            clock._n_held += len(items)
        return clock


def _iso(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return f"{ts:g} s"


def _span(seconds: float) -> str:
    s = abs(seconds)
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    if s < 730 * 86400:
        return f"{s / 86400:.1f} days"
    return f"{s / (365.25 * 86400):.1f} years"
