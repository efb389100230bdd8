"""Score any story with a value model: cut it into steps, value each step in context, summarise.

Used for judge (a) (the search's own value model) and judge (b) (the same value function read by
an independent model) of ``storyspace eval``, and by ``storyspace score`` / ``validate-value``.
"""

from __future__ import annotations

import math
import re
import statistics
from typing import Any, Callable, Sequence

from storyspace.errors import UserError
from storyspace.story import Step, Story, clean_passage
from storyspace.value.model import ValueModel

#: components summarised per story (means over its steps), besides the value's mean and minimum
COMPONENTS = ("curiosity", "coherence", "surprisal", "pmi", "penalty")
#: room for the reader's header and premise around the story
READER_OVERHEAD_TOKENS = 64

_SENTENCES = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"'”’)\]]))\s+|\n\s*\n")


def split_steps(text: str, step_tokens: int, count_tokens: Callable[[str], int]) -> list[str]:
    """Whole sentences grouped into steps of at least ``step_tokens`` tokens (a last short group
    joins the step before it); a sentence longer than a step is a step of its own."""
    parts = [p.strip() for p in _SENTENCES.split(text.strip()) if p and p.strip()]
    steps: list[str] = []
    cur: list[str] = []
    for part in parts:
        cur.append(part)
        if count_tokens(" ".join(cur)) >= step_tokens:
            steps.append(" ".join(cur))
            cur = []
    if cur:
        if steps and count_tokens(" ".join(cur)) < step_tokens // 2:
            steps[-1] = steps[-1] + " " + " ".join(cur)
        else:
            steps.append(" ".join(cur))
    return steps


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
    """Each passage valued in the context of the premise and the passages before it."""
    story = Story(premise)
    out = []
    for passage in passages:
        cut = clean_passage(passage).cut_off
        out.append(value_model.evaluate(story, [passage], [cut])[0])
        story = story.extend(Step(passage=passage))
    return out


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


def score_story(value_model: ValueModel, premise: str, story: str, step_tokens: int) -> dict[str, Any]:
    """Story-level scores of one text (see ``summarize_breakdowns``) and its step breakdowns."""
    check_story(premise, story, value_model)
    steps = split_steps(story, step_tokens, value_model.reader.count_tokens)
    breakdowns = score_passages(value_model, premise.strip(), steps)
    return {"summary": summarize_breakdowns(breakdowns), "steps": steps, "breakdowns": breakdowns}
