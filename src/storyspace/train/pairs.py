"""Preference pairs from search trees, in TRL's preference format.

For every expanded node with at least two visited children: prompt = the exact policy prompt of
that state, chosen and rejected = two of its children's steps, the higher Q chosen. Which two
(``PairConfig.pairing``): ``extremes``, the highest against the lowest Q (one pair a node, the
default); ``best_vs_rest``, the highest against each other child; ``all``, every two children. A
pair is kept when the Q margin is at least ``min_margin`` and the two texts are not near-identical.
The prompt is the chat messages (conversational format) for a ``chat``-style run, and the exact
prompt text (standard format, rendered with the policy's chat template) for a ``prefill``-style
run, whose passages then start with the space that joins them to the story so far.
"""

from __future__ import annotations

import difflib
import math
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from storyspace.config import ExploreConfig
from storyspace.errors import UserError
from storyspace.flags import flag
from storyspace.runs import load_run
from storyspace.search.tree import Node, Tree
from storyspace.story import Story, preference_prompt


#: ``PairConfig.pairing`` values
PAIRINGS = ("extremes", "best_vs_rest", "all")


@dataclass(frozen=True)
class PairConfig:
    """- ``min_margin``: least Q(chosen) - Q(rejected) (Q on the value scale [0, 1]).
    - ``max_similarity``: drop pairs whose texts are this similar or more (difflib ratio).
    - ``min_visits``: a child counts as visited with at least this many visits.
    - ``max_pairs``: train on at most this many pairs, those of the largest margins (0 = all).
    - ``pairing``: which children of a node make pairs: ``extremes`` (highest vs lowest Q),
      ``best_vs_rest`` (highest vs each other), ``all`` (every two)."""

    min_margin: float = field(default=0.02, metadata=flag("--min-margin", "least Q margin chosen - rejected"))
    max_similarity: float = field(default=0.9, metadata=flag("--max-similarity", "drop pairs at least this similar"))
    min_visits: int = field(default=1, metadata=flag("--min-visits", "visits a child needs to count"))
    max_pairs: int = field(default=0, metadata=flag("--max-pairs", "train on the N pairs of largest margin (0 = all)"))
    pairing: str = field(default="extremes", metadata=flag(
        "--pairing", "children paired at a node: highest vs lowest Q, highest vs each other, every two",
        choices=PAIRINGS))


def validate_pairs(cfg: PairConfig) -> None:
    if not 0 <= cfg.max_similarity <= 1 or cfg.min_visits < 1:
        raise UserError("--max-similarity must lie in [0, 1] and --min-visits be positive")
    if cfg.max_pairs < 0:
        raise UserError(f"--max-pairs must be >= 0, got {cfg.max_pairs}")
    if cfg.pairing not in PAIRINGS:
        raise UserError(f"--pairing must be one of {', '.join(PAIRINGS)}, got {cfg.pairing!r}")


def select_pairs(rows: Sequence[dict[str, Any]], cfg: PairConfig) -> list[dict[str, Any]]:
    """The pairs a policy trains on: margin at least ``min_margin`` (pairs without a recorded margin
    are kept), and at most ``max_pairs`` of them, the largest margins first (ties in file order);
    the kept pairs stay in file order."""
    kept = [(i, r) for i, r in enumerate(rows) if float(r.get("margin", math.inf)) >= cfg.min_margin]
    if cfg.max_pairs and len(kept) > cfg.max_pairs:
        best = sorted(kept, key=lambda ir: (-float(ir[1].get("margin", math.inf)), ir[0]))[: cfg.max_pairs]
        kept = sorted(best, key=lambda ir: ir[0])
    return [r for _, r in kept]


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


#: renders chat messages with the policy's chat template (``LanguageModel.chat_prompt``)
ChatTemplate = Callable[[list[dict[str, str]]], str]


