"""The built-in wallboard page in Debian's headless Chromium, driven by Playwright: it loads, shows the
replayed queues' figures equal to the JSON endpoint's, turns red when the example's long waiter passes
180 s, updates without a reload, and turns grey within its stale limit once the worker is SIGKILLed; at
1280×720, 1920×1080 and 3840×2160 it fills the screen, its badge and oldest wait agree while the wait
alarm is on, and every kind of alarm has a badge. Screenshots are kept in tests/artifacts/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import orjson
import pytest

from alerts.delivery import parse_iso
from alerts.messages import iso
from callwatch.config import MonitorConfig
from callwatch.engine import Engine
from callwatch.eventlog import read_raw
from callwatch.events import decode
from console.embedded import free_port, stop_process, wait_for_port
from tests.integration.harness import ROOT, Stack, Worker, publish, wait_until_applied

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DEMO_LOG = ROOT / "producers" / "data" / "demo-day.jsonl.gz"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: the page server's CALLWATCH_WALLBOARD_TOKEN (per-agent data)
TOKEN = "page-test-token-0123456789"
#: the page servers' ``stale_after_s`` in the live test
STALE_AFTER_S = 4.0
#: what this machine's Chromium needs headless as root, with no network beyond localhost
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _story_until_billing_waits(seconds: float) -> tuple[list[bytes], float]:
    """The example day up to the moment billing's longest waiter has waited ``seconds``, and that wait."""
    lines = list(read_raw(DEMO_LOG))
    engine = Engine(MonitorConfig())
    for i, raw in enumerate(lines):
        event = decode(raw)
        engine.step(event)
        ts = event.ts.timestamp()
        waits = [leg.wait_from for leg in engine.waiting.get("billing", {}).values() if leg.wait_from is not None]
        if waits and ts - min(waits) >= seconds:
            return lines[: i + 1], ts - min(waits)
    raise AssertionError("billing never waits that long in the example day")


def _rebased(lines: list[bytes], end: float) -> list[bytes]:
    """The same events, shifted so that the last one happens at ``end`` (a replay's --rebase-now)."""
    last = parse_iso(orjson.loads(lines[-1])["ts"])
    out = []
    for raw in lines:
        event = orjson.loads(raw)
        for field in ("ts", "waiting_since"):
            if event.get(field):
                event[field] = iso(parse_iso(event[field]) - last + end)
        out.append(orjson.dumps(event))
    return out


