"""The step value v = curiosity(surprisal)^alpha * coherence^beta * penalties, with its breakdown."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Sequence

from storyspace.errors import UserError
from storyspace.files import read_json
from storyspace.models.base import LanguageModel, Segments
from storyspace.story import PASSAGE_SEPARATOR, PromptConfig, Step, Story, reader_context
from storyspace.value.coherence import (
    SIGNALS,
    MiniLMEmbedder,
    PMIParams,
    cosine_coherence,
    judge_yes_probability,
)
from storyspace.value.config import COMBINES, ValueConfig
from storyspace.value.curiosity import CuriosityParams
from storyspace.value.features import Reading, step_features
from storyspace.value.learned import LinearValue, load_weights
from storyspace.value import recall
from storyspace.value.surprisal import chain_logprobs

#: readers with a shipped calibration (``calibration = "auto"``)
SHIPPED_CALIBRATIONS = {
    "embedded": "embedded.json",
    "llamacpp:embedded": "embedded.json",
    "llamacpp:gemma3-270m": "gemma3-270m.json",
    "llamacpp:qwen2.5-coder-0.5b": "qwen2.5-coder-0.5b.json",
}


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


def premise_recalls(reader: LanguageModel, prompts: PromptConfig, premise: str, passages: Sequence[str],
                    along: bool, so_far: Story | None = None,
                    baselines: dict[str, float] | None = None) -> list[float]:
    """The ``premise_recall`` feature of each passage: after a story state's candidates
    (``along=False``; the state ``so_far``) or after each step of a story (``along=True``). The
    story is read without its premise (``reader_neutral``, then the passages); ``baselines``
    keeps each premise's baseline across calls."""
    premise = premise.strip()
    tail = prompts.reader_recall_tail
    story = [x for s in (so_far.steps if so_far else ()) if s.passage for x in (s.passage, PASSAGE_SEPARATOR)]
    context = Segments([prompts.reader_neutral, *story])
    if along:
        lps = recall.along_story(reader, context, passages, PASSAGE_SEPARATOR, tail, premise)
    else:
        lps = recall.after_candidates(reader, context, passages, tail, premise)
    cache = baselines if baselines is not None else {}
    if premise not in cache:
        cache[premise] = recall.baseline(reader, tail, premise)
    return [round(recall.recall(x, cache[premise]), 6) for x in lps]


def step_value(curiosity: float, coherence: float, penalty: float = 1.0, alpha: float = 1.0, beta: float = 1.0) -> float:
    """The value formula, written once: v = curiosity^alpha * coherence^beta * penalty."""
    return (curiosity**alpha) * (coherence**beta) * penalty


