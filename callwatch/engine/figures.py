"""METRICS.md's figures, derived from the engine's buckets: live, windowed, per day, per agent.

Everything here reads engine state and returns plain dicts (JSON-ready, METRICS.md's names in
snake_case, durations in seconds, rates as fractions 0–1, ``None`` where a denominator is 0).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from callwatch.config import MonitorConfig, QueueConfig, ServiceLevelFormula
from callwatch.engine.agent_days import AgentDays
from callwatch.engine.agents import open_spell
from callwatch.engine.aggregates import INTERVAL_S, MINUTE_S, REPEAT_LONG_S, WAIT_BUCKETS_S, AgentDay, Agg
from callwatch.engine.core import Engine
from callwatch.engine.daily import day_of_interval
from callwatch.engine.records import AgentRecord
from callwatch.engine.sites import Sites


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
#
# A screen shows many figures side by side (a badge, the oldest wait, the waiting list, the tiles): all
# of them are read as of one instant ``now`` from one state, so that they cannot disagree. In a replay
# ``now`` is the watermark, and the state already holds events newer than it (within the lateness): a
# caller answered after ``now`` was still waiting then, an agent's change after ``now`` has not happened
# yet. Everything below asks the rooms "as of ``now``", as the alarms do.

#: agents listed on a snapshot at most (the longest in their state first); the counts are always whole
MAX_AGENTS_LISTED = 300
#: the order a wall lists agents in: who is on a call, in wrap-up, away, then who is free
AGENT_ORDER = {"busy": 0, "wrap_up": 1, "away": 2, "available": 3}
#: each alarm's badge: the same word on every screen (page and terminal read it from the snapshot)
ALARM_LABELS = {
    "wait_window_exceeded": "WAIT",
    "abandonment_high": "ABANDONMENT",
    "service_level_low": "SERVICE LEVEL",
    "no_agents": "NO AGENTS",
    "feed_silent": "FEED SILENT",
    "integrity": "INTEGRITY",
    "redis_unreachable": "REDIS DOWN",
    "redis_hung": "REDIS HUNG",
    "redis_state_lost": "STATE LOST",
    "consumer_stuck": "CONSUMER STUCK",
    "offset_regression": "OFFSETS BACK",
}


#: alarms whose window is a time someone waits (shown as a wait, "3:00"), not a span of figures ("30 min")
WAIT_LIKE = ("wait_window_exceeded", "no_agents", "feed_silent")


def duration_text(seconds: float) -> str:
    """A wait as a wallboard shows it: "45 s", "3:07", "1:02:03"."""
    s = max(round(seconds), 0)
    if s < 60:
        return f"{s} s"
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def span_text(seconds: float) -> str:
    """A window's length: "15 min", "1 h", "90 s"."""
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


def pct_beside(value: float, reference: float) -> str:
    """``value`` as a percentage that never reads as ``reference`` unless it is: whole percents when
    they differ from the reference's, else one decimal rounded towards the side ``value`` is on —
    0.7996 beside a target of 0.8 is "79.9 %", never "80 %" under an 80 % target."""
    whole, ref_whole = round(value * 100), round(reference * 100)
    if value == reference or whole != ref_whole:
        return f"{whole} %"
    tenths = value * 1000
    shown = math.floor(tenths) if value < reference else math.ceil(tenths)
    return f"{shown / 10:.1f} %"


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
    """METRICS.md's "now", as of ``now``: waiting, oldest wait, agents by state, the longest-waiting list."""
    waiting = sorted(((since, leg.call_id, leg) for since, leg in engine.calls.waiting_legs_at(queue, now)),
                     key=lambda item: (item[0], item[1]))
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
        "agents": agents_in_queue(engine, queue, now),
        "longest_waiting": [
            {"call_id": call_id, "wait": wait_of(since), "channel": leg.channel, "priority": leg.priority}
            for since, call_id, leg in waiting[:size]
        ],
        "alarm": None if alarm is None else {"alarm": "wait_window_exceeded", "started_at": alarm.started_at},
    }