def _healthz(port: int, query: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz{query}", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _figures(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/figures", timeout=5) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def test_wallboard_page_in_chromium(kafka_bootstrap: str, redis_url: str, unique: str, tmp_path: Path,
                                    artifacts: Path) -> None:
    from playwright.sync_api import sync_playwright

    stack = Stack(kafka_bootstrap, redis_url, unique, clock="wall")
    worker = Worker(stack, tmp_path).start()
    port = free_port()
    with open(tmp_path / "wallboard.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "console", "wallboard", "--port", str(port),
                                   "--host", "127.0.0.1"], cwd=ROOT,
                                  env={**stack.env(free_port()), "CALLWATCH_WALLBOARD_TOKEN": TOKEN,
                                       "CALLWATCH_STALE_AFTER_S": str(STALE_AFTER_S)}, stdout=log,
                                  stderr=subprocess.STDOUT)
    try:
        story, _ = _story_until_billing_waits(170.0)
        publish(stack, _rebased(story, time.time()))
        wait_until_applied(stack)
        wait_for_port(port, proc=server)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector('section[data-queue="billing"]', timeout=15_000)
            page.evaluate("window.loadedOnce = 'yes'")
            # every queue of the JSON endpoint is on the page with the same figures
            figures = _figures(port)
            shown = page.eval_on_selector_all("section[data-queue]", "els => els.map(e => e.dataset.queue)")
            assert shown == list(figures["queues"]), shown
            page.wait_for_timeout(1500)  # the next push, drawn from the same snapshot as the next fetch
            figures = _figures(port)
            for name, queue in figures["queues"].items():
                tile = page.locator(f'section[data-queue="{name}"]')
                assert tile.locator('[data-figure="waiting"] .value').inner_text() == str(queue["waiting"])
                assert tile.locator('[data-state="available"]').inner_text() == str(queue["agents"]["available"])
                assert tile.locator('[data-state="away"]').inner_text() == str(queue["agents"]["away"])
                sl = queue["board"]["service_level"]
                assert tile.locator('[data-figure="service_level"]').get_attribute("data-level") == sl["level"]
                shown_wait = tile.locator('[data-figure="oldest_wait"] .value').inner_text()
                minutes, _, secs = shown_wait.partition(":")
                shown_s = int(minutes) * 60 + int(secs) if secs else int(shown_wait.split()[0])
                assert abs(shown_s - queue["oldest_wait"]) <= 2.0, (name, shown_wait, queue["oldest_wait"])
            billing = page.locator('section[data-queue="billing"] [data-figure="oldest_wait"]')
            assert billing.get_attribute("data-level") == "amber", "170 s: amber (from 120 s), not yet red"
            updates_before = page.evaluate("window.callwatchUpdates")
            # the long waiter passes 180 s: the tile turns red by itself
            deadline = time.time() + 30
            while billing.get_attribute("data-level") != "red":
                assert time.time() < deadline, "billing's oldest wait never turned red"
                page.wait_for_timeout(250)
            assert page.evaluate("window.loadedOnce") == "yes", "the page was reloaded"
            assert page.evaluate("window.callwatchUpdates") > updates_before
            colour = billing.evaluate("e => getComputedStyle(e).backgroundColor")
            assert colour == "rgb(198, 40, 40)", colour
            assert _figures(port)["queues"]["billing"]["board"]["oldest_wait"]["level"] == "red"
            page.wait_for_timeout(1200)
            page.screenshot(path=str(artifacts / "wallboard.png"), full_page=True)
            assert page.evaluate("document.body.classList.contains('stale')") is False
            # the worker dies without a word: its heartbeat stops, and the page says so within the limit
            worker.kill()
            killed = time.monotonic()
            page.wait_for_selector("body.stale", timeout=(STALE_AFTER_S + 15) * 1000)
            grey_after = time.monotonic() - killed
            # the limit, plus a snapshot interval (the last heartbeat's age) and a push interval and a read
            assert grey_after <= STALE_AFTER_S + 3.5, grey_after
            banner = page.locator("#stale-banner").inner_text().splitlines()[0]
            assert banner.startswith("no data for ") and banner.endswith(" s — worker down?"), banner
            page.screenshot(path=str(artifacts / "wallboard-stale.png"))
            browser.close()
        health = _healthz(port, "")
        assert health[0] == 200 and health[1]["fresh"] is False, health
        assert health[1]["detail"].endswith("worker down?")
        assert _healthz(port, "?fresh=1")[0] == 503
        (artifacts / "wallboard.json").write_text(json.dumps(_figures(port), indent=1))
        # per-agent data: the scorecard as JSON from the same server (it stays out of Prometheus)
        agent = next(orjson.loads(r)["agent"] for r in story if b'"call.answered"' in r)
        # (behind the wallboard token: tests/integration/test_wallboard_server.py)
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        url = f"http://127.0.0.1:{port}/api/agents/{agent}"
        with urllib.request.urlopen(urllib.request.Request(url, headers=bearer), timeout=10) as r:
            card = json.loads(r.read())
        assert card["agent"] == agent and card["figures"][0]["figure"] == "handled"
        try:
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/api/agents/nobody",
                                                          headers=bearer), timeout=10)
            raise AssertionError("an unknown agent must be a 404")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
    finally:
        stop_process(server, timeout=10)
        worker.stop()


# --- names that came from events are text ------------------------------------------------------------

#: a queue, an agent and a waiting caller's id that would run script if the page or the scorecard put
#: them into HTML: an element with an event handler, a broken-out attribute with a script, an entity
HOSTILE_QUEUE = '<img src=x onerror=alert("queue")> &amp; billing'
HOSTILE_AGENT = '"><script>alert("agent")</script><b title="x'
HOSTILE_CALL = "c-9<svg onload=alert('call')>"


