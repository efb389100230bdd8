"""The searches MCTS is compared with, on the same step model and the same token budget.

- ``single_pass``: naive decoding: one step per step, no choice among alternatives.
- ``best_of_n``: n whole single-pass stories, the one with the best story value (mean step
  value). Story 0 uses ``single_pass``'s seeds (common random numbers).
- ``beam``: step-level beam search (AlphaMath's step beam): each of ``width`` partial stories
  gets ``k`` expansions per step (the root gets ``width * k``); the ``width`` best partial
  stories by mean step value so far go on.
- ``mcts``: the MCTS driver under a token budget (``mcts.search`` with a ``Budget``), with
  anytime snapshots for the budget curve.

Each returns a ``SystemRun``: the chosen story's steps, its settings, the policy tokens it cost
(counted from the expansions, so batching and resumes do not change it) and the best story value
at smaller budgets (the curve). Like ``mcts``, nothing here knows prompts or models.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from storyspace.search.budget import Budget
from storyspace.search.mcts import Expansion, SearchConfig, StepModel, completion_reserve, leaf_cost, search
from storyspace.search.tree import Tree
from storyspace.seeding import derive_seed


@dataclass
class SystemRun:
    """What one system produced for one premise."""

    expansions: list[Expansion]  # the chosen story's steps, in order
    settings: dict[str, Any]
    curve: dict[int, dict[str, Any]]  # multiple -> {"value_mean", "policy_tokens", "steps"}
    policy_tokens: int = 0  # spent on this story (not on curve points run beside it)
    tree: Tree | None = field(default=None)


def story_value(expansions: Sequence[Expansion]) -> float:
    """Mean step value of a story (0 for no steps)."""
    return statistics.fmean(e.value for e in expansions) if expansions else 0.0


def tokens_of(expansions: Sequence[Expansion]) -> int:
    return sum(e.tokens for e in expansions)


def curve_point(expansions: Sequence[Expansion], tokens: int) -> dict[str, Any]:
    """What a system returns at one budget: its story's value, the tokens it spent, the story's
    steps (so that another judge can read the story at that budget too)."""
    return {"value_mean": story_value(expansions), "policy_tokens": tokens, "steps": [e.step for e in expansions]}


def story_seed(seed: int) -> Callable[[int, int], int]:
    """Seed of story i's step d (shared by ``single_pass`` and ``best_of_n``)."""
    return lambda i, d: derive_seed(seed, "story", i, d)


def unusable(expansion: Expansion) -> bool:
    """A passage to sample again (``SearchConfig.retries``): the value marks it as meta talk
    (refusals included) or too short (fewer than the penalty's ``min_words``)."""
    b = expansion.breakdown
    return bool(b.get("meta")) or bool(b.get("too_short")) or not str(expansion.step.get("passage", "")).strip()


def write_stories(model: StepModel, depth: int, n: int, seed: int, retries: int = 0) -> list[list[Expansion]]:
    """n single-pass stories written step by step, the n steps of a depth in one model call;
    with ``retries``, an unusable passage is sampled again (all of a depth's redos in one call),
    its discarded tokens added to the kept step's cost."""
    seeds = story_seed(seed)
    paths: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    stories: list[list[Expansion]] = [[] for _ in range(n)]
    for d in range(depth):
        results = model.expand(paths, 1, [seeds(i, d) for i in range(n)])
        for attempt in range(1, retries + 1):
            redo = [i for i, group in enumerate(results) if group and unusable(group[0])]
            if not redo:
                break
            again = model.expand([paths[i] for i in redo], 1,
                                 [derive_seed(seed, "retry", i, d, attempt) for i in redo])
            for i, group in zip(redo, again):
                if group:
                    results[i] = [replace(group[0], tokens=group[0].tokens + results[i][0].tokens)]
        for i, group in enumerate(results):
            if group:
                paths[i].append(group[0].step)
                stories[i].append(group[0])
    return stories


def single_pass(model: StepModel, budget: Budget, seed: int, retries: int = 0) -> SystemRun:
    """One story, one sample per step: spends one unit whatever the budget (more with
    ``retries``, by what the redone passages cost)."""
    story = write_stories(model, budget.depth, 1, seed, retries)[0]
    spent = tokens_of(story)
    settings = {"retries": retries} if retries else {}
    return SystemRun(story, settings, {1: curve_point(story, spent)}, spent)