def rule_windows(engine: Engine, queue: str, now: float) -> dict[str, Any]:
    """The abandonment and service level over each alarm rule's own window, counted as the alarm counts
    them (whole minutes ending by ``now``), with what starts and what clears the alarm: a tile beside a
    badge shows the figure the badge is about."""
    qc = engine.config.for_queue(queue)
    rules = engine.config.alarms.for_queue(queue)
    ab, slr = rules.abandonment_high, rules.service_level_low

    def whole_minutes(window_s: float) -> Agg:
        return engine.buckets.minutes_sum(queue, None, now - window_s, now - MINUTE_S)

    a = whole_minutes(ab.window_s)
    volume = a.answered + a.abandoned + sum(a.dequeued.values())
    s = whole_minutes(slr.window_s)
    return {
        "abandonment": {"window_s": ab.window_s, "window_text": span_text(ab.window_s),
                        "value": _ratio(a.abandoned, volume), "contacts": volume,
                        "min_contacts": ab.min_contacts, "threshold": ab.threshold,
                        "clears_at": round(ab.threshold - ab.hysteresis, 6), "enabled": ab.enabled},
        "service_level": {"window_s": slr.window_s, "window_text": span_text(slr.window_s),
                          "value": service_level_of(s, qc),
                          "contacts": s.answered + s.abandoned, "min_contacts": slr.min_contacts,
                          "target": qc.service_level_target,
                          "clears_at": round(qc.service_level_target + slr.hysteresis, 6),
                          "formula": qc.service_level_formula.value, "enabled": slr.enabled},
    }


def queue_alarms(engine: Engine, queue: str, now: float, live: dict[str, Any],
                 windows: dict[str, Any]) -> list[dict[str, Any]]:
    """Every alarm on for the queue: its badge, since when, its rule's window and one sentence why,
    written from the same figures the screen shows beside it."""
    out: list[dict[str, Any]] = []
    wait = engine.alarms.get(queue)
    if wait is not None:
        window = live["wait_window"]
        over = live["over_window"]
        out.append(alarm_entry(
            "wait_window_exceeded", wait.started_at, window,
            f"{over} caller{'s' if over != 1 else ''} over the {duration_text(window)} wait window; the oldest "
            f"has waited {duration_text(live['oldest_wait'])}" if over else
            f"a caller waited over the {duration_text(window)} wait window; it resolves once the last one "
            "over it is answered or gone"))
    for name in ("abandonment_high", "service_level_low", "no_agents"):
        state = engine.thresholds.get(f"{name}:{queue}")
        if state is None or state.status != "active":
            continue
        if name == "abandonment_high":
            w = windows["abandonment"]
            value = "–" if w["value"] is None else pct_beside(w["value"], w["threshold"])
            why = (f"{value} abandoned in the last {span_text(w['window_s'])} ({w['contacts']} contacts), "
                   f"threshold {pct_beside(w['threshold'], w['threshold'])}; clears at "
                   f"{pct_beside(w['clears_at'], w['clears_at'])} or under")
            out.append(alarm_entry(name, state.since, w["window_s"], why))
        elif name == "service_level_low":
            w = windows["service_level"]
            value = "–" if w["value"] is None else pct_beside(w["value"], w["target"])
            why = (f"service level {value} in the last {span_text(w['window_s'])} ({w['contacts']} contacts), "
                   f"target {pct_beside(w['target'], w['target'])}; clears at "
                   f"{pct_beside(w['clears_at'], w['clears_at'])} or over")
            out.append(alarm_entry(name, state.since, w["window_s"], why))
        else:
            for_s = engine.config.alarms.for_queue(queue).no_agents.for_s
            out.append(alarm_entry(name, state.since, for_s,
                                    f"callers wait and no agent is available or on a call (for over "
                                    f"{duration_text(for_s)})"))
    return out


def alarm_entry(alarm: str, since: float, window_s: float | None, reason: str,
                subject: str | None = None) -> dict[str, Any]:
    """One alarm on a screen: its badge word, since when, its rule's window (a wait window reads as a
    wait, "3:00", as on its tile) and one sentence why."""
    text = None if window_s is None else duration_text(window_s) if alarm in WAIT_LIKE else span_text(window_s)
    return {"alarm": alarm, "label": ALARM_LABELS.get(alarm, alarm.upper()), "since": since,
            "window_s": window_s, "window_text": text,
            "reason": reason, **({"subject": subject} if subject is not None else {})}


def floor_alarms(engine: Engine, now: float) -> list[dict[str, Any]]:
    """The alarms on for the floor rather than a queue: silent feeds, and the integrity signals of the
    last review (counted, not named: the floor's screen is open, an agent's signal is for a supervisor)."""
    out: list[dict[str, Any]] = []
    after_s = engine.config.alarms.feed_silent.after_s
    for _, state in sorted(engine.thresholds.items()):
        if state.alarm != "feed_silent" or state.status != "active":
            continue
        last = engine.sources.get(state.subject)
        silent = "" if last is None else f" for {duration_text(now - last)}"
        out.append(alarm_entry("feed_silent", state.since, after_s,
                                f"no event from source {state.subject}{silent} (limit {duration_text(after_s)})",
                                subject=state.subject))
    rule = engine.config.alarms.integrity
    signals = engine.integrity_signals() if rule.enabled else []
    if signals:
        period = engine.config.integrity.period_days
        since = day_start(now, engine.config.defaults)
        kinds = sorted({s.signal.replace("_", " ") for s in signals})
        out.append(alarm_entry(
            "integrity", since, period * 86400.0,
            f"{len(signals)} integrity signal{'s' if len(signals) != 1 else ''} over the last {period} days "
            f"({', '.join(kinds)}): see the agents' scorecards"))
    return out