def _hostile_events(start: float) -> list[bytes]:
    """A floor whose queue, agent and waiting caller have hostile names: one call answered and ended by
    the agent, one caller still waiting; a heartbeat moves the watermark past them."""
    def at(offset: float) -> str:
        return iso(start + offset)

    base = {"v": 1, "source": "pbx-1"}
    events: list[dict[str, Any]] = [
        {"type": "agent.state", "agent": HOSTILE_AGENT, "state": "available", "queues": [HOSTILE_QUEUE],
         "team": "<i>team</i>", "ts": at(0)},
        {"type": "call.queued", "call_id": "c-1", "queue": HOSTILE_QUEUE, "ts": at(10)},
        {"type": "call.answered", "call_id": "c-1", "queue": HOSTILE_QUEUE, "agent": HOSTILE_AGENT, "ts": at(20)},
        {"type": "call.queued", "call_id": HOSTILE_CALL, "queue": HOSTILE_QUEUE, "priority": 2, "ts": at(30)},
        {"type": "call.ended", "call_id": "c-1", "queue": HOSTILE_QUEUE, "agent": HOSTILE_AGENT,
         "ended_by": "customer", "ts": at(140)},
        {"type": "source.heartbeat", "ts": at(400)},
    ]
    return [orjson.dumps({**base, **e, "id": f"e-{i}"}) for i, e in enumerate(events)]


def test_hostile_names_show_as_text_in_chromium(redis_url: str, unique: str, tmp_path: Path,
                                               artifacts: Path) -> None:
    """A queue, a waiting caller and an agent named with HTML and script show in Chromium as the exact
    text they are — in the tile's title, its data attribute, the waiting list and the scorecard page's
    title and heading — and no script of theirs runs (no dialog, no element of theirs in the DOM)."""
    import asyncio

    from playwright.sync_api import Dialog, sync_playwright

    from callwatch.events import decode
    from callwatch.settings import ClockMode, Settings
    from streams.monitor import MonitorService, RecordingPublisher
    from streams.state_store import RedisStateStore

    prefix = f"hostile-{unique}"
    settings = Settings(redis_url=redis_url, redis_prefix=prefix, events_topic="events", clock=ClockMode.event)
    raw = _hostile_events(time.time() - 3600)
    assert [decode(r).type for r in raw], "the contract takes these names"

    async def commit() -> list[Any]:
        store = RedisStateStore(redis_url, prefix)
        publisher = RecordingPublisher()
        service = MonitorService(settings, store, publisher)
        await service.handle({0: list(enumerate(raw))})
        await service.write_snapshots()
        await store.close()
        return publisher.dead

    assert asyncio.run(commit()) == [], "every event applied"
    port = free_port()
    env = {**os.environ, "CALLWATCH_REDIS_URL": redis_url, "CALLWATCH_REDIS_PREFIX": prefix,
           "CALLWATCH_EVENTS_TOPIC": "events", "CALLWATCH_WALLBOARD_TOKEN": TOKEN}
    with open(tmp_path / "wallboard.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "console", "wallboard", "--port", str(port)], cwd=ROOT,
                                  env=env, stdout=log, stderr=subprocess.STDOUT)
    dialogs: list[str] = []
    errors: list[str] = []

    def dialog(d: Dialog) -> None:
        dialogs.append(d.message)
        d.dismiss()

    try:
        wait_for_port(port, proc=server)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.on("dialog", dialog)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("section[data-queue]", timeout=15_000)
            page.wait_for_timeout(1500)  # a few pushes: every one redraws the tiles
            tile = page.locator("section[data-queue]")
            assert tile.count() == 1
            assert tile.get_attribute("data-queue") == HOSTILE_QUEUE
            assert tile.evaluate("e => e.querySelector('h2').firstChild.textContent") == HOSTILE_QUEUE
            assert tile.locator("table.waiting td").first.inner_text() == HOSTILE_CALL
            assert page.evaluate("document.querySelectorAll('main img, main script, main svg').length") == 0
            assert page.evaluate("document.scripts.length") == 1, "only the page's own script"
            page.screenshot(path=str(artifacts / "wallboard-hostile.png"), full_page=True)
            # and were a future change to put a name into HTML, the page's policy would not run its handler
            page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend', "
                          "'<img src=x onerror=alert(\"inline\")>')")
            page.wait_for_timeout(500)
            # the agent's scorecard page: in with the token once, then by the cookie
            agent_url = f"http://127.0.0.1:{port}/agents/{quote(HOSTILE_AGENT, safe='')}"
            page.goto(f"{agent_url}?token={TOKEN}")
            assert "token" not in page.url and unquote(page.url) == unquote(agent_url), "the token left the URL"
            assert page.locator("h1").inner_text() == HOSTILE_AGENT
            assert page.title().startswith(f"Scorecard — {HOSTILE_AGENT} — ")
            assert page.evaluate("document.scripts.length") == 0
            assert page.evaluate("document.querySelectorAll('body > b, h1 b, h1 script').length") == 0
            assert "<i>team</i>" in page.locator("p.sub").first.inner_text()
            page.screenshot(path=str(artifacts / "scorecard-hostile.png"), full_page=True)
            browser.close()
    finally:
        stop_process(server, timeout=10)
    assert dialogs == [], f"a name's script ran: {dialogs}"
    assert errors == [], errors


