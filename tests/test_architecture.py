"""The house's floors, read from the code's own imports.

From the ground up: ``callwatch`` (the core: events, config, settings, engine, figures, the event log,
scorecard, goals); the adapters ``streams``, ``producers`` and ``alerts`` (which may use one another);
``console`` (the command line, the processes it starts, the page server) on top. An import may only
go down or sideways on its own floor, and no modules may import each other in a circle.

Every import counts: at the top of a module, inside a function, under ``if TYPE_CHECKING:``. A type-only
import does not run, but it still ties the two modules together for whoever reads or moves them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("callwatch", "streams", "producers", "alerts", "console")
#: what each package must never import (anything else of the house is below it or beside it)
FORBIDDEN = {
    "callwatch": {"streams", "producers", "alerts", "console"},
    "streams": {"console"},
    "producers": {"console"},
    "alerts": {"console"},
}


@dataclass(frozen=True)
class Edge:
    """One import of a module of the house by another: where it is written and whether it only serves typing."""

    source: str
    target: str
    path: str
    line: int
    type_only: bool

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({self.path}:{self.line}{', type-only' if self.type_only else ''})"


def _modules() -> dict[str, Path]:
    """Every module of the five packages by its dotted name (a package by its ``__init__``)."""
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, type_only: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement under ``tree``, wherever it stands, and whether it is under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, type_only
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), True)
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), type_only)
        else:
            yield from _imports(node, type_only)


def _known(name: str) -> str | None:
    """The module of the house that an imported dotted name lands in (its longest known prefix), if any."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The modules of the house that one import statement names (a name taken from a package that is
    itself a module counts as that module)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if (target := _known(alias.name)) is not None:
                yield target
        return
    base = node.module or ""
    if node.level:
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        base = ".".join([*parts, base] if base else parts)
    for alias in node.names:
        # a submodule if the name is one, else the module (or package) the name is taken from
        if (target := _known(f"{base}.{alias.name}")) is not None:
            yield target


def _edges() -> list[Edge]:
    edges = set()
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, type_only in _imports(tree):
            for target in _targets(module, node):
                if target != module:
                    edges.add(Edge(module, target, str(path.relative_to(ROOT)), node.lineno, type_only))
    return sorted(edges, key=lambda e: (e.source, e.target, e.line))


EDGES = _edges()


def _cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for e in edges:
        graph[e.source].add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _loop(component: list[str], edges: list[Edge]) -> list[str]:
    """A shortest circle of imports through the component's first module, for the failure message."""
    inside = set(component)
    start = component[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for e in edges:
                if e.source != v or e.target not in inside:
                    continue
                if e.target == start:
                    return [*paths[v], start]
                if e.target not in paths:
                    paths[e.target] = [*paths[v], e.target]
                    nxt.append(e.target)
        frontier = nxt
    raise AssertionError(f"{component} is no circle")


def _describe(cycles: list[list[str]]) -> str:
    lines = []
    for component in cycles:
        lines.append("circle: " + " -> ".join(_loop(component, EDGES)))
        lines += [f"    {e}" for e in EDGES if e.source in component and e.target in component]
    return "\n".join(lines)


CYCLES = _cycles(EDGES)
def test_the_whole_house_is_read() -> None:
    """Every package is found and its modules import one another, so that an empty graph cannot pass."""
    assert {m.split(".")[0] for m in MODULES} == set(PACKAGES)
    assert any(e.source.startswith("console.") and e.target.startswith("streams.") for e in EDGES)


def test_no_import_cycles() -> None:
    """No modules of the five packages import one another in a circle, type-only and function-level imports included."""
    assert not CYCLES, "modules that import one another in a circle:\n" + _describe(CYCLES)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_reaches_a_higher_floor(package: str) -> None:
    """The core imports no adapter and no console, and no adapter imports the console."""
    wrong = [e for e in EDGES if e.source.split(".")[0] == package and e.target.split(".")[0] in FORBIDDEN[package]]
    assert not wrong, f"{package} imports what stands above it:\n" + "\n".join(f"    {e}" for e in wrong)


def test_the_circle_finder_finds_a_type_only_circle() -> None:
    """The check above can fail: two modules tied by a type-only import one way and a plain one back."""
    a, b, c = "callwatch.engine.core", "callwatch.engine.figures", "callwatch.config"
    edges = [Edge(a, b, "a.py", 1, False), Edge(b, a, "b.py", 2, True), Edge(b, c, "b.py", 3, False)]
    assert _cycles(edges) == [sorted([a, b])]
    assert _cycles(edges[::2]) == []
