"""Fail when the modules of a package import each other in a cycle.

``./dev test`` runs it over ``tahoe_cloud``. The import-linter contracts
(``.importlinter``) keep imports pointing down the layers; this catches what
they cannot: a cycle among the modules of one layer. Imports made only for
type checking (``if TYPE_CHECKING:``) count too. They cost nothing at run
time, but a cycle through them still means two modules each need the other
to be understood, which is what the layering is there to prevent.

Usage: ``python tools/import_cycles.py PACKAGE``. Prints each cycle (the
modules of one strongly connected component, and one cycle through them)
and exits 1 if there is any cycle not in ``ALLOWED``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping

import grimp

#: Cycles tolerated, each as the exact set of its modules: none. An entry
#: is for a cycle being removed; one that grows or changes no longer matches.
ALLOWED: list[frozenset[str]] = []


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit): the components of ``graph``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def one_cycle(graph: Mapping[str, Iterable[str]], members: set[str]) -> list[str]:
    """A cycle through the first member, staying inside ``members`` (breadth first)."""
    start = min(members)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph.get(node, ())):
                if nxt == start:
                    return [*paths[node], start]
                if nxt in members and nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    following.append(nxt)
        frontier = following
    return [start]


def import_graph(package: str) -> dict[str, set[str]]:
    # grimp counts imports under ``if TYPE_CHECKING:`` unless told not to.
    graph = grimp.build_graph(package, exclude_type_checking_imports=False)
    return {
        module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: import_cycles.py PACKAGE", file=sys.stderr)
        return 2
    graph = import_graph(argv[0])
    cycles = [c for c in strongly_connected(graph) if len(c) > 1 or c[0] in graph.get(c[0], ())]
    failed = False
    for members in cycles:
        allowed = frozenset(members) in ALLOWED
        failed = failed or not allowed
        label = "allowed for now" if allowed else "import cycle"
        print(f"{label}: {' -> '.join(one_cycle(graph, set(members)))}")
        if len(members) > 2:
            print(f"  (all of: {', '.join(members)})")
    stale = [sorted(a) for a in ALLOWED if a not in {frozenset(c) for c in cycles}]
    for members in stale:
        # An allowance with no cycle left would hide the next one: remove it.
        print(f"allowed cycle no longer exists, remove it from ALLOWED: {', '.join(members)}")
        failed = True
    if not failed:
        besides = " besides those allowed for now" if ALLOWED else ""
        print(f"no import cycles in {argv[0]} ({len(graph)} modules){besides}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
