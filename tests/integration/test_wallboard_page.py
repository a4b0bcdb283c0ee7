"""The built-in wallboard page in Debian's headless Chromium, driven by Playwright: it loads, shows the
replayed queues' figures equal to the JSON endpoint's, turns red when the example's long waiter passes
180 s, and updates without a reload. A screenshot is kept in tests/artifacts/wallboard.png."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
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
                                  env={**stack.env(free_port()), "CALLWATCH_WALLBOARD_TOKEN": TOKEN}, stdout=log,
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
            browser.close()
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
