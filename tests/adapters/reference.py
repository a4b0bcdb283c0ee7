"""Where the shared reference data (real records, not ours to redistribute) is found by the tests.

``shared/reference-data/<name>`` beside the repository; when the tests run in a git worktree, beside
the main checkout the worktree belongs to. A test that needs it skips, saying so, where it is absent.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def reference_dir(name: str) -> Path:
    """The folder of one reference data set (which may not exist: the caller skips then)."""
    beside = ROOT.parent / "shared" / "reference-data" / name
    git = ROOT / ".git"
    if beside.is_dir() or not git.is_file():
        return beside
    # a worktree's ".git" is a file: "gitdir: <main checkout>/.git/worktrees/<name>"
    gitdir = Path(git.read_text().partition(":")[2].strip())
    main = gitdir.parents[2] if len(gitdir.parents) > 2 else ROOT
    other = main.parent / "shared" / "reference-data" / name
    return other if other.is_dir() else beside
