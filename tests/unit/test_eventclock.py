"""The event clock alone: which event times it believes, what it holds, and that outliers never leak."""

from __future__ import annotations

import itertools
import json
import random
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callwatch.config import MonitorConfig
from callwatch.engine.eventclock import (
    CLOCK_JUMP_UNCONFIRMED,
    TS_AHEAD_OF_WALL_CLOCK,
    TS_OUT_OF_RANGE,
    WAITING_SINCE_OUT_OF_RANGE,
    ClockLimits,
    EventClock,
    Refusal,
)
from callwatch.events import Event, build

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
LIMITS = ClockLimits.from_settings(MonitorConfig())
_ids = itertools.count(1)


def hb(t: float | datetime, source: str | None = "pbx", **fields: object) -> Event:
    """An event at ``t`` (seconds after T0, or a datetime) of ``source``: a heartbeat, or a sourceless agent
    state change (a heartbeat must have a source)."""
    when = t if isinstance(t, datetime) else T0 + timedelta(seconds=t)
    if source is None:
        return build(type="agent.state", id=f"x{next(_ids)}", ts=when, agent="a", state="available", **fields)
    return build(type="source.heartbeat", id=f"x{next(_ids)}", ts=when, source=source, **fields)


def run(clock: EventClock, events: list[Event], now: float | None = None,
        flush: bool = True) -> tuple[list[Event], list[Refusal]]:
    """Offer every event in turn (and flush at the end): everything released and refused, in order."""
    out: list[Event] = []
    refused: list[Refusal] = []
    for e in events:
        rel, ref = clock.offer(e, e.ts.timestamp(), now)
        out += rel
        refused += ref
    if flush:
        rel, ref = clock.flush()
        out += rel
        refused += ref
    return out, refused


