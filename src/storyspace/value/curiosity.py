"""Curiosity: an inverted U of surprisal, centred on what human prose looks like to the reader."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class CuriosityParams:
    """c(s) = exp(-(z - z0)^2 / (2 w^2)), z = (s - mu) / sigma.

    mu, sigma: mean and SD of the reference reader's step surprisal (nats/token) on human
    stories (``storyspace calibrate``). z0 = 0 puts the peak at typical human prose; w = 1 keeps
    c above 0.6 within one human SD. Greedy LM text (too predictable) and noise (too surprising)
    both fall off.
    """

    mu: float = 3.7
    sigma: float = 0.9
    z0: float = 0.0
    width: float = 1.0


def standardise(surprisal: float, params: CuriosityParams) -> float:
    return (surprisal - params.mu) / params.sigma


def curiosity(surprisal: float, params: CuriosityParams) -> float:
    """In [0, 1]; 1 at the target surprisal mu + z0 * sigma."""
    if not math.isfinite(surprisal):
        return 0.0
    z = standardise(surprisal, params)
    return math.exp(-((z - params.z0) ** 2) / (2.0 * params.width**2))
