"""Search tree: nodes with visit statistics, JSON round trip, best path.

Steps are opaque JSON payloads here: the search knows nothing of prompts or models.
"""

from __future__ import annotations

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

    @property
    def expanded(self) -> bool:
        return bool(self.children)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["q"] = round(self.q, 6)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Node":
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**fields)


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
    def from_json(cls, data: dict[str, Any]) -> "Tree":
        nodes = [Node.from_json(n) for n in data["nodes"]]
        if any(n.id != i for i, n in enumerate(nodes)):
            raise ValueError("tree nodes must be numbered 0..n-1 in order")
        return cls(
            nodes=nodes,
            max_depth=int(data["max_depth"]),
            simulations=int(data.get("simulations", 0)),
            expansions=int(data.get("expansions", 0)),
        )
