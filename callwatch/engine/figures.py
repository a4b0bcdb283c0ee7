"""METRICS.md's figures, derived from the engine's buckets: live, windowed, per day, per agent.

Everything here reads engine state and returns plain dicts (JSON-ready, METRICS.md's names in
snake_case, durations in seconds, rates as fractions 0–1, ``None`` where a denominator is 0).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from callwatch.config import MonitorConfig, QueueConfig, ServiceLevelFormula
from callwatch.engine.agent_days import AgentDays
from callwatch.engine.agents import open_spell
from callwatch.engine.aggregates import INTERVAL_S, REPEAT_LONG_S, WAIT_BUCKETS_S, AgentDay, Agg

if TYPE_CHECKING:
    from callwatch.engine.core import Engine



def _ratio(num: float, den: float) -> float | None:
    return None if den <= 0 else round(min(max(num / den, 0.0), 1.0), 6)


def _mean(total: float, n: float) -> float | None:
    return None if n <= 0 else round(total / n, 6)


def service_level_of(agg: Agg, qc: QueueConfig) -> float | None:
    formula = qc.service_level_formula
    if formula is ServiceLevelFormula.answered_only:
        den = agg.answered
    elif formula is ServiceLevelFormula.abandons_neutral:
        den = agg.answered + agg.abandoned_after_t
    else:
        den = agg.answered + agg.abandoned
    return _ratio(agg.answered_within_t, den)


def derived(agg: Agg, qc: QueueConfig, provisional: bool = True) -> dict[str, Any]:
    """The interval and derived figures of one aggregate (any window).

    ``provisional``: the window's contacts have not all had their 72 hours yet, so a repeat may still
    come — the repeat rates and FCR can still change, and are marked so.
    """
    dequeued = sum(agg.dequeued.values())
    handle = agg.talk_s + agg.acw_s
    hist_labels = [f"le_{int(b)}" for b in WAIT_BUCKETS_S] + ["gt_600"]
    return {
        "offered": agg.offered,
        "answered": agg.answered,
        "answered_within_t": agg.answered_within_t,
        "abandoned": agg.abandoned,
        "short_abandoned": agg.short_abandoned,
        "dequeued": dequeued,
        "dequeued_by_reason": dict(sorted(agg.dequeued.items())),
        "abandonment_rate": _ratio(agg.abandoned, agg.answered + agg.abandoned + dequeued),
        "service_level": service_level_of(agg, qc),
        "service_level_formula": qc.service_level_formula.value,
        "asa": _mean(agg.wait_answered_sum_s, agg.answered),
        "average_abandon_time": _mean(agg.wait_abandoned_sum_s, agg.abandoned),
        "wait_answered_sum": round(agg.wait_answered_sum_s, 6),
        "wait_answered_max": round(agg.wait_answered_max_s, 6),
        "wait_abandoned_sum": round(agg.wait_abandoned_sum_s, 6),
        "wait_abandoned_max": round(agg.wait_abandoned_max_s, 6),
        "wait_answered_histogram": dict(zip(hist_labels, agg.wait_answered_hist, strict=True)),
        "wait_abandoned_histogram": dict(zip(hist_labels, agg.wait_abandoned_hist, strict=True)),
        "ended": agg.ended,
        "talk": round(agg.talk_s, 6),
        "hold": round(agg.hold_s, 6),
        "acw": round(agg.acw_s, 6),
        "handle_time": round(handle, 6),
        "aht": _mean(handle, agg.ended),
        "transfers": agg.transfers,
        "agent_ended_calls": agg.agent_ended,
        "short_calls": agg.short_calls,
        "dispositions": agg.dispositions,
        "resolution_ratio": _ratio(agg.resolved, agg.dispositions),
        "complaints": agg.complaints,
        "surveys_offered": agg.surveys_offered,
        "surveys_completed": agg.surveys_completed,
        "survey_offer_rate": _ratio(agg.surveys_offered, agg.ended),
        "survey_response_rate": _ratio(agg.surveys_completed, agg.surveys_offered),
        "csat": _ratio(agg.satisfied_top2, agg.satisfied_n),
        "csat_mean": _mean(agg.satisfied_sum, agg.satisfied_n),
        "professionalism": _ratio(agg.professional_top2, agg.professional_n),
        "professionalism_mean": _mean(agg.professional_sum, agg.professional_n),
        "unmet_need": _ratio(agg.more_help_yes, agg.more_help_n),
        **quality_of(agg.customer_contacts, agg.repeat_24h, agg.repeat_72h, agg.resolved, agg.resolved_repeat_72h,
                     agg.dispositions, provisional),
    }


def quality_of(contacts: int, repeat_24h: int, repeat_72h: int, resolved: int, resolved_repeat_72h: int,
               dispositions: int, provisional: bool) -> dict[str, Any]:
    """Repeat contact rates and first-contact resolution (METRICS.md), with their provisional mark."""
    return {
        "customer_contacts": contacts,
        "repeat_contacts_24h": repeat_24h,
        "repeat_contacts_72h": repeat_72h,
        "repeat_contact_rate_24h": _ratio(repeat_24h, contacts),
        "repeat_contact_rate_72h": _ratio(repeat_72h, contacts),
        "resolved_then_repeated_72h": resolved_repeat_72h,
        "fcr": _ratio(resolved - resolved_repeat_72h, dispositions),
        "fcr_provisional": provisional,
    }


# ------------------------------------------------------------------- windows


def window_agg(engine: Engine, queue: str | None, channel: str | None, start: float, end: float) -> Agg:
    """Sum of the minute buckets whose start lies in [start, end] (rolling windows, to the minute)."""
    out = Agg()
    for q in ([queue] if queue is not None else sorted(engine.buckets.channels)):
        out.merge(engine.buckets.minutes_sum(q, channel, start, end))
    return out


def interval_agg(engine: Engine, queue: str | None, channel: str | None, start: float, end: float) -> Agg:
    """Sum of the 15-minute intervals that start in [start, end)."""
    out = Agg()
    for q in ([queue] if queue is not None else sorted(engine.buckets.channels)):
        out.merge(engine.buckets.intervals_sum(q, channel, start, end))
    return out


def day_start(now: float, qc: QueueConfig) -> float:
    """When "today" began for a queue: the latest day reset (in its time zone) at or before ``now``."""
    local = datetime.fromtimestamp(now, qc.zone)
    reset = local.replace(hour=qc.day_starts_at.hour, minute=qc.day_starts_at.minute, second=0,
                          microsecond=0)
    if reset > local:
        reset = (reset - timedelta(days=1)).replace(tzinfo=qc.zone)
    return reset.timestamp()


# ---------------------------------------------------------------------- live


def agents_in_queue(engine: Engine, queue: str, at: float | None = None) -> dict[str, int]:
    """Agents serving the queue (per their latest ``queues``) in each state; staffed = not offline.

    By default the latest state known; with ``at``, the state each agent was in at that moment.
    """
    return engine.agents_at(queue, at)


def queues_of(engine: Engine) -> list[str]:
    seen: set[str] = set(engine.buckets.channels)
    seen.update(q for q, w in engine.waiting.items() if w)
    seen.update(q for q, names in engine.agents_by_queue.items() if names)
    return sorted(seen)


def live_queue(engine: Engine, queue: str, now: float) -> dict[str, Any]:
    """METRICS.md's "now": waiting, oldest wait, agents by state, the longest-waiting list."""
    waiting = sorted(((leg.wait_from, leg.call_id, leg) for leg in engine.waiting.get(queue, {}).values()
                      if leg.wait_from is not None), key=lambda item: (item[0], item[1]))
    size = engine.config.longest_waiting_size
    qc = engine.config.for_queue(queue)

    def wait_of(since: float) -> float:
        return round(max(now - since, 0.0), 3)

    alarm = engine.alarms.get(queue)
    return {
        "waiting": len(waiting),
        "oldest_wait": wait_of(waiting[0][0]) if waiting else 0.0,
        "wait_window": qc.wait_window_s,
        "wait_warning": qc.warning_s,
        "over_window": sum(1 for since, _, _ in waiting if now - since > qc.wait_window_s),
        "agents": agents_in_queue(engine, queue),
        "longest_waiting": [
            {"call_id": call_id, "wait": wait_of(since), "channel": leg.channel, "priority": leg.priority}
            for since, call_id, leg in waiting[:size]
        ],
        "alarm": None if alarm is None else {"alarm": "wait_window_exceeded", "started_at": alarm.started_at},
    }


