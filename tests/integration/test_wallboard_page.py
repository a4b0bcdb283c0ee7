"""The built-in wallboard page in Debian's headless Chromium, driven by Playwright: it loads, shows the
replayed queues' figures equal to the JSON endpoint's, turns red when the example's long waiter passes
180 s, and updates without a reload. A screenshot is kept in tests/artifacts/wallboard.png."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

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
                                   "--host", "127.0.0.1"], cwd=ROOT, env=stack.env(free_port()), stdout=log,
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
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/agents/{agent}", timeout=10) as r:
            card = json.loads(r.read())
        assert card["agent"] == agent and card["figures"][0]["figure"] == "handled"
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/agents/nobody", timeout=10)
            raise AssertionError("an unknown agent must be a 404")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
    finally:
        stop_process(server, timeout=10)
        worker.stop()
