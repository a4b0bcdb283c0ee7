"""Names that came from events or from people (queues, agents, reasons, notes) are printed as they are:
Rich markup in them neither crashes the terminal output nor restyles it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from callwatch.config import MonitorConfig
from callwatch.engine import Engine, replay_events
from callwatch.engine.snapshot import snapshot
from callwatch.eventlog import write_events
from callwatch.events import Event
from streams.state_store import RedisStateStore
from tests.unit.helpers import call, ev

ROOT = Path(__file__).resolve().parents[2]
#: a closing tag with nothing to close (MarkupError), a style that would colour the rest, a link
QUEUES = ("[/]", "[red]x[/red]", "[bold magenta]vip", "[link=http://evil.example]q")
AGENT = "[blink]a1[/blink]"


def hostile_events() -> list[Event]:
    """Each queue answers a call by the hostile agent; the first also keeps a caller waiting past the wait
    window (an alarm that names the queue) and one caller still waits at the end."""
    events: list[Event] = []
    for i, queue in enumerate(QUEUES):
        events += call(f"c{i}", queue, 10 * i, answered=10 * i + 30, ended=10 * i + 200, agent=AGENT)
    events += call("long", QUEUES[0], 0, answered=400, ended=500, agent=AGENT)
    events.append(ev("call.queued", 450, call_id="still", queue=QUEUES[1]))
    return sorted(events, key=lambda e: e.ts)


def cw(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "250", **(env or {})}, check=False, timeout=120)


def printed_as_they_are(done: subprocess.CompletedProcess[str], *names: str) -> None:
    assert done.returncode == 0, done.stderr
    assert "MarkupError" not in done.stderr and "Traceback" not in done.stderr
    for name in names:
        assert name in done.stdout + done.stderr, name


@pytest.fixture(scope="module")
def hostile_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "hostile.jsonl"
    write_events(path, hostile_events())
    return path


def test_offline_figures_and_an_agents_card_print_hostile_names(hostile_log: Path) -> None:
    """`replay --offline` (figures per queue, the alarms) and `agent report` print the names literally."""
    replayed = cw("replay", str(hostile_log), "--offline")
    printed_as_they_are(replayed, *QUEUES)
    assert "wait_window_exceeded started [/]: [/]" in replayed.stdout  # the alarm names the queue
    printed_as_they_are(cw("agent", "report", AGENT, "--log", str(hostile_log)), AGENT)


@pytest.mark.integration
def test_stats_goals_and_silences_print_hostile_names(hostile_log: Path, redis_url: str, unique: str) -> None:
    """`stats` (the terminal wallboard, from a snapshot in Redis as a worker writes it), `goals list` and
    `alerts silences` print queue names, agents, notes and reasons literally."""
    env = {"CALLWATCH_REDIS_URL": redis_url, "CALLWATCH_REDIS_PREFIX": f"cw-{unique}"}
    engine = replay_events(Engine(MonitorConfig()), hostile_events())
    snap = snapshot(engine, engine.watermark)
    snap.update({"partition": 0, "clock": "event", "written_at": time.time(), "offset": 0})

    async def write() -> None:
        store = RedisStateStore(redis_url, f"cw-{unique}")
        try:
            await store.write_snapshot("callwatch-events", 0, orjson.dumps(snap))
        finally:
            await store.close()

    asyncio.run(write())
    printed_as_they_are(cw("stats", env=env), *QUEUES)
    note, reason = "[red]call back[/red] before [/]", "[/][bold]PBX[/bold] upgrade"
    assert cw("goals", "set", AGENT, "--metric", "aht", "--target", "200", "--by", "2099-12-31", "--note", note,
              env=env).returncode == 0
    printed_as_they_are(cw("goals", "list", env=env), AGENT, note)
    assert cw("alerts", "silence", "--queue", QUEUES[1], "--for", "1h", "--reason", reason, env=env).returncode == 0
    printed_as_they_are(cw("alerts", "silences", env=env), QUEUES[1], reason)
