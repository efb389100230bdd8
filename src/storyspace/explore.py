"""``storyspace explore``: premise -> searched story, saved as it goes, resumable.

Wires models, value model, story world and MCTS together; prints nothing (``cli.py`` does).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from storyspace.assemble import Parts, assemble, check_specs
from storyspace.config import ExploreConfig, to_dict
from storyspace.errors import UserError
from storyspace.models.base import LanguageModel
from storyspace.models.registry import ModelPool
from storyspace.runs import RunDir, load_run, package_versions, writing
from storyspace.search.mcts import search
from storyspace.search.tree import Tree
from storyspace.story import Story, printable
from storyspace.viz.html import tree_html

#: room for the chat template, system prompt and instructions around premise + story
PROMPT_OVERHEAD_TOKENS = 160


@dataclass
class Progress:
    """What a progress display needs after each round."""

    premise: str
    simulations: int
    target: int
    expansions: int
    best_value: float
    policy_tokens: int
    tokens_per_s: float


@dataclass
class ExploreResult:
    run: RunDir
    tree: Tree
    story: Story
    meta: dict[str, Any]


def check_premise(premise: str, cfg: ExploreConfig, policy: LanguageModel) -> str:
    """The premise stripped; one-line errors when empty or too long for the model's context."""
    premise = printable(premise).strip()
    if not premise:
        raise UserError("the premise is empty (nothing printable in it)")
    need = policy.count_tokens(premise) + cfg.search.depth * cfg.policy.step_tokens + PROMPT_OVERHEAD_TOKENS
    if cfg.policy.plan:
        need += cfg.policy.plan_tokens
    if need > policy.context_length:
        raise UserError(
            f"the premise is too long: premise + {cfg.search.depth} steps of {cfg.policy.step_tokens} tokens"
            f" need about {need} tokens, the model reads {policy.context_length}"
        )
    return premise


def best_story(tree: Tree, premise: str) -> Story:
    """The story along the tree's best path (most visits, ties by Q)."""
    return Story.from_steps(premise, tree.steps(tree.best_leaf()))


def write_run_files(run: RunDir, tree: Tree, premise: str, meta: dict[str, Any]) -> None:
    """A run's files, each atomically: tree.json, story.md, tree.html, then run.json (last:
    run.json never points past tree.json). Every writer of a run (explore, the studio) ends here."""
    run.write_json(RunDir.TREE, tree.to_json())
    run.write_text(RunDir.STORY, best_story(tree, premise).markdown())
    run.write_text(RunDir.HTML, tree_html(tree, premise, meta))
    run.write_json(RunDir.RUN, meta)


def saved_config(out: Path) -> ExploreConfig:
    """The config a run directory was started with (to rebuild its model pool on resume)."""
    return load_run(out).config


class Explorer:
    """One explore run in one run directory (new or resumed)."""

    def __init__(self, pool: ModelPool, on_progress: Callable[[Progress], None] | None = None,
                 on_note: Callable[[str], None] | None = None) -> None:
        self.pool = pool
        self.on_progress = on_progress
        self.on_note = on_note

    def start(self, premise: str, cfg: ExploreConfig, out: Path) -> ExploreResult:
        check_specs(cfg)
        RunDir.check_free(out)
        premise = check_premise(premise, cfg, self.pool.get(cfg.models.policy_spec))
        parts = assemble(self.pool, cfg)
        cfg = parts.cfg  # the prompt style the policy's server takes
        for note in parts.notes:
            if self.on_note is not None:
                self.on_note(note)
        run = RunDir.create(out)
        meta = {
            "command": "explore",
            "premise": premise,
            "seed": cfg.seed,
            "config": to_dict(cfg),
            "calibration": parts.value_model.calibration.raw.get("name", cfg.value.calibration),
            "packages": package_versions(),
            "created": _now(),
            "status": "running",
            "budget": {},
            "timings": {"sessions": []},
        }
        tree = Tree.new(cfg.search.depth, {"premise": premise})
        with run.writer():
            return self._run(run, meta, parts, tree)

    def resume(self, out: Path) -> ExploreResult:
        """Continue a saved run (as its one writer: a run that another explore or the studio is
        changing is refused with a one-line error)."""
        with writing(out) as saved:
            parts = assemble(self.pool, saved.config)
            return self._run(saved.run, saved.meta, parts, saved.tree)

    def _run(self, run: RunDir, meta: dict, parts: Parts, tree: Tree) -> ExploreResult:
        cfg = parts.cfg
        premise = meta["premise"]
        policy = parts.policy
        world = parts.world(premise)
        models = {id(m): m for m in parts.models()}
        before = {k: m.usage.as_dict() for k, m in models.items()}
        prior_budget = dict(meta.get("budget") or {})
        meta["models"] = {"policy": cfg.models.policy_spec, "reference": cfg.models.reference, "judge": cfg.models.judge}
        started = time.perf_counter()
        session = {"started": _now(), "from_simulation": tree.simulations}
        meta["timings"].setdefault("sessions", []).append(session)

        def used() -> dict[str, float]:
            gen = policy.usage.generated_tokens - before[id(policy)]["generated_tokens"]
            scored = sum(m.usage.scored_tokens - before[k]["scored_tokens"] for k, m in models.items())
            secs = sum(m.usage.seconds for m in models.values()) - sum(
                b["sample_seconds"] + b["score_seconds"] for b in before.values()
            )
            return {"policy_tokens": gen, "scored_tokens": scored, "model_seconds": secs}

        def save(current: Tree, status: str = "running") -> None:
            now = used()
            wall = time.perf_counter() - started
            meta["budget"] = {
                "simulations": current.simulations,
                "expansions": current.expansions,
                "nodes": len(current.nodes),
                "policy_tokens": int(prior_budget.get("policy_tokens", 0) + now["policy_tokens"]),
                "scored_tokens": int(prior_budget.get("scored_tokens", 0) + now["scored_tokens"]),
            }
            session.update(
                wall_s=round(wall, 2), model_s=round(now["model_seconds"], 2), to_simulation=current.simulations
            )
            meta["timings"]["wall_s"] = round(sum(s.get("wall_s", 0.0) for s in meta["timings"]["sessions"]), 2)
            meta["status"] = status
            meta["updated"] = _now()
            write_run_files(run, current, premise, meta)
            if self.on_progress is not None:
                self.on_progress(
                    Progress(
                        premise=premise,
                        simulations=current.simulations,
                        target=cfg.search.simulations,
                        expansions=current.expansions,
                        best_value=max((n.value for n in current.nodes[1:]), default=0.0),
                        policy_tokens=meta["budget"]["policy_tokens"],
                        tokens_per_s=now["policy_tokens"] / wall if wall > 0 else 0.0,
                    )
                )

        save(tree)
        search(tree, world, cfg.search, cfg.seed, on_round=save)
        save(tree, status="finished")
        return ExploreResult(run=run, tree=tree, story=best_story(tree, premise), meta=meta)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