def is_closed(live: dict[str, Any]) -> bool:
    """Nobody staffed and nobody waiting: the queue is closed (after hours), not failing its target."""
    return bool(live["agents"]["staffed"] == 0 and live["waiting"] == 0)


def listed_order(row: dict[str, Any]) -> tuple[int, float, str]:
    """Where a listed agent stands in the agent list: by state, the longest in it first, then by name (one
    order for a site's list, several sites' and several partitions' merged)."""
    return AGENT_ORDER.get(row["state"], len(AGENT_ORDER)), -row["for"], row["agent"]


def agent_list(engine: Engine, now: float) -> dict[str, Any]:
    """Who is on a call, in wrap-up, away or free, as of ``now``, and for how long: the agents not offline,
    the longest in their state first within each state (at most ``MAX_AGENTS_LISTED``)."""
    rows = []
    counts = dict.fromkeys(AGENT_ORDER, 0)
    for name, rec in engine.agents.items():
        state, reason, since = rec.state, rec.reason, rec.since
        for ts, pending_state, pending_reason, _ in reversed(rec.pending):
            if ts <= now:
                state, reason, since = pending_state, pending_reason, ts
                break
        if state not in AGENT_ORDER:
            continue
        counts[state] += 1
        rows.append((AGENT_ORDER[state], since if since is not None else now, name, state, reason, rec))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return {
        "counts": counts,
        "listed": [{"agent": name, "state": state, "reason": reason, "since": since,
                    "for": round(max(now - since, 0.0), 3), "queues": rec.queues, "team": rec.team}
                   for _, since, name, state, reason, rec in rows[:MAX_AGENTS_LISTED]],
    }


def queue_windows(engine: Engine, queue: str, now: float) -> dict[str, Any]:
    """Per queue and per queue × channel: last 15, 30 and 60 min and today, with derived figures; each
    says where it starts (``from``), so that a tile can say which window it shows."""
    qc = engine.config.for_queue(queue)
    today_from = day_start(now, qc)
    channels = sorted(engine.buckets.channels.get(queue, ()))
    out: dict[str, Any] = {}
    spans: tuple[tuple[str, float, Callable[[str | None], Agg]], ...] = (
        ("last_15m", now - 15 * 60, lambda ch: window_agg(engine, queue, ch, now - 15 * 60, now)),
        ("last_30m", now - 30 * 60, lambda ch: window_agg(engine, queue, ch, now - 30 * 60, now)),
        ("last_60m", now - 60 * 60, lambda ch: window_agg(engine, queue, ch, now - 60 * 60, now)),
        ("today", today_from, lambda ch: interval_agg(engine, queue, ch, today_from, now + INTERVAL_S)),
    )
    for name, start, fn in spans:
        out[name] = {**derived(fn(None), qc), "from": start,
                     "channels": {ch: derived(fn(ch), qc) for ch in channels}}
    return out


#: the snapshot's keys that the forecast learns from the traffic it sees (engine/forecast.py). A state
#: written before the forecast existed (format 1) carries nothing it learned, so after an upgrade these
#: start from what the worker sees next; everything else in the snapshot is restored exactly
LEARNED_KEYS = ("predicted_wait_s", "agents_needed", "agents_staffed_shared", "offered_load_erlangs",
                "expected_answer_in_s")


def without_learned(snap: dict[str, Any]) -> dict[str, Any]:
    """A snapshot without the forecast's learned keys: what restoring a format-1 state reproduces."""
    if "sites" in snap:
        return {**snap, "sites": {site: without_learned(held) for site, held in snap["sites"].items()}}
    return {**snap, "queues": {q: {k: v for k, v in fig.items() if k not in LEARNED_KEYS}
                               for q, fig in snap["queues"].items()}}


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


