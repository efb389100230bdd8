"""The systems an evaluation compares, each under a budget of policy tokens per story.

- ``single``: naive single-pass decoding: one passage per step, no choice among alternatives.
- ``best-of-n``: n whole stories (written like ``single``), the one with the best story value
  (mean step value). Story 0 is drawn with ``single``'s seeds (common random numbers); it is
  ``single``'s very story only where the backend's logits do not depend on the batch (llama.cpp's
  batched sums differ in the last bits with the batch size, and a near-tie token can flip).
- ``beam``: step-level beam search (AlphaMath's step beam): each of ``width`` partial stories gets
  ``k`` expansions per step (the root gets ``width * k``), the ``width`` best partial stories by
  mean step value so far go on.
- ``mcts``: ``search.mcts`` rounds while the budget lasts, then the best path is completed.

A story of ``depth`` steps costs at most one *unit* = ``depth * passage_cost`` policy tokens
(``passage_cost`` = step tokens, plus plan tokens when plans are on). Budgets are planned with
that upper bound and the tokens actually generated are recorded beside them.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

from storyspace.errors import UserError
from storyspace.search.mcts import Expansion, SearchConfig, complete, run_round
from storyspace.search.tree import Tree
from storyspace.seeding import derive_seed
from storyspace.world import StoryWorld

SYSTEMS = ("single", "best-of-n", "beam", "mcts")


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


@dataclass(frozen=True)
class Budget:
    tokens: int  # policy tokens per story
    depth: int
    passage_cost: int  # upper bound of policy tokens per passage

    @property
    def unit(self) -> int:
        """Policy tokens of one whole single-pass story (upper bound)."""
        return self.depth * self.passage_cost

    def multiples(self, wanted: Sequence[int]) -> list[int]:
        """The curve multiples that fit in the budget."""
        return sorted({m for m in wanted if m >= 1 and m * self.unit <= self.tokens})


@dataclass
class SystemRun:
    """What one system produced for one premise."""

    expansions: list[Expansion]  # the chosen story's steps, in order
    settings: dict[str, Any]
    curve: dict[int, dict[str, float]]  # multiple -> {"value_mean", "policy_tokens"}
    policy_tokens: int = 0  # spent on this story (not on curve points run beside it)
    tree: Tree | None = None


def story_value(expansions: Sequence[Expansion]) -> float:
    return statistics.fmean(e.value for e in expansions) if expansions else 0.0


def _write_stories(world: StoryWorld, depth: int, seeds: Callable[[int, int], int], n: int) -> list[list[Expansion]]:
    """n stories written step by step, all n passages of a step in one policy call."""
    paths: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    stories: list[list[Expansion]] = [[] for _ in range(n)]
    for d in range(depth):
        results = world.expand(paths, 1, [seeds(i, d) for i in range(n)])
        for i, group in enumerate(results):
            if group:
                paths[i].append(group[0].step)
                stories[i].append(group[0])
    return stories


def story_seed(seed: int) -> Callable[[int, int], int]:
    """Seed of story i's step d (shared by ``single`` and ``best-of-n``)."""
    return lambda i, d: derive_seed(seed, "story", i, d)


def run_single(world: StoryWorld, budget: Budget, seed: int, spent: Callable[[], int]) -> SystemRun:
    story = _write_stories(world, budget.depth, story_seed(seed), 1)[0]
    return SystemRun(story, {}, {1: {"value_mean": story_value(story), "policy_tokens": spent()}}, spent())


