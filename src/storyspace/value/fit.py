"""Fit the learned value (``learned.LinearValue``) on pairs a reader should order, with
cross-validation grouped by prompt (``storyspace fit-value``).

Training pairs, all from the shipped HANNA human stories (96 prompts):
- ``story``: each story's opening against its 8 contrast corruptions (``contrast.py``,
  generators fixed before any fitting), story value = mean step value;
- ``step``: the true next step against each corrupted next step, given the story so far;
- ``hanna``: two human stories of different prompts whose mean human rating (the criteria of
  ``FitConfig.criteria``) differs by at least ``min_gap``;
- ``siblings`` (with ``fit-value --study``): two passages the policy wrote after the same story so
  far, the one a reader chose above the other (``fit_data.sibling_fit_pairs``), weighted
  ``study_weight``; grouped by the premise's HANNA prompt.

The objective is Bradley-Terry on exactly what the value model outputs: P(a above b) =
sigmoid(temperature * (V(a) - V(b))), V the mean over steps of sigmoid(score) * penalty, with an
L2 penalty on the weights. Folds are by prompt: a prompt's story, corruptions and steps are
never split between training and test.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from storyspace.flags import flag
from storyspace.value.learned import FEATURES, LinearValue, fitted_mean_sd

#: features of the default fit (``FEATURES`` lists all a weights file may use); premise recall is
#: left out: it costs one more reader pass per expansion and, measured (results/value/README.md,
#: session 10), the fit gives it no weight
DEFAULT_FEATURES = tuple(f for f in FEATURES if f != "premise_recall")


@dataclass(frozen=True)
class FitConfig:
    """- ``features``: comma-separated feature names (``learned.FEATURES``).
    - ``l2``: weight of the L2 penalty on the (standardised) weights.
    - ``temperature``: of the Bradley-Terry link on value differences (values lie in [0, 1]).
    - ``folds``: cross-validation folds, grouped by prompt; ``seed``: of the fold split.
    - ``hanna_weight``: weight of a HANNA rating pair relative to a contrast pair.
    - ``criteria``: HANNA ratings whose mean orders human stories; ``min_gap``: least gap.
    - ``step_tokens``, ``contrast_words``: how stories are cut into steps and how much of each
      the contrast pairs read (as ``validate-value``).
    - ``stories``: read only the first N HANNA human stories (0: all 96), for a slow reader's
      comparison on a subset; the shipped weights read all.
    - ``study_weight``: weight of a sibling pair a reader chose the same way in both orders
      (``fit-value --study``), relative to a contrast pair."""

    features: str = field(default=",".join(DEFAULT_FEATURES), metadata=flag(
        "--features", "comma-separated features of the learned value"))
    l2: float = field(default=0.1, metadata=flag("--l2", "L2 penalty on the weights"))
    temperature: float = field(default=10.0, metadata=flag("--temperature", "Bradley-Terry temperature"))
    folds: int = field(default=5, metadata=flag("--folds", "cross-validation folds (grouped by prompt)"))
    seed: int = field(default=0, metadata=flag("--seed", "seed of the folds and the corruptions"))
    hanna_weight: float = field(default=1.0, metadata=flag("--hanna-weight", "weight of a HANNA rating pair"))
    criteria: str = field(default="human_coherence,human_surprise", metadata=flag(
        "--criteria", "HANNA ratings whose mean orders two human stories"))
    min_gap: float = field(default=1.0, metadata=flag("--min-gap", "least HANNA rating gap of a training pair"))
    step_tokens: int = field(default=64, metadata=flag("--step-tokens", "tokens per scored step"))
    contrast_words: int = field(default=160, metadata=flag(
        "--contrast-words", "the contrast pairs read each story's opening: whole sentences up to this many words"))
    stories: int = field(default=0, metadata=flag("--stories", "read only the first N HANNA human stories (0: all)"))
    study_weight: float = field(default=1.0, metadata=flag(
        "--study-weight", "weight of a sibling pair of --study (read the same way in both orders)"))

    @property
    def feature_list(self) -> tuple[str, ...]:
        return tuple(f.strip() for f in self.features.split(",") if f.strip())


@dataclass(frozen=True)
class Pair:
    """``better`` and ``worse`` are lists of step feature dicts (one step for a step pair)."""

    groups: tuple[str, ...]  # the prompt(s) it comes from: folds never split a prompt
    kind: str  # story | step | hanna
    corruption: str
    better: list[dict[str, float]]
    worse: list[dict[str, float]]
    weight: float = 1.0


def check_features(names: Sequence[str]) -> None:
    from storyspace.errors import UserError

    bad = [f for f in names if f not in FEATURES]
    if bad or not names:
        raise UserError(f"unknown feature(s) {', '.join(bad) or '(none)'}; choose from {', '.join(FEATURES)}")


def fold_of(groups: Sequence[str], folds: int, seed: int) -> dict[str, int]:
    """Each group's fold: groups shuffled by ``seed`` and dealt round-robin."""
    order = sorted(set(groups))
    random.Random(seed).shuffle(order)
    return {g: i % folds for i, g in enumerate(order)}