# --- one screen, one instant; every alarm a badge; a wall of any size ---------------------------------

#: the example day up to here (minutes from 08:00): billing's caller has been over three minutes since
#: 52.84 min, the watermark stands about a minute behind, and abandonment and service level alarm too
DEMO_CUT_MIN = 53.9
SIZES = ((1280, 720), (1920, 1080), (3840, 2160))


def _floor_with_every_alarm(start: float, closed_queue: bool) -> list[bytes]:
    """The example day to ``DEMO_CUT_MIN``, and beside it a queue whose only agent is away while a caller
    waits (no agents, and a wait alarm of its own), and a queue closed for the day. (No silent source: on
    the event clock each site has its own clock, which stops when its source falls silent, so a replay
    cannot tell its silence; live, the wall clock does — tests/unit/test_threshold_alarms.py and the
    snapshot's floor badges in tests/unit/engine/test_snapshot.py.)"""
    from datetime import datetime, timezone

    from callwatch.events import encode
    from producers.simulator import demo_events

    day = demo_events(datetime.fromtimestamp(start, timezone.utc), scenario="demo")
    lines = [encode(e) for e in day if e.ts.timestamp() <= start + DEMO_CUT_MIN * 60]
    extra: list[dict[str, Any]] = [
        {"type": "agent.state", "agent": "agent-n1", "state": "away", "reason": "break", "queues": ["night"],
         "source": "pbx-demo", "ts": iso(start)},
        {"type": "call.queued", "call_id": "n-1", "queue": "night", "source": "pbx-demo", "ts": iso(start + 2400)},
    ]
    closed: list[dict[str, Any]] = [
        # sales: one caller abandoned early on (no answer: its service level is 0 %), then everyone went home
        {"type": "agent.state", "agent": "agent-z1", "state": "away", "queues": ["sales"], "source": "pbx-demo",
         "ts": iso(start + 5)},
        {"type": "call.queued", "call_id": "z-1", "queue": "sales", "source": "pbx-demo", "ts": iso(start + 10)},
        {"type": "call.abandoned", "call_id": "z-1", "queue": "sales", "source": "pbx-demo", "ts": iso(start + 90)},
        {"type": "agent.state", "agent": "agent-z1", "state": "offline", "source": "pbx-demo",
         "ts": iso(start + 600)},
    ]
    extra += closed if closed_queue else []
    return lines + [orjson.dumps({"v": 1, "id": f"x-{i}", **e}) for i, e in enumerate(extra)]


