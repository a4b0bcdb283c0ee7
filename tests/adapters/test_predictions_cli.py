"""`callwatch replay LOG --offline --predictions FILE.csv`: one row per call that entered a queue."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from callwatch.eventlog import read_events

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "producers" / "data" / "demo-day.jsonl.gz"


def test_predictions_csv_has_every_queued_call_with_its_outcome(tmp_path: Path) -> None:
    """The header is exactly the issue's; every call.queued has its row, in entry order, with a realised
    wait exactly when it left the queue; without --offline the option is a one-line error."""
    out = tmp_path / "predictions.csv"
    done = subprocess.run([sys.executable, "-m", "console", "replay", str(DEMO), "--offline", "--json",
                           "--predictions", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with out.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["call_id", "queue", "entered_at", "predicted_wait_s", "realised_wait_s", "outcome"]
    queued = [(e.call_id, e.queue) for e in read_events(DEMO) if e.type == "call.queued"]  # type: ignore[attr-defined]
    assert [(r[0], r[1]) for r in rows[1:]] == queued
    for r in rows[1:]:
        assert r[5] in ("answered", "abandoned", "dequeued", "waiting")
        assert float(r[3]) >= 0 and (r[4] == "") == (r[5] == "waiting")
    refused = subprocess.run([sys.executable, "-m", "console", "replay", str(DEMO), "--predictions", str(out)],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "--predictions needs --offline" in refused.stderr
