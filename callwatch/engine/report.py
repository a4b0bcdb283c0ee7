"""The offline replay's report: per queue and for all queues, per day (each queue's own calendar) and for
the whole log; per agent; the pipeline's counts. Over several sites, their engines merged."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from callwatch.config import MonitorConfig, QueueConfig
from callwatch.engine.agent_days import AgentDays
from callwatch.engine.agents import open_spell
from callwatch.engine.aggregates import INTERVAL_S, REPEAT_LONG_S, AgentDay, Agg
from callwatch.engine.core import Engine
from callwatch.engine.daily import day_of_interval
from callwatch.engine.figures import agent_figures, derived
from callwatch.engine.live import live_queue, queues_of
from callwatch.engine.records import AgentRecord
from callwatch.engine.sites import Sites


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


def _with_channels(aggs: dict[str, Agg], qc: QueueConfig, provisional: bool = True) -> dict[str, Any]:
    total = Agg()
    for a in aggs.values():
        total.merge(a)
    return {**derived(total, qc, provisional),
            "channels": {ch: derived(a, qc, provisional) for ch, a in sorted(aggs.items())}}


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
