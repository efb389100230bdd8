"""Search tree: nodes with visit statistics, JSON round trip, best path.

Steps are opaque JSON payloads here: the search knows nothing of prompts or models.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Node:
    id: int
    parent: int | None
    depth: int
    step: dict[str, Any] = field(default_factory=dict)
    prior: float = 1.0
    logprob: float = 0.0  # policy's length-normalised log-prob of the step
    value: float = 0.0  # the step's own value (value model)
    breakdown: dict[str, Any] = field(default_factory=dict)
    visits: int = 0
    total: float = 0.0  # W: sum of backed-up values
    children: list[int] = field(default_factory=list)

    @property
    def q(self) -> float:
        return self.total / self.visits if self.visits else 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["q"] = round(self.q, 6)
        return data


@dataclass
class Tree:
    """The nodes (``nodes[i].id == i``, root is 0) and the search's own counters."""

    nodes: list[Node]
    max_depth: int
    simulations: int = 0  # selections done (expansions + revisits of finished stories)
    expansions: int = 0

    @classmethod
    def new(cls, max_depth: int, root_step: dict[str, Any] | None = None) -> "Tree":
        return cls(nodes=[Node(id=0, parent=None, depth=0, step=root_step or {})], max_depth=max_depth)

    @property
    def root(self) -> Node:
        return self.nodes[0]

    def add_child(self, parent: int, step: dict[str, Any], logprob: float, value: float, breakdown: dict) -> Node:
        node = Node(
            id=len(self.nodes),
            parent=parent,
            depth=self.nodes[parent].depth + 1,
            step=step,
            logprob=logprob,
            value=value,
            breakdown=breakdown,
        )
        self.nodes.append(node)
        self.nodes[parent].children.append(node.id)
        return node

    def path(self, node_id: int) -> list[int]:
        """Node ids from the root to ``node_id`` inclusive."""
        out = []
        cur: int | None = node_id
        while cur is not None:
            out.append(cur)
            cur = self.nodes[cur].parent
        return out[::-1]

    def steps(self, node_id: int) -> list[dict[str, Any]]:
        """The step payloads along the path (the root's own step excluded)."""
        return [self.nodes[i].step for i in self.path(node_id)[1:]]

    def is_terminal(self, node_id: int) -> bool:
        return self.nodes[node_id].depth >= self.max_depth

    def best_child(self, node_id: int) -> Node | None:
        """Most visits, ties by higher Q, then by lower id (deterministic)."""
        kids = [self.nodes[c] for c in self.nodes[node_id].children]
        if not kids:
            return None
        return max(kids, key=lambda n: (n.visits, n.q, -n.id))

    def best_path(self) -> list[int]:
        """From the root, follow the best child until a leaf."""
        path = [0]
        while (child := self.best_child(path[-1])) is not None:
            path.append(child.id)
        return path

    def to_json(self) -> dict[str, Any]:
        return {
            "max_depth": self.max_depth,
            "simulations": self.simulations,
            "expansions": self.expansions,
            "best_path": self.best_path(),
            "nodes": [n.to_json() for n in self.nodes],
        }

    @classmethod
    def from_json(cls, data: Any) -> "Tree":
        """The tree of ``to_json``; ``ValueError`` (one line) on anything inconsistent, so that a
        damaged file is refused before a search or a reader trusts it."""
        if not isinstance(data, dict):
            raise ValueError("a tree must be a JSON object")
        raw = data.get("nodes")
        if not isinstance(raw, list) or not raw:
            raise ValueError("'nodes' must be a non-empty list")
        max_depth = _count(data.get("max_depth"), "max_depth", least=1)
        nodes = [_node(item, i, max_depth) for i, item in enumerate(raw)]
        root = nodes[0]
        if root.parent is not None or root.depth != 0:
            raise ValueError("node 0 must be the root (no parent, depth 0)")
        for node in nodes[1:]:
            if node.parent is None or not 0 <= node.parent < node.id:
                raise ValueError(f"node {node.id}: parent must be an earlier node")
            if node.depth != nodes[node.parent].depth + 1:
                raise ValueError(f"node {node.id}: depth must be its parent's + 1")
        kids: dict[int, list[int]] = {}
        for node in nodes[1:]:
            kids.setdefault(node.parent, []).append(node.id)  # type: ignore[arg-type]
        for node in nodes:
            if sorted(node.children) != kids.get(node.id, []):
                raise ValueError(f"node {node.id}: children do not match the nodes' parents")
        return cls(
            nodes=nodes,
            max_depth=max_depth,
            simulations=_count(data.get("simulations", 0), "simulations"),
            expansions=_count(data.get("expansions", 0), "expansions"),
        )


def _count(value: Any, name: str, least: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ValueError(f"{name} must be a whole number >= {least}, got {value!r}")
    return value


def _number(value: Any, name: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _node(item: Any, index: int, max_depth: int) -> Node:
    where = f"node {index}"
    if not isinstance(item, dict):
        raise ValueError(f"{where} must be a JSON object, got {item!r:.40}")
    if item.get("id") != index or isinstance(item.get("id"), bool):
        raise ValueError(f"{where}: nodes must be numbered 0..n-1 in order")
    parent = item.get("parent")
    if parent is not None:
        parent = _count(parent, f"{where}: parent")
    depth = _count(item.get("depth"), f"{where}: depth")
    if depth > max_depth:
        raise ValueError(f"{where}: depth {depth} exceeds max_depth {max_depth}")
    step, breakdown = item.get("step", {}), item.get("breakdown", {})
    if not isinstance(step, dict) or not all(isinstance(v, str) for v in step.values()):
        raise ValueError(f"{where}: step must be an object of texts")
    if not isinstance(breakdown, dict):
        raise ValueError(f"{where}: breakdown must be an object")
    children = item.get("children", [])
    if not isinstance(children, list):
        raise ValueError(f"{where}: children must be a list")
    return Node(
        id=index,
        parent=parent,
        depth=depth,
        step=step,
        prior=_number(item.get("prior", 1.0), f"{where}: prior"),
        logprob=_number(item.get("logprob", 0.0), f"{where}: logprob"),
        value=_number(item.get("value", 0.0), f"{where}: value"),
        breakdown=breakdown,
        visits=_count(item.get("visits", 0), f"{where}: visits"),
        total=_number(item.get("total", 0.0), f"{where}: total"),
        children=[_count(c, f"{where}: child") for c in children],
    )
