"""`callwatch import`: a summary of every line, and an exit status that says whether anything was imported."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from callwatch.eventlog import read_events
from tests.adapters.reference import reference_dir

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
ASTERISK = reference_dir("asterisk-queue-log")
KEY = {"CALLWATCH_PSEUDONYM_KEY": "a-test-key-of-enough-length"}


def cw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200", **KEY}, check=False, timeout=120)


def reason_lines(stderr: str) -> dict[str, str]:
    """The summary's lines per reason: ``  N × reason — what follows``."""
    return {m["reason"]: f"{m['n']} {m['rest']}" for m in re.finditer(
        r"^ +(?P<n>[\d,]+) × (?P<reason>.+?) — (?P<rest>.+)$", stderr, re.M)}


def test_cdr_import_where_every_row_fails_exits_non_zero_with_counts_and_examples(tmp_path: Path) -> None:
    """Every row refused: exit 1, no log written, the count per reason with the first three lines as examples."""
    rows = ["id,day,queue,entered,queued,waited,result,agent,customer,started,ended"]
    rows += [f"{i},2026-11-23,sales,09:00:00,09:00:05,15,transferred,ann,,09:00:20,09:03:20" for i in range(5)]
    rows += ["9,2026-11-23,sales", "10,23/11/2026,sales,09:00:00,,,answered,ann,,,"]
    records = tmp_path / "records.csv"
    records.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out.jsonl"
    done = cw("import", "cdr-csv", str(records), "--mapping", str(GOLDEN / "cdr-mapping.yaml"), "--out", str(out))
    assert done.returncode == 1, done.stderr
    assert not out.exists()
    assert "error: nothing imported from" in done.stderr and "all 7 lines were refused" in done.stderr
    assert "7 lines refused" in done.stderr
    reasons = reason_lines(done.stderr)
    assert reasons["unknown outcome"] == ("5 line 2: unknown outcome 'TRANSFERRED'; line 3: unknown outcome "
                                          "'TRANSFERRED'; line 4: unknown outcome 'TRANSFERRED' (and 2 more)")
    assert reasons["wrong number of fields"] == "1 line 7: 3 fields, the header has 11"
    assert reasons["unreadable date, time or number"].startswith("1 line 8: unreadable date")
    assert "Traceback" not in done.stderr


def test_cdr_import_of_an_empty_file_or_a_bad_mapping_is_refused(tmp_path: Path) -> None:
    """A file with a header only imports nothing (exit 1); a mapping that is not one is exit 2, one line."""
    header = tmp_path / "header.csv"
    header.write_text("id,day,queue,entered,queued,waited,result,agent,customer,started,ended\n")
    empty = cw("import", "cdr-csv", str(header), "--mapping", str(GOLDEN / "cdr-mapping.yaml"), "--out",
               str(tmp_path / "x.jsonl"))
    assert empty.returncode == 1 and "no line holds a record to convert" in empty.stderr
    for text in ("columns: [", "source: x\n", "timezone: Mars/Olympus\ncolumns: {call_id: [a], queue: b, date: c, "
                 "arrival: d, outcome: e}\n"):
        mapping = tmp_path / "mapping.yaml"
        mapping.write_text(text)
        bad = cw("import", "cdr-csv", str(header), "--mapping", str(mapping), "--out", str(tmp_path / "x.jsonl"))
        assert bad.returncode == 2 and f"error: invalid mapping {mapping}" in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_asterisk_import_where_every_line_fails_exits_non_zero(tmp_path: Path) -> None:
    """A queue_log of which no line converts: exit 1 with the count per reason and line numbers."""
    log = tmp_path / "queue_log"
    log.write_text("not a queue log\nyesterday|1.1|sales|NONE|ENTERQUEUE||+351912345679|1\n"
                   "1795424412|1.1|sales|NONE|TELEPORT|x\n1795424413|1.1|sales|NONE|CONNECT|15|1.2|3\n")
    done = cw("import", "asterisk-queue-log", str(log), "--out", str(tmp_path / "x.jsonl"))
    assert done.returncode == 1 and "all 4 lines were refused" in done.stderr
    assert reason_lines(done.stderr) == {
        "fewer than five fields": "1 line 1: expected epoch|callid|queue|agent|event, got 1 fields",
        "epoch is not a time": "1 line 2: epoch 'yesterday' is not a time",
        "unknown event": "1 line 3: unknown event 'TELEPORT'",
        "no agent": "1 line 4: CONNECT without an agent"}
    empty = tmp_path / "empty"
    empty.write_text("")
    assert cw("import", "asterisk-queue-log", str(empty), "--out", str(tmp_path / "y.jsonl")).returncode == 1


def test_asterisk_import_with_some_bad_lines_imports_the_rest_and_says_why() -> None:
    """Some lines refused: exit 0, the good lines published or written, the others counted by reason."""
    done = cw("import", "asterisk-queue-log", str(GOLDEN / "queue_log_bad"), "--out", "/dev/null")
    assert done.returncode == 0, done.stderr
    assert "warning: 4 lines refused" in done.stderr and len(reason_lines(done.stderr)) == 4


@pytest.mark.skipif(not ASTERISK.is_dir(), reason=f"the Asterisk sample is not at {ASTERISK} "
                                                  "(shared/reference-data beside the repository)")
def test_the_real_asterisk_sample_imports_cleanly_and_its_wreck_does_not(tmp_path: Path) -> None:
    """The real sample imports with exit 0 and no line refused; the same lines with their epoch destroyed
    import nothing: exit 1 and every line counted under one reason."""
    out = tmp_path / "sample.jsonl"
    done = cw("import", "asterisk-queue-log", str(ASTERISK / "sample_queue_log"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "refused" not in done.stderr and len(list(read_events(out))) > 300
    lines = (ASTERISK / "sample_queue_log").read_text().splitlines()
    wreck = tmp_path / "wreck"
    wreck.write_text("".join("x" + line + "\n" for line in lines))
    broken = cw("import", "asterisk-queue-log", str(wreck), "--out", str(tmp_path / "wreck.jsonl"))
    assert broken.returncode == 1
    assert reason_lines(broken.stderr)["epoch is not a time"].startswith(f"{len(lines):,} line 1: epoch 'x")
