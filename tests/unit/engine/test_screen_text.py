"""The words every screen uses for a percentage beside its target."""

from __future__ import annotations

import pytest

from callwatch.engine.screen_text import pct_beside


@pytest.mark.parametrize(("value", "ref", "shown"), [
    (0.7996, 0.8, "79.9 %"), (0.8, 0.8, "80 %"), (0.8004, 0.8, "80.1 %"), (0.62, 0.8, "62 %"),
    (0.0799, 0.08, "7.9 %"), (0.0801, 0.08, "8.1 %"),
])
def test_a_percentage_never_reads_as_the_target_it_misses(value: float, ref: float, shown: str) -> None:
    """Rounded towards its own side of the target: no "80 % under the 80 % target"."""
    assert pct_beside(value, ref) == shown