def child_pairs(kids: Sequence[Node], pairing: str) -> list[tuple[Node, Node]]:
    """(higher, lower) pairs of a node's children by Q (ties go to the earlier node, chosen or
    rejected alike)."""
    if pairing == "extremes":
        return [(max(kids, key=lambda n: (n.q, -n.id)), min(kids, key=lambda n: (n.q, n.id)))]
    ranked = sorted(kids, key=lambda n: (-n.q, n.id))
    if pairing == "best_vs_rest":
        return [(ranked[0], k) for k in ranked[1:]]
    return [(hi, lo) for i, hi in enumerate(ranked) for lo in ranked[i + 1 :]]


def tree_pairs(tree: Tree, cfg: ExploreConfig, premise: str, run: str, pair_cfg: PairConfig,
               chat_prompt: ChatTemplate | None = None) -> list[dict[str, Any]]:
    """Pairs of one tree (pure: no files, no models; ``chat_prompt`` renders prefill prompts)."""
    out = []
    for node in tree.nodes:
        kids = [tree.nodes[c] for c in node.children if tree.nodes[c].visits >= pair_cfg.min_visits]
        if len(kids) < 2:
            continue
        prompt: Any = None
        for best, worst in child_pairs(kids, pair_cfg.pairing):
            margin = best.q - worst.q
            chosen, rejected = best.step.get("passage", ""), worst.step.get("passage", "")
            if margin < pair_cfg.min_margin or not chosen or similarity(chosen, rejected) >= pair_cfg.max_similarity:
                continue
            if prompt is None:
                prompt, lead = preference_prompt(Story.from_steps(premise, tree.steps(node.id)), cfg.prompts, chat_prompt)
            if cfg.prompts.style == "chat":
                sides = {"chosen": [{"role": "assistant", "content": chosen}],
                         "rejected": [{"role": "assistant", "content": rejected}]}
            else:
                sides = {"chosen": lead + chosen, "rejected": lead + rejected}
            out.append(
                {
                    "prompt": prompt,
                    **sides,
                    "run": run,
                    "node": node.id,
                    "chosen_node": best.id,
                    "rejected_node": worst.id,
                    "chosen_q": round(best.q, 6),
                    "rejected_q": round(worst.q, 6),
                    "margin": round(margin, 6),
                    "chosen_visits": best.visits,
                    "rejected_visits": worst.visits,
                }
            )
    return out


def run_pairs(run_dir: Path, pair_cfg: PairConfig, chat_prompt: ChatTemplate | None = None) -> list[dict[str, Any]]:
    saved = load_run(run_dir)
    return tree_pairs(saved.tree, saved.config, saved.premise, str(run_dir), pair_cfg, chat_prompt)


def template_for(cfg: ExploreConfig, loaded: dict[tuple[str, str], ChatTemplate]) -> ChatTemplate | None:
    """The chat template a run's pairs need: none for a chat-style run; for a prefill-style run its
    policy's (the model is loaded to read it, once per policy and options kept in ``loaded``)."""
    if cfg.prompts.style == "chat":
        return None
    key = (cfg.models.policy_spec, repr(cfg.models.options()))
    if key not in loaded:
        from storyspace.models.registry import ModelPool

        loaded[key] = ModelPool(options=cfg.models.options()).get(cfg.models.policy_spec).chat_prompt
    return loaded[key]


def write_pairs(rows: Iterable[dict[str, Any]], path: Path) -> int:
    from storyspace.files import atomic_write

    rows = list(rows)
    atomic_write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return len(rows)


def read_pairs(path: Path) -> list[dict[str, Any]]:
    from storyspace.files import read_jsonl

    rows = []
    for n, row in read_jsonl(path, "pairs file"):
        if not isinstance(row, dict) or not {"prompt", "chosen", "rejected"} <= set(row):
            raise UserError(f"{path}:{n}: a pair needs prompt, chosen and rejected")
        rows.append(row)
    if not rows:
        raise UserError(f"no pairs in {path}")
    return rows