def run_best_of_n(
    world: StoryWorld, budget: Budget, seed: int, spent: Callable[[], int], multiples: Sequence[int]
) -> SystemRun:
    n = max(1, budget.tokens // budget.unit)
    stories = _write_stories(world, budget.depth, story_seed(seed), n)
    values = [story_value(s) for s in stories]
    best = max(range(n), key=lambda i: (values[i], -i))
    curve = {}
    for m in multiples:
        if m <= n:
            curve[m] = {"value_mean": max(values[:m]), "policy_tokens": round(spent() * m / n)}
    settings = {"n": n, "story_values": [round(v, 6) for v in values], "chosen": best}
    return SystemRun(stories[best], settings, curve, spent())


def beam_shape(budget_tokens: int, budget: Budget, k: int) -> tuple[int, int]:
    """(width, k) that spend at most ``budget_tokens``: width * k candidates per step."""
    per_step = max(1, budget_tokens // budget.unit)
    k_eff = max(1, min(k, per_step))
    return max(1, per_step // k_eff), k_eff


def beam_search(world: StoryWorld, depth: int, width: int, k: int, seed: int) -> list[Expansion]:
    beams: list[list[Expansion]] = [[]]
    for d in range(depth):
        paths = [[e.step for e in b] for b in beams]
        per = k if d else width * k
        results = world.expand(paths, per, [derive_seed(seed, "beam", d, i) for i in range(len(paths))])
        candidates = [b + [e] for b, group in zip(beams, results) for e in group]
        if not candidates:
            break
        order = sorted(range(len(candidates)), key=lambda i: (-story_value(candidates[i]), i))
        beams = [candidates[i] for i in order[:width]]
    return beams[0]


def run_beam(
    world: StoryWorld, budget: Budget, seed: int, spent: Callable[[], int], multiples: Sequence[int], k: int
) -> SystemRun:
    """The beam at the full budget; each smaller curve budget is a beam run of its own (a beam's
    shape depends on its budget, so it has no anytime answer); their tokens are not counted."""
    curve = {}
    for m in multiples:
        if m * budget.unit >= budget.tokens:
            continue
        before = spent()
        w, kk = beam_shape(m * budget.unit, budget, k)
        story = beam_search(world, budget.depth, w, kk, derive_seed(seed, "beam-budget", m))
        curve[m] = {"value_mean": story_value(story), "policy_tokens": spent() - before}
    before = spent()
    width, k_eff = beam_shape(budget.tokens, budget, k)
    story = beam_search(world, budget.depth, width, k_eff, derive_seed(seed, "beam-budget", 0))
    used = spent() - before
    top = budget.tokens // budget.unit
    if top * budget.unit == budget.tokens and top in multiples:
        curve[top] = {"value_mean": story_value(story), "policy_tokens": used}
    return SystemRun(story, {"width": width, "k": k_eff}, curve, used)


def completion_reserve(tree: Tree, cfg: SearchConfig, passage_cost: int) -> int:
    """Tokens that completing the current best path with ``children`` per step costs at most."""
    leaf = tree.best_path()[-1]
    return (tree.max_depth - tree.nodes[leaf].depth) * cfg.children * passage_cost


def complete_within(tree: Tree, world: StoryWorld, cfg: SearchConfig, seed: int, room: int, passage_cost: int) -> None:
    """Complete the best path with as many children per step as ``room`` tokens allow (at least
    one: a story must be whole, so a budget below one story is overspent, never left unfinished)."""
    leaf = tree.best_path()[-1]
    steps = tree.max_depth - tree.nodes[leaf].depth
    if steps <= 0:
        return
    k = max(1, min(cfg.children, room // (steps * passage_cost)))
    complete(tree, world, replace(cfg, children=k), seed)


def _best_story(tree: Tree) -> list[Expansion]:
    return [
        Expansion(step=tree.nodes[i].step, logprob=tree.nodes[i].logprob, value=tree.nodes[i].value,
                  breakdown=tree.nodes[i].breakdown)
        for i in tree.best_path()[1:]
    ]


def run_mcts(
    world: StoryWorld,
    cfg: SearchConfig,
    budget: Budget,
    seed: int,
    spent: Callable[[], int],
    multiples: Sequence[int],
    on_round: Callable[[Tree], None] | None = None,
) -> SystemRun:
    """Rounds of ``parallel_leaves`` leaves while they fit in the budget with the completion of the
    best path reserved (the last round may be smaller), then the completion, with fewer children
    per step where the rest of the budget cannot pay for ``children`` (down to one: a budget of
    one unit gives a single-pass story).

    Curve points below the budget are anytime snapshots of the same search: the tree as it stood
    when a run with that budget would have had to shorten or stop its rounds, completed on a copy
    (the copy's tokens are not counted against this run)."""
    cfg = replace(cfg, depth=budget.depth)
    tree = Tree.new(budget.depth, {"premise": world.premise})
    k, per_passage = cfg.children, budget.passage_cost
    extra = 0  # tokens spent completing snapshot copies

    def used() -> int:
        return spent() - extra

    pending = [m for m in multiples if m * budget.unit < budget.tokens]
    curve: dict[int, dict[str, float]] = {}
    max_rounds = 4 * max(1, budget.tokens // (k * per_passage)) + 16
    for _ in range(max_rounds):
        reserve = completion_reserve(tree, cfg, per_passage)
        for m in list(pending):
            if m * budget.unit - used() - reserve < cfg.parallel_leaves * k * per_passage:
                copy = Tree.from_json(tree.to_json())
                before = spent()
                complete_within(copy, world, cfg, seed, m * budget.unit - used(), per_passage)
                cost = spent() - before
                extra += cost
                curve[m] = {"value_mean": story_value(_best_story(copy)), "policy_tokens": used() + cost}
                pending.remove(m)
        n = min(cfg.parallel_leaves, (budget.tokens - used() - reserve) // (k * per_passage))
        if n < 1:
            break
        run_round(tree, world, replace(cfg, parallel_leaves=n, simulations=tree.simulations + n), seed)
        if on_round is not None:
            on_round(tree)
    complete_within(tree, world, cfg, seed, budget.tokens - used(), per_passage)
    story = _best_story(tree)
    top = budget.tokens // budget.unit
    if top * budget.unit == budget.tokens and top in multiples:
        curve[top] = {"value_mean": story_value(story), "policy_tokens": used()}
    settings = {"simulations": tree.simulations, "expansions": tree.expansions, "nodes": len(tree.nodes),
                "snapshot_tokens": extra}
    return SystemRun(story, settings, curve, used(), tree)