def _board_over(redis_url: str, log_dir: Path, closed_queue: bool) -> Iterator[int]:
    """`callwatch wallboard` over what a worker committed for that floor, with a health condition on
    (Redis hung), as of its watermark."""
    import asyncio
    import uuid

    from callwatch.settings import ClockMode, Settings
    from streams.health import REDIS_HUNG
    from streams.monitor import MonitorService, RecordingPublisher
    from streams.state_store import RedisStateStore

    prefix = f"alarms-{uuid.uuid4().hex[:8]}"
    start = parse_iso("2026-11-23T08:00:00Z")
    raw = sorted(_floor_with_every_alarm(start, closed_queue), key=lambda r: orjson.loads(r)["ts"])

    async def commit() -> None:
        settings = Settings(redis_url=redis_url, redis_prefix=prefix, events_topic="events", clock=ClockMode.event)
        store = RedisStateStore(redis_url, prefix)
        service = MonitorService(settings, store, RecordingPublisher())
        await service.handle({0: list(enumerate(raw))})
        service.health.on(REDIS_HUNG, "a write to Redis has not been answered for 3.0 s (limit 2 s)", 3.0, 2.0)
        await service.write_snapshots()
        await store.close()

    asyncio.run(commit())
    port = free_port()
    env = {**os.environ, "CALLWATCH_REDIS_URL": redis_url, "CALLWATCH_REDIS_PREFIX": prefix,
           "CALLWATCH_EVENTS_TOPIC": "events", "CALLWATCH_STALE_AFTER_S": "3600"}
    with open(log_dir / "wallboard.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "console", "wallboard", "--port", str(port)], cwd=ROOT,
                                  env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc=server)
        yield port
    finally:
        stop_process(server, timeout=10)