def snapshot(engine: Engine | Sites, now: float | None) -> dict[str, Any]:
    """Everything a wallboard shows, all as of ``now``: per queue the live figures, the windows (each
    named for its span), the alarm rules' windows, every alarm on with its reason and what is ahead of
    the line (:func:`ahead`); for the floor, the alarms that are not a queue's and the agents. Over
    several sites (:class:`Sites`), the queues per site (``sites`` → site → ``now`` and ``queues``: two
    sites' queues of one name are two queues), each site as of ``now`` or, None, as of the instant its
    own alarm timer has decided to (each site has its own clock); the floor's alarms and agents of every
    site together."""
    if isinstance(engine, Sites):
        return _sites_snapshot(engine, now)
    if now is None:
        now = engine.swept_to
    queues: dict[str, Any] = {}
    for q in queues_of(engine):
        live = live_queue(engine, q, now)
        windows = rule_windows(engine, q, now)
        queues[q] = {**live, "closed": is_closed(live), "windows": queue_windows(engine, q, now),
                     "rule_windows": windows, "alarms": queue_alarms(engine, q, now, live, windows),
                     **ahead(engine, q, now)}
    return {"now": now, "queues": queues, "alarms": floor_alarms(engine, now), "agents": agent_list(engine, now)}


def _sites_snapshot(sites: Sites, at: float | None) -> dict[str, Any]:
    held: dict[str, Any] = {}
    newest = float("-inf")
    alarms: list[dict[str, Any]] = []
    counts = dict.fromkeys(AGENT_ORDER, 0)
    listed: list[dict[str, Any]] = []
    for site, unit in sorted(sites.units.items()):
        now = unit.swept_to if at is None else at
        if now == float("-inf"):  # a site whose timer never ran: nothing to show as of any instant yet
            continue
        newest = max(newest, now)
        one = snapshot(unit, now)
        held[site] = {"now": now, "queues": one["queues"]}
        alarms.extend({**a, "site": site} for a in one["alarms"])
        for state, n in one["agents"]["counts"].items():
            counts[state] = counts.get(state, 0) + n
        listed.extend(one["agents"]["listed"])
    listed.sort(key=listed_order)
    return {"now": newest, "sites": held, "alarms": alarms,
            "agents": {"counts": counts, "listed": listed[:MAX_AGENTS_LISTED]}}


# -------------------------------------------------------------------- report


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


def report(engine: Engine | Sites) -> dict[str, Any]:
    """The offline replay's output: per queue and for all queues, per day and for the whole log.

    Deterministic: it depends only on the engines' state, whose "now" is each site's event-time watermark.
    Over several sites (a :class:`Sites`) the top level is the merge of the sites (a queue name at two
    sites is one queue here, its figures summed), ``sites`` holds each site's own report (without the
    agents) and ``alarms`` the alarms they raised and keep.
    """
    if not isinstance(engine, Sites):
        return _report([engine], engine.counters, engine.config)
    units = sorted(engine.units.items())
    # no site yet (nothing applied): the report of an engine that saw nothing
    out = _report([u for _, u in units] or [Engine(engine.config)], engine.all_counters(), engine.config)
    out["sites"] = {site: {k: v for k, v in _report([u], u.counters, u.config).items() if k != "agents"}
                    for site, u in units}
    out["alarms"] = engine.alarms()
    return out


#: a day's repeat rates and FCR are final this long after its last interval started
_SETTLES_S = INTERVAL_S + REPEAT_LONG_S