def queue_windows(engine: Engine, queue: str, now: float) -> dict[str, Any]:
    """Per queue and per queue × channel: last 15, 30 and 60 min and today, with derived figures."""
    qc = engine.config.for_queue(queue)
    today_from = day_start(now, qc)
    channels = sorted(engine.buckets.channels.get(queue, ()))
    out: dict[str, Any] = {}
    spans: tuple[tuple[str, Callable[[str | None], Agg]], ...] = (
        ("last_15m", lambda ch: window_agg(engine, queue, ch, now - 15 * 60, now)),
        # the abandonment and service-level alarms of METRICS.md look at the last 30 minutes
        ("last_30m", lambda ch: window_agg(engine, queue, ch, now - 30 * 60, now)),
        ("last_60m", lambda ch: window_agg(engine, queue, ch, now - 60 * 60, now)),
        ("today", lambda ch: interval_agg(engine, queue, ch, today_from, now + INTERVAL_S)),
    )
    for name, fn in spans:
        out[name] = {**derived(fn(None), qc), "channels": {ch: derived(fn(ch), qc) for ch in channels}}
    return out


def ahead(engine: Engine, queue: str, now: float) -> dict[str, Any]:
    """Ahead of the line (engine/forecast.py): the predicted wait of a caller entering now, the agents
    Erlang C needs now for the service-level target beside those staffed, and per waiting caller (the
    longest-waiting list's) the expected seconds until answer."""
    forecast = engine.forecast
    advice = forecast.staffing(queue)
    return {
        "predicted_wait_s": forecast.predicted_wait(queue),
        "agents_needed": advice.agents_needed,
        "agents_staffed": engine.agents_at(queue)["staffed"],
        "agents_staffed_shared": advice.agents_staffed_shared,
        "offered_load_erlangs": advice.offered_load,
        "expected_answer_in_s": forecast.expected_answer_in(queue, now),
    }


