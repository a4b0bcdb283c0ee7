"""One engine per site: many sites in one engine behave as one engine each; days roll up without changing a
figure; each site counts its days in its own time zone; the state round-trips with the site in every key."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from callwatch.config import MonitorConfig
from callwatch.engine import Sites, replay_sites
from callwatch.engine.report import report
from callwatch.events import Event
from tests.unit.helpers import T0, call, commit_changes, ev

DAY = 86400


def _at(events: list[Event], site: str) -> list[Event]:
    return [e.model_copy(update={"source": site, "id": f"{site}-{e.id}"}) for e in events]


def _floor(site: str, offset: float = 0.0, days: int = 1) -> list[Event]:
    """A site's contacts, an agent and heartbeats over ``days`` days."""
    out: list[Event] = []
    for d in range(days):
        t = offset + d * DAY
        out += call(f"c{d}a", "billing", t + 10, answered=t + 200, ended=t + 400, wrapped=t + 430)
        out += call(f"c{d}b", "billing", t + 50, abandoned=t + 90)
        out.append(ev("agent.state", t + 5, agent="a1", state="available", queues=["billing"]))
        out += [ev("source.heartbeat", t + s, source=site) for s in range(60, 3600, 60)]
    return _at(sorted(out, key=lambda e: e.ts), site)


def _without_sites(rep: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rep.items() if k not in ("sites",)}


def test_a_site_is_not_moved_by_another_sites_clock() -> None:
    """Paris falls silent after an hour while Lyon goes on for a day: Paris's figures and alarms are those
    of Paris alone (its clock, timers and retention never move with Lyon's events)."""
    paris, lyon = _floor("paris"), _floor("lyon", days=2)
    both = replay_sites(Sites(MonitorConfig()), sorted(paris + lyon, key=lambda e: e.ts))
    alone = replay_sites(Sites(MonitorConfig()), paris)
    rep, rep_alone = report(both), report(alone)
    assert rep["sites"]["paris"] == rep_alone["sites"]["paris"]
    assert [a for a in rep["alarms"] if a.site == "paris"] == rep_alone["alarms"]
    assert not any(a.alarm == "feed_silent" for a in rep["alarms"])  # event time: a site's silence is its own
    assert rep["queues"]["billing"]["total"]["offered"] == 2 + 4  # one queue name, both sites' figures


def test_days_rolled_up_give_the_figures_of_the_whole_history() -> None:
    """With a 15-minute history of one day, a five-day log's report is the one that kept every interval."""
    events = _floor("pbx", days=5)
    short = report(replay_sites(Sites(MonitorConfig(history_days=1)), events))
    whole = report(replay_sites(Sites(MonitorConfig(history_days=400)), events))
    assert short == whole and len(short["queues"]["billing"]["days"]) == 5
    days = short["all_queues"]["days"]
    assert [d["fcr_provisional"] for d in days.values()] == [False, False, True, True, True]


def test_each_site_counts_its_days_in_its_own_zone() -> None:
    """Contacts at 23:30 UTC are the next day in Tokyo and the same day in London's winter."""
    late = (datetime(2026, 11, 23, 23, 30, tzinfo=timezone.utc) - T0).total_seconds()
    config = MonitorConfig(site_timezones={"tokyo": "Asia/Tokyo"})
    sites = replay_sites(Sites(config), sorted(_floor("tokyo", late) + _floor("london", late),
                                              key=lambda e: e.ts))
    rep = report(sites)
    assert list(rep["sites"]["tokyo"]["queues"]["billing"]["days"]) == ["2026-11-24"]
    assert list(rep["sites"]["london"]["queues"]["billing"]["days"]) == ["2026-11-23"]
    assert rep["sites"]["tokyo"]["queues"]["billing"]["timezone"] == "Asia/Tokyo"
    assert sorted(rep["agents"]["a1"]["days"]) == ["2026-11-23", "2026-11-24"]  # London's and Tokyo's days


def test_the_state_round_trips_with_the_site_in_every_key() -> None:
    """What a driver writes (changes with the site in each key, each site's meta) restores the same report."""
    config = MonitorConfig(history_days=1)
    sites = Sites(config)
    store: dict[str, dict[str, bytes]] = {}
    events = sorted(_floor("paris", days=3) + _floor("lyon", days=2), key=lambda e: e.ts)
    for i, e in enumerate(events):
        sites.step(e)
        if i % 100 == 0 or i == len(events) - 1:
            commit_changes(store, sites.take_dirty())
    assert all(k.startswith(('["paris"', '["lyon"')) for items in store.values() for k in items)
    assert store["days"] and store["alarm_log"]
    restored = Sites.restore(config, sites.meta(), store)
    assert report(restored) == report(sites)
