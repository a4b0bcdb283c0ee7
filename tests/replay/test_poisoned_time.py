"""A replay of the example day with poisoned event times mixed in gives the clean day's figures."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from callwatch.config import MonitorConfig
from callwatch.eventlog import read_lines, write_events
from callwatch.offline import replay_log
from tests.replay.poisoned import demo_day, poison


def test_poisoned_times_change_nothing_but_the_invalid_counts(tmp_path: Path) -> None:
    """Copies of real events stamped 1970, year 1, 9999 and 2099 (and one waiting since 1970) are each
    refused and counted by reason; every figure and alarm is the clean day's, and the replay ends."""
    clean = demo_day()
    dirty, codes = poison(clean)
    write_events(tmp_path / "clean.jsonl", clean)
    write_events(tmp_path / "poisoned.jsonl", dirty)
    # year 1 and 9999 are valid timestamps: they reach the engine, which must refuse them
    assert sum(1 for line in read_lines(tmp_path / "poisoned.jsonl") if line.event is not None) == len(dirty)
    _, clean_report = replay_log(tmp_path / "clean.jsonl", MonitorConfig())
    engine, dirty_report = replay_log(tmp_path / "poisoned.jsonl", MonitorConfig())

    invalid = dirty_report["pipeline"].pop("invalid")
    assert clean_report["pipeline"].pop("invalid") == {}
    for site in dirty_report["sites"]:  # and each site's part of them
        assert sum(dirty_report["sites"][site]["pipeline"].pop("invalid").values()) == sum(
            clean_report["sites"][site]["pipeline"].pop("invalid").values()) + sum(invalid.values())
    assert invalid == dict(Counter(codes.values()))
    assert set(invalid) == {"ts_out_of_range", "clock_jump_unconfirmed", "waiting_since_out_of_range"}
    assert dirty_report == clean_report  # figures, pipeline counts and the alarm history alike
    assert engine.clock.held_count == 0 and engine.take_refusals()
