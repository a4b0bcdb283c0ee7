"""The wallboard page in the demo, photographed in headless Chromium: docs/screenshots/.

    PYTHONPATH=. .venv/bin/python bench/screenshots.py [--out docs/screenshots] [--speed 15]

Runs what ``callwatch demo`` runs — the embedded broker and Redis, a worker on the event clock, the page
server and the simulated example day (scenario ``demo``, seed 8) — with the page open at 1280×720,
1920×1080 and 3840×2160. The moment billing's early warning is on, it takes one picture
(``early-warning-1920x1080.png``: the amber WAIT AHEAD badge); the moment its wait alarm is on, the three
pictures (``wait-alarm-<size>.png``: the badge beside the real oldest wait); then it kills the worker (SIGKILL),
waits for the page to turn grey (the figures older than ``stale_after_s``) and takes one more
(``worker-killed-1920x1080.png``). Each stage prints how long it took. Needs Debian's chromium and Playwright.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((1280, 720), (1920, 1080), (3840, 2160))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STALE_AFTER_S = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    # slower than the demo's 30x: its wait alarm lasts 42 s of the day, 1.4 s of a 30x replay
    parser.add_argument("--speed", type=float, default=15.0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from playwright.sync_api import sync_playwright

    from console.embedded import free_port, start_redis, start_tansu, stop_process, wait_for_port

    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="callwatch-shots-"))
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {text}", flush=True)

    broker, redis = start_tansu(free_port(), work), start_redis(free_port(), work)
    web_port, board_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CALLWATCH_KAFKA_BOOTSTRAP": broker.url,
           "CALLWATCH_REDIS_URL": redis.url, "CALLWATCH_CLOCK": "event", "CALLWATCH_WEB_PORT": str(web_port),
           "CALLWATCH_TOPIC_PARTITIONS": "1", "CALLWATCH_STALE_AFTER_S": str(STALE_AFTER_S),
           "CALLWATCH_SNAPSHOT_INTERVAL_S": "0.5"}
    cmd = [sys.executable, "-m", "console"]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with open(work / "worker.log", "wb") as wlog, open(work / "board.log", "wb") as blog:
            worker = subprocess.Popen([*cmd, "worker"], env=env, cwd=work, stdout=wlog, stderr=subprocess.STDOUT)
            board = subprocess.Popen([*cmd, "wallboard", "--port", str(board_port), "--host", "127.0.0.1"],
                                     env=env, cwd=work, stdout=blog, stderr=subprocess.STDOUT)
            procs += [worker, board]
        wait_for_port(web_port, timeout=90, proc=worker)
        wait_for_port(board_port, timeout=30, proc=board)
        say("worker and page server up; simulating the example day")
        with open(work / "simulate.log", "wb") as slog:
            sim = subprocess.Popen([*cmd, "simulate", "--scenario", "demo", "--seed", "8", "--speed",
                                    f"{args.speed:g}"], env=env, cwd=work, stdout=slog, stderr=subprocess.STDOUT)
        procs.append(sim)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                         headless=True, args=CHROMIUM_ARGS)
            pages = []
            for w, h in SIZES:
                page = browser.new_page(viewport={"width": w, "height": h})
                page.goto(f"http://127.0.0.1:{board_port}/")
                pages.append(((w, h), page))
            # first the early warning: the 1920x1080 page the moment it draws billing's WAIT AHEAD badge
            # (from 8:47, five minutes of the day before the wait alarm)
            ahead = 'section[data-queue="billing"] .badge[data-alarm="wait_window_forecast"]'
            dict(pages)[(1920, 1080)].wait_for_selector(ahead, timeout=900_000)
            dict(pages)[(1920, 1080)].screenshot(path=str(args.out / "early-warning-1920x1080.png"))
            say("1920x1080: early warning on")
            # each page photographed the moment it draws billing's WAIT badge (on for ~42 s of the day)
            badge = 'section[data-queue="billing"] .badge[data-alarm="wait_window_exceeded"]'
            pending = dict(pages)
            deadline = time.monotonic() + 900
            while pending:
                if time.monotonic() > deadline or sim.poll() not in (None, 0):
                    raise SystemExit("billing's wait alarm never showed on every page; see " + str(work))
                for (w, h), page in list(pending.items()):
                    if page.query_selector(badge) is not None:
                        shown = page.inner_text('section[data-queue="billing"] [data-figure="oldest_wait"] .value')
                        page.screenshot(path=str(args.out / f"wait-alarm-{w}x{h}.png"))
                        say(f"{w}x{h}: wait alarm on, oldest wait shown {shown}")
                        del pending[(w, h)]
                time.sleep(0.1)
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            killed = time.monotonic()
            for _, page in pages:
                page.wait_for_selector("body.stale", timeout=60_000)
            say(f"worker killed; every page grey {time.monotonic() - killed:.1f} s later "
                f"(stale_after_s {STALE_AFTER_S:g})")
            # one size is enough to show the grey page (a 4K PNG is half a megabyte)
            dict(pages)[(1920, 1080)].screenshot(path=str(args.out / "worker-killed-1920x1080.png"))
            browser.close()
    finally:
        for p in procs:
            if p.poll() is None:
                stop_process(p, timeout=10)
        broker.stop()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)
    for png in sorted(args.out.glob("*.png")):
        say(f"{png}: {png.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
