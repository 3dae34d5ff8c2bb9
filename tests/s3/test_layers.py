"""The cloud.s3 package's import structure: no cycle, and the object-store client at the bottom.

Read from the source (every import statement, including those under
``TYPE_CHECKING`` and inside functions), so a cycle cannot hide behind a
lazy import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tahoe_cloud.backends.s3

PACKAGE = "tahoe_cloud.backends.s3"
ROOT = Path(tahoe_cloud.backends.s3.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join((PACKAGE, *parts))] = path
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``from pkg import mod`` is ``pkg.mod``)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)) is not None:
            return found
    return None


def test_no_import_cycle() -> None:
    graph = _graph()
    assert len(graph) > 20 and sum(map(len, graph.values())) > 50  # the scan sees the package
    assert _cycle(graph) is None


def test_the_scan_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_objectstore_knows_nothing_of_shares() -> None:
    below = f"{PACKAGE}.objectstore"
    wrong = {
        (module, target)
        for module, targets in _graph().items()
        if module.startswith(below)
        for target in targets
        if not target.startswith(below)
    }
    assert wrong == set()