def _report(units: list[Engine], counters: Mapping[str, int], cfg: MonitorConfig) -> dict[str, Any]:
    """The report of one or several sites' engines, merged (each site's days in its own calendar); ``cfg``:
    the configuration of the all-queues figures (their formula)."""
    per_queue: dict[str, dict[str, dict[str, Agg]]] = defaultdict(lambda: defaultdict(dict))
    per_queue_total: dict[str, dict[str, Agg]] = defaultdict(dict)
    floor_days: dict[str, dict[str, Agg]] = defaultdict(dict)
    floor_total: dict[str, Agg] = {}
    #: the scopes (queue or "" for all queues, day) whose repeat rates and FCR may still change
    unsettled: set[tuple[str, str]] = set()
    by_agent: dict[str, dict[str, AgentDay]] = defaultdict(dict)
    agents_unsettled: set[tuple[str, str]] = set()
    known_agents: dict[str, AgentRecord] = {}
    queue_units: dict[str, list[Engine]] = defaultdict(list)

    def add(q: str, ch: str, day: str, agg: Agg) -> None:
        for target in (per_queue[q][day], per_queue_total[q], floor_days[day], floor_total):
            have = target.get(ch)
            if have is None:
                have = target[ch] = Agg()
            have.merge(agg)

    for unit in units:
        wm = unit.watermark
        last_interval: dict[tuple[str, str], int] = {}
        # the days rolled up first, then the intervals still held: each day's figures are added in the
        # order its intervals started, as when every interval was still held
        for (q, ch, day), dagg in sorted(unit.queue_days.days.items()):
            for scope in ((q, day), ("", day)):
                last_interval[scope] = max(dagg.last_interval, last_interval.get(scope, dagg.last_interval))
            add(q, ch, day, dagg)
        for (q, ch, i), agg in sorted(unit.intervals.items()):
            day = day_of_interval(i, unit.config.for_queue(q))
            for scope in ((q, day), ("", day)):
                last_interval[scope] = max(i, last_interval.get(scope, i))
            add(q, ch, day, agg)
        unsettled.update(scope for scope, last in last_interval.items() if wm < last + _SETTLES_S)
        for q in set(q for q, _, _ in unit.queue_days.days) | set(unit.buckets.channels) | set(queues_of(unit)):
            queue_units[q].append(unit)
        # the state each agent is in now has lasted since its last change: count it up to the watermark
        open_spells = AgentDays(unit.calendar)
        for rec in unit.agents.values():
            if rec.since is not None and wm > rec.since:
                open_spells.account(open_spell(rec, wm, next_state=None))
        for kept in (unit.agent_days, open_spells.days):
            for (name, day), figures in kept.items():
                have = by_agent[name].get(day)
                if have is None:
                    have = by_agent[name][day] = AgentDay()
                have.merge(figures)
                # a day with no interval of its own (no contact that day) stays provisional
                if wm < last_interval.get(("", day), wm) + _SETTLES_S:
                    agents_unsettled.add((name, day))
        for name, rec in unit.agents.items():
            known_agents.setdefault(name, rec)

    queues: dict[str, Any] = {}
    for q in sorted(queue_units):
        qc = queue_units[q][0].config.for_queue(q)
        days = per_queue[q]
        queues[q] = {
            "timezone": qc.timezone,
            "days": {d: _with_channels(aggs, qc, (q, d) in unsettled) for d, aggs in sorted(days.items())},
            "total": _with_channels(per_queue_total.get(q, {}), qc,
                                    any((q, d) in unsettled for d in days) or not days),
            "now": _now_of(q, queue_units[q]),
        }
    agents: dict[str, Any] = {}
    for name in sorted(by_agent):
        total = AgentDay()
        for d in by_agent[name].values():
            total.merge(d)
        known = known_agents.get(name)
        agents[name] = {
            "queues": known.queues if known else [],
            "team": known.team if known else None,
            "state": known.current[0] if known else None,
            "days": {d: agent_figures(a, (name, d) in agents_unsettled) for d, a in sorted(by_agent[name].items())},
            "total": agent_figures(total, any((name, d) in agents_unsettled for d in by_agent[name])),
        }
    max_ts = max(u.max_ts for u in units)
    min_ts = min(u.min_ts for u in units)
    wms = [u.watermark for u in units if u.watermark > float("-inf")]
    return {
        "log": {
            "events": counters.get("events", 0),
            "first_ts": None if min_ts == float("inf") else min_ts,
            "last_ts": None if max_ts == float("-inf") else max_ts,
            "watermark": max(wms) if wms else None,
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
            "days": {d: _with_channels(aggs, cfg.defaults, ("", d) in unsettled)
                     for d, aggs in sorted(floor_days.items())},
            "total": _with_channels(floor_total, cfg.defaults,
                                    any(("", d) in unsettled for d in floor_days) or not floor_days),
        },
        "agents": agents,
    }


def _now_of(queue: str, units: list[Engine]) -> dict[str, Any] | None:
    """A queue's "now" at its sites' watermarks: one site's as it is, several summed."""
    nows = [live_queue(u, queue, u.watermark) for u in units if u.watermark > float("-inf")]
    if not nows:
        return None
    if len(nows) == 1:
        return nows[0]
    first = nows[0]
    agents: dict[str, int] = {}
    for n in nows:
        for state, count in n["agents"].items():
            agents[state] = agents.get(state, 0) + count
    longest = sorted((w for n in nows for w in n["longest_waiting"]), key=lambda w: (-w["wait"], w["call_id"]))
    alarms = [n["alarm"] for n in nows if n["alarm"] is not None]
    return {
        **first,
        "waiting": sum(n["waiting"] for n in nows),
        "oldest_wait": max(n["oldest_wait"] for n in nows),
        "over_window": sum(n["over_window"] for n in nows),
        "agents": agents,
        "longest_waiting": longest[:units[0].config.longest_waiting_size],
        "alarm": min(alarms, key=lambda a: a["started_at"]) if alarms else None,
    }
