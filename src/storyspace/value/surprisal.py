"""Surprisal of passages under the frozen reference reader (mean token NLL, nats)."""

from __future__ import annotations

import math
from typing import Sequence

from storyspace.models.base import LanguageModel


def mean_surprisal(reader: LanguageModel, context: str, passages: Sequence[str]) -> list[float]:
    """Mean negative log-likelihood per token of each passage after ``context`` (one shared
    prefix cache for all passages). An empty passage gets ``inf``."""
    out = []
    for lps in reader.logprobs(context, list(passages)):
        out.append(-sum(lps) / len(lps) if lps else math.inf)
    return out
