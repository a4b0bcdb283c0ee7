"""`callwatch agent report`, `callwatch integrity` and `callwatch goals` on a simulated floor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from console.main import app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def floor_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("floor") / "floor.jsonl.gz"
    done = CliRunner().invoke(app, ["simulate", "--scenario", "floor", "--seed", "3", "--out", str(out)])
    assert done.exit_code == 0, done.output
    return out


def test_agent_report_json_and_html(floor_log: Path, tmp_path: Path) -> None:
    page = tmp_path / "agent.html"
    done = CliRunner().invoke(app, ["agent", "report", "agent-s004", "--log", str(floor_log), "--html", str(page),
                                    "--json"])
    assert done.exit_code == 0, done.output
    card = json.loads(done.stdout)
    assert card["agent"] == "agent-s004" and card["month"] == "2026-11"
    assert card["months"] == ["2026-11", "2026-10", "2026-09", "2026-08"]
    rows = {r["figure"]: r for r in card["figures"]}
    assert rows["handled"]["this_month"] > 20 and 0 < rows["handled"]["floor"] < 3 * rows["handled"]["this_month"]
    # the planted score-begging agent: perfect surveys far above the floor, raised with its evidence
    assert rows["csat"]["this_month"] > rows["csat"]["floor"]
    assert [s["signal"] for s in card["signals"]] == ["perfect_scores"]
    assert card["signals"][0]["evidence"], "the surveys behind it, to look at"
    text = page.read_text()
    assert "<svg" in text and "agent-s004" in text and "perfect scores" in text
    missing = CliRunner().invoke(app, ["agent", "report", "nobody", "--log", str(floor_log)])
    assert missing.exit_code == 1 and "no figures for agent 'nobody'" in missing.output


def test_integrity_lists_the_planted_agents(floor_log: Path) -> None:
    done = CliRunner().invoke(app, ["integrity", "--log", str(floor_log), "--json"])
    assert done.exit_code == 0, done.output
    flagged = {(s["signal"], s["subject"]) for s in json.loads(done.stdout)}
    # one simulated day is enough for the strongest planted behaviours, and flags no honest agent
    assert ("perfect_scores", "agent-s004") in flagged
    assert {subject for _, subject in flagged} <= {"agent-b003", "agent-b007", "agent-s004", "agent-s008"}


def test_goals_set_list_check_close(floor_log: Path, redis_url: str, unique: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLWATCH_REDIS_URL", redis_url)
    monkeypatch.setenv("CALLWATCH_REDIS_PREFIX", f"cw-{unique}")
    runner = CliRunner()
    bad = runner.invoke(app, ["goals", "set", "agent-s001", "--metric", "speed", "--target", "3", "--by", "2026-12-07"])
    assert bad.exit_code == 2 and "unknown metric 'speed'" in bad.output
    done = runner.invoke(app, ["goals", "set", "agent-s001", "--metric", "csat_mean", "--target", "1.5",
                               "--by", "2026-12-07", "--note", "ask all three questions", "--today", "2026-11-23"])
    assert done.exit_code == 0, done.output
    goal_id = done.stdout.strip().splitlines()[-1]
    listed = json.loads(runner.invoke(app, ["goals", "list", "--log", str(floor_log), "--json"]).stdout)
    assert [(g["id"], g["metric"], g["status"]) for g in listed] == [(goal_id, "csat_mean", "achieved")]
    assert listed[0]["current"] > 1.5 and "2026-11-23" in listed[0]["daily"]
    assert set(listed[0]["baseline"]) == {"2026-11", "2026-10", "2026-09", "2026-08"}
    assert runner.invoke(app, ["goals", "close", goal_id]).exit_code == 0
    closed = json.loads(runner.invoke(app, ["goals", "list", "--log", str(floor_log), "--json"]).stdout)
    assert closed[0]["status"] == "closed"


def test_goals_check_tells_the_supervisor_once(floor_log: Path, redis_url: str, kafka_bootstrap: str, unique: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.integration.harness import Stack, read_topic

    stack = Stack(kafka_bootstrap, redis_url, unique)
    for key, value in stack.env(6066).items():
        if key.startswith("CALLWATCH_"):
            monkeypatch.setenv(key, value)
    runner = CliRunner()
    runner.invoke(app, ["goals", "set", "agent-s002", "--metric", "csat_mean", "--target", "1.2", "--by",
                        "2026-12-07", "--today", "2026-11-23"])
    first = runner.invoke(app, ["goals", "check", "--log", str(floor_log)])
    assert first.exit_code == 0 and "agent-s002 achieved" in first.output, first.output
    again = runner.invoke(app, ["goals", "check", "--log", str(floor_log)])
    assert "no goal achieved or missed since the last check" in again.output
    messages = [m for _, m, _ in read_topic(stack, stack.alerts_topic, expect=1)]
    assert [(m["v"], m["alarm"], m["queue"], m["subject_kind"], m["severity"]) for m in messages] == [
        (2, "goal_achieved", "agent-s002", "agent", "info")]
