"""The producers' command line: replay windows, the simulator's log and truth, a missing broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from callwatch.eventlog import read_events

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "producers" / "data" / "demo-day.jsonl.gz"


def cw(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200", **(env or {})}, check=False)


def test_replay_without_a_broker_says_what_was_not_delivered() -> None:
    """No broker answering: the replay exits non-zero and says how many events were not delivered."""
    done = cw("replay", str(DEMO), "--bootstrap", "127.0.0.1:1", "--wait-for-broker", "1",
              "--from", "2026-11-23T09:00:00Z", "--to", "2026-11-23T09:30:00Z")
    assert done.returncode == 1
    window = [e for e in read_events(DEMO) if "2026-11-23T09:00" <= e.ts.isoformat() < "2026-11-23T09:30"]
    assert f"none of the {len(window)} events was delivered" in " ".join(done.stderr.split())


def test_simulate_writes_a_log_and_its_ground_truth(tmp_path: Path) -> None:
    """`callwatch simulate --out` writes a replayable log, the planted behaviours beside it, the same
    events for the same seed."""
    out = tmp_path / "day.jsonl.gz"
    first = cw("simulate", "--scenario", "floor", "--duration", "1h", "--seed", "3", "--out", str(out))
    assert first.returncode == 0, first.stderr
    truth = json.loads((tmp_path / "day.truth.json").read_text())
    assert truth["planted"]["agent-b003"] == ["cap_hangup"] and truth["contacts"] > 100
    again = tmp_path / "again.jsonl.gz"
    cw("simulate", "--scenario", "floor", "--duration", "1h", "--seed", "3", "--out", str(again))
    assert out.read_bytes() != b"" and list(read_events(out)) == list(read_events(again))
    offline = cw("replay", str(out), "--offline", "--json")
    report = json.loads(offline.stdout)
    assert set(report["queues"]) == {"billing", "support", "sales-chat"}
    assert report["queues"]["sales-chat"]["total"]["channels"].keys() == {"chat"}


def test_import_refuses_to_run_without_a_pseudonym_key(tmp_path: Path) -> None:
    """Adapters never fall back to a guessable pseudonym: no key, no conversion."""
    env = {k: v for k, v in os.environ.items() if k != "CALLWATCH_PSEUDONYM_KEY"}
    done = subprocess.run([sys.executable, "-m", "console", "import", "asterisk-queue-log",
                           str(ROOT / "tests" / "golden" / "queue_log"), "--out", str(tmp_path / "x.jsonl")],
                          cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 2 and "CALLWATCH_PSEUDONYM_KEY" in done.stderr
    ok = cw("import", "asterisk-queue-log", str(ROOT / "tests" / "golden" / "queue_log"), "--out",
            str(tmp_path / "x.jsonl"), env={"CALLWATCH_PSEUDONYM_KEY": "a-test-key-of-enough-length"})
    assert ok.returncode == 0, ok.stderr
    assert len(list(read_events(tmp_path / "x.jsonl"))) == 46
