"""Bad files, settings and options get one line and a non-zero exit from every command, never a traceback
(`callwatch --debug` shows it); no URL is printed with its password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "producers" / "data" / "demo-day.jsonl.gz"
GOLDEN = ROOT / "tests" / "golden"


def cw(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200", **(env or {})}, check=False, timeout=120)


def one_line_error(done: subprocess.CompletedProcess[str], status: int, *needles: str) -> str:
    """The command exited with ``status`` and said why in one line starting with "error:" (no traceback)."""
    assert done.returncode == status, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and "╭" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def cut_short(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example day cut after 300 bytes: a gzip file whose stream ends early."""
    path = tmp_path_factory.mktemp("logs") / "cut.jsonl.gz"
    path.write_bytes(DEMO.read_bytes()[:300])
    return path


def test_a_corrupt_gzip_log_is_one_line_and_debug_shows_the_traceback(cut_short: Path, tmp_path: Path) -> None:
    """A log cut short or not gzip at all: one line naming the file, exit 1, with or without --offline;
    `--debug` (or CALLWATCH_DEBUG=1) shows the traceback instead."""
    not_gzip = tmp_path / "text.jsonl.gz"
    not_gzip.write_text("plain text\n")
    one_line_error(cw("replay", str(cut_short), "--offline"), 1, str(cut_short), "not a readable gzip file")
    one_line_error(cw("replay", str(not_gzip), "--offline", "--json"), 1, str(not_gzip), "not a readable gzip file")
    one_line_error(cw("replay", str(cut_short), "--bootstrap", "127.0.0.1:1"), 1, "not a readable gzip file")
    one_line_error(cw("agent", "report", "agent-b001", "--log", str(cut_short)), 1, "not a readable gzip file")
    for debug in (cw("--debug", "replay", str(cut_short), "--offline"),
                  cw("replay", str(cut_short), "--offline", env={"CALLWATCH_DEBUG": "1"})):
        assert debug.returncode == 1
        assert "Traceback (most recent call last)" in debug.stderr and "EOFError" in debug.stderr


def test_a_file_with_no_event_is_refused_and_invalid_lines_are_counted(tmp_path: Path) -> None:
    """README.md is no log: one line and exit 1 instead of a table of zeros; an empty log likewise; a log
    with some invalid lines gives its figures and a warning with the count per reason."""
    one_line_error(cw("replay", str(ROOT / "README.md"), "--offline"), 1, "no line is an event", "not_json")
    one_line_error(cw("replay", str(ROOT / "README.md"), "--bootstrap", "127.0.0.1:1", "--wait-for-broker", "1"), 1,
                   "no line is an event")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    one_line_error(cw("replay", str(empty), "--offline"), 1, "the log is empty")
    some = cw("replay", str(GOLDEN / "bad.jsonl"), "--offline", "--json")
    assert some.returncode == 0 and '"offered": 1' in some.stdout
    assert "warning: " in some.stderr and "2 of 4 lines are not events" in some.stderr
    assert "not_json 1" in some.stderr and "bad_version 1" in some.stderr


@pytest.mark.parametrize(("env", "needle"), [
    ({"CALLWATCH_MONITOR": "{bad"}, 'field "monitor"'),
    ({"CALLWATCH_MONITOR__FLOOR_TIMEZONE": "Mars/Olympus"}, "unknown IANA time zone 'Mars/Olympus'"),
    ({"CALLWATCH_ALARM_RULES_FILE": "/nonexistent/rules.yaml"}, "/nonexistent/rules.yaml"),
    ({"CALLWATCH_CONFIG": "/nonexistent/callwatch.yaml"}, "/nonexistent/callwatch.yaml"),
    ({"CALLWATCH_WEB_PORT": "seventy"}, "web_port"),
])
def test_broken_settings_are_one_line(env: dict[str, str], needle: str) -> None:
    """Settings that cannot be read — bad JSON, an unknown time zone, a missing rules or settings file, a
    mistyped number — are one line naming what is wrong, exit 2."""
    # the same answer from every command: two of them are tried
    for args in (("replay", str(GOLDEN / "bad.jsonl"), "--offline"), ("stats",)):
        one_line_error(cw(*args, env=env), 2, "invalid settings: ", needle)


def test_a_settings_error_does_not_echo_the_value(tmp_path: Path) -> None:
    """A settings error names the field and the rule, never the value given (it could be a secret)."""
    done = cw("stats", env={"CALLWATCH_TOPIC_PARTITIONS": "s3cret-token"})
    line = one_line_error(done, 2, "topic_partitions")
    assert "s3cret" not in done.stderr and "s3cret" not in line


def test_options_out_of_range_are_refused_naming_the_option(tmp_path: Path) -> None:
    """A month 13, a duration without a unit and an output that cannot be written are refused (exit 2)
    with the option named, before any work is done."""
    month = cw("agent", "report", "agent-b001", "--log", str(DEMO), "--month", "2026-13")
    assert month.returncode == 2 and "'--month'" in month.stderr and "give YYYY-MM" in month.stderr
    duration = cw("simulate", "--duration", "8", "--out", str(tmp_path / "day.jsonl"))
    assert duration.returncode == 2 and "'--duration'" in duration.stderr
    assert "'8' has no unit: give 8s, 8m, 8h or 8d" in duration.stderr
    assert not (tmp_path / "day.jsonl").exists()
    html = cw("agent", "report", "agent-b001", "--log", str(DEMO), "--html", str(tmp_path / "no" / "card.html"))
    assert html.returncode == 2 and "'--html'" in html.stderr and "is not a directory" in html.stderr
    folder = cw("agent", "report", "agent-b001", "--log", str(DEMO), "--html", str(tmp_path))
    assert folder.returncode == 2 and "is a directory" in folder.stderr
    for done in (month, duration, html, folder):
        assert "Traceback" not in done.stderr


def test_no_url_is_printed_with_its_password() -> None:
    """An unreachable Redis or broker is named without the password of its URL (user name kept)."""
    redis = cw("stats", env={"CALLWATCH_REDIS_URL": "redis://ops:s3cret-pw@127.0.0.1:1/0"})
    one_line_error(redis, 1, "cannot read Redis at redis://ops:***@127.0.0.1:1/0")
    query = cw("report", env={"CALLWATCH_REDIS_URL": "redis://127.0.0.1:1/0?password=s3cret-pw"})
    one_line_error(query, 1, "password=***")
    broker = cw("replay", str(GOLDEN / "bad.jsonl"), "--bootstrap", "ops:s3cret-pw@127.0.0.1:1",
                "--wait-for-broker", "1")
    one_line_error(broker, 1, "ops:***@127.0.0.1:1", "none of the 4 events was delivered")
    for done in (redis, query, broker):
        assert "s3cret" not in done.stderr + done.stdout