def snapshot(engine: Engine, now: float) -> dict[str, Any]:
    """Everything a wallboard shows, per queue: live figures, the windows and the predictions."""
    return {
        "now": now,
        "queues": {q: {**live_queue(engine, q, now), "windows": queue_windows(engine, q, now),
                       **ahead(engine, q, now)}
                   for q in queues_of(engine)},
    }


# -------------------------------------------------------------------- report


def _day_of(ts: float, qc: QueueConfig) -> str:
    """The day (in the queue's zone, counted from its reset time) that an interval start belongs to."""
    local = datetime.fromtimestamp(ts, qc.zone)
    reset_today = local.replace(hour=qc.day_starts_at.hour, minute=qc.day_starts_at.minute, second=0,
                                microsecond=0)
    day = local.date() if local >= reset_today else (local - timedelta(days=1)).date()
    return day.isoformat()


def _with_channels(aggs: dict[str, Agg], qc: QueueConfig, provisional: bool = True) -> dict[str, Any]:
    total = Agg()
    for a in aggs.values():
        total.merge(a)
    return {**derived(total, qc, provisional),
            "channels": {ch: derived(a, qc, provisional) for ch, a in sorted(aggs.items())}}


def agent_figures(day: AgentDay, provisional: bool = True) -> dict[str, Any]:
    busy = day.state_s.get("busy", 0.0) + day.state_s.get("wrap_up", 0.0)
    avail = day.state_s.get("available", 0.0)
    return {
        "handled": day.handled,
        "talk": round(day.talk_s, 6),
        "hold": round(day.hold_s, 6),
        "acw": round(day.acw_s, 6),
        "aht": _mean(day.talk_s + day.acw_s, day.handled),
        "transfers": day.transfers,
        "agent_ended_calls": day.agent_ended,
        "short_calls": day.short_calls,
        "time_in_state": {k: round(v, 6) for k, v in sorted(day.state_s.items())},
        "away_by_reason": {k: round(v, 6) for k, v in sorted(day.away_reason_s.items())},
        "idle_between_contacts": round(day.idle_between_s, 6),
        "idle_between_contacts_mean": _mean(day.idle_between_s, day.idle_between_n),
        "occupancy": _ratio(busy, busy + avail),
        "dispositions": day.dispositions,
        "resolution_ratio": _ratio(day.resolved, day.dispositions),
        "surveys_offered": day.surveys_offered,
        "surveys_completed": day.surveys_completed,
        "csat": _ratio(day.satisfied_top2, day.satisfied_n),
        "csat_mean": _mean(day.satisfied_sum, day.satisfied_n),
        "professionalism": _ratio(day.professional_top2, day.professional_n),
        "professionalism_mean": _mean(day.professional_sum, day.professional_n),
        "unmet_need": _ratio(day.more_help_yes, day.more_help_n),
        "survey_offer_rate": _ratio(day.surveys_offered, day.handled),
        "survey_response_rate": _ratio(day.surveys_completed, day.surveys_offered),
        "survey_offer_rate_complaints": _ratio(day.complaint_offered, day.complaint_contacts),
        "survey_offer_rate_others": _ratio(day.other_offered, day.other_contacts),
        "perfect_scores": day.perfect_scores,
        "agent_ended_short": day.short_agent_ended,
        "agent_ended_near_cap": day.near_cap_agent_ended,
        **quality_of(day.customer_contacts, day.repeat_24h, day.repeat_72h, day.resolved, day.resolved_repeat_72h,
                     day.dispositions, provisional),
    }


