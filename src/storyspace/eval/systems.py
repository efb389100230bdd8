"""The systems an evaluation compares (names, ``@policy`` specs) and how each is run.

The systems themselves are the searches of ``storyspace.search`` (``baselines.py``: single pass,
best-of-n, beam, and MCTS under a token budget); this module only names them for the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

from storyspace.errors import UserError
from storyspace.search import baselines
from storyspace.search.baselines import SystemRun
from storyspace.search.budget import Budget
from storyspace.search.mcts import SearchConfig, StepModel
from storyspace.search.tree import Tree

#: ``mcts-commit``: MCTS one step at a time (``SearchConfig.commit_steps``), whatever the flag says
SYSTEMS = ("single", "best-of-n", "beam", "mcts", "mcts-commit")


@dataclass(frozen=True)
class SystemSpec:
    """A system name and, after ``@``, the policy spec it runs with ("" = the eval's policy)."""

    name: str
    policy: str = ""

    @property
    def label(self) -> str:
        return f"{self.name}@{self.policy}" if self.policy else self.name


def parse_systems(text: str | Sequence[str]) -> list[SystemSpec]:
    """``single,best-of-n,beam,mcts,mcts@hf:DIR`` -> specs (one-line errors)."""
    items = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    if not items:
        raise UserError("no systems given (expected a list such as single,best-of-n,beam,mcts)")
    out: list[SystemSpec] = []
    for item in items:
        name, _, policy = item.partition("@")
        if name not in SYSTEMS:
            raise UserError(f"unknown system {name!r} (expected {', '.join(SYSTEMS)}, optionally @MODEL_SPEC)")
        if "@" in item and not policy.strip():
            raise UserError(f"system {item!r}: no model spec after @")
        spec = SystemSpec(name, policy.strip())
        if spec in out:
            raise UserError(f"system {spec.label!r} given twice")
        out.append(spec)
    return out


def run_system(
    name: str,
    model: StepModel,
    cfg: SearchConfig,
    budget: Budget,
    seed: int,
    multiples: Sequence[int],
    beam_k: int,
    root: dict | None = None,
    on_round: Callable[[Tree], None] | None = None,
) -> SystemRun:
    """Run the system called ``name`` on one premise's step model under ``budget``."""
    if name == "single":
        return baselines.single_pass(model, budget, seed, cfg.retries)
    if name == "best-of-n":
        return baselines.best_of_n(model, budget, seed, multiples, cfg.retries)
    if name == "beam":
        return baselines.beam(model, budget, seed, beam_k, multiples)
    if name == "mcts":
        return baselines.mcts(model, cfg, budget, seed, root, multiples, on_round)
    if name == "mcts-commit":
        return baselines.mcts(model, replace(cfg, commit_steps=True), budget, seed, root, multiples, on_round)
    raise UserError(f"unknown system {name!r}")