@pytest.fixture(scope="module")
def three_queue_board(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The demo's two queues and the night queue: what a TV of a small floor shows."""
    yield from _board_over(redis_url, tmp_path_factory.mktemp("three-queues"), closed_queue=False)


@pytest.fixture(scope="module")
def every_alarm_board(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The same, and sales closed for the day."""
    yield from _board_over(redis_url, tmp_path_factory.mktemp("every-alarm"), closed_queue=True)


def _seconds(shown: str) -> int:
    """A wait as the page shows it ("45 s", "3:07") in seconds."""
    if shown.endswith(" s"):
        return int(shown[:-2])
    minutes, _, secs = shown.partition(":")
    return int(minutes) * 60 + int(secs)


def test_the_wall_at_three_sizes_badge_and_oldest_wait_agree(three_queue_board: int, artifacts: Path) -> None:
    """At 1280×720, 1920×1080 and 3840×2160 the page fills the screen without scrolling, its main numbers
    are at least a twentieth of the screen high and none is cut off; billing's WAIT badge stands beside an
    oldest wait over the window (red), the same wait its reason and the waiting list's first row give."""
    from playwright.sync_api import sync_playwright

    figures = _figures(three_queue_board)
    billing = figures["queues"]["billing"]
    assert billing["over_window"] >= 1 and billing["oldest_wait"] > 180, billing["oldest_wait"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        for width, height in SIZES:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(f"http://127.0.0.1:{three_queue_board}/")
            tile = page.locator('section[data-queue="billing"]')
            tile.locator('.badge[data-alarm="wait_window_exceeded"]').wait_for(timeout=15_000)
            oldest = tile.locator('[data-figure="oldest_wait"]')
            shown = oldest.locator(".value").inner_text()
            assert _seconds(shown) > 180 and oldest.get_attribute("data-level") == "red", shown
            assert abs(_seconds(shown) - billing["oldest_wait"]) <= 1
            reason = tile.locator('.badge[data-alarm="wait_window_exceeded"] .why').inner_text()
            assert reason.endswith(f"the oldest has waited {shown}"), (reason, shown)
            assert tile.locator("table.waiting tr.over td.wait").first.inner_text() == shown
            # every caller of the list is either shown in full or counted in the "+N more" row
            listing = tile.evaluate("""(t) => {
                const box = t.querySelector(".waiting-box").getBoundingClientRect();
                const rows = [...t.querySelectorAll("table.waiting tr")];
                const more = t.querySelector("table.waiting tr.more");
                return {rows: rows.filter((r) => !r.classList.contains("more")).length,
                        more: more ? Number(more.dataset.more) : 0,
                        outside: rows.filter((r) => r.getBoundingClientRect().bottom > box.bottom + 1).length};
            }""")
            assert listing["rows"] + listing["more"] == len(billing["longest_waiting"]), listing
            assert listing["outside"] == 0, listing
            layout = page.evaluate("""() => {
                const main = document.querySelector("main").getBoundingClientRect();
                const values = [...document.querySelectorAll(".numbers.now .number .value")];
                const cards = [...document.querySelectorAll(".number")];
                return {scrollH: document.documentElement.scrollHeight, scrollW: document.documentElement.scrollWidth,
                        mainW: main.width, mainBottom: main.bottom,
                        smallest: Math.min(...values.map((v) => parseFloat(getComputedStyle(v).fontSize))),
                        cut: cards.filter((c) => c.scrollWidth > c.clientWidth + 1 ||
                                                 c.getBoundingClientRect().bottom >
                                                 c.closest("section").getBoundingClientRect().bottom).length};
            }""")
            page.screenshot(path=str(artifacts / f"wallboard-{width}x{height}.png"))
            assert layout["scrollH"] <= height and layout["scrollW"] <= width, layout
            assert layout["mainW"] >= 0.98 * width and layout["mainBottom"] >= 0.97 * height, layout
            assert layout["smallest"] >= height / 20, layout
            assert layout["cut"] == 0, layout
            page.close()
        browser.close()


def test_every_alarm_kind_shows_a_badge(every_alarm_board: int, artifacts: Path) -> None:
    """Wait, abandonment, service level, no agents (queue badges), a silent feed and the worker's health
    (floor badges): each has a badge with its word, since when, and a reason; the JSON has the same."""
    from playwright.sync_api import sync_playwright

    figures = _figures(every_alarm_board)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.goto(f"http://127.0.0.1:{every_alarm_board}/")
        page.wait_for_selector(".badge[data-alarm=no_agents]", timeout=15_000)
        page.screenshot(path=str(artifacts / "wallboard-every-alarm.png"))
        closed = page.locator('section[data-queue="sales"]')
        assert "closed" in (closed.get_attribute("class") or "")
        assert closed.locator(".closed-badge").inner_text() == "closed"
        assert closed.locator('[data-figure="service_level"]').get_attribute("data-level") == "none"
        badges = page.eval_on_selector_all(".badge", """els => els.map((e) => ({
            alarm: e.dataset.alarm, queue: e.closest("section") ? e.closest("section").dataset.queue : null,
            what: e.querySelector(".what").textContent, when: e.querySelector(".when").textContent,
            window: e.querySelector(".window") ? e.querySelector(".window").textContent : null,
            why: e.querySelector(".why").textContent}))""")
        # a site's own floor (?site=): its queues and the workers' health; another site's: none of them
        page.goto(f"http://127.0.0.1:{every_alarm_board}/?site=pbx-demo")
        page.wait_for_selector(".badge[data-alarm=no_agents]", timeout=15_000)
        assert sorted(page.eval_on_selector_all("section.queue", "els => els.map((e) => e.dataset.queue)")) == \
            sorted(figures["queues"])
        assert page.locator("header h1").inner_text() == "callwatch · pbx-demo"
        page.goto(f"http://127.0.0.1:{every_alarm_board}/?site=elsewhere")
        page.wait_for_selector(".empty", timeout=15_000)
        assert page.locator("section.queue").count() == 0
        assert page.locator('.badge[data-alarm="redis_hung"]').count() == 1
        browser.close()
    kinds = {(b["alarm"], b["queue"]) for b in badges}
    assert {("wait_window_exceeded", "billing"), ("abandonment_high", "billing"), ("service_level_low", "billing"),
            ("wait_window_exceeded", "night"), ("no_agents", "night"), ("redis_hung", None)} <= kinds, kinds
    for b in badges:
        assert b["when"].startswith("since ") and b["why"], b
    assert [a["label"] for a in figures["queues"]["night"]["alarms"]] == ["WAIT", "NO AGENTS"]
    # beside an alarm over a window, the tile's window is the rule's, in the same words
    sl = next(b for b in badges if b["alarm"] == "service_level_low")
    assert sl["window"] == " · window 30 min"
    wait = next(b for b in badges if b["alarm"] == "wait_window_exceeded")
    assert wait["window"] == " · window 3:00", "a wait window reads as a wait, as on the oldest-wait tile"
    assert figures["queues"]["support"]["closed"] is False
    sales = figures["queues"]["sales"]
    assert sales["closed"] is True and sales["windows"]["today"]["service_level"] == 0.0
    assert sales["board"]["service_level"]["level"] == "none", "closed: not a red service level"
