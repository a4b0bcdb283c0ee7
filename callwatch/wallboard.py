"""The read side: what the workers wrote to Redis, merged across partitions, for people and scripts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rich.table import Table
from rich.text import Text

from callwatch.engine import Engine
from callwatch.engine.figures import report
from callwatch.settings import Settings
from callwatch.web.server import level_oldest, merge_snapshots
from streams.state_store import RedisStateStore


def _store(settings: Settings) -> RedisStateStore:
    return RedisStateStore(settings.redis_url, settings.redis_prefix)


async def _snapshots(settings: Settings) -> dict[int, bytes]:
    store = _store(settings)
    try:
        return await store.snapshots(settings.events_topic)
    finally:
        await store.close()


def live_figures(settings: Settings) -> dict[str, Any]:
    """The wallboard snapshots of every partition, merged: per queue, live figures and windows."""
    return merge_snapshots(asyncio.run(_snapshots(settings)))


async def stored_engine(settings: Settings) -> Engine:
    store = _store(settings)
    try:
        parts = await store.load_all(settings.events_topic)
    finally:
        await store.close()
    merged = Engine(settings.monitor)
    for part in parts:
        merged.absorb(Engine.restore(settings.monitor, part.meta, part.containers))
    return merged


def stored_report(settings: Settings) -> dict[str, Any]:
    """The offline replay's report, computed from the state the workers committed to Redis."""
    return report(asyncio.run(stored_engine(settings)))


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.0f}%"


def _secs(x: float | None) -> str:
    if x is None:
        return "–"
    m, s = divmod(round(x), 60)
    return f"{m}:{s:02d}"


def render(figures: dict[str, Any]) -> Table:
    """A terminal wallboard: one row per queue, the wait coloured against the queue's window."""
    table = Table(title="callwatch — queues now", title_justify="left", expand=True)
    for col, justify in (("queue", "left"), ("waiting", "right"), ("oldest wait", "right"),
                         ("avail", "right"), ("busy", "right"), ("wrap", "right"), ("away", "right"),
                         ("SL 15m", "right"), ("aband. 15m", "right"), ("ASA 15m", "right"),
                         ("offered today", "right"), ("SL today", "right"), ("alarm", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for q, f in figures["queues"].items():
        oldest = f["oldest_wait"]
        level = level_oldest(oldest, f.get("wait_warning", f["wait_window"] * 2 / 3), f["wait_window"])
        colour = {"amber": "yellow"}.get(level, level)
        last15 = f["windows"]["last_15m"]
        today = f["windows"]["today"]
        agents = f["agents"]
        table.add_row(
            q, str(f["waiting"]), Text(_secs(oldest), style=f"bold {colour}"),
            str(agents["available"]), str(agents["busy"]), str(agents["wrap_up"]), str(agents["away"]),
            _pct(last15["service_level"]), _pct(last15["abandonment_rate"]), _secs(last15["asa"]),
            str(today["offered"]), _pct(today["service_level"]),
            Text("WAIT > " + _secs(f["wait_window"]), style="bold white on red") if f["alarm"] else Text("ok"),
        )
    if not figures["queues"]:
        table.caption = "no figures in Redis yet: is a worker running, and has it received events?"
    else:
        parts = figures["partitions"]
        newest = max(p["now"] for p in parts)
        table.caption = (f"as of {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(newest))} UTC "
                         f"({parts[0]['clock']} clock) · {len(parts)} partition(s)")
    return table
