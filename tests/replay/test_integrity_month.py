"""The integrity signals against the simulator's ground truth: a simulated week of the `floor` scenario
with its four planted agents (`make bench-integrity` runs three 30-day months)."""

from __future__ import annotations

import pytest

from producers.integrity_eval import run_month

pytestmark = pytest.mark.slow


def test_every_planted_agent_is_found_and_no_honest_agent_flagged() -> None:
    week = run_month(seed=4, days=7)
    for signal, result in week.per_signal.items():
        assert result["missed"] == [], (signal, result)
        assert result["honest_flagged"] == [], (signal, result)
    found = {s: r["found"] for s, r in week.per_signal.items() if r["found"]}
    assert found == {"cap_clustering": ["agent-b003"], "survey_selection": ["agent-b007"],
                     "contradicted_resolution": ["agent-s008"], "perfect_scores": ["agent-s004"]}
    cap = next(s for s in week.signals if s.signal == "cap_clustering")
    assert cap.numerator <= cap.denominator and cap.baseline < cap.value and cap.evidence
    assert "before the 420 s handle-time cap" in cap.reason