def fit(pairs: Sequence[Pair], cfg: FitConfig, on_step: Callable[[int], None] | None = None) -> LinearValue:
    """Weights that maximise the L2-penalised Bradley-Terry likelihood of the pairs."""
    import torch

    names = cfg.feature_list
    check_features(names)
    steps = [x for p in pairs for side in (p.better, p.worse) for x in side]
    mean, sd = fitted_mean_sd(steps, names)

    def tensors(side: str):  # noqa: ANN202
        rows = [getattr(p, side) for p in pairs]
        longest = max(len(r) for r in rows)
        x = torch.zeros((len(rows), longest, len(names)), dtype=torch.float64)
        pen = torch.zeros((len(rows), longest), dtype=torch.float64)
        mask = torch.zeros((len(rows), longest), dtype=torch.float64)
        for i, r in enumerate(rows):
            for j, f in enumerate(r):
                vals = [float(f[n]) for n in names]
                if not all(math.isfinite(v) for v in vals):
                    mask[i, j] = 1.0  # a step valued 0 (empty): counts in the mean, no features
                    continue
                x[i, j] = torch.tensor([(v - m) / s for v, m, s in zip(vals, mean, sd)], dtype=torch.float64)
                pen[i, j] = float(f.get("penalty", 1.0))
                mask[i, j] = 1.0
        return x, pen, mask

    xb, pb, mb = tensors("better")
    xw, pw, mw = tensors("worse")
    wt = torch.tensor([p.weight for p in pairs], dtype=torch.float64)
    w = torch.zeros(len(names), dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)

    def story_value(x, pen, mask):  # noqa: ANN001, ANN202
        v = torch.sigmoid(x @ w + b) * pen * mask
        return v.sum(1) / mask.sum(1).clamp(min=1.0)

    opt = torch.optim.LBFGS([w, b], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure():  # noqa: ANN202
        opt.zero_grad()
        d = cfg.temperature * (story_value(xb, pb, mb) - story_value(xw, pw, mw))
        loss = (wt * torch.nn.functional.softplus(-d)).sum() / wt.sum() + cfg.l2 * (w**2).sum()
        loss.backward()
        return loss

    for i in range(3):
        opt.step(closure)
        if on_step is not None:
            on_step(i)
    return LinearValue(features=names, mean=tuple(mean), sd=tuple(sd),
                       weights=tuple(round(float(v), 6) for v in w.detach()), bias=round(float(b.detach()), 6))


def story_value(model: LinearValue, steps: Sequence[dict[str, float]]) -> float:
    return sum(model.value(x) for x in steps) / len(steps) if steps else 0.0


def pair_agreement(model: LinearValue, pairs: Sequence[Pair]) -> dict[str, dict[str, Any]]:
    """Agreement (ties half) and pair count per (kind, corruption), plus per kind overall."""
    from collections import defaultdict

    wins: dict[str, list[float]] = defaultdict(list)
    for p in pairs:
        a, b = story_value(model, p.better), story_value(model, p.worse)
        w = 1.0 if a > b else 0.5 if a == b else 0.0
        wins[f"{p.kind}:{p.corruption}"].append(w)
        wins[p.kind].append(w)
    return {k: {"agreement": sum(v) / len(v), "pairs": len(v)} for k, v in sorted(wins.items())}


def cross_validate(pairs: Sequence[Pair], cfg: FitConfig,
                   on_fold: Callable[[int, int], None] | None = None) -> dict[str, dict[str, Any]]:
    """Per (kind, corruption): test agreement mean and SD over folds, and pooled over folds."""
    import statistics

    fold = fold_of([g for p in pairs for g in p.groups], cfg.folds, cfg.seed)
    per_fold: list[dict[str, dict[str, Any]]] = []
    for k in range(cfg.folds):
        if on_fold is not None:
            on_fold(k, cfg.folds)
        # a pair of two prompts trains only when neither is in the test fold, tests only when both are
        train = [p for p in pairs if all(fold[g] != k for g in p.groups)]
        test = [p for p in pairs if all(fold[g] == k for g in p.groups)]
        per_fold.append(pair_agreement(fit(train, cfg), test))
    if on_fold is not None:
        on_fold(cfg.folds, cfg.folds)
    out = {}
    for key in sorted({k for f in per_fold for k in f}):
        xs = [f[key]["agreement"] for f in per_fold if key in f]
        n = sum(f[key]["pairs"] for f in per_fold if key in f)
        pooled = sum(f[key]["agreement"] * f[key]["pairs"] for f in per_fold if key in f) / n
        out[key] = {"mean": statistics.fmean(xs), "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0,
                    "pooled": pooled, "pairs": n}
    return out


def check_fit(cfg: FitConfig) -> None:
    """One-line errors for settings a fit cannot use."""
    from storyspace.errors import UserError

    check_features(cfg.feature_list)
    if cfg.folds < 2:
        raise UserError("--folds must be at least 2")
    if cfg.l2 < 0 or cfg.temperature <= 0 or cfg.hanna_weight < 0 or cfg.min_gap < 0 or cfg.study_weight < 0:
        raise UserError("--l2, --hanna-weight, --study-weight and --min-gap must be >= 0 and --temperature > 0")
    if cfg.step_tokens < 1 or cfg.contrast_words < 1:
        raise UserError("--step-tokens and --contrast-words must be positive")
    if cfg.stories < 0 or 0 < cfg.stories < cfg.folds:
        raise UserError("--stories must be 0 (all) or at least --folds")
    if not [c for c in cfg.criteria.split(",") if c.strip()]:
        raise UserError("--criteria names no HANNA rating")


def cv_markdown(cv: dict[str, dict[str, Any]], in_sample: dict[str, dict[str, Any]]) -> str:
    """The cross-validated agreement per pair kind and corruption, beside the in-sample one."""
    lines = ["| pairs | cross-validated agreement, pooled (mean ± SD over folds) | in sample | pairs |",
             "|---|---|---|---|"]
    for key, v in cv.items():
        ins = in_sample.get(key, {}).get("agreement", float("nan"))
        lines.append(f"| {key} | {v['pooled']:.3f} ({v['mean']:.3f} ± {v['sd']:.3f}) | {ins:.3f} | {v['pairs']} |")
    return "\n".join(lines) + "\n"
