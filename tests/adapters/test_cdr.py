"""The per-call records adapter: a hand-made file with every case, and three real months of a bank."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callwatch.config import MonitorConfig
from callwatch.engine import Engine, replay_events
from callwatch.engine.report import report
from producers.cdr import CdrConverter, CdrMapping
from producers.privacy import Pseudonymizer
from tests.adapters.reference import reference_dir

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
BANK = reference_dir("anonymous-bank")
NEEDS_BANK = pytest.mark.skipif(not BANK.is_dir(), reason=f"the bank's records are not at {BANK} "
                                                          "(shared/reference-data beside the repository)")
MAPPING = ROOT / "producers" / "mappings" / "anonymous-bank.yaml"
PSEUDO = Pseudonymizer(b"test-key-of-sixteen-bytes-or-more")
JERUSALEM = ZoneInfo("Asia/Jerusalem")
NO_AGENT = "answered, but no agent is named: kept with agent null (counts for the queue, no agent)"
NO_START = ("answered, but neither queue entry nor service start is known: kept as answered at its arrival, "
            "without a wait")
NO_END = "answered, but the end of service is unknown: kept without call.ended (talk unknown)"


def test_hand_made_records() -> None:
    """Answered, abandoned, served without queueing, after midnight; rows that lack something kept and
    marked with line and reason; unreadable rows refused with line and reason."""
    conv = CdrConverter(CdrMapping.from_yaml(GOLDEN / "cdr-mapping.yaml"), PSEUDO)
    result = conv.convert_file(GOLDEN / "cdr.csv")
    assert [(e.line_no, e.reason) for e in result.errors] == [
        (8, "unknown outcome 'TRANSFERRED'"), (9, "4 fields, the header has 11")]
    assert [(i.line_no, i.reason) for i in result.incomplete] == [
        (7, NO_AGENT), (10, NO_START), (10, NO_END), (11, NO_END)]
    assert result.counts == {"hung_up_before_queue": 1, "served_without_queue": 2, "answered": 6, "abandoned": 1,
                             "incomplete": 3}  # rows
    by_call: dict[str, list[tuple[str, str]]] = defaultdict(list)
    agents: dict[str, set[str | None]] = defaultdict(set)
    for e in result.events:
        by_call[e.call_id].append((e.type, e.ts.astimezone(ZoneInfo("Europe/Lisbon")).strftime("%d %H:%M:%S")))
        if e.type in ("call.answered", "call.ended"):
            agents[e.call_id].add(e.agent)  # type: ignore[union-attr]
    assert by_call["1"] == [("call.queued", "23 09:00:05"), ("call.answered", "23 09:00:20"),
                            ("call.ended", "23 09:03:20")]
    assert by_call["2"] == [("call.queued", "23 09:01:02"), ("call.abandoned", "23 09:01:42")]
    assert by_call["3"] == [("call.queued", "23 09:02:10"), ("call.answered", "23 09:02:10"),
                            ("call.ended", "23 09:04:10")]
    assert by_call["5"][-1] == ("call.ended", "24 00:05:30")  # after midnight: the next day
    # what the rows prove is kept; what they lack is not invented
    assert by_call["6"] == [("call.queued", "23 10:00:01"), ("call.answered", "23 10:00:06"),
                            ("call.ended", "23 10:01:00")] and agents["6"] == {None}
    assert by_call["10"] == [("call.queued", "23 11:00:00"), ("call.answered", "23 11:00:00")]
    assert by_call["11"] == [("call.queued", "23 11:10:02"), ("call.answered", "23 11:10:10")]
    customers = {e.customer for e in result.events if e.type == "call.queued"}
    assert None in customers and all(c is None or c.startswith("c-") for c in customers)


def _raw_figures(path: Path) -> dict[tuple[str, str], Counter[str]]:
    """An independent reading of the bank's raw records: per queue and local day, the calls offered (by
    the day they joined the queue or, served from the voice-response unit, were served), answered (by the
    day of the answer) and abandoned in a queue (by the day they hung up, short abandons included)."""
    out: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)

    def seconds(text: str) -> int | None:
        if text == "0:00:00":
            return None
        h, m, s = (int(x) for x in text.split(":"))
        return h * 3600 + m * 60 + s

    with open(path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\r\n").split("\t")
        for line in fh:
            row = dict(zip(header, re.split(r"[\t ]+", line.strip()), strict=True))
            arrival = seconds(row["vru_entry"])
            assert arrival is not None
            day = datetime.strptime(row["date"], "%y%m%d").replace(tzinfo=JERUSALEM)

            def local_day(at: int, wait: int = 0, arrival: int = arrival, day: datetime = day) -> str:
                if at < arrival:
                    at += 86400  # after midnight: the date stays the day the call came in
                when = datetime.combine(day.date(), datetime.min.time(), JERUSALEM) + timedelta(seconds=at + wait)
                return when.date().isoformat()

            entry, start, wait = seconds(row["q_start"]), seconds(row["ser_start"]), max(int(row["q_time"]), 0)
            queue = row["type"]
            if row["outcome"] == "AGENT":
                joined = entry if entry is not None else start if start is not None else arrival
                out[queue, local_day(joined)]["offered"] += 1
                out[queue, local_day(joined, wait if entry is not None else 0)]["answered"] += 1
            elif row["outcome"] == "HANG" and entry is not None:
                out[queue, local_day(entry)]["offered"] += 1
                out[queue, local_day(entry, wait)]["abandoned"] += 1
    return out


def _engine_figures(rep: dict[str, object]) -> dict[tuple[str, str], Counter[str]]:
    out: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for queue, figures in rep["queues"].items():  # type: ignore[attr-defined]
        for day, f in figures["days"].items():
            out[queue, day].update({"offered": f["offered"], "answered": f["answered"],
                                    "abandoned": f["abandoned"] + f["short_abandoned"]})
    return {k: +v for k, v in out.items() if +v}  # type: ignore[return-value]


@NEEDS_BANK
def test_bank_january_through_the_command_line_keeps_every_offered_call(tmp_path: Path, artifacts: Path) -> None:
    """`callwatch import cdr-csv` then `callwatch replay --offline --json` on January: every call of the raw
    records is offered (30,161), answered (27,060) or abandoned (2,953 beside 148 short) for the month
    and on each day of each queue; the 509 rows that contradict themselves are listed by reason."""
    env = {**os.environ, "COLUMNS": "200", "CALLWATCH_PSEUDONYM_KEY": "a-test-key-of-enough-length",
           "CALLWATCH_MONITOR__FLOOR_TIMEZONE": "Asia/Jerusalem",
           "CALLWATCH_MONITOR__DEFAULTS__TIMEZONE": "Asia/Jerusalem"}
    log = tmp_path / "1999-01.jsonl.gz"
    imported = subprocess.run([sys.executable, "-m", "console", "import", "cdr-csv", str(BANK / "1999-01.txt"),
                               "--mapping", str(MAPPING), "--out", str(log)], cwd=ROOT, env=env, capture_output=True,
                              text=True, check=False)
    assert imported.returncode == 0, imported.stderr
    summary = imported.stderr
    assert "30,161 calls offered (27,060 answered, 3,101 abandoned)" in summary
    assert "509 rows kept with what they lack marked" in summary
    listed = {m["reason"]: [int(n) for n in m["lines"].split(", ")]
              for m in re.finditer(r"^ +(?P<n>[\d,]+) × (?P<reason>.+?) — lines? (?P<lines>[\d, ]+)$", summary, re.M)}
    assert {reason: len(lines) for reason, lines in listed.items()} == {NO_AGENT: 490, NO_START: 19}
    assert "refused" not in summary
    replayed = subprocess.run([sys.executable, "-m", "console", "replay", str(log), "--offline", "--json"], cwd=ROOT,
                              env=env, capture_output=True, text=True, check=False)
    assert replayed.returncode == 0, replayed.stderr
    rep = json.loads(replayed.stdout)
    total = rep["all_queues"]["total"]
    assert (total["offered"], total["answered"], total["abandoned"], total["short_abandoned"]) == (
        30_161, 27_060, 2_953, 148)
    assert rep["pipeline"] == {"duplicates": 0, "inconsistent": {}, "invalid": {}, "late": 0}
    assert _engine_figures(rep) == _raw_figures(BANK / "1999-01.txt")
    (artifacts / "bank-january.json").write_text(json.dumps(
        {"total": {k: total[k] for k in ("offered", "answered", "abandoned", "short_abandoned", "service_level",
                                         "abandonment_rate", "asa", "aht")},
         "kept_with_gaps": {reason: len(lines) for reason, lines in listed.items()}}, indent=1))


@NEEDS_BANK
@pytest.mark.parametrize(("month", "offered", "answered", "abandoned", "gaps"), [
    ("1999-02", 31_125, 27_162, 3_963, {NO_AGENT: 491, NO_START: 21}),
    ("1999-10", 32_967, 30_861, 2_106, {NO_AGENT: 517, NO_START: 17}),
])
def test_bank_february_and_october_keep_every_offered_call(month: str, offered: int, answered: int, abandoned: int,
                                                           gaps: dict[str, int]) -> None:
    """February and October (with its two rows split by spaces) lose no row either: each day of each queue
    equals the raw records."""
    result = CdrConverter(CdrMapping.from_yaml(MAPPING), PSEUDO).convert_file(BANK / f"{month}.txt")
    assert result.errors == []
    assert Counter(i.reason for i in result.incomplete) == gaps
    cfg = MonitorConfig.model_validate({"floor_timezone": "Asia/Jerusalem", "history_days": 400,
                                        "defaults": {"timezone": "Asia/Jerusalem"}})
    rep = report(replay_events(Engine(cfg), result.events))
    total = rep["all_queues"]["total"]
    assert (total["offered"], total["answered"], total["abandoned"] + total["short_abandoned"]) == (
        offered, answered, abandoned)
    assert _engine_figures(rep) == _raw_figures(BANK / f"{month}.txt")
    # the agents are those the rows name: an unnamed answer credits nobody
    named = {getattr(e, "agent", None) for e in result.events if e.type == "call.answered"} - {None}
    assert set(rep["agents"]) == named
