"""``callwatch wallboard``: the floor wallboard as a web page, for floors without Grafana.

    GET /                   the page (plain HTML, CSS and JS, no build step), readable on a TV
    GET /api/figures        the figures as JSON: what ``callwatch stats --json`` prints, plus colour levels
    GET /api/stream         the same figures pushed as Server-Sent Events every snapshot interval
    GET /api/agents/{id}    an agent's scorecard as JSON (this month and the three before, the floor,
                            integrity signals with their contacts) — per-agent data stays out of Prometheus
    GET /agents/{id}        the same scorecard as a page, with the agent's goals (``agent report --html``)
    GET /healthz            the server's health and the figures' freshness (200; with ``?fresh=1``, 503 when
                            the figures are stale or missing): see "Staleness" below

It reads the snapshots the workers write to Redis (every partition, so one page shows the whole floor
however many workers share it, merged by ``streams.readout``) and adds, per queue, the colour of each big
number from the queue's settings (``console.levels``).

**Access.** The floor view (the page, its figures and stream, health) is open: it shows what the floor's
TV shows. Per-agent pages and APIs (``/agents/…``, ``/api/agents/…``) need the ``wallboard_token``
setting (``CALLWATCH_WALLBOARD_TOKEN``): as ``Authorization: Bearer <token>`` (scripts), or in a browser
by opening a per-agent URL once with ``?token=<token>``, which sets an HttpOnly, SameSite=Strict cookie
(an HMAC of the token, not the token) and redirects to the URL without it, so the token leaves the
address bar and history; the access log never shows a query string. Tokens are compared as SHA-256
digests with :func:`hmac.compare_digest` (constant time). Without a token setting those pages are
closed (403); a wrong or missing token is 401.

**Limits.** Per-agent data needs the workers' whole committed state as one engine: it is read at most
once per ``wallboard_agents_refresh_s``, in a thread of its own (the read, decoding and restore are
seconds of CPU on a large floor, which must not hold up the push stream), and shared by every request;
scorecards are computed on that thread too, and kept per read. The figures are read at most twice per
snapshot interval, shared by every screen and request. Push clients beyond ``wallboard_max_streams`` get
503, API requests beyond ``wallboard_max_requests`` answered at once get 429, each with ``Retry-After``
and a sentence saying which limit; Redis unreachable is 503. None of these is a 500, and none stalls
the push stream.

**Staleness.** A worker rewrites its snapshots every second, events or not: their ``written_at`` is its
heartbeat. The figures carry ``staleness_s`` (wall seconds since the newest was written, by this server's
clock: keep the clocks in step), ``stale_after_s`` (the ``stale_after_s`` setting) and ``stale``; past the
limit the page turns grey and says "no data for N s — worker down?". ``/healthz`` answers 200 with
``{"ok": true, "fresh": bool | null, "staleness_s": …, "stale_after_s": …, "detail": sentence}`` — the
page server itself is well, showing the grey page is its job, so a load balancer keeps it — and, asked
with ``?fresh=1`` (an uptime check of the floor), 503 with the same body when ``fresh`` is not true
(stale, never written, or Redis unreachable).

**Escaping.** The page builds every text from the figures with DOM text nodes and attributes, never
``innerHTML``, and is served with a Content-Security-Policy that allows only its own script and style
(by their SHA-256), so that a name that came from an event (a queue, a call id) is shown as text and
could not run even if a future change forgot that; the scorecard page escapes with ``html.escape`` and
allows no script at all.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from importlib.resources import files
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from redis.exceptions import RedisError

from callwatch.settings import Settings
from console.levels import with_levels
from streams.readout import SharedRead, merge_snapshots, read_stored_engine, staleness_s
from streams.state_store import RedisStateStore

if TYPE_CHECKING:
    from callwatch.engine import Engine

log = logging.getLogger("callwatch.web")
PAGE = files("console.web").joinpath("wallboard.html")
#: the per-agent pages and APIs: behind the token
AGENT_PATHS = ("/agents/", "/api/agents/")
#: the cookie a browser gets from ``?token=``
COOKIE = "callwatch_wallboard"
COOKIE_MAX_AGE_S = 7 * 86400
#: the shortest token the server accepts (a guessable one would open every agent's scorecard)
TOKEN_MIN = 16
#: scorecards kept per read of the state
CARDS_KEPT = 256
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
#: what per-agent answers carry: private data, never cached, never sent on as a referrer
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
#: the scorecard page: inline style and SVG, no script at all
CARD_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def _error(status: int, message: str, *, retry_after_s: int | None = None,
           headers: dict[str, str] | None = None) -> web.Response:
    """A refusal people and scripts can read: ``{"error": sentence}`` and the status that says why."""
    extra = dict(headers or {})
    if retry_after_s is not None:
        extra["Retry-After"] = str(retry_after_s)
    return web.Response(status=status, body=orjson.dumps({"error": message}), content_type="application/json",
                        headers=extra)


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def page_csp(page: str) -> str:
    """The wallboard page's Content-Security-Policy: its one inline script and style by their digests,
    the push stream from this server, nothing else."""
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    styles = re.findall(r"<style>(.*?)</style>", page, re.S)
    return (f"default-src 'none'; script-src {' '.join(map(_csp_hash, scripts))}; "
            f"style-src {' '.join(map(_csp_hash, styles))}; connect-src 'self'; img-src 'self'; "
            "base-uri 'none'; form-action 'none'")


class Slots:
    """At most ``size`` at once; one more is told no at once (a queue would only make every wait longer
    and hold its connection open)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.busy = 0

    @contextmanager
    def take(self) -> Iterator[bool]:
        """Yields whether a slot was free; the slot is given back on exit."""
        if self.busy >= self.size:
            yield False
            return
        self.busy += 1
        try:
            yield True
        finally:
            self.busy -= 1