def test_limits_come_from_the_config_and_are_validated() -> None:
    """The defaults are 1990 to 2100, five minutes of skew and an hour of step; nonsense is refused."""
    assert (LIMITS.earliest, LIMITS.latest) == (631152000.0, 4102444800.0)
    assert (LIMITS.max_skew_s, LIMITS.max_step_s, LIMITS.confirm_events) == (300.0, 3600.0, 1)
    for bad in ({"earliest": 10, "latest": 10}, {"earliest": 0, "latest": 1, "max_step_s": 0},
                {"earliest": 0, "latest": 1, "confirm_events": 0},
                {"earliest": 0, "latest": 1, "confirm_events": 5, "max_held": 4}):
        with pytest.raises(ValueError):
            ClockLimits(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be before"):
        MonitorConfig(earliest_event_time="2100-01-01T00:00:00Z", latest_event_time="1990-01-01T00:00:00Z")


@pytest.mark.parametrize(("stamp", "code"), [
    ("1970-01-01T00:00:00Z", TS_OUT_OF_RANGE),
    ("0001-01-01T00:00:00Z", TS_OUT_OF_RANGE),
    ("9999-12-31T23:59:59Z", TS_OUT_OF_RANGE),
    ("1989-12-31T23:59:59.999Z", TS_OUT_OF_RANGE),
    ("2100-01-01T00:00:00Z", TS_OUT_OF_RANGE),
])
@pytest.mark.parametrize("now", [None, T0.timestamp()])
def test_times_out_of_range_are_refused_with_the_limit_named(stamp: str, code: str, now: float | None) -> None:
    """A ts outside [earliest, latest) is refused live and in event time, and the reason names both."""
    clock = EventClock(LIMITS)
    run(clock, [hb(0)], now, flush=False)
    event = build(type="source.heartbeat", id="bad", ts=stamp, source="pbx")
    released, refused = clock.offer(event, event.ts.timestamp(), now)
    assert released == [] and [r.code for r in refused] == [code]
    assert "1990-01-01T00:00:00Z" in refused[0].reason and "2100-01-01T00:00:00Z" in refused[0].reason
    assert stamp[:10] in refused[0].reason and "\n" not in refused[0].reason
    assert clock.clocks == {"pbx": T0.timestamp()}


def test_a_waiting_since_out_of_range_is_refused() -> None:
    """A call queued now but "waiting since 1970" is refused, not a 56-year wait."""
    clock = EventClock(LIMITS)
    event = build(type="call.queued", id="q", ts=T0, call_id="c", queue="q", waiting_since="1970-01-01T00:00:00Z")
    _, refused = run(clock, [event])
    assert [r.code for r in refused] == [WAITING_SINCE_OUT_OF_RANGE]
    assert "waiting_since 1970-01-01" in refused[0].reason


def test_live_the_wall_clock_vouches() -> None:
    """Live, anything up to max_skew_s ahead of the wall clock is accepted at once (even a jump after a
    quiet night); further ahead is refused with the distance named."""
    clock = EventClock(LIMITS)
    now = T0.timestamp() + 86400
    events = [hb(0), hb(86400 - 5), hb(86400 + 299)]
    released, refused = run(clock, events, now)
    assert released == events and refused == []
    ahead = hb(86400 + 3600)
    released, refused = run(clock, [ahead], now)
    assert released == [] and [r.code for r in refused] == [TS_AHEAD_OF_WALL_CLOCK]
    assert "60 min ahead of the wall clock" in refused[0].reason and "max_clock_skew_s 300" in refused[0].reason


def test_a_known_wall_clock_refuses_the_future_in_event_time_too() -> None:
    """A live worker catching up goes by event time but still knows the wall clock: a source whose clock
    runs ten minutes fast is refused whichever mode each of its events goes by, not only some of them."""
    clock = EventClock(LIMITS)
    wall = T0.timestamp()
    fast = [hb(600 + i) for i in range(4)]
    codes = [r.code for i, e in enumerate(fast)
             for r in clock.offer(e, e.ts.timestamp(), wall if i % 2 else None, wall)[1]]
    assert codes == [TS_AHEAD_OF_WALL_CLOCK] * 4 and clock.clocks == {}
    on_time = hb(200)
    assert clock.offer(on_time, on_time.ts.timestamp(), None, wall) == ([on_time], [])


def test_a_lone_jump_is_held_then_refused_when_the_source_keeps_its_clock() -> None:
    """In event time, one event a year ahead is held; the source's next event is on the old clock, so the
    jump is refused and the next event applied, the clock never having moved."""
    clock = EventClock(LIMITS)
    outlier = hb(365 * 86400)
    first = run(clock, [hb(0), hb(10), outlier], flush=False)
    assert len(first[0]) == 2 and first[1] == [] and clock.held_count == 1 and clock.is_held(outlier)
    nxt = hb(20)
    released, refused = run(clock, [nxt], flush=False)
    assert released == [nxt]
    assert [(r.event, r.code) for r in refused] == [(outlier, CLOCK_JUMP_UNCONFIRMED)]
    assert "365.0 days ahead of source 'pbx'" in refused[0].reason and "max_clock_step_s 3600" in refused[0].reason
    assert clock.clocks["pbx"] == T0.timestamp() + 20 and clock.held_count == 0


def test_nights_and_idle_months_are_confirmed_at_once() -> None:
    """A real gap (a night, an idle month) is confirmed by the source's next event: the held event is
    released just before it, and nothing is refused."""
    events = [hb(0), hb(60), hb(15 * 3600), hb(15 * 3600 + 30), hb(45 * 86400), hb(45 * 86400 - 20),
              hb(45 * 86400 + 5)]
    clock = EventClock(LIMITS)
    released, refused = run(clock, events)
    assert released == events and refused == []


def test_a_sparse_source_loses_nothing() -> None:
    """Events two hours apart each jump; each is confirmed by the next and only the last one, unconfirmed
    at the end of the replay, is refused."""
    events = [hb(i * 7200) for i in range(6)]
    released, refused = run(EventClock(LIMITS), events)
    assert released == events[:-1] and [r.event for r in refused] == events[-1:]


def test_a_source_never_seen_is_judged_against_the_newest_clock() -> None:
    """A new source's first event far ahead of every other source is held like any jump; one behind is
    accepted (the engine counts it late), and events without a source share one clock."""
    clock = EventClock(LIMITS)
    a = hb(0, "a")
    new_far = hb(30 * 86400, "b")
    released, refused = run(clock, [a, new_far, hb(10, None), hb(-86400, "c")], flush=False)
    assert new_far not in released and len(released) == 3 and clock.is_held(new_far)
    assert set(clock.clocks) == {"a", "", "c"}
    released, refused = run(clock, [hb(30 * 86400 + 5, "b")])
    assert released[0] is new_far and refused == []


def test_an_outlier_inside_a_confirmation_window_is_still_refused() -> None:
    """With three confirmations required, an outlier arriving among them counts for the jump but is then
    judged against the jumped clock itself, and refused."""
    limits = ClockLimits(LIMITS.earliest, LIMITS.latest, confirm_events=3)
    night = [hb(50000 + i) for i in range(5)]
    outlier = hb(datetime(2099, 5, 1, tzinfo=timezone.utc))
    events = [hb(0), night[0], night[1], outlier, night[2], night[3], night[4]]
    released, refused = run(EventClock(limits), events)
    assert released == [events[0], *night] and [r.event for r in refused] == [outlier]


def test_held_candidates_are_settled_by_the_wall_clock_when_live_again() -> None:
    """A candidate held while catching up (event time) is released by the first live event if the wall
    clock vouches for it, and refused if it is ahead of the wall clock."""
    clock = EventClock(LIMITS)
    good, bad = hb(7200, "a"), hb(400 * 86400, "b")
    run(clock, [hb(0, "a"), hb(0, "b"), good, bad], flush=False)
    assert clock.held_count == 2
    live = hb(7201, "c")
    released, refused = run(clock, [live], now=T0.timestamp() + 7300, flush=False)
    assert released == [good, live] and [(r.event, r.code) for r in refused] == [(bad, TS_AHEAD_OF_WALL_CLOCK)]


# ----------------------------------------------------------------------------- properties

def _timeline(rng: random.Random, source: str | None, n: int, confirm: int) -> list[Event]:
    """A clean log of one source: small steps (some a little late), and gaps of a night or an idle month,
    each followed by at least ``confirm`` ordinary events (the source's start counts as a gap)."""
    out: list[Event] = []
    t = rng.uniform(-86400, 86400)
    since_gap = 0
    for i in range(n):
        if since_gap >= confirm and i < n - confirm and rng.random() < 0.08:
            t += rng.choice([rng.uniform(2 * 3600, 16 * 3600), rng.uniform(20 * 86400, 40 * 86400)])
            since_gap = 0
        else:
            t += rng.uniform(0, 600)
            since_gap += 1
        late = rng.uniform(0, 60) if rng.random() < 0.2 else 0.0
        out.append(hb(t - late, source))
    return out


OUTLIER_TIMES = [datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(1, 1, 1, tzinfo=timezone.utc),
                 datetime(9999, 12, 31, tzinfo=timezone.utc), datetime(2099, 3, 4, 5, 6, tzinfo=timezone.utc),
                 datetime(2031, 1, 1, tzinfo=timezone.utc), datetime(1989, 12, 31, tzinfo=timezone.utc)]


def _outlier(rng: random.Random, source: str | None) -> Event:
    """An event whose time must not be believed (its id starts with "o")."""
    if rng.random() < 0.15:
        since = rng.choice(["1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "2222-02-02T00:00:00Z"])
        return build(type="call.queued", id=f"o{next(_ids)}", ts=T0, source=source, call_id="c", queue="q",
                     waiting_since=since)
    when = rng.choice(OUTLIER_TIMES) + timedelta(seconds=rng.uniform(0, 86399) if rng.random() < 0.5 else 0)
    return hb(when, source).model_copy(update={"id": f"o{next(_ids)}"})


def _with_outliers(rng: random.Random, clean: list[Event], share: float) -> list[Event]:
    """The clean log with outliers of its source inserted, at most one between two clean events (none
    before the first: with nothing known yet, the first event is believed)."""
    out: list[Event] = []
    for i, e in enumerate(clean):
        if i and rng.random() < share:
            out.append(_outlier(rng, e.source))
        out.append(e)
    if rng.random() < share:
        out.append(_outlier(rng, clean[-1].source))
    return out


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 80), share=st.floats(0, 0.5), confirm=st.integers(1, 3),
       source=st.sampled_from(["pbx", None]))
def test_outliers_never_leak_from_one_source(seed: int, n: int, share: float, confirm: int,
                                             source: str | None) -> None:
    """A clean log with random outliers inserted releases exactly the clean log, in order; every outlier
    is refused with a reason."""
    rng = random.Random(seed)
    clean = _timeline(rng, source, n, confirm)
    dirty = _with_outliers(rng, clean, share)
    limits = ClockLimits(LIMITS.earliest, LIMITS.latest, confirm_events=confirm)
    released, refused = run(EventClock(limits), dirty)
    assert released == clean
    assert sorted(r.event.id for r in refused) == sorted(e.id for e in dirty if e.id.startswith("o"))
    assert all(r.reason and "\n" not in r.reason for r in refused)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32), share=st.floats(0, 0.4), confirm=st.integers(1, 2))