class ValueModel:
    """Values candidate passages for one story state; the reader is frozen (never the policy
    being trained), the judge is only used when ``coherence == "judge"``.

    Two ways in, one computation: ``evaluate`` reads candidate passages after one story state
    (the search); ``evaluate_story`` reads a whole story step by step in one pass (``score``,
    ``validate-value``, eval). Both turn readings into features (``features.step_features``) and
    features into a value (``value_of``)."""

    def __init__(
        self,
        reader: LanguageModel,
        cfg: ValueConfig,
        calibration: Calibration,
        prompts: PromptConfig,
        judge: LanguageModel | None = None,
        embedder: MiniLMEmbedder | None = None,
        weights: LinearValue | None = None,
    ) -> None:
        if cfg.coherence not in SIGNALS:
            raise UserError(f"unknown coherence signal {cfg.coherence!r} (expected one of {', '.join(SIGNALS)})")
        if cfg.combine not in COMBINES:
            raise UserError(f"unknown value combination {cfg.combine!r} (expected one of {', '.join(COMBINES)})")
        if cfg.coherence == "judge" and judge is None:
            raise UserError("coherence 'judge' needs a judge model")
        if cfg.combine == "learned" and weights is None:
            weights = load_weights(cfg.weights, reader.spec)
        if cfg.combine == "learned" and weights is not None and weights.cap != cfg.reward_cap:
            weights = weights.with_cap(cfg.reward_cap)
        wants_embedder = cfg.coherence == "cosine" or (weights is not None and cfg.combine == "learned"
                                                             and weights.needs_embedder)
        if wants_embedder and embedder is None:
            embedder = MiniLMEmbedder()
        self.reader = reader
        self.cfg = cfg
        self.calibration = calibration
        self.prompts = prompts
        self.judge = judge
        self.embedder = embedder
        self.weights = weights
        #: premise recall is read (one more reader pass) only when the learned weights use it
        self.reads_recall = cfg.combine == "learned" and weights is not None and weights.needs_recall
        self._baselines: dict[str, float] = {}  # premise -> its recall baseline (one reader call each)

    # -- reading -----------------------------------------------------------------------------
    def read(self, story: Story, passages: Sequence[str], cut_off: Sequence[bool]) -> list[Reading]:
        """Candidate passages after one story state: one reader call per context."""
        ctx = self.reader.logprobs(reader_context(story, self.prompts), list(passages))
        neu = self.reader.logprobs(reader_context(story, self.prompts, with_story=False), list(passages))
        sims = self.premise_sims(story.premise, passages)
        recalls = self.recalls(story.premise, passages, along=False, so_far=story)
        text = story.text()
        return [Reading(p, story.premise + "\n" + text, c, n, cut, text, sim, rec)
                for p, c, n, cut, sim, rec in zip(passages, ctx, neu, cut_off, sims, recalls)]

    def read_story(self, premise: str, passages: Sequence[str], cut_off: Sequence[bool]) -> list[Reading]:
        """A whole story, each passage after the ones before it: time linear in its length
        (``surprisal.chain_logprobs``), the same numbers as ``read`` step by step."""
        start = Story(premise)
        ctx = chain_logprobs(self.reader, reader_context(start, self.prompts), passages, PASSAGE_SEPARATOR)
        neu = self.reader.logprobs(reader_context(start, self.prompts, with_story=False), list(passages))
        sims = self.premise_sims(premise, passages)
        recalls = self.recalls(premise, passages, along=True)
        out = []
        for k, (p, c, n, cut, sim, rec) in enumerate(zip(passages, ctx, neu, cut_off, sims, recalls)):
            text = PASSAGE_SEPARATOR.join(x for x in passages[:k] if x)
            out.append(Reading(p, premise + "\n" + text, c, n, cut, text, sim, rec))
        return out

    def recalls(self, premise: str, passages: Sequence[str], along: bool,
                so_far: Story | None = None) -> list[float | None]:
        """Premise recall (``recall.py``) after each candidate passage of the story state
        ``so_far`` (``along=False``) or after each step of a story (``along=True``); None where the
        value model does not read it."""
        if not self.reads_recall or not passages:
            return [None] * len(passages)
        return premise_recalls(self.reader, self.prompts, premise, passages, along, so_far, self._baselines)

    def premise_sims(self, premise: str, passages: Sequence[str]) -> list[float | None]:
        """MiniLM cosine of each passage with the premise; None without an embedder."""
        if self.embedder is None or not passages:
            return [None] * len(passages)
        return [round(float(c), 6) for c in self.embedder.cosines(premise, list(passages))]

    # -- valuing -----------------------------------------------------------------------------
    def value_of(self, x: dict[str, float]) -> float:
        """The step value of a feature dict (the configured combination)."""
        if self.cfg.combine == "learned":
            return self.weights.value(x)  # type: ignore[union-attr]
        return step_value(x["curiosity"], x["coherence"], x["penalty"], self.cfg.alpha, self.cfg.beta)

    def evaluate(self, story: Story, passages: Sequence[str], cut_off: Sequence[bool]) -> list[dict[str, float]]:
        """One breakdown per passage; ``value`` is the step value in [0, 1]."""
        passages = list(passages)
        if not passages:
            return []
        return self._breakdowns(self.read(story, passages, cut_off), [story] * len(passages))

    def evaluate_story(self, premise: str, passages: Sequence[str], cut_off: Sequence[bool]) -> list[dict[str, float]]:
        """One breakdown per step of a story, each in the context of the steps before it."""
        passages = list(passages)
        if not passages:
            return []
        states, story = [], Story(premise)
        for p in passages:
            states.append(story)
            story = story.extend(Step(passage=p))
        return self._breakdowns(self.read_story(premise, passages, cut_off), states)

    def _breakdowns(self, readings: Sequence[Reading], states: Sequence[Story]) -> list[dict[str, float]]:
        cal = self.calibration
        feats = [step_features(r, cal.curiosity, cal.pmi, self.cfg.penalties) for r in readings]
        raw = [f["pmi"] for f in feats]
        if self.cfg.coherence == "cosine":
            # one embedding call per story state (the search's candidates share theirs)
            by_anchor: dict[str, list[int]] = {}
            for i, st in enumerate(states):
                by_anchor.setdefault(st.text() or st.premise, []).append(i)
            raw = [0.0] * len(readings)
            for anchor, idx in by_anchor.items():
                got = self.embedder.cosines(anchor, [readings[i].passage for i in idx])  # type: ignore[union-attr]
                for i, c in zip(idx, got):
                    raw[i] = c
            for f, c in zip(feats, raw):
                f["coherence"] = cosine_coherence(c, self.cfg.cosine_cap)
        elif self.cfg.coherence == "judge":
            raw = [judge_yes_probability(self.judge, st, [r.passage])[0]  # type: ignore[arg-type]
                   for r, st in zip(readings, states)]
            for f, c in zip(feats, raw):
                f["coherence"] = c
        out = []
        for f, c in zip(feats, raw):
            value = self.value_of(f)
            out.append({
                "value": round(value, 6),
                **{k: (round(v, 6) if math.isfinite(v) else v) for k, v in f.items()},
                "coherence_signal": self.cfg.coherence,
                "coherence_raw": round(float(c), 6) if math.isfinite(float(c)) else float(c),
            })
        return out
