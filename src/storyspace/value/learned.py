"""A learned combination of the step's interpretable features.

v = sigmoid(bias + sum_i w_i * (x_i - mean_i) / sd_i) * penalty

The penalty (too short, cut off, repetition, copying, meta talk; ``penalties.py``) stays a
fixed factor, so degenerate text is held down whatever the weights say; the weights learn how
surprisal, curiosity (the inverted U, kept as a feature so that its weight is measured) and the
coherence signals trade off. Weights ship as JSON (``data/value/``) with how they were fitted
(``storyspace fit-value``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Mapping, Sequence

from storyspace.errors import UserError
from storyspace.runs import read_json

#: readers with shipped weights (``weights = "auto"``)
SHIPPED_WEIGHTS = {"embedded": "embedded.json", "llamacpp:embedded": "embedded.json"}

#: features a weights file may use (all computed by ``features.step_features``)
FEATURES = ("surprisal_z", "curiosity", "pmi", "coherence", "surprisal_sd", "predictable", "log_words",
            "repetition", "copying", "premise_sim", "premise_recall")

#: features that need the passages embedded (MiniLM): a value model using them loads the embedder
EMBEDDED_FEATURES = ("premise_sim",)

#: features that need the reader's premise recall (``recall.py``): a value model using them reads it
RECALL_FEATURES = ("premise_recall",)


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

    @property
    def needs_embedder(self) -> bool:
        return any(f in EMBEDDED_FEATURES for f in self.features)

    @property
    def needs_recall(self) -> bool:
        return any(f in RECALL_FEATURES for f in self.features)

    def score(self, x: Mapping[str, float]) -> float:
        """The linear score before the sigmoid; a non-finite feature (an empty passage) is -inf."""
        z = self.bias
        for f, m, s, w in zip(self.features, self.mean, self.sd, self.weights):
            v = float(x[f])
            if not math.isfinite(v):
                return -math.inf
            z += w * (v - m) / s
        return z

    def value(self, x: Mapping[str, float]) -> float:
        z = self.score(x)
        return 0.0 if z == -math.inf else sigmoid(z) * float(x.get("penalty", 1.0))

    def as_dict(self) -> dict:
        return {"features": list(self.features), "mean": list(self.mean), "sd": list(self.sd),
                "weights": list(self.weights), "bias": self.bias}

    @classmethod
    def from_dict(cls, data: Mapping) -> "LinearValue":
        try:
            return cls(features=tuple(str(f) for f in data["features"]),
                       mean=tuple(float(x) for x in data["mean"]), sd=tuple(float(x) for x in data["sd"]),
                       weights=tuple(float(x) for x in data["weights"]), bias=float(data.get("bias", 0.0)),
                       raw=data)
        except (KeyError, TypeError, ValueError) as exc:
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