def test_outliers_never_leak_from_several_sources(seed: int, share: float, confirm: int) -> None:
    """Several sources interleaved: each source's clean events are released in its own order, outliers
    are all refused."""
    rng = random.Random(seed)
    per_source = {s: _with_outliers(rng, _timeline(rng, s, rng.randint(1 + confirm, 40), confirm), share)
                  for s in ("a", "b", None)}
    clean = {e.id for events in per_source.values() for e in events if not e.id.startswith("o")}
    cursors = {s: 0 for s in per_source}
    merged: list[Event] = []
    while cursors:
        s = rng.choice(sorted(cursors, key=str))
        merged.append(per_source[s][cursors[s]])
        cursors[s] += 1
        if cursors[s] == len(per_source[s]):
            del cursors[s]
    limits = ClockLimits(LIMITS.earliest, LIMITS.latest, confirm_events=confirm)
    released, refused = run(EventClock(limits), merged)
    for s, events in per_source.items():
        assert [e for e in released if e.source == s] == [e for e in events if e.id in clean]
    assert {r.event.id for r in refused} == {e.id for e in merged} - clean


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), cut=st.floats(0, 1), confirm=st.integers(1, 3))
def test_a_restart_mid_candidate_changes_nothing(seed: int, cut: float, confirm: int) -> None:
    """Dumped (as JSON) and restored at any point, held candidates included, the clock decides exactly as
    the uninterrupted one."""
    rng = random.Random(seed)
    dirty = _with_outliers(rng, _timeline(rng, "pbx", 40, confirm), 0.3)
    limits = ClockLimits(LIMITS.earliest, LIMITS.latest, confirm_events=confirm)
    whole = run(EventClock(limits), dirty)
    k = int(len(dirty) * cut)
    first = EventClock(limits)
    head = run(first, dirty[:k], flush=False)
    state = json.loads(json.dumps(first.to_state()))
    again = EventClock.from_state(limits, state)
    tail = run(again, dirty[k:])
    assert head[0] + tail[0] == whole[0]
    assert [(r.event, r.code, r.reason) for r in head[1] + tail[1]] == [(r.event, r.code, r.reason) for r in whole[1]]


