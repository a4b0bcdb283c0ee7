"""Replays of recorded logs against golden figures: the same numbers every time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"


def _offline(log: Path, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "console", "replay", str(log), "--offline", "--json", *args],
                         cwd=ROOT, check=True, capture_output=True)
    return json.loads(out.stdout)


def test_demo_day_matches_its_golden_figures() -> None:
    """`callwatch replay --offline --json` of the example day prints exactly the committed golden report.

    When a change alters a figure on purpose, regenerate the golden file and say why in the commit:
    callwatch replay producers/data/demo-day.jsonl.gz --offline --json > tests/golden/demo-day.report.json
    """
    assert _offline(ROOT / "producers" / "data" / "demo-day.jsonl.gz") == json.loads(
        (GOLDEN / "demo-day.report.json").read_text())


def test_the_example_log_is_the_demo_scenario() -> None:
    """The shipped example log is what the simulator writes for the demo scenario and its seed."""

    from callwatch.eventlog import read_events
    from producers.simulator import demo_events

    shipped = list(read_events(ROOT / "producers" / "data" / "demo-day.jsonl.gz"))
    assert shipped == demo_events()


def test_the_story_is_what_a_supervisor_recognises() -> None:
    """Billing falls behind (low service level, high abandonment) and raises the wait alarm; support
    does not; agents go on breaks."""
    rep = json.loads((GOLDEN / "demo-day.report.json").read_text())
    billing, support = rep["queues"]["billing"]["total"], rep["queues"]["support"]["total"]
    assert billing["service_level"] < 0.8 <= support["service_level"]
    assert billing["abandonment_rate"] > 0.08 > support["abandonment_rate"]
    from callwatch.alarm import Alarm

    # the report's alarms are the alerts topic's messages (v2), as the dispatcher reads them back
    assert all(Alarm.model_validate(a).model_dump(mode="json") == a for a in rep["alarms"])
    wait = [a for a in rep["alarms"] if a["alarm"] == "wait_window_exceeded"]
    assert {a["queue"] for a in wait} == {"billing"}
    assert [a["status"] for a in wait] == ["started", "resolved"]
    # billing's abandonment and service level alarms start before its long wait, and resolve by the end
    billing = [(a["alarm"], a["status"]) for a in rep["alarms"] if a["queue"] == "billing"]
    assert billing[0] == ("abandonment_high", "started") and ("service_level_low", "resolved") in billing
    away = {name for name, a in rep["agents"].items() if a["total"]["away_by_reason"]}
    assert len(away) >= 4


@pytest.mark.parametrize("args", [(), ("--json",)])
def test_offline_replay_reports_bad_lines(tmp_path: Path, args: tuple[str, ...]) -> None:
    """Invalid lines in a log are counted by reason, never fatal."""
    log = tmp_path / "bad.jsonl"
    log.write_bytes((ROOT / "tests" / "golden" / "bad.jsonl").read_bytes())
    out = subprocess.run([sys.executable, "-m", "console", "replay", str(log), "--offline", *args], cwd=ROOT,
                         check=True, capture_output=True, text=True)
    if args:
        assert json.loads(out.stdout)["pipeline"]["invalid"] == {"bad_version": 1, "not_json": 1}
    else:
        assert "invalid 2" in out.stdout
