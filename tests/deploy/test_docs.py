"""What the README and the packages' own notes say is true of the repository today: no path outside it,
the dashboards as many as there are, no delivered work called future work."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}


def test_the_readme_names_no_path_outside_the_repository() -> None:
    """A new operator reads a fresh clone: no `../…` path, no absolute path of a development machine."""
    assert not re.findall(r"\.\./[\w.-]", README)
    assert not re.findall(r"(?<![\w.:/])/(?:work|home|root|Users)/", README)


def test_the_readme_counts_the_dashboards_there_are() -> None:
    """The README says as many dashboards as grafana/dashboards holds, and lists each uid."""
    boards = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
    word = NUMBERS[len(boards)]
    assert f"{word} dashboards" in README and f"{word} dashboards" in (ROOT / "grafana" / "README.md").read_text()
    others = {n for n in NUMBERS.values() if n != word}
    assert not any(f"{n} dashboards" in README for n in others)
    for board in boards:
        assert f"`{board.stem}`" in README, board.stem


def test_delivered_work_is_not_called_later_work() -> None:
    """The notes of grafana/ and alerts/ describe what is there, not what was once to come."""
    for path in (ROOT / "grafana" / "README.md", ROOT / "alerts" / "__init__.py"):
        text = path.read_text().lower()
        assert "later work" not in text and "until then" not in text, path
