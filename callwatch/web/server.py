"""``callwatch wallboard``: the floor wallboard as a web page, for floors without Grafana.

    GET /                  the page (plain HTML, CSS and JS, no build step), readable on a TV
    GET /api/figures       the figures as JSON: what ``callwatch stats --json`` prints, plus colour levels
    GET /api/stream        the same figures pushed as Server-Sent Events every snapshot interval
    GET /api/agents/{id}   an agent's scorecard (this month and the three before, the floor, integrity
                           signals with their contacts) — per-agent data stays out of Prometheus
    GET /healthz           ok

It reads the snapshots the workers write to Redis (every partition, so one page shows the whole floor
however many workers share it) and adds, per queue, the colour of each big number from the queue's
settings: oldest wait amber from ``wait_warning_s`` and red from the wait window, service level red under
target, abandonment amber from 5 % and red from the queue's ``abandonment_high`` threshold.
"""

from __future__ import annotations

import asyncio
import logging
import time
from importlib.resources import files
from typing import Any

import orjson
from aiohttp import web
from redis.exceptions import RedisError

from callwatch.settings import Settings
from streams.state_store import RedisStateStore

log = logging.getLogger("callwatch.web")
#: abandonment is amber from here (the low end of the worldwide 5–8 % range), red from the queue's threshold
ABANDONMENT_AMBER = 0.05
PAGE = files("callwatch.web").joinpath("wallboard.html")


def level_oldest(oldest: float, warning: float, window: float) -> str:
    # red once a wait is over the window (as the alarm and over_window count it), amber from the warning
    return "red" if oldest > window else "amber" if oldest >= warning else "green"


def level_service(value: float | None, target: float) -> str:
    return "none" if value is None else "green" if value >= target else "red"


def level_abandonment(value: float | None, threshold: float) -> str:
    return "none" if value is None else "red" if value > threshold else "amber" if value >= ABANDONMENT_AMBER \
        else "green"


def merge_snapshots(snaps: dict[int, bytes]) -> dict[str, Any]:
    """The snapshots of every partition as one floor (what ``callwatch stats --json`` prints)."""
    queues: dict[str, Any] = {}
    partitions = []
    for p, raw in sorted(snaps.items()):
        snap = orjson.loads(raw)
        partitions.append({"partition": p, "now": snap["now"], "clock": snap["clock"],
                           "written_at": snap["written_at"], "offset": snap["offset"]})
        queues.update(snap["queues"])
    return {"generated_at": time.time(), "partitions": partitions, "queues": dict(sorted(queues.items()))}


def with_levels(figures: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Adds each queue's board: the big numbers with their colour level and their thresholds."""
    for name, queue in figures["queues"].items():
        qc = settings.monitor.for_queue(name)
        rules = settings.monitor.alarms.for_queue(name)
        last15, last30 = queue["windows"]["last_15m"], queue["windows"]["last_30m"]
        sl, ab = last15.get("service_level"), last30.get("abandonment_rate")
        queue["board"] = {
            "oldest_wait": {"value": queue["oldest_wait"], "warning": qc.warning_s, "window": qc.wait_window_s,
                            "level": level_oldest(queue["oldest_wait"], qc.warning_s, qc.wait_window_s)},
            "service_level": {"value": sl, "target": qc.service_level_target, "window": "last_15m",
                              "formula": last15.get("service_level_formula"),
                              "level": level_service(sl, qc.service_level_target)},
            "abandonment": {"value": ab, "threshold": rules.abandonment_high.threshold, "window": "last_30m",
                            "level": level_abandonment(ab, rules.abandonment_high.threshold)},
        }
    return figures


class WallboardServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = RedisStateStore(settings.redis_url, settings.redis_prefix)

    async def figures(self) -> dict[str, Any]:
        return with_levels(merge_snapshots(await self.store.snapshots(self.settings.events_topic)), self.settings)

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=PAGE.read_text(encoding="utf-8"), content_type="text/html", charset="utf-8")

    async def figures_json(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(await self.figures()), content_type="application/json")

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """One ``figures`` event per snapshot interval; the browser's EventSource reconnects by itself."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n")
        try:
            while True:
                try:
                    body = orjson.dumps(await self.figures())
                    await response.write(b"event: figures\ndata: " + body + b"\n\n")
                except (OSError, RedisError) as exc:  # Redis away: say so, keep the stream
                    log.warning("wallboard: cannot read Redis: %s", exc)
                    await response.write(b"event: stale\ndata: {}\n\n")
                await asyncio.sleep(self.settings.snapshot_interval_s)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    async def agent(self, request: web.Request) -> web.Response:
        from callwatch.scorecard import scorecard
        from callwatch.wallboard import stored_engine

        engine = await stored_engine(self.settings)
        try:
            card = scorecard(engine, request.match_info["agent"], request.query.get("month"))
        except KeyError as exc:
            return web.json_response({"error": exc.args[0]}, status=404)
        return web.Response(body=orjson.dumps(card), content_type="application/json")

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.page)
        app.router.add_get("/wallboard", self.page)
        app.router.add_get("/api/figures", self.figures_json)
        app.router.add_get("/api/stream", self.stream)
        app.router.add_get("/api/agents/{agent}", self.agent)
        app.router.add_get("/healthz", self.health)

        async def close(_: web.Application) -> None:
            await self.store.close()

        app.on_cleanup.append(close)
        return app


def run(settings: Settings, host: str, port: int) -> None:
    web.run_app(WallboardServer(settings).app(), host=host, port=port, print=None)
