"""The terminal as a supervisor reads it: `callwatch stats` and the help fit 80 columns, say every active
alarm beside its rule's window in the page's words, a closed queue is "closed", and a floor no worker
writes for is said to be stale."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner

from callwatch.engine import Engine
from callwatch.engine.snapshot import snapshot
from callwatch.eventlog import read_events
from callwatch.settings import Settings
from console.demo import banner
from console.main import app
from console.wallboard import render
from streams.state_store import RedisStateStore

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "producers" / "data" / "demo-day.jsonl.gz"


#: the badge words of the page, as a snapshot names its alarms
LABELS = {"abandonment_high": "ABANDONMENT", "service_level_low": "SERVICE LEVEL", "no_agents": "NO AGENTS"}


def _floor(until: str, written_ago_s: float = 0.0) -> dict[str, Any]:
    """The demo day's floor at ``until`` (event time) as `stats` reads it from Redis: one partition's
    snapshot, written ``written_ago_s`` ago. A snapshot that does not list its queues' alarms (one
    written before the list) gets the engine's active threshold alarms, as the list gives them."""
    settings = Settings()
    engine = Engine(settings.monitor)
    for event in read_events(DEMO):
        if event.ts.isoformat() >= until:
            break
        engine.step(event, event.ts.timestamp())
    snap = snapshot(engine, engine.watermark)
    for name, queue in snap["queues"].items():
        if "alarms" in queue:
            continue
        wait = queue.get("alarm")
        queue["alarms"] = [] if wait is None else [
            {"alarm": wait["alarm"], "label": "WAIT", "since": wait["started_at"], "window_s": 180.0,
             "window_text": "3:00", "reason": "a caller waited over the 3:00 wait window"}]
        for state in engine.thresholds.values():
            if state.subject == name and state.status == "active":
                window = getattr(settings.monitor.alarms.for_queue(name), state.alarm).window_s
                queue["alarms"].append({"alarm": state.alarm, "label": LABELS[state.alarm], "since": state.since,
                                        "window_s": window, "window_text": f"{window / 60:g} min",
                                        "reason": f"over its threshold in the last {window / 60:g} min"})
    return {"generated_at": time.time(), "queues": snap["queues"],
            "partitions": [{"partition": 0, "now": engine.watermark, "clock": "event",
                            "written_at": time.time() - written_ago_s, "offset": 1}]}


def _printed(figures: dict[str, Any], width: int = 80) -> list[str]:
    out = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115 - closed with the console
    out.print(render(figures, Settings(), time.time(), out.width))
    text: str = out.export_text()
    out.file.close()
    return text.splitlines()


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times of day are this machine's: the tests read them in UTC, the demo day's zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _words(lines: list[str]) -> str:
    return " ".join(" ".join(lines).split())


def test_stats_fits_80_columns_and_shows_every_active_alarm() -> None:
    """At 9:00 billing has its abandonment and service-level alarms on (no wait alarm): both badge words
    are in its alarms column, and each alarm has a line as the page's badge says it (window, since,
    why); the figures' headers say the rules' window; no line is wider than 80 columns."""
    lines = _printed(_floor("2026-11-23T09:00"))
    assert max(len(line) for line in lines) <= 80
    billing = next(line for line in lines if line.lstrip().startswith("billing"))
    assert billing.rstrip().endswith("ABANDONMENT"), billing
    assert lines[lines.index(billing) + 1].rstrip().endswith("SERVICE LEVEL")
    said = _words(lines)
    assert "ALARM billing · ABANDONMENT · window 30 min · since 08:29:00 — " in said
    assert "ALARM billing · SERVICE LEVEL · window 30 min · since 08:31:00 — " in said
    support = next(line for line in lines if line.lstrip().startswith("support"))
    assert support.rstrip().endswith("ok")
    # the page's words and the rules' window
    header = next(i for i, line in enumerate(lines) if "service level" in line and "abandoned" in line)
    assert lines[header + 1].count("last 30 min") == 2
    assert "15m" not in said and "SL " not in said and "worker down" not in said


def test_the_wait_alarm_is_listed_first_with_its_window() -> None:
    """While a billing caller waits past three minutes, the wait alarm comes first, with its window."""
    figures = _floor("2026-11-23T09:00")
    started = datetime(2026, 11, 23, 8, 58, 50, tzinfo=timezone.utc).timestamp()
    figures["queues"]["billing"]["alarms"].insert(0, {
        "alarm": "wait_window_exceeded", "label": "WAIT", "since": started, "window_s": 180.0,
        "window_text": "3:00", "reason": "1 caller over the 3:00 wait window; the oldest has waited 3:10"})
    lines = _printed(figures)
    billing = next(line for line in lines if line.lstrip().startswith("billing"))
    assert billing.rstrip().endswith("WAIT"), billing  # first; the others on the lines below
    said = _words(lines)
    assert "ALARM billing · WAIT · window 3:00 · since 08:58:50 — 1 caller over the 3:00 wait window" in said
    assert said.index("billing · WAIT") < said.index("billing · ABANDONMENT")


