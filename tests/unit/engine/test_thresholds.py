"""The threshold alarms visit only booked instants, yet decide exactly what looking at every instant does."""

from __future__ import annotations

import random
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callwatch.alarm_rules import AlarmRules
from callwatch.config import MonitorConfig
from callwatch.engine import Engine, replay_events
from callwatch.engine.rolling import RollingCounts
from callwatch.engine.thresholds import EVAL_S, NEG_INF, ThresholdAlarms
from callwatch.engine.views import FloorAsOf
from callwatch.events import Event
from producers.simulator import demo_events
from tests.unit.helpers import T0, ev

#: alarms that fire often on the demo floor: low volumes, short repeats, a short for_s
RULES = AlarmRules.model_validate({
    "abandonment_high": {"min_contacts": 5, "repeat_s": 300},
    "service_level_low": {"min_contacts": 5, "repeat_s": 300, "window_s": 900},
    "no_agents": {"for_s": 30, "repeat_s": 120},
    "feed_silent": {"after_s": 45, "repeat_s": 120},
})
CFG = MonitorConfig(alarms=RULES)


class EveryInstant(ThresholdAlarms):
    """The reference: books every queue and source at every instant, as the first version scanned."""

    def advance(self, clock: float, known_queues: set[str], staffed: set[str], sources: dict[str, float],
                floor: FloorAsOf) -> list:  # type: ignore[type-arg]
        if self.evaluated_to > NEG_INF and clock >= self.evaluated_to + EVAL_S:
            t = self.evaluated_to + EVAL_S
            while t <= clock:
                for q in known_queues:
                    self._book(t, 0, q)
                for s in sources:
                    self._book(t, 1, s)
                t += EVAL_S
        return super().advance(clock, known_queues, staffed, sources, floor)


def _engine(reference: bool) -> Engine:
    eng = Engine(CFG)
    if reference:
        eng.threshold_alarms = EveryInstant(CFG, eng.rolling)
    return eng


def _with_gaps(events: list[Event], rng: random.Random) -> list[Event]:
    """The story with a source that falls silent now and then (feed_silent), in time order; a steady
    ticking source keeps the clock moving in small steps (a jump would collapse overdue repeats, by
    design, where visiting every instant would send each of them)."""
    end = int(max(e.ts for e in events).timestamp() - T0.timestamp()) + 60
    out = list(events) + [ev("source.heartbeat", t, source="tick") for t in range(0, end, 10)]
    t = 0.0
    while t < 3600:
        out.append(ev("source.heartbeat", t, source="pbx-b"))
        t += rng.choice([10, 20, 30, 200])
    return sorted(out, key=lambda e: e.ts)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_booked_instants_decide_what_every_instant_decides(seed: int) -> None:
    """Over a simulated hour (agents, abandons, a flaky source), the alarms equal a visit of every instant."""
    events = _with_gaps(demo_events(T0, seed=seed, hours=1.0, scale=0.6), random.Random(seed))
    fast = replay_events(_engine(False), events)
    slow = replay_events(_engine(True), events)
    assert fast.outbox == slow.outbox
    assert fast.thresholds == slow.thresholds
    assert fast.threshold_alarms.visits < slow.threshold_alarms.visits


def test_idle_months_cost_no_visits() -> None:
    """Two busy hours seven months apart cost the visits of the same hours one day apart (an idle night)."""
    hour = demo_events(T0, seed=3, hours=1.0, scale=0.6)

    def visits(gap: timedelta) -> int:
        later = [e.model_copy(update={"ts": e.ts + gap, "id": f"later-{e.id}",
                                      "call_id": f"later-{e.call_id}"} if hasattr(e, "call_id") else
                                     {"ts": e.ts + gap, "id": f"later-{e.id}"}) for e in hour]
        return replay_events(Engine(CFG), hour + later).threshold_alarms.visits

    a_day, seven_months = visits(timedelta(days=1)), visits(timedelta(days=210))
    assert abs(seven_months - a_day) <= 2


def test_windows_are_running_sums_of_whole_minutes() -> None:
    """ThresholdAlarms reads its windows from RollingCounts (no engine): a direct check of one rule."""
    rolling = RollingCounts()
    alarms = ThresholdAlarms(CFG, rolling)
    for m in range(10):
        rolling.add("q", m * 60, 2, 1)  # abandoned
        rolling.add("q", m * 60, 0, 1)  # answered
    assert rolling.window("q", 1800.0, 600.0).abandoned == 10
    assert alarms.evaluated_to == NEG_INF


def test_a_source_silent_for_months_is_not_visited_every_instant() -> None:
    """One source stops for good; another goes on for an hour, pauses seven months, goes on for an hour:
    the silent one is told at its start and its repeats while the clock moves, not once per 120 s of the
    idle months (a jump sends the first overdue repeat and the latest one due, no burst)."""
    hour = [ev("source.heartbeat", t, source="alive") for t in range(0, 3600, 30)]
    later = [ev("source.heartbeat", 210 * 86400 + t, source="alive") for t in range(0, 3600, 30)]
    eng = replay_events(Engine(CFG), [ev("source.heartbeat", 0, source="gone"), *hour, *later])
    silent = [a for a in eng.outbox if a.alarm == "feed_silent" and a.queue == "gone"]
    assert silent[0].status == "started"
    assert len(silent) <= 2 * (3600 // 120) + 3  # 210 days of repeats every 120 s would be 151,200
    assert eng.threshold_alarms.visits < 3 * (len(hour) + len(later))