def report(engine: Engine) -> dict[str, Any]:
    """The offline replay's output: per queue and for all queues, per day and for the whole log.

    Deterministic: it depends only on the engine's state, whose "now" is the event-time watermark.
    """
    cfg: MonitorConfig = engine.config
    per_queue: dict[str, dict[str, dict[str, Agg]]] = defaultdict(lambda: defaultdict(dict))
    per_queue_total: dict[str, dict[str, Agg]] = defaultdict(dict)
    floor_days: dict[str, dict[str, Agg]] = defaultdict(dict)
    floor_total: dict[str, Agg] = {}
    wm = engine.watermark
    last_interval: dict[tuple[str, str], int] = {}
    for (q, ch, i), agg in sorted(engine.intervals.items()):
        qc = cfg.for_queue(q)
        day = _day_of(i, qc)
        for scope in ((q, day), ("", day)):
            last_interval[scope] = max(i, last_interval.get(scope, i))
        for target in (per_queue[q][day], per_queue_total[q], floor_days[day], floor_total):
            have = target.get(ch)
            if have is None:
                have = target[ch] = Agg()
            have.merge(agg)
    def unsettled(scope: tuple[str, str]) -> bool:
        """A day's repeat rates and FCR are final 72 h after its last interval."""
        return wm < last_interval.get(scope, wm) + INTERVAL_S + REPEAT_LONG_S

    queues: dict[str, Any] = {}
    for q in sorted(set(per_queue) | set(queues_of(engine))):
        qc = cfg.for_queue(q)
        queues[q] = {
            "timezone": qc.timezone,
            "days": {d: _with_channels(aggs, qc, unsettled((q, d))) for d, aggs in sorted(per_queue[q].items())},
            "total": _with_channels(per_queue_total.get(q, {}), qc,
                                    any(unsettled((q, d)) for d in per_queue[q]) or not per_queue[q]),
            "now": live_queue(engine, q, wm) if wm > float("-inf") else None,
        }
    agents: dict[str, Any] = {}
    by_agent: dict[str, dict[str, AgentDay]] = defaultdict(dict)
    for (name, day), figures in engine.agent_days.items():
        copy = AgentDay()
        copy.merge(figures)
        by_agent[name][day] = copy
    # the state each agent is in now has lasted since its last change: count it up to the watermark
    open_spells = AgentDays(engine.calendar)
    for rec in engine.agents.values():
        if rec.since is not None and wm > rec.since:
            open_spells.account(open_spell(rec, wm, next_state=None))
    for (name, day), extra in open_spells.days.items():
        by_agent[name].setdefault(day, AgentDay()).merge(extra)
    for name in sorted(by_agent):
        total = AgentDay()
        for d in by_agent[name].values():
            total.merge(d)
        known = engine.agents.get(name)
        agents[name] = {
            "queues": known.queues if known else [],
            "team": known.team if known else None,
            "state": known.current[0] if known else None,
            "days": {d: agent_figures(a, unsettled(("", d))) for d, a in sorted(by_agent[name].items())},
            "total": agent_figures(total, any(unsettled(("", d)) for d in by_agent[name])),
        }
    counters = engine.counters
    return {
        "log": {
            "events": counters.get("events", 0),
            "first_ts": None if engine.min_ts == float("inf") else engine.min_ts,
            "last_ts": None if engine.max_ts == float("-inf") else engine.max_ts,
            "watermark": None if wm == float("-inf") else wm,
        },
        "pipeline": {
            "duplicates": counters.get("duplicate", 0),
            "late": counters.get("late", 0),
            "inconsistent": {k.split(":", 1)[1]: v for k, v in sorted(counters.items())
                             if k.startswith("inconsistent:")},
            "invalid": {k.split(":", 1)[1]: v for k, v in sorted(counters.items()) if k.startswith("invalid:")},
        },
        "queues": queues,
        "all_queues": {
            "days": {d: _with_channels(aggs, cfg.defaults, unsettled(("", d)))
                     for d, aggs in sorted(floor_days.items())},
            "total": _with_channels(floor_total, cfg.defaults,
                                    any(unsettled(("", d)) for d in floor_days) or not floor_days),
        },
        "agents": agents,
    }
