"""The step value v = curiosity(surprisal)^alpha * coherence^beta * penalties, with its breakdown."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Sequence

from storyspace.errors import UserError
from storyspace.flags import flag
from storyspace.runs import read_json
from storyspace.models.base import LanguageModel
from storyspace.story import PromptConfig, Story, reader_context
from storyspace.value.coherence import (
    SIGNALS,
    MiniLMEmbedder,
    PMIParams,
    cosine_coherence,
    judge_yes_probability,
    pmi_coherence,
)
from storyspace.value.curiosity import CuriosityParams, curiosity, standardise
from storyspace.value.penalties import PenaltyConfig, penalties
from storyspace.value.surprisal import mean_surprisal

#: readers with a shipped calibration (``calibration = "auto"``)
SHIPPED_CALIBRATIONS = {
    "embedded": "embedded.json",
    "llamacpp:embedded": "embedded.json",
    "llamacpp:gemma3-270m": "gemma3-270m.json",
}


@dataclass(frozen=True)
class ValueConfig:
    """How a step is valued.

    - ``coherence``: which signal is the coherence term (pmi | cosine | judge); the default is the
      one that best told true next passages from other stories' and shuffled ones in our
      calibration run (see ``data/calibration/embedded.json``, key ``comparison``).
    - ``alpha``, ``beta``: exponents of curiosity and coherence (DESIGN.md: both 1).
    - ``cosine_cap``: MiniLM cosine at or above which coherence is 1.
    - ``calibration``: a calibration JSON written by ``storyspace calibrate``; ``auto`` uses the
      shipped calibration of the reader (``SHIPPED_CALIBRATIONS``: the embedded model on either
      backend, Gemma 3 270M on llama.cpp) and refuses other readers.
    """

    coherence: str = field(default="pmi", metadata=flag("--coherence", "coherence signal", choices=SIGNALS))
    alpha: float = field(default=1.0, metadata=flag("--value-alpha", "exponent of curiosity in the step value"))
    beta: float = field(default=1.0, metadata=flag("--value-beta", "exponent of coherence in the step value"))
    cosine_cap: float = field(default=0.6, metadata=flag("--cosine-cap", "MiniLM cosine at which coherence is 1"))
    calibration: str = field(default="auto", metadata=flag("--calibration", "calibration JSON of the reader",
                                                           metavar="FILE|auto"))
    penalties: PenaltyConfig = field(default_factory=PenaltyConfig)


@dataclass(frozen=True)
class Calibration:
    reader: str
    curiosity: CuriosityParams
    pmi: PMIParams
    raw: dict

    @classmethod
    def from_dict(cls, data: dict) -> "Calibration":
        try:
            cur = data["curiosity"]
            pmi = data["coherence"]["pmi"]
            out = cls(
                reader=str(data["reader"]),
                curiosity=CuriosityParams(
                    mu=float(cur["mu"]),
                    sigma=float(cur["sigma"]),
                    z0=float(cur.get("z0", 0.0)),
                    width=float(cur.get("width", 1.0)),
                ),
                pmi=PMIParams(center=float(pmi["center"]), scale=float(pmi["scale"])),
                raw=data,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"invalid calibration file: missing or bad field {exc}") from exc
        numbers = (out.curiosity.mu, out.curiosity.sigma, out.curiosity.z0, out.curiosity.width, out.pmi.center,
                   out.pmi.scale)
        if not all(math.isfinite(x) for x in numbers) or min(out.curiosity.sigma, out.curiosity.width, out.pmi.scale) <= 0:
            raise UserError("invalid calibration file: numbers must be finite, sigma, width and scale positive")
        return out


def load_calibration(path: str, reader_spec: str) -> Calibration:
    """``auto``: the shipped calibration of the embedded reader; otherwise a JSON file path."""
    if path == "auto":
        if reader_spec not in SHIPPED_CALIBRATIONS:
            raise UserError(
                f"no calibration for reference {reader_spec!r}: run "
                f"`storyspace calibrate --reference {reader_spec} --out FILE` and pass --calibration FILE"
            )
        text = resources.files("storyspace.data.calibration").joinpath(SHIPPED_CALIBRATIONS[reader_spec]).read_text()
        return Calibration.from_dict(json.loads(text))
    return Calibration.from_dict(read_json(Path(path).expanduser(), "calibration file"))


def step_value(curiosity: float, coherence: float, penalty: float = 1.0, alpha: float = 1.0, beta: float = 1.0) -> float:
    """The value formula, written once: v = curiosity^alpha * coherence^beta * penalty."""
    return (curiosity**alpha) * (coherence**beta) * penalty


class ValueModel:
    """Values candidate passages for one story state; the reader is frozen (never the policy
    being trained), the judge is only used when ``coherence == "judge"``."""

    def __init__(
        self,
        reader: LanguageModel,
        cfg: ValueConfig,
        calibration: Calibration,
        prompts: PromptConfig,
        judge: LanguageModel | None = None,
        embedder: MiniLMEmbedder | None = None,
    ) -> None:
        if cfg.coherence not in SIGNALS:
            raise UserError(f"unknown coherence signal {cfg.coherence!r} (expected one of {', '.join(SIGNALS)})")
        if cfg.coherence == "judge" and judge is None:
            raise UserError("coherence 'judge' needs a judge model")
        if cfg.coherence == "cosine" and embedder is None:
            embedder = MiniLMEmbedder()
        self.reader = reader
        self.cfg = cfg
        self.calibration = calibration
        self.prompts = prompts
        self.judge = judge
        self.embedder = embedder

    def evaluate(self, story: Story, passages: Sequence[str], cut_off: Sequence[bool]) -> list[dict[str, float]]:
        """One breakdown per passage; ``value`` is the step value in [0, 1]."""
        passages = list(passages)
        if not passages:
            return []
        s_ctx = mean_surprisal(self.reader, reader_context(story, self.prompts), passages)
        s_neu = mean_surprisal(self.reader, reader_context(story, self.prompts, with_story=False), passages)
        cal = self.calibration
        if self.cfg.coherence == "cosine":
            anchor = story.text() or story.premise
            raw = self.embedder.cosines(anchor, passages)  # type: ignore[union-attr]
            coh = [cosine_coherence(c, self.cfg.cosine_cap) for c in raw]
        elif self.cfg.coherence == "judge":
            raw = judge_yes_probability(self.judge, story, passages)  # type: ignore[arg-type]
            coh = list(raw)
        else:
            raw = [n - c for n, c in zip(s_neu, s_ctx)]
            coh = [pmi_coherence(p, cal.pmi) for p in raw]
        so_far = story.premise + "\n" + story.text()
        out = []
        for i, passage in enumerate(passages):
            cur = curiosity(s_ctx[i], cal.curiosity)
            pen = penalties(passage, so_far, cut_off[i], self.cfg.penalties)
            value = step_value(cur, coh[i], pen["penalty"], self.cfg.alpha, self.cfg.beta)
            out.append(
                {
                    "value": round(value, 6),
                    "surprisal": round(s_ctx[i], 4),
                    "surprisal_z": round(standardise(s_ctx[i], cal.curiosity), 4),
                    "surprisal_neutral": round(s_neu[i], 4),
                    "pmi": round(s_neu[i] - s_ctx[i], 4),
                    "curiosity": round(cur, 6),
                    "coherence_signal": self.cfg.coherence,
                    "coherence_raw": round(float(raw[i]), 6),
                    "coherence": round(coh[i], 6),
                    **pen,
                }
            )
        return out
