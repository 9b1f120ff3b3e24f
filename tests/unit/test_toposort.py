"""toposort: stable order and levels, the cycle it reports, unknown and duplicate nodes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bootstrap.toposort import Cycle, Unknown, levels, order


def graph(**edges: str):
    """`a="bc"`: a depends on b and c."""
    return lambda node: list(edges.get(node, ""))


def test_order_keeps_input_order_where_free():
    assert order("abc", graph()) == ["a", "b", "c"]
    assert order("cab", graph()) == ["c", "a", "b"]


def test_order_takes_the_earliest_ready_node_next():
    # a waits on b: b goes first, then a (now the earliest ready), then c
    assert order("abc", graph(a="b")) == ["b", "a", "c"]


def test_levels_group_by_longest_chain_in_input_order():
    # same graph: b and c are free, a waits one round
    assert levels("abc", graph(a="b")) == [["b", "c"], ["a"]]
    assert levels("dcba", graph(a="b", b="c", d="a")) == [["c"], ["b"], ["a"], ["d"]]
    # a node waits for its longest chain: e depends on c directly and via d
    assert levels("edcab", graph(e="cd", d="c")) == [["c", "a", "b"], ["d"], ["e"]]


def test_duplicate_edges_count_once():
    assert order("ab", graph(a="bb")) == ["b", "a"]
    assert levels("ab", graph(a="bb")) == [["b"], ["a"]]


def test_a_cycle_is_reported_in_dependency_order_from_the_earliest_blocked_node():
    with pytest.raises(Cycle) as caught:
        order("abc", graph(a="b", b="c", c="a"))
    assert caught.value.nodes == ["a", "b", "c"]
    assert caught.value.render() == "a -> b -> c -> a"
    assert str(caught.value) == "a -> b -> c -> a"


def test_a_node_that_only_waits_on_a_cycle_is_not_part_of_it():
    # x is blocked (it waits on b) and comes first, but the cycle is b <-> c
    for sort in (order, levels):
        with pytest.raises(Cycle) as caught:
            sort("xbcf", graph(x="b", b="c", c="b"))
        assert caught.value.nodes == ["b", "c"]


def test_the_cycle_follows_the_first_blocked_dependency():
    # a depends on f (free) then c; c's first dependency is a: the loop is a -> c -> a, not via d
    with pytest.raises(Cycle) as caught:
        levels("acdf", graph(a="fc", c="ad", d="c"))
    assert caught.value.nodes == ["a", "c"]


def test_a_self_loop_is_a_cycle_of_one():
    with pytest.raises(Cycle) as caught:
        order("ab", graph(b="b"))
    assert caught.value.nodes == ["b"]
    assert caught.value.render() == "b -> b"


def test_render_names_nodes_with_the_callers_function():
    with pytest.raises(Cycle) as caught:
        order([1, 2], {1: [2], 2: [1]}.__getitem__)
    assert caught.value.render(lambda n: f"#{n}") == "#1 -> #2 -> #1"


def test_an_unknown_dependency_is_refused():
    with pytest.raises(Unknown) as caught:
        levels("ab", graph(b="z"))
    assert (caught.value.node, caught.value.dependency) == ("b", "z")


def test_a_node_given_twice_is_refused():
    with pytest.raises(ValueError, match="twice"):
        order("aba", graph())


@given(st.integers(1, 12).flatmap(lambda n: st.tuples(
    st.permutations(range(n)),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda e: e[0] > e[1]), max_size=30))))
def test_acyclic_graphs_sort_completely_with_every_edge_respected(case):
    nodes, edges = case  # edges from a larger to a smaller number: acyclic whatever the input order
    deps = {n: [b for a, b in edges if a == n] for n in nodes}
    placed = order(nodes, deps.__getitem__)
    rounds = levels(nodes, deps.__getitem__)
    assert sorted(placed) == sorted(nodes) == sorted(n for r in rounds for n in r)
    where = {n: i for i, n in enumerate(placed)}
    level = {n: i for i, r in enumerate(rounds) for n in r}
    for a, b in edges:
        assert where[b] < where[a] and level[b] < level[a]
    for r in rounds:  # each round in input order, and as early as its dependencies allow
        assert r == sorted(r, key=nodes.index)
        assert all(level[n] == max((level[d] + 1 for d in deps[n]), default=0) for n in r)
