"""The scorers a finished story is read by, and their settings: (a) the value model, (b) the
independent reader (the value function read by another model), (c) the LLM judge. ``assemble``
builds them from a ``ScoreConfig``; ``score``, ``validate-value``, ``eval`` and the loop use them."""

from __future__ import annotations

from dataclasses import dataclass, field

from storyspace.config import ModelsConfig
from storyspace.flags import flag
from storyspace.judges.llm import GEMMA_READER, LLM_JUDGE, READER, READER_CALIBRATION, JudgeConfig, LLMJudge
from storyspace.value.config import ValueConfig
from storyspace.value.model import ValueModel


@dataclass(frozen=True)
class ScoreConfig:
    """How ``score`` and ``validate-value`` read a story.

    - ``step_tokens``: a story is cut into steps of whole sentences of about this many tokens.
    - ``value``, ``models``: the value model (a) and the models it reads with (``--reference``,
      ``--judge``, ``--device``, backend settings), as in ``explore``.
    - ``reader``, ``reader_calibration``: the independent reader (b); "" turns it off.
    - ``llm_judge``, ``judge``: the LLM judge (c) and its prompts; "" = off.
    """

    step_tokens: int = field(default=64, metadata=flag("--step-tokens", "tokens per scored step"))
    value: ValueConfig = field(default_factory=ValueConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    reader: str = field(default=GEMMA_READER, metadata=READER)
    reader_calibration: str = field(default="auto", metadata=READER_CALIBRATION)
    llm_judge: str = field(default="", metadata=LLM_JUDGE)
    judge: JudgeConfig = field(default_factory=JudgeConfig)


#: ``ScoreConfig`` settings that do not apply to scoring (no policy writes here)
SCORE_SKIP = ("models.policy", "models.backend")


@dataclass
class Scorers:
    """What reads a story: the value model (a), the independent reader (b), the LLM judge (c)."""

    value: ValueModel  # (a)
    reader: ValueModel | None = None  # (b)
    llm: LLMJudge | None = None  # (c)
