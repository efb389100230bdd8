"""What the reader saw of a step, and the interpretable features computed from it (pure).

A ``Reading`` holds per-token log-probs of one passage under the reference reader in two
contexts: after the premise and the story so far (``ctx``), and after a neutral context with
neither (``neutral``); and, when the value model embeds text (MiniLM), the cosine between the
passage and the premise (``premise_sim``: does the passage stay on the prompt?); and, when the value model reads it, how
much likelier the story up to and with the passage makes the premise (``premise_recall``,
``recall.py``). Every component of the step value is a function of a reading and of the
text (``step_features``), so the search (``ValueModel.evaluate``) and the scoring of whole stories
(``ValueModel.evaluate_story``) compute identical values from identical readings.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

from storyspace.story import words
from storyspace.value.coherence import PMIParams, pmi_coherence
from storyspace.value.curiosity import CuriosityParams, curiosity, standardise
from storyspace.value.penalties import PenaltyConfig, penalties
from storyspace.value.surprisal import mean_nll

#: a token the reader predicts with at least this probability counts as "given away" (copied
#: text and loops are read almost for free: their tokens cross this line far more often)
PREDICTABLE_LOGPROB = math.log(0.5)


@dataclass(frozen=True)
class Reading:
    passage: str
    so_far: str  # premise and story so far, as plain text (copying is measured against it)
    ctx: Sequence[float]
    neutral: Sequence[float]
    cut_off: bool
    story: str = ""  # the story so far without the premise (meta talk there taints the step)
    premise_sim: float | None = None  # MiniLM cosine of passage and premise (None: not embedded)
    premise_recall: float | None = None  # reverse PMI of premise and story (``recall.py``; None: not read)


def predictable_share(logprobs: Sequence[float]) -> float:
    """Share of tokens the reader gave at least probability 1/2."""
    return sum(lp >= PREDICTABLE_LOGPROB for lp in logprobs) / len(logprobs) if logprobs else 0.0


def step_features(r: Reading, cur: CuriosityParams, pmi: PMIParams, pen: PenaltyConfig) -> dict[str, float]:
    """Every component of one step (``value`` is added by the value model)."""
    s_ctx, s_neu = mean_nll(r.ctx), mean_nll(r.neutral)
    finite = math.isfinite(s_ctx) and math.isfinite(s_neu)
    raw_pmi = s_neu - s_ctx if finite else -math.inf
    nll = [-x for x in r.ctx]
    out = {
        "surprisal": s_ctx,
        "surprisal_z": standardise(s_ctx, cur) if finite else math.inf,
        "surprisal_neutral": s_neu,
        "pmi": raw_pmi,
        "curiosity": curiosity(s_ctx, cur),
        "coherence": pmi_coherence(raw_pmi, pmi),
        "surprisal_sd": statistics.pstdev(nll) if len(nll) > 1 else 0.0,
        "predictable": predictable_share(r.ctx),
        "log_words": math.log1p(len(words(r.passage))),
        **penalties(r.passage, r.so_far, r.cut_off, pen, r.story),
    }
    if r.premise_sim is not None:
        out["premise_sim"] = r.premise_sim
    if r.premise_recall is not None:
        out["premise_recall"] = r.premise_recall
    return out
