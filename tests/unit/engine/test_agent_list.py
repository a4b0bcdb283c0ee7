"""The agent list: several sites' lists merged into one in the list's own order, capped, the counts whole."""

from __future__ import annotations

from typing import Any

from callwatch.engine.agent_list import MAX_AGENTS_LISTED, merged_lists


def _row(agent: str, state: str, for_s: float) -> dict[str, Any]:
    return {"agent": agent, "state": state, "for": for_s}


def test_merged_lists_add_the_counts_and_keep_one_order() -> None:
    """Rows of two sites interleave by state (on a call first), the longest in it first, then by name; the
    counts add up even where the rows are cut at the cap."""
    london = {"counts": {"busy": 1, "available": 1}, "listed": [_row("l1", "busy", 30.0), _row("l2", "available", 5.0)]}
    tokyo = {"counts": {"busy": 2, "away": 1},
             "listed": [_row("t1", "busy", 90.0), _row("a0", "busy", 30.0), _row("t3", "away", 1.0)]}
    merged = merged_lists([london, tokyo])
    assert merged["counts"] == {"busy": 3, "wrap_up": 0, "away": 1, "available": 1}
    assert [r["agent"] for r in merged["listed"]] == ["t1", "a0", "l1", "t3", "l2"]
    crowd = {"counts": {"available": MAX_AGENTS_LISTED + 5},
             "listed": [_row(f"x{i:03d}", "available", float(i)) for i in range(MAX_AGENTS_LISTED + 5)]}
    capped = merged_lists([crowd, london])
    assert capped["counts"]["available"] == MAX_AGENTS_LISTED + 6
    assert len(capped["listed"]) == MAX_AGENTS_LISTED and capped["listed"][0]["agent"] == "l1"
