"""The per-call records adapter: a hand-made file with every case, and three real months of a bank."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callwatch.config import MonitorConfig
from callwatch.engine import Engine, replay_events
from callwatch.engine.figures import report
from producers.cdr import CdrConverter, CdrMapping
from producers.privacy import Pseudonymizer

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
BANK = ROOT.parent / "shared" / "reference-data" / "anonymous-bank"
MAPPING = ROOT / "producers" / "mappings" / "anonymous-bank.yaml"
PSEUDO = Pseudonymizer(b"test-key-of-sixteen-bytes-or-more")


def test_hand_made_records() -> None:
    """Answered, abandoned, served without queueing, after midnight; bad rows named with line and reason."""
    conv = CdrConverter(CdrMapping.from_yaml(GOLDEN / "cdr-mapping.yaml"), PSEUDO)
    result = conv.convert_file(GOLDEN / "cdr.csv")
    assert [(e.line_no, e.reason) for e in result.errors] == [
        (7, "answered, but no agent is named"), (8, "unknown outcome 'TRANSFERRED'"),
        (9, "4 fields, the header has 11")]
    assert result.counts == {"hung_up_before_queue": 1, "served_without_queue": 1}
    by_call: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for e in result.events:
        by_call[e.call_id].append((e.type, e.ts.astimezone(ZoneInfo("Europe/Lisbon")).strftime("%d %H:%M:%S")))
    assert by_call["1"] == [("call.queued", "23 09:00:05"), ("call.answered", "23 09:00:20"),
                            ("call.ended", "23 09:03:20")]
    assert by_call["2"] == [("call.queued", "23 09:01:02"), ("call.abandoned", "23 09:01:42")]
    assert by_call["3"] == [("call.queued", "23 09:02:10"), ("call.answered", "23 09:02:10"),
                            ("call.ended", "23 09:04:10")]
    assert by_call["5"][-1] == ("call.ended", "24 00:05:30")  # after midnight: the next day
    customers = {e.customer for e in result.events if e.type == "call.queued"}
    assert None in customers and all(c is None or c.startswith("c-") for c in customers)


@pytest.mark.skipif(not BANK.is_dir(), reason="shared/reference-data/anonymous-bank is not beside the repo")
def test_bank_january_figures_match_the_records(artifacts: Path) -> None:
    """January's records through the adapter and the engine give, day by day, the answered calls and
    waits an independent reading of the raw file gives."""
    conv = CdrConverter(CdrMapping.from_yaml(MAPPING), PSEUDO)
    result = conv.convert_file(BANK / "1999-01.txt")
    # the data's own traps, reported row by row: AGENT with NO_SERVER, AGENT with no service time at all
    assert {e.reason for e in result.errors} == {"answered, but no agent is named",
                                                 "answered, but neither queue entry nor service start is known"}
    cfg = MonitorConfig.model_validate({"floor_timezone": "Asia/Jerusalem", "history_days": 400,
                                        "defaults": {"timezone": "Asia/Jerusalem"}})
    rep = report(replay_events(Engine(cfg), result.events))
    # the independent reading: answered rows that queued, by the local day of their answer
    zone = ZoneInfo("Asia/Jerusalem")
    expected: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    with open(BANK / "1999-01.txt", encoding="utf-8") as fh:
        header = fh.readline().rstrip("\r\n").split("\t")
        for line in fh:
            row = dict(zip(header, line.rstrip("\r\n").split("\t"), strict=False))
            if row["outcome"] != "AGENT" or row["server"] == "NO_SERVER" or row["q_start"] == "0:00:00":
                continue
            h, m, s = (int(x) for x in row["q_start"].split(":"))
            eh, em, es = (int(x) for x in row["vru_entry"].split(":"))
            start = h * 3600 + m * 60 + s
            if start < eh * 3600 + em * 60 + es:
                start += 86400
            day = datetime.strptime(row["date"], "%y%m%d").replace(tzinfo=zone)
            answered = day + timedelta(seconds=start + int(row["q_time"]))
            bucket = expected[answered.date().isoformat()]
            bucket[0] += 1
            bucket[1] += int(row["q_time"])
    days = rep["all_queues"]["days"]
    assert "1999-01-12" not in days  # January lacks the 11th and 12th (one call ran past midnight)
    for day, (n, wait) in expected.items():
        got = days[day]
        # answered includes the calls served straight from the IVR (wait 0): their wait adds nothing
        assert got["wait_answered_sum"] == pytest.approx(wait), day
        assert got["answered"] >= n
    total = rep["all_queues"]["total"]
    (artifacts / "bank-january.json").write_text(__import__("json").dumps(
        {"days": {d: {k: f[k] for k in ("offered", "answered", "abandoned", "service_level", "abandonment_rate",
                                         "asa", "aht")} for d, f in days.items()},
         "total": {k: total[k] for k in ("offered", "answered", "abandoned", "short_abandoned", "service_level",
                                         "abandonment_rate", "asa", "aht")},
         "errors": len(result.errors), "counts": result.counts}, indent=1))
    assert 0.05 < total["abandonment_rate"] < 0.2