def test_a_queue_nobody_staffs_and_nobody_waits_is_closed() -> None:
    """At the end of the day everyone has logged off: each queue is "closed", not a red service level."""
    lines = _printed(_floor("2026-11-24T00:00"))
    for queue in ("billing", "support"):
        row = next(line for line in lines if line.lstrip().startswith(queue))
        assert row.split()[-1] == "closed" and row.split()[-3] == "closed", row
        assert "%" not in row, row


def test_long_queue_names_are_cut_at_80_columns_and_whole_when_wide() -> None:
    """A long queue name never pushes a line past 80 columns; a wide terminal shows it whole."""
    figures = _floor("2026-11-23T09:00")
    name = "an-outsourced-queue-with-a-very-long-name"
    figures["queues"][name] = figures["queues"]["support"]
    assert max(len(line) for line in _printed(figures)) <= 80
    assert any(name in line for line in _printed(figures, width=160))


def test_stale_past_the_limit() -> None:
    """Snapshots older than stale_after_s (10 s) say "no data for N s — worker down?", fresher ones not."""
    assert "no data for 30 s — worker down?" in "\n".join(_printed(_floor("2026-11-23T09:00", written_ago_s=30)))
    assert "worker down" not in "\n".join(_printed(_floor("2026-11-23T09:00", written_ago_s=5)))


def _all_commands() -> list[list[str]]:
    import typer.main

    def walk(command: Any, path: list[str]) -> list[list[str]]:
        found = [path]
        for name, sub in getattr(command, "commands", {}).items():
            found += walk(sub, [*path, name])
        return found

    return walk(typer.main.get_command(app), [])


def test_help_fits_80_columns_and_shows_no_type_tags() -> None:
    """Every command's --help at 80 columns: no line wider, no typer `<bool>`/`<str>` tag, and the usage
    names the command people type."""
    commands = _all_commands()
    assert len(commands) > 20
    for path in commands:
        done = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"},
                                  prog_name="callwatch")
        assert done.exit_code == 0, (path, done.output)
        assert not re.search(r"<[a-z|\[\]]+>", done.output), (path, done.output)
        assert max(len(line) for line in done.output.splitlines()) <= 80, path
        assert f"Usage: callwatch {' '.join(path)}".rstrip() in done.output, path


def test_the_demo_banner_fits_80_columns_with_whole_commands() -> None:
    """The demo's banner: no line over 80 columns, each command to copy on a line of its own."""
    out = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115 - closed below
    out.print(banner("127.0.0.1:9092", "redis://127.0.0.1:6379/0", 6068, 6066, ROOT / ".demo", 30), soft_wrap=True)
    lines = out.export_text().splitlines()
    out.file.close()
    assert max(len(line) for line in lines) <= 80, lines
    assert "  export CALLWATCH_REDIS_URL=redis://127.0.0.1:6379/0" in lines
    assert "  callwatch stats --watch" in lines


@pytest.mark.integration
def test_stats_reads_staleness_from_redis_and_check_exits_1(redis_url: str, unique: str) -> None:
    """From Redis: nothing written, or a snapshot written 30 s ago, makes `stats --check` exit 1 and
    `stats` say how long; one written now makes `--check` exit 0; `--json` carries the staleness."""
    env = {"CALLWATCH_REDIS_URL": redis_url, "CALLWATCH_REDIS_PREFIX": f"cw-{unique}", "COLUMNS": "80"}

    def cw(*args: str) -> Any:
        return CliRunner().invoke(app, list(args), env=env, prog_name="callwatch")

    assert cw("stats", "--check").exit_code == 1  # no worker ever wrote

    def write(ago: float) -> None:
        floor = _floor("2026-11-23T09:00", written_ago_s=ago)
        snap = {"now": floor["partitions"][0]["now"], "queues": floor["queues"], "partition": 0,
                "clock": "event", "written_at": floor["partitions"][0]["written_at"], "offset": 1}

        async def go() -> None:
            store = RedisStateStore(redis_url, f"cw-{unique}")
            try:
                await store.write_snapshot("callwatch-events", 0, orjson.dumps(snap))
            finally:
                await store.close()

        asyncio.run(go())

    write(ago=30)
    shown = cw("stats")
    assert shown.exit_code == 0 and re.search(r"no data for 3\d s — worker down\?", shown.output), shown.output
    assert max(len(line) for line in shown.output.splitlines()) <= 80
    checked = cw("stats", "--check")
    assert checked.exit_code == 1 and "worker down?" in checked.output, checked.output
    write(ago=0)
    assert cw("stats", "--check").exit_code == 0
    assert orjson.loads(cw("stats", "--json").stdout)["staleness_s"] < 10
