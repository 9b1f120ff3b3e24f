"""The one topological sort (pure): Kahn's algorithm, stable in input order, and the cycle that stops it.

`order(nodes, after)` puts every node after the nodes `after(node)` names and otherwise keeps the input
order: the earliest ready node always goes next (a playbook's phases). `levels(nodes, after)` gives rounds
instead: a round holds, in input order, every node whose dependencies all sit in earlier rounds, so a
node's level is the length of its longest dependency chain (Flux Kustomizations, the planner's waves).

Every dependency must be one of `nodes` (`Unknown` otherwise): a caller drops the edges it means to ignore
before sorting. When some nodes can never be placed, `Cycle` carries one cycle among them, found the same
way every time: from the earliest blocked node in input order, follow each node's first blocked dependency
until a node repeats. `Cycle.nodes` is that loop from the repeated node on (a self-loop is one node), and
`Cycle.render()` writes it closed, `a -> b -> a`; a node that only waits on a cycle is not part of it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)


class Cycle(ValueError, Generic[T]):
    """Some nodes depend on each other in a loop: `nodes` in dependency order (each depends on the next)."""

    def __init__(self, nodes: Sequence[T]):
        self.nodes = list(nodes)
        super().__init__(self.render())

    def render(self, name: Callable[[T], str] = str) -> str:
        return " -> ".join(name(node) for node in [*self.nodes, self.nodes[0]])


class Unknown(ValueError, Generic[T]):
    """`node` depends on `dependency`, which is not among the nodes sorted."""

    def __init__(self, node: T, dependency: T):
        super().__init__(f"{node} depends on {dependency}, which is not among the nodes sorted")
        self.node = node
        self.dependency = dependency


def order(nodes: Iterable[T], after: Callable[[T], Iterable[T]]) -> list[T]:
    """`nodes` with each after its dependencies, the earliest ready one (in input order) first."""
    items, deps, users, waiting = _graph(nodes, after)
    ready = [i for i, count in enumerate(waiting) if count == 0]
    done: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        done.append(i)
        for user in users[i]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, user)
    _check(items, deps, done)
    return [items[i] for i in done]


def levels(nodes: Iterable[T], after: Callable[[T], Iterable[T]]) -> list[list[T]]:
    """`nodes` in rounds: each round every node whose dependencies are all in earlier rounds, in input order."""
    items, deps, users, waiting = _graph(nodes, after)
    current = [i for i, count in enumerate(waiting) if count == 0]
    rounds: list[list[int]] = []
    while current:
        rounds.append(current)
        following = []
        for i in current:
            for user in users[i]:
                waiting[user] -= 1
                if waiting[user] == 0:
                    following.append(user)
        current = sorted(following)
    _check(items, deps, [i for r in rounds for i in r])
    return [[items[i] for i in r] for r in rounds]


def _graph(nodes: Iterable[T], after: Callable[[T], Iterable[T]]):
    """(nodes, dependencies by index, users by index, how many distinct dependencies each waits on)."""
    items = list(nodes)
    index: dict[T, int] = {}
    for i, node in enumerate(items):
        if node in index:
            raise ValueError(f"{node} appears twice among the nodes sorted")
        index[node] = i
    deps: list[list[int]] = []
    users: list[list[int]] = [[] for _ in items]
    for i, node in enumerate(items):
        mine: dict[int, None] = {}
        for dep in after(node):
            if dep not in index:
                raise Unknown(node, dep)
            mine.setdefault(index[dep])
        deps.append(list(mine))
        for dep_index in mine:
            users[dep_index].append(i)
    return items, deps, users, [len(d) for d in deps]


def _check(items: list[T], deps: list[list[int]], placed: list[int]) -> None:
    """Cycle when not every node was placed: the loop reached from the earliest blocked node."""
    if len(placed) == len(items):
        return
    blocked = set(range(len(items))) - set(placed)
    path = [min(blocked)]
    seen = {path[0]: 0}
    while True:
        # a blocked node waits on at least one blocked node (else it would have been placed)
        nxt = next(d for d in deps[path[-1]] if d in blocked)
        if nxt in seen:
            raise Cycle([items[i] for i in path[seen[nxt]:]])
        seen[nxt] = len(path)
        path.append(nxt)