class AccessLog(AbstractAccessLogger):
    """aiohttp's access log without query strings: a ``?token=`` must not reach a log file."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info('%s "%s %s" %s %s %.3fs', request.remote, request.method, request.path,
                         response.status, response.body_length, time)


class WallboardServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        token = settings.wallboard_token.get_secret_value().encode() if settings.wallboard_token else None
        if token is not None and len(token) < TOKEN_MIN:
            # said without the token itself: this line may reach a log
            raise ValueError(f"CALLWATCH_WALLBOARD_TOKEN is shorter than {TOKEN_MIN} characters; use a random one, "
                             "e.g. `openssl rand -hex 24`")
        self._token_digest = hashlib.sha256(token).digest() if token else None
        self._cookie = hmac.new(token, b"callwatch wallboard cookie v1", hashlib.sha256).hexdigest() if token else None
        self.store = RedisStateStore(settings.redis_url, settings.redis_prefix)
        self.page_text = PAGE.read_text(encoding="utf-8")
        self.page_headers = {"Content-Security-Policy": page_csp(self.page_text), "X-Content-Type-Options": "nosniff",
                             "Referrer-Policy": "no-referrer"}
        self.streams = Slots(settings.wallboard_max_streams)
        self.requests = Slots(settings.wallboard_max_requests)
        #: the one thread for per-agent work: reading the state, scorecards, goals (CPU, under the GIL:
        #: more threads would only take more turns from the event loop)
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="wallboard-agents")
        self.floor: SharedRead[bytes] = SharedRead(self._read_floor, settings.snapshot_interval_s / 2)
        self.engine: SharedRead[Engine] = SharedRead(self._read_engine, settings.wallboard_agents_refresh_s)
        #: scorecards of the current read, (read_at, agent, month) -> card; touched on the worker thread only
        self._cards: OrderedDict[tuple[float, str, str | None], dict[str, Any] | None] = OrderedDict()

    # ---------------------------------------------------------------- reading, shared by every request

    async def _read_floor(self) -> bytes:
        figures = with_levels(merge_snapshots(await self.store.snapshots(self.settings.events_topic)), self.settings)
        age = staleness_s(figures, time.time())
        figures.update({"staleness_s": None if age is None else round(age, 3),
                        "stale_after_s": self.settings.stale_after_s,
                        "stale": age is not None and age > self.settings.stale_after_s})
        return orjson.dumps(figures)

    async def _read_engine(self) -> Engine:
        engine: Engine = await self._on_worker(read_stored_engine, self.settings)
        return engine

    async def _on_worker(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.worker, fn, *args)

    async def figures(self) -> dict[str, Any]:
        body, _ = await self.floor.get()
        return orjson.loads(body)  # type: ignore[no-any-return]

    def _card(self, engine: Engine, read_at: float, agent: str, month: str | None) -> dict[str, Any] | None:
        """The scorecard (None: no figures for the agent), once per read of the state; worker thread."""
        from callwatch.scorecard import scorecard

        key = (read_at, agent, month)
        if key in self._cards:
            self._cards.move_to_end(key)
            return self._cards[key]
        try:
            card: dict[str, Any] | None = scorecard(engine, agent, month)
        except KeyError:
            card = None
        self._cards[key] = card
        while len(self._cards) > CARDS_KEPT:
            self._cards.popitem(last=False)
        return card

    def _card_page(self, engine: Engine, read_at: float, agent: str, month: str | None) -> str | None:
        """The scorecard as a page with the agent's open goals; worker thread."""
        from callwatch.goals import figures_day, progress
        from callwatch.scorecard import render_html
        from streams.goal_store import RedisGoals

        card = self._card(engine, read_at, agent, month)
        if card is None:
            return None
        try:
            stored = RedisGoals.from_url(self.settings.redis_url, self.settings.redis_prefix).all()
        except (RedisError, OSError):  # the scorecard still shows, without goals
            stored = []
        today = figures_day(engine, time.strftime("%Y-%m-%d"))
        goals = [progress(g, engine, today) for g in stored if g.agent == agent and not g.closed]
        return render_html(card, goals)

    # ---------------------------------------------------------------- access and limits

    def _token_ok(self, given: str) -> bool:
        assert self._token_digest is not None
        return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), self._token_digest)

    def _access(self, request: web.Request) -> web.Response | None:
        """None when the request may see per-agent data; else the answer that says why not."""
        if self._token_digest is None or self._cookie is None:
            return _error(403, "per-agent pages are closed: this server has no CALLWATCH_WALLBOARD_TOKEN")
        given = request.query.get("token")
        if given is not None:  # a browser's first visit: trade the token for a cookie, drop it from the URL
            if not self._token_ok(given):
                return self._unauthorized("the token in ?token= is not this server's")
            rest = [(k, v) for k, v in request.query.items() if k != "token"]
            # the path as it came, still percent-encoded: a decoded one may hold a line break or a quote
            target = request.rel_url.raw_path + ("?" + urlencode(rest) if rest else "")
            answer = web.Response(status=303, text="see the page without the token\n",
                                  headers={"Location": target, **PRIVATE})
            answer.set_cookie(COOKIE, self._cookie, max_age=COOKIE_MAX_AGE_S, path="/", httponly=True,
                              samesite="Strict", secure=request.secure)
            return answer
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            return None if self._token_ok(header[7:].strip()) else self._unauthorized("the bearer token is wrong")
        cookie = request.cookies.get(COOKIE)
        if cookie is not None and hmac.compare_digest(cookie.encode(), self._cookie.encode()):
            return None
        return self._unauthorized("per-agent data needs the wallboard token")

    @staticmethod
    def _unauthorized(why: str) -> web.Response:
        return _error(401, f"{why}: send `Authorization: Bearer <token>`, or open the page once with "
                      "?token=<token> (CALLWATCH_WALLBOARD_TOKEN)",
                      headers={"WWW-Authenticate": 'Bearer realm="callwatch wallboard"', **PRIVATE})

    @web.middleware
    async def guard(self, request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """Per-agent paths need the token; API requests take a slot (the push stream has its own cap);
        Redis unreachable is a 503 that says so, never a 500."""
        path = request.path
        if path.startswith(AGENT_PATHS):
            refused = self._access(request)
            if refused is not None:
                return refused
        if not path.startswith(("/api/", "/agents/")) or path == "/api/stream":
            return await handler(request)
        with self.requests.take() as admitted:
            if not admitted:
                return _error(429, f"the wallboard answers at most {self.requests.size} requests at once "
                              "(CALLWATCH_WALLBOARD_MAX_REQUESTS); retry in a second", retry_after_s=1)
            try:
                return await handler(request)
            except (OSError, RedisError) as exc:
                log.warning("wallboard: %s %s: cannot read Redis: %s", request.method, path, exc)
                return _error(503, "cannot read Redis now; retry shortly", retry_after_s=5)

    # ---------------------------------------------------------------- handlers

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=self.page_text, content_type="text/html", charset="utf-8",
                            headers=self.page_headers)

    async def figures_json(self, request: web.Request) -> web.Response:
        body, _ = await self.floor.get()
        return web.Response(body=body, content_type="application/json")

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """One ``figures`` event per snapshot interval; the browser's EventSource reconnects by itself."""
        with self.streams.take() as admitted:
            if not admitted:
                return _error(503, f"the wallboard serves at most {self.streams.size} screens at once "
                              "(CALLWATCH_WALLBOARD_MAX_STREAMS); this one was turned away", retry_after_s=30)
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                                   "X-Accel-Buffering": "no"})
            await response.prepare(request)
            try:
                await response.write(b"retry: 2000\n\n")
                while True:
                    try:
                        body, _ = await self.floor.get()
                        chunk = b"event: figures\ndata: " + body + b"\n\n"
                    except (OSError, RedisError) as exc:  # Redis away: say so, keep the stream
                        log.warning("wallboard: cannot read Redis: %s", exc)
                        chunk = b"event: stale\ndata: {}\n\n"
                    await response.write(chunk)
                    await asyncio.sleep(self.settings.snapshot_interval_s)
            except ConnectionResetError:  # the screen went away (aiohttp's reset error is one)
                pass
            return response

    async def _agent_engine(self, request: web.Request) -> tuple[Engine, float, str, str | None] | web.Response:
        agent = request.match_info["agent"]
        month = request.query.get("month")
        if month is not None and not MONTH.fullmatch(month):
            return _error(400, f"month must be YYYY-MM, not {month[:20]!r}", headers=PRIVATE)
        engine, read_at = await self.engine.get()
        return engine, read_at, agent, month

    async def agent(self, request: web.Request) -> web.Response:
        found = await self._agent_engine(request)
        if isinstance(found, web.Response):
            return found
        engine, read_at, agent, month = found
        card = await self._on_worker(self._card, engine, read_at, agent, month)
        headers = {**PRIVATE, "X-Callwatch-State-Read-At": f"{read_at:.3f}"}
        if card is None:
            return _error(404, f"no figures for agent {agent!r}", headers=headers)
        return web.Response(body=orjson.dumps(card), content_type="application/json", headers=headers)

    async def agent_page(self, request: web.Request) -> web.Response:
        found = await self._agent_engine(request)
        if isinstance(found, web.Response):
            return found
        engine, read_at, agent, month = found
        text = await self._on_worker(self._card_page, engine, read_at, agent, month)
        headers = {**PRIVATE, "Content-Security-Policy": CARD_CSP, "X-Callwatch-State-Read-At": f"{read_at:.3f}"}
        if text is None:
            return _error(404, f"no figures for agent {agent!r}", headers=headers)
        return web.Response(text=text, content_type="text/html", charset="utf-8", headers=headers)

    async def health(self, request: web.Request) -> web.Response:
        """The server's own health (it answers) and the figures' freshness; see the module's "Staleness"."""
        body: dict[str, Any] = {"ok": True, "streams": self.streams.busy, "requests": self.requests.busy,
                                "stale_after_s": self.settings.stale_after_s}
        try:
            figures = await self.figures()
        except (OSError, RedisError) as exc:
            log.warning("wallboard: /healthz: cannot read Redis: %s", exc)
            body.update(fresh=None, staleness_s=None, detail="cannot read Redis: the page shows nothing new")
        else:
            age = figures["staleness_s"]
            if age is None:
                body.update(fresh=None, staleness_s=None, detail="no worker has written figures yet")
            elif figures["stale"]:
                body.update(fresh=False, staleness_s=age, detail=f"no data for {age:.0f} s — worker down?")
            else:
                body.update(fresh=True, staleness_s=age, detail="figures are fresh")
        strict = request.query.get("fresh") in ("1", "true", "yes")
        return web.json_response(body, status=503 if strict and body["fresh"] is not True else 200)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.guard])
        app.router.add_get("/", self.page)
        app.router.add_get("/wallboard", self.page)
        app.router.add_get("/api/figures", self.figures_json)
        app.router.add_get("/api/stream", self.stream)
        app.router.add_get("/api/agents/{agent}", self.agent)
        app.router.add_get("/agents/{agent}", self.agent_page)
        app.router.add_get("/healthz", self.health)

        async def close(_: web.Application) -> None:
            self.engine.forget()
            self.worker.shutdown(wait=False, cancel_futures=True)
            await self.store.close()

        app.on_cleanup.append(close)
        return app


def run(settings: Settings, host: str, port: int) -> None:
    try:
        server = WallboardServer(settings)
    except ValueError as exc:
        raise SystemExit(f"wallboard: {exc}") from None
    web.run_app(server.app(), host=host, port=port, print=None, access_log_class=AccessLog)
