"""tools/import_cycles.py: finds module cycles, and names one path through each."""

from __future__ import annotations

from tools.import_cycles import one_cycle, strongly_connected


def test_cycles_are_found_and_acyclic_parts_are_not() -> None:
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},
        "d": {"e"},
        "e": set(),
        "f": {"f"},
    }
    components = strongly_connected(graph)
    assert ["a", "b", "c"] in components
    assert ["d"] in components and ["e"] in components and ["f"] in components
    assert one_cycle(graph, {"a", "b", "c"}) == ["a", "b", "c", "a"]


def test_a_long_chain_needs_no_recursion() -> None:
    graph = {str(n): {str(n + 1)} for n in range(5000)}
    graph["5000"] = {"0"}
    (component,) = strongly_connected(graph)
    assert len(component) == 5001
