"""The wallboard page server under load and behind its token, as an operator runs it (`callwatch
wallboard`, its own process) over real Redis holding what a worker committed, measured with real aiohttp
clients: bursts get answers or a clear "too many", never a 500, and never stall the push stream; push
clients are capped; per-agent pages and APIs need the token, the floor view does not."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from pydantic import SecretStr

from callwatch.events import CallAnswered, encode
from callwatch.settings import ClockMode, Settings
from console.embedded import free_port, stop_process, wait_for_port
from console.web.server import COOKIE, WallboardServer
from producers.simulator import demo_events
from streams.monitor import MonitorService, RecordingPublisher
from streams.state_store import RedisStateStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "wallboard-token-0123456789abcdef"
INTERVAL_S = 0.25
MAX_STREAMS, MAX_REQUESTS = 4, 8
#: the push stream may pause this long under a burst (four intervals); one engine read per request
#: (before) stalled it for seconds
MAX_GAP_S = 1.0


@dataclass
class Board:
    url: str
    agent: str
    log: Path
    env: dict[str, str]


def _env(redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
            "PYTHONPATH": str(ROOT), "CALLWATCH_REDIS_URL": redis_url, "CALLWATCH_REDIS_PREFIX": prefix,
            "CALLWATCH_EVENTS_TOPIC": "events", "CALLWATCH_CLOCK": "event",
            "CALLWATCH_SNAPSHOT_INTERVAL_S": str(INTERVAL_S), **extra}


def _commit_a_floor(redis_url: str, prefix: str) -> str:
    """What a worker commits after the simulated `floor` day (8 hours, three queues): its state and its
    wallboard snapshot; returns an agent who answered calls."""
    events = demo_events(datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc), scenario="floor")

    async def go() -> None:
        settings = Settings(redis_url=redis_url, redis_prefix=prefix, events_topic="events", clock=ClockMode.event)
        store = RedisStateStore(redis_url, prefix)
        service = MonitorService(settings, store, RecordingPublisher())
        await service.handle({0: [(i, encode(e)) for i, e in enumerate(events)]})
        await service.write_snapshots()
        await store.close()

    asyncio.run(go())
    return next(e.agent for e in events if isinstance(e, CallAnswered))


@pytest.fixture(scope="module")
def board(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    """`callwatch wallboard` with a token and small limits, over a committed floor."""
    prefix = f"board-{uuid.uuid4().hex[:8]}"
    agent = _commit_a_floor(redis_url, prefix)
    port = free_port()
    log = tmp_path_factory.mktemp("wallboard") / "wallboard.log"
    env = _env(redis_url, prefix, CALLWATCH_WALLBOARD_TOKEN=TOKEN, CALLWATCH_WALLBOARD_MAX_STREAMS=str(MAX_STREAMS),
               CALLWATCH_WALLBOARD_MAX_REQUESTS=str(MAX_REQUESTS))
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "console", "wallboard", "--port", str(port)], cwd=log.parent,
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc=proc)
        yield Board(f"http://127.0.0.1:{port}", agent, log, env)
    finally:
        stop_process(proc)


class Ticks:
    """A screen: one push client, the time each ``figures`` event arrived."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.at: list[float] = []
        self.status: int | None = None
        self._task = asyncio.create_task(self._read(session, url))

    async def _read(self, session: aiohttp.ClientSession, url: str) -> None:
        async with session.get(url + "/api/stream") as r:
            self.status = r.status
            if r.status != 200:
                return
            async for line in r.content:
                if line.startswith(b"event: figures"):
                    self.at.append(time.monotonic())

    async def first(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.at:
            assert time.monotonic() < deadline, "no push arrived"
            assert not self._task.done() or self.at, f"the stream ended: {self.status}"
            await asyncio.sleep(0.02)

    def gaps(self, since: float) -> list[float]:
        times = [t for t in self.at if t >= since]
        return [b - a for a, b in itertools.pairwise(times)]

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def _burst(session: aiohttp.ClientSession, url: str, n: int,
                 headers: dict[str, str] | None = None) -> list[tuple[int, dict[str, str], bytes]]:
    async def one() -> tuple[int, dict[str, str], bytes]:
        async with session.get(url, headers=headers) as r:
            return r.status, dict(r.headers), await r.read()

    return await asyncio.gather(*(one() for _ in range(n)))


async def _streams_down_to(session: aiohttp.ClientSession, url: str, count: int, timeout: float = 5.0) -> None:
    """Until the server counts ``count`` push clients: it notices one that left at its next push to it."""
    deadline = time.monotonic() + timeout
    while True:
        async with session.get(url + "/healthz") as r:
            if (await r.json())["streams"] <= count:
                return
        assert time.monotonic() < deadline, "the server still counts closed push clients"
        await asyncio.sleep(0.05)


def _check_refusals(answers: list[tuple[int, dict[str, str], bytes]]) -> Counter[int]:
    statuses = Counter(status for status, _, _ in answers)
    assert set(statuses) <= {200, 429}, statuses  # never a 500, nor a 503 while Redis is up
    for status, headers, body in answers:
        if status == 429:
            assert headers["Retry-After"] == "1"
            assert "CALLWATCH_WALLBOARD_MAX_REQUESTS" in orjson.loads(body)["error"]
    return statuses


def test_a_burst_of_agent_requests_gets_answers_and_the_push_keeps_ticking(board: Board) -> None:
    """200 concurrent scorecard requests: each is a 200 or a 429 saying which limit (no 500); the 200s
    share one read of the workers' state; a screen's push stream keeps its interval all along."""
    async def go() -> tuple[list[tuple[int, dict[str, str], bytes]], list[float], list[Any]]:
        async with aiohttp.ClientSession() as session:
            screen = Ticks(session, board.url)
            await screen.first()
            started = time.monotonic()
            answers = await _burst(session, f"{board.url}/api/agents/{board.agent}", 200,
                                   {"Authorization": f"Bearer {TOKEN}"})
            await asyncio.sleep(8 * INTERVAL_S)  # the stream after the burst, too
            gaps = screen.gaps(started)
            await screen.close()
            # once the burst is over, every request is answered, from the same read
            after = [await _burst(session, f"{board.url}/api/agents/{board.agent}", 1,
                                  {"Authorization": f"Bearer {TOKEN}"}) for _ in range(5)]
        return answers, gaps, after

    answers, gaps, after = asyncio.run(go())
    statuses = _check_refusals(answers)
    assert statuses[200] >= MAX_REQUESTS and statuses[429] > 0, statuses
    reads = {headers["X-Callwatch-State-Read-At"] for status, headers, _ in answers if status == 200}
    assert len(reads) == 1, f"one read of the state shared by every request, not {len(reads)}"
    assert orjson.loads(next(b for s, _, b in answers if s == 200))["agent"] == board.agent
    assert len(gaps) >= 6 and max(gaps) <= MAX_GAP_S, f"the push stream stalled: {max(gaps):.2f} s"
    assert [a[0][0] for a in after] == [200] * 5


def test_a_burst_of_figure_requests_is_capped_not_failed(board: Board) -> None:
    """200 concurrent /api/figures: 200s and 429s only, and the push stream keeps ticking."""
    async def go() -> tuple[list[tuple[int, dict[str, str], bytes]], list[float]]:
        async with aiohttp.ClientSession() as session:
            screen = Ticks(session, board.url)
            await screen.first()
            started = time.monotonic()
            answers = await _burst(session, f"{board.url}/api/figures", 200)
            await asyncio.sleep(4 * INTERVAL_S)
            gaps = screen.gaps(started)
            await screen.close()
        return answers, gaps

    answers, gaps = asyncio.run(go())
    statuses = _check_refusals(answers)
    assert statuses[200] >= MAX_REQUESTS, statuses
    assert "queues" in orjson.loads(next(b for s, _, b in answers if s == 200))
    assert max(gaps) <= MAX_GAP_S, f"the push stream stalled: {max(gaps):.2f} s"


def test_push_clients_beyond_the_cap_are_turned_away_with_a_reason(board: Board) -> None:
    """With the cap at four screens a fifth gets a 503 naming the limit; when one leaves, a new one is
    let in."""
    async def go() -> tuple[int, dict[str, Any], str, int | None]:
        async with aiohttp.ClientSession() as session:
            # the board is shared: an earlier test's screens leave at the server's next push to them
            await _streams_down_to(session, board.url, 0)
            screens = [Ticks(session, board.url) for _ in range(MAX_STREAMS)]
            for screen in screens:
                await screen.first()
            async with session.get(board.url + "/api/stream") as r:
                refused, refusal, retry = r.status, await r.json(), r.headers.get("Retry-After", "")
            await screens[0].close()
            await _streams_down_to(session, board.url, MAX_STREAMS - 1)
            late = Ticks(session, board.url)
            await late.first()
            for screen in [*screens[1:], late]:
                await screen.close()
            await _streams_down_to(session, board.url, 0)
            return refused, refusal, retry, late.status

    refused, refusal, retry, late = asyncio.run(go())
    assert refused == 503 and retry == "30"
    assert f"at most {MAX_STREAMS} screens" in refusal["error"]
    assert "CALLWATCH_WALLBOARD_MAX_STREAMS" in refusal["error"]
    assert late == 200


def test_per_agent_pages_need_the_token_and_the_floor_view_does_not(board: Board) -> None:
    """Scorecards (JSON and page) are 401 without the token or with a wrong one, 200 with the bearer
    token; the page, its figures, its stream and health need none; a bad month is a 400, not a 500."""
    agent = f"/api/agents/{board.agent}"

    async def go() -> dict[str, tuple[int, dict[str, str], bytes]]:
        async with aiohttp.ClientSession() as session:
            async def get(path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
                async with session.get(board.url + path, headers=headers, allow_redirects=False) as r:
                    body = await r.content.read(2000) if path == "/api/stream" else await r.read()
                    return r.status, dict(r.headers), body

            bearer = f"Bearer {TOKEN}"
            return {
                "json, no token": await get(agent),
                "json, wrong token": await get(agent, Authorization="Bearer " + "x" * len(TOKEN)),
                "json, token": await get(agent, Authorization=bearer),
                "page, no token": await get(f"/agents/{board.agent}"),
                "page, token": await get(f"/agents/{board.agent}", Authorization=bearer),
                "unknown agent": await get("/api/agents/nobody", Authorization=bearer),
                "bad month": await get(f"{agent}?month=2026-13", Authorization=bearer),
                "floor page": await get("/"),
                "figures": await get("/api/figures"),
                "stream": await get("/api/stream"),
                "health": await get("/healthz"),
            }

    got = asyncio.run(go())
    for name in ("json, no token", "json, wrong token", "page, no token"):
        status, headers, body = got[name]
        assert status == 401, name
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert "CALLWATCH_WALLBOARD_TOKEN" in orjson.loads(body)["error"]
        assert board.agent.encode() not in body, "a refusal shows nothing of the agent"
    status, headers, body = got["json, token"]
    assert status == 200 and orjson.loads(body)["agent"] == board.agent
    assert headers["Cache-Control"] == "no-store"
    status, headers, body = got["page, token"]
    assert status == 200 and headers["Content-Type"].startswith("text/html") and board.agent.encode() in body
    assert "script-src" not in headers["Content-Security-Policy"] and "<script" not in body.decode()
    assert got["unknown agent"][0] == 404
    assert got["bad month"][0] == 400 and "YYYY-MM" in orjson.loads(got["bad month"][2])["error"]
    for name in ("floor page", "figures", "stream", "health"):
        assert got[name][0] == 200, name
    assert "script-src 'sha256-" in got["floor page"][1]["Content-Security-Policy"]


def test_a_browser_trades_the_token_for_a_cookie_once(board: Board) -> None:
    """?token= on a per-agent URL sets an HttpOnly, SameSite=Strict cookie that is not the token and
    redirects to the URL without it; the cookie then opens the JSON too; a wrong ?token= is a 401; the
    token never reaches the server's log."""
    async def go() -> tuple[Any, ...]:
        jar = aiohttp.CookieJar(unsafe=True)  # keep cookies of 127.0.0.1
        async with aiohttp.ClientSession(cookie_jar=jar) as session:
            async with session.get(f"{board.url}/agents/{board.agent}?month=2026-11&token={TOKEN}",
                                   allow_redirects=False) as r:
                first = (r.status, r.headers["Location"], r.headers.getall("Set-Cookie"))
            async with session.get(board.url + first[1]) as r:
                page = (r.status, await r.text())
            async with session.get(f"{board.url}/api/agents/{board.agent}") as r:
                api = r.status
        async with aiohttp.ClientSession() as stranger, stranger.get(
                f"{board.url}/agents/{board.agent}?token=not-{TOKEN}", allow_redirects=False) as r:
            wrong = r.status
        return first, page, api, wrong

    (status, location, cookies), page, api, wrong = asyncio.run(go())
    assert status == 303 and location == f"/agents/{board.agent}?month=2026-11"
    (cookie,) = cookies
    assert cookie.startswith(f"{COOKIE}=") and TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert page[0] == 200 and board.agent in page[1]
    assert api == 200 and wrong == 401
    time.sleep(0.2)
    assert TOKEN not in board.log.read_text(errors="replace"), "the token reached the server's log"


def test_without_a_token_setting_per_agent_pages_are_closed(redis_url: str) -> None:
    """A server with no CALLWATCH_WALLBOARD_TOKEN answers 403 on every per-agent path, bearer or not,
    and still serves the floor."""
    async def go() -> list[int]:
        server = WallboardServer(Settings(redis_url=redis_url, redis_prefix=f"none-{uuid.uuid4().hex[:8]}"))
        runner = web.AppRunner(server.app())
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with aiohttp.ClientSession() as session:
                out = []
                for path, headers in (("/api/agents/a-1", {}), ("/agents/a-1", {"Authorization": f"Bearer {TOKEN}"}),
                                      (f"/agents/a-1?token={TOKEN}", {}), ("/api/figures", {})):
                    async with session.get(f"http://127.0.0.1:{port}{path}", headers=headers,
                                           allow_redirects=False) as r:
                        out.append(r.status)
                return out
        finally:
            await runner.cleanup()

    assert asyncio.run(go()) == [403, 403, 403, 200]


def test_a_short_token_is_refused_without_showing_it() -> None:
    """A token under 16 characters stops the server at start with a sentence that does not hold it."""
    with pytest.raises(ValueError, match="shorter than 16 characters") as refused:
        WallboardServer(Settings(wallboard_token=SecretStr("guessable")))
    assert "guessable" not in str(refused.value)
