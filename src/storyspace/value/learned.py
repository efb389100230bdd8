"""A learned combination of the step's interpretable features.

v = sigmoid(bias + sum_i w_i * (x_i - mean_i) / sd_i) * penalty

The penalty (too short, cut off, repetition, copying, meta talk; ``penalties.py``) stays a
fixed factor, so degenerate text is held down whatever the weights say; the weights learn how
surprisal, curiosity (the inverted U, kept as a feature so that its weight is measured) and the
coherence signals trade off. Weights ship as JSON (``data/value/``) with how they were fitted
(``storyspace fit-value``) and the quantiles of each feature over the human HANNA story steps
of the fit (``human_quantiles``).

Reward cap (``cap`` = q > 0, ``--reward-cap``): a linear value rewards a feature without end in
the direction its weight favours, and a search finds text far beyond anything the weights were
fitted on (the policy's own passages read by its own base model are more predictable than 95 %
of human steps). With the cap, a feature's term is at most what the human q-quantile (weight
below 0) or (1 - q)-quantile (weight above 0) earns: beyond the human range the value stops
rising, while the penalising direction is left as it is.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Mapping, Sequence

from storyspace.errors import UserError
from storyspace.files import read_json

#: readers with shipped weights (``weights = "auto"``)
SHIPPED_WEIGHTS = {"embedded": "embedded.json", "llamacpp:embedded": "embedded.json"}

#: features a weights file may use (all computed by ``features.step_features``)
FEATURES = ("surprisal_z", "curiosity", "pmi", "coherence", "surprisal_sd", "predictable", "log_words",
            "repetition", "copying", "premise_sim", "premise_recall")

#: quantiles of each feature over human story steps that a weights file records (``human_quantiles``)
HUMAN_QUANTILES = (0.01, 0.05, 0.95, 0.99)

#: features that need the passages embedded (MiniLM): a value model using them loads the embedder
EMBEDDED_FEATURES = ("premise_sim",)

#: features that need the reader's premise recall (``recall.py``): a value model using them reads it
RECALL_FEATURES = ("premise_recall",)


def check_cap(q: float) -> None:
    """A reward cap is 0 (off) or a lower quantile the weights record (one-line error)."""
    lower = [x for x in HUMAN_QUANTILES if x < 0.5]
    if q and q not in lower:
        raise UserError(f"--reward-cap must be 0 or one of {', '.join(map(str, lower))}, got {q}")


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


@dataclass(frozen=True)
class LinearValue:
    features: tuple[str, ...]
    mean: tuple[float, ...]
    sd: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float = 0.0
    raw: Mapping | None = None
    #: feature -> its values at ``HUMAN_QUANTILES`` over human story steps (None: not recorded)
    human: Mapping[str, tuple[float, ...]] | None = None
    #: reward cap q (0 = off): no feature term above what the human q / (1 - q) quantile earns
    cap: float = 0.0

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (len(self.mean) == len(self.sd) == len(self.weights) == n):
            raise UserError("invalid value weights: features, mean, sd and weights differ in length")
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown:
            raise UserError(f"invalid value weights: unknown feature(s) {', '.join(unknown)}")
        numbers = (*self.mean, *self.sd, *self.weights, self.bias)
        if not all(math.isfinite(x) for x in numbers) or min(self.sd, default=1.0) <= 0:
            raise UserError("invalid value weights: numbers must be finite and every sd positive")
        if self.human is not None and any(
                len(self.human.get(f, ())) != len(HUMAN_QUANTILES) for f in self.features):
            raise UserError(f"invalid value weights: human_quantiles needs {len(HUMAN_QUANTILES)} values per feature")
        check_cap(self.cap)
        if self.cap and self.human is None:
            raise UserError("--reward-cap needs value weights with human_quantiles (storyspace fit-value writes them)")

    def with_cap(self, q: float) -> "LinearValue":
        """The same weights with reward cap q (0 = off; one-line error when it cannot be)."""
        return replace(self, cap=float(q))

    @property
    def needs_embedder(self) -> bool:
        return any(f in EMBEDDED_FEATURES for f in self.features)

    @property
    def needs_recall(self) -> bool:
        return any(f in RECALL_FEATURES for f in self.features)

    @cached_property
    def caps(self) -> tuple[float, ...]:
        """Each feature's largest term under the reward cap (+inf without one)."""
        if not self.cap or self.human is None:
            return (math.inf,) * len(self.features)
        lo, hi = HUMAN_QUANTILES.index(self.cap), HUMAN_QUANTILES.index(round(1.0 - self.cap, 6))
        return tuple(w * ((self.human[f][lo] if w < 0 else self.human[f][hi]) - m) / s
                     for f, m, s, w in zip(self.features, self.mean, self.sd, self.weights))

    def score(self, x: Mapping[str, float]) -> float:
        """The linear score before the sigmoid; a non-finite feature (an empty passage) is -inf."""
        z = self.bias
        for f, m, s, w, top in zip(self.features, self.mean, self.sd, self.weights, self.caps):
            v = float(x[f])
            if not math.isfinite(v):
                return -math.inf
            z += min(w * (v - m) / s, top)
        return z

    def value(self, x: Mapping[str, float]) -> float:
        z = self.score(x)
        return 0.0 if z == -math.inf else sigmoid(z) * float(x.get("penalty", 1.0))

    def as_dict(self) -> dict:
        out = {"features": list(self.features), "mean": list(self.mean), "sd": list(self.sd),
               "weights": list(self.weights), "bias": self.bias}
        if self.human is not None:
            out["human_quantiles"] = {"quantiles": list(HUMAN_QUANTILES),
                                      "values": {f: list(self.human[f]) for f in self.features}}
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> "LinearValue":
        try:
            human = data.get("human_quantiles")
            if human is not None:
                if [float(q) for q in human["quantiles"]] != list(HUMAN_QUANTILES):
                    raise UserError(f"invalid value weights: human_quantiles must be at {list(HUMAN_QUANTILES)}")
                human = {str(f): tuple(float(x) for x in xs) for f, xs in human["values"].items()}
            return cls(features=tuple(str(f) for f in data["features"]),
                       mean=tuple(float(x) for x in data["mean"]), sd=tuple(float(x) for x in data["sd"]),
                       weights=tuple(float(x) for x in data["weights"]), bias=float(data.get("bias", 0.0)),
                       raw=data, human=human)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UserError(f"invalid value weights file: missing or bad field {exc}") from exc


