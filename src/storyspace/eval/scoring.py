"""Score any story with a value model: cut it into steps, value each step in context, summarise.

Used for (a) the search's own value model and (b) the independent reader (the same value function read by
an independent model) of ``storyspace eval``, and by ``storyspace score`` / ``validate-value``.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Sequence

from storyspace.errors import UserError
from storyspace.story import ends_sentence, split_steps
from storyspace.value.model import ValueModel

#: components summarised per story (means over its steps), besides the value's mean and minimum
COMPONENTS = ("curiosity", "coherence", "surprisal", "pmi", "penalty")
#: room for the reader's header and premise around the story
READER_OVERHEAD_TOKENS = 64

def summarize_breakdowns(breakdowns: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Story-level scores: mean and minimum step value, and the mean of each component."""
    if not breakdowns:
        return {}
    values = [float(b["value"]) for b in breakdowns]
    out = {"value_mean": statistics.fmean(values), "value_min": min(values), "steps": len(values)}
    for c in COMPONENTS:
        xs = [float(b[c]) for b in breakdowns if c in b and b[c] is not None and math.isfinite(float(b[c]))]
        if xs:
            out[c] = statistics.fmean(xs)
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in out.items()}


def score_passages(value_model: ValueModel, premise: str, passages: Sequence[str]) -> list[dict[str, Any]]:
    """Each passage valued in the context of the premise and the passages before it (one
    pass over the story); a passage that does not end at a sentence end is cut off."""
    return value_model.evaluate_story(premise, passages, [not ends_sentence(p) for p in passages])


def read_afresh(value_model: ValueModel, premise: str, passages: Sequence[str]) -> list[dict[str, Any]]:
    """``score_passages`` of one whole story, reading nothing cached from stories read before it
    (a llama.cpp reader's prefix cache is reset), so that a judge's reading of a story does not
    depend on the order stories are read in; empty passages are skipped."""
    reset = getattr(value_model.reader, "reset_cache", None)
    if reset is not None:
        reset()
    return score_passages(value_model, premise, [p for p in passages if p])


def check_story(premise: str, story: str, value_model: ValueModel) -> None:
    """One-line reasons why a story cannot be scored (empty, longer than the reader reads)."""
    if not premise.strip():
        raise UserError("empty prompt")
    if not story.strip():
        raise UserError("empty story")
    reader = value_model.reader
    need = reader.count_tokens(premise) + reader.count_tokens(story) + READER_OVERHEAD_TOKENS
    if need > reader.context_length:
        raise UserError(f"story too long: about {need} tokens with its prompt, the reader reads {reader.context_length}")


def story_steps(row: dict[str, Any]) -> list[str] | None:
    """A row's own steps: its ``passages`` (as ``eval`` writes them, the passages the system
    chose) when it has a non-empty list of strings, else None (the story is cut into steps)."""
    passages = row.get("passages")
    if isinstance(passages, list) and passages and all(isinstance(p, str) for p in passages):
        steps = [p for p in passages if p.strip()]
        return steps or None
    return None


def score_story(value_model: ValueModel, premise: str, story: str, step_tokens: int,
                passages: Sequence[str] | None = None) -> dict[str, Any]:
    """Story-level scores of one text (see ``summarize_breakdowns``) and its step breakdowns. The
    steps are ``passages`` when given (the story's own passages, as the eval read them), else the
    story cut into steps of about ``step_tokens`` tokens."""
    check_story(premise, story, value_model)
    steps = list(passages) if passages else split_steps(story, step_tokens, value_model.reader.count_tokens)
    breakdowns = score_passages(value_model, premise.strip(), steps)
    return {"summary": summarize_breakdowns(breakdowns), "steps": steps, "breakdowns": breakdowns}