def best_of_n(model: StepModel, budget: Budget, seed: int, multiples: Sequence[int] = (),
              retries: int = 0) -> SystemRun:
    """n = budget / unit single-pass stories; the best by story value (ties: the first)."""
    n = max(1, budget.tokens // budget.unit)
    stories = write_stories(model, budget.depth, n, seed, retries)
    values = [story_value(s) for s in stories]
    best = max(range(n), key=lambda i: (values[i], -i))
    curve = {
        m: curve_point(stories[max(range(m), key=lambda i: (values[i], -i))], sum(tokens_of(s) for s in stories[:m]))
        for m in multiples
        if m <= n
    }
    settings = {"n": n, "story_values": [round(v, 6) for v in values], "chosen": best}
    if retries:
        settings["retries"] = retries
    return SystemRun(stories[best], settings, curve, sum(tokens_of(s) for s in stories))


def beam_shape(budget_tokens: int, budget: Budget, k: int) -> tuple[int, int]:
    """(width, k) that spend at most ``budget_tokens``: width * k candidates per step."""
    per_step = max(1, budget_tokens // budget.unit)
    k_eff = max(1, min(k, per_step))
    return max(1, per_step // k_eff), k_eff


def beam_search(model: StepModel, depth: int, width: int, k: int, seed: int) -> tuple[list[Expansion], int]:
    """The best story of a step-level beam and the policy tokens of every candidate it drew."""
    beams: list[list[Expansion]] = [[]]
    spent = 0
    for d in range(depth):
        paths = [[e.step for e in b] for b in beams]
        per = k if d else width * k
        results = model.expand(paths, per, [derive_seed(seed, "beam", d, i) for i in range(len(paths))])
        spent += sum(tokens_of(group) for group in results)
        candidates = [b + [e] for b, group in zip(beams, results) for e in group]
        if not candidates:
            break
        order = sorted(range(len(candidates)), key=lambda i: (-story_value(candidates[i]), i))
        beams = [candidates[i] for i in order[:width]]
    return beams[0], spent


def beam(model: StepModel, budget: Budget, seed: int, k: int, multiples: Sequence[int] = ()) -> SystemRun:
    """The beam at the full budget; each smaller curve budget is a beam run of its own (a beam's
    shape depends on its budget, so it has no anytime answer); their tokens are not counted."""
    curve = {}
    for m in multiples:
        if m * budget.unit >= budget.tokens:
            continue
        w, kk = beam_shape(m * budget.unit, budget, k)
        story, spent = beam_search(model, budget.depth, w, kk, derive_seed(seed, "beam-budget", m))
        curve[m] = curve_point(story, spent)
    width, k_eff = beam_shape(budget.tokens, budget, k)
    story, spent = beam_search(model, budget.depth, width, k_eff, derive_seed(seed, "beam-budget", 0))
    top = budget.tokens // budget.unit
    if top * budget.unit == budget.tokens and top in multiples:
        curve[top] = curve_point(story, spent)
    return SystemRun(story, {"width": width, "k": k_eff}, curve, spent)


def path_expansions(tree: Tree) -> list[Expansion]:
    """The best path of a tree as the expansions that made it."""
    return [
        Expansion(step=n.step, logprob=n.logprob, value=n.value, breakdown=n.breakdown)
        for n in (tree.nodes[i] for i in tree.best_path()[1:])
    ]


def mcts(
    model: StepModel,
    cfg: SearchConfig,
    budget: Budget,
    seed: int,
    root: dict[str, Any] | None = None,
    multiples: Sequence[int] = (),
    on_round: Callable[[Tree], None] | None = None,
) -> SystemRun:
    """MCTS under a token budget, with anytime snapshots for the curve.

    A curve point m below the budget is taken when the search reaches the state where a run
    with budget m would have to shorten or stop its rounds: a copy of the tree then finishes
    under budget m (its shortened round and completion), so the point is exactly what a run with
    budget m returns; the copy's tokens are not charged to this run. With ``commit_steps`` a
    run's steps share its own budget, so no state of the larger run is one of a smaller run: each
    point is a search of its own from the empty tree (not charged either)."""
    cfg = replace(cfg, depth=budget.depth)
    tree = Tree.new(budget.depth, root or {})
    pending = [m for m in multiples if m * budget.unit < budget.tokens]
    curve: dict[int, dict[str, float]] = {}
    full_round = cfg.parallel_leaves * leaf_cost(cfg, budget.passage_cost)

    def snapshot(current: Tree) -> None:
        reserve = completion_reserve(current, cfg.children, budget.passage_cost)
        for m in list(pending):
            if cfg.commit_steps or m * budget.unit - current.policy_tokens - reserve < full_round:
                copy = search(Tree.from_json(current.to_json()), model, cfg, seed, budget=budget.scaled(m))
                curve[m] = curve_point(path_expansions(copy), copy.policy_tokens)
                pending.remove(m)

    def after_round(current: Tree) -> None:
        snapshot(current)
        if on_round is not None:
            on_round(current)

    snapshot(tree)
    search(tree, model, cfg, seed, on_round=after_round, budget=budget)
    story = path_expansions(tree)
    top = budget.tokens // budget.unit
    if top * budget.unit == budget.tokens and top in multiples:
        curve[top] = curve_point(story, tree.policy_tokens)
    settings = {"simulations": tree.simulations, "expansions": tree.expansions, "nodes": len(tree.nodes)}
    return SystemRun(story, settings, curve, tree.policy_tokens, tree)
