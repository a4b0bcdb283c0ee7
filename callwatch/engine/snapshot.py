"""The wallboard snapshot: everything a screen shows, every figure as of one instant — per queue its live
figures (engine/live.py), windows (engine/windows.py), badges (engine/badges.py) and what is ahead of the
line (the forecast's); for the floor, its own badges and the agent list (engine/agent_list.py)."""

from __future__ import annotations

from typing import Any

from callwatch.engine.agent_list import agent_list, merged_lists
from callwatch.engine.badges import floor_alarms, queue_alarms
from callwatch.engine.core import Engine
from callwatch.engine.live import is_closed, live_queue, queues_of
from callwatch.engine.sites import Sites
from callwatch.engine.windows import queue_windows, rule_windows

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
    lists: list[dict[str, Any]] = []
    for site, unit in sorted(sites.units.items()):
        now = unit.swept_to if at is None else at
        if now == float("-inf"):  # a site whose timer never ran: nothing to show as of any instant yet
            continue
        newest = max(newest, now)
        one = snapshot(unit, now)
        held[site] = {"now": now, "queues": one["queues"]}
        alarms.extend({**a, "site": site} for a in one["alarms"])
        lists.append(one["agents"])
    return {"now": newest, "sites": held, "alarms": alarms, "agents": merged_lists(lists)}
