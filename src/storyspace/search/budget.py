"""What a search or a baseline may spend: policy tokens per story, planned in *units*.

One unit is one whole single-pass story: ``depth`` steps of at most ``passage_cost`` policy
tokens each (step tokens, plus plan tokens with plans). Budgets are planned with that upper bound;
the tokens actually generated are counted by the search itself (``Tree.policy_tokens``, the
``tokens`` of each ``Expansion``), so a budget is a pure function of what was searched: the same
with one tree or many in a batch, and the same after a resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Budget:
    """A policy-token budget per story.

    - ``tokens``: policy tokens the story may cost, the completion of an MCTS best path included.
    - ``depth``: steps per story; ``passage_cost``: upper bound of policy tokens per step.
    """

    tokens: int
    depth: int
    passage_cost: int

    @property
    def unit(self) -> int:
        """Policy tokens of one whole single-pass story (upper bound)."""
        return self.depth * self.passage_cost

    def multiples(self, wanted: Sequence[int]) -> list[int]:
        """The multiples of a unit among ``wanted`` that fit in the budget."""
        return sorted({m for m in wanted if m >= 1 and m * self.unit <= self.tokens})

    def scaled(self, multiple: int) -> "Budget":
        """The same budget at ``multiple`` units."""
        return Budget(tokens=multiple * self.unit, depth=self.depth, passage_cost=self.passage_cost)