def load_weights(path: str, reader_spec: str) -> LinearValue:
    """``auto``: the shipped weights of the reader; otherwise a JSON file (``fit-value --out``)."""
    if path == "auto":
        if reader_spec not in SHIPPED_WEIGHTS:
            raise UserError(f"no value weights for reference {reader_spec!r}: run `storyspace fit-value --reference "
                            f"{reader_spec} --out FILE` and pass --value-weights FILE, or --combine product")
        text = resources.files("storyspace.data.value").joinpath(SHIPPED_WEIGHTS[reader_spec]).read_text()
        return LinearValue.from_dict(json.loads(text))
    data = read_json(Path(path).expanduser(), "value weights file")
    if not isinstance(data, dict):
        raise UserError(f"value weights file {path} is not a JSON object")
    return LinearValue.from_dict(data)


def fitted_mean_sd(rows: Sequence[Mapping[str, float]], features: Sequence[str]) -> tuple[list[float], list[float]]:
    """Mean and SD of each feature over rows (finite values only; SD at least 1e-6)."""
    mean, sd = [], []
    for f in features:
        xs = [float(r[f]) for r in rows if math.isfinite(float(r[f]))]
        m = sum(xs) / len(xs) if xs else 0.0
        v = sum((x - m) ** 2 for x in xs) / len(xs) if xs else 1.0
        mean.append(m)
        sd.append(max(math.sqrt(v), 1e-6))
    return mean, sd
