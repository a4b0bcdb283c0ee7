"""``callwatch wallboard``: the floor wallboard as a web page, for floors without Grafana.

    GET /                  the page (plain HTML, CSS and JS, no build step), readable on a TV
    GET /api/figures       the figures as JSON: what ``callwatch stats --json`` prints, plus colour levels
    GET /api/stream        the same figures pushed as Server-Sent Events every snapshot interval
    GET /api/agents/{id}   an agent's scorecard (this month and the three before, the floor, integrity
                           signals with their contacts) — per-agent data stays out of Prometheus
    GET /healthz           ok

It reads the snapshots the workers write to Redis (every partition, so one page shows the whole floor
however many workers share it, merged by ``streams.readout``) and adds, per queue, the colour of each big
number from the queue's settings (``console.levels``).
"""

from __future__ import annotations

import asyncio
import logging
from importlib.resources import files
from typing import Any

import orjson
from aiohttp import web
from redis.exceptions import RedisError

from callwatch.settings import Settings
from console.levels import with_levels
from streams.readout import merge_snapshots
from streams.state_store import RedisStateStore

log = logging.getLogger("callwatch.web")
PAGE = files("console.web").joinpath("wallboard.html")


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
        from streams.readout import stored_engine

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