def test_the_engine_never_lets_a_refused_event_touch_its_state() -> None:
    """Through Engine.step, refused events change no watermark, min/max time, source clock or dedup id,
    are counted by code and handed out once; a held candidate survives meta()/restore and finish()
    refuses it."""
    from callwatch.engine import Engine

    eng = Engine(MonitorConfig())
    eng.step(hb(0))
    eng.step(hb(30))
    before = (eng.max_ts, eng.min_ts, dict(eng.sources), set(eng.seen), eng.watermark)
    poison = [hb(datetime(1970, 1, 1, tzinfo=timezone.utc)), hb(datetime(9999, 12, 31, tzinfo=timezone.utc)),
              hb(datetime(1, 1, 1, tzinfo=timezone.utc)), hb(datetime(2099, 1, 1, tzinfo=timezone.utc))]
    for e in poison:
        assert eng.step(e) == []
    assert (eng.max_ts, eng.min_ts, dict(eng.sources), set(eng.seen), eng.watermark) == before
    assert [r.event for r in eng.take_refusals()] == poison[:3] and eng.take_refusals() == []
    assert eng.clock.is_held(poison[3])
    restored = Engine.restore(eng.config, json.loads(json.dumps(eng.meta())), {})
    assert restored.clock.is_held(poison[3])
    restored.finish()
    assert [(r.event, r.code) for r in restored.take_refusals()] == [(poison[3], CLOCK_JUMP_UNCONFIRMED)]
    invalid = {k: n for k, n in restored.counters.items() if k.startswith("invalid:")}
    assert invalid == {"invalid:ts_out_of_range": 3, "invalid:clock_jump_unconfirmed": 1}
    assert restored.max_ts == before[0]
