"""How a step is valued: the settings of the value model (``ValueConfig``), apart from the model
itself, so that the configuration layer reads them without importing the value model."""

from __future__ import annotations

from dataclasses import dataclass, field

from storyspace.flags import flag
from storyspace.value.coherence import SIGNALS
from storyspace.value.penalties import PenaltyConfig

#: how the features make the step value: ``product`` (curiosity^alpha * coherence^beta * penalty,
#: DESIGN.md's formula) or ``learned`` (``learned.LinearValue``, shipped weights)
COMBINES = ("learned", "product")


@dataclass(frozen=True)
class ValueConfig:
    """How a step is valued.

    - ``combine``: how the features make the value (``COMBINES``); ``weights``: the learned
      weights (``auto``: shipped for the reader, ``learned.SHIPPED_WEIGHTS``).
    - ``coherence``: which signal is the coherence term (pmi | cosine | judge); the default is the
      one that best told true next passages from other stories' and shuffled ones in our
      calibration run (see ``data/calibration/embedded.json``, key ``comparison``).
    - ``alpha``, ``beta``: exponents of curiosity and coherence (DESIGN.md: both 1).
    - ``cosine_cap``: MiniLM cosine at or above which coherence is 1.
    - ``calibration``: a calibration JSON written by ``storyspace calibrate``; ``auto`` uses the
      shipped calibration of the reader (``SHIPPED_CALIBRATIONS``: the embedded model on either
      backend, Gemma 3 270M on llama.cpp) and refuses other readers.
    - ``reward_cap``: q > 0 caps each learned feature's reward at the human q (or 1 - q) quantile
      of the weights' ``human_quantiles`` (``learned.py``); off by default (measured in NOTES.md).
    """

    combine: str = field(default="learned", metadata=flag("--combine", "how features make the step value",
                                                          choices=COMBINES))
    weights: str = field(default="auto", metadata=flag("--value-weights", "learned weights JSON (fit-value)",
                                                       metavar="FILE|auto"))
    coherence: str = field(default="pmi", metadata=flag("--coherence", "coherence signal", choices=SIGNALS))
    alpha: float = field(default=1.0, metadata=flag("--value-alpha", "exponent of curiosity in the step value"))
    beta: float = field(default=1.0, metadata=flag("--value-beta", "exponent of coherence in the step value"))
    cosine_cap: float = field(default=0.6, metadata=flag("--cosine-cap", "MiniLM cosine at which coherence is 1"))
    calibration: str = field(default="auto", metadata=flag("--calibration", "calibration JSON of the reader",
                                                           metavar="FILE|auto"))
    reward_cap: float = field(default=0.0, metadata=flag(
        "--reward-cap", "learned value: no feature rewards beyond its human q / 1-q quantile (0 = off)",
        metavar="0|0.01|0.05"))
    penalties: PenaltyConfig = field(default_factory=PenaltyConfig)
