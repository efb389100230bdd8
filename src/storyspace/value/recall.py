"""Premise recall: does the story bring back its own premise?

The reader reads the story so far *without* the premise, then a short tail ("Writing prompt: ")
and the premise; the mean log-prob of the premise's tokens there, minus their mean log-prob after
the tail alone (what the premise costs with no story before it), is the step's
``premise_recall`` — a reverse PMI of premise and story. A story written for another prompt, or
one that drifted off its own, makes the premise no likelier; one that tells the premise's story
does. It reads the premise in the reader's own words, where the MiniLM ``premise_sim`` only
compares embeddings.

Two ways in, as for surprisal: after each of a story state's candidate passages
(``after_candidates``, the search) and after each step of a whole story
(``along_story``, scoring). A reader with its own batched form (transformers:
``tail_logprobs``, ``chain_tail_logprobs``, linear in the story) uses it; otherwise one
``logprobs`` call per candidate or step (llama.cpp re-uses the cached prefix).
"""

from __future__ import annotations

import statistics
from typing import Sequence

from storyspace.models.base import LanguageModel, Segments


def _parts(context: str) -> list[str]:
    return list(context.parts) if isinstance(context, Segments) else [context]


def after_candidates(reader: LanguageModel, context: str, passages: Sequence[str], tail: str,
                     premise: str) -> list[list[float]]:
    """Per passage: log-probs of the premise's tokens after ``context + passage + tail``."""
    if not passages:
        return []
    own = getattr(reader, "tail_logprobs", None)
    if callable(own):
        return own(context, list(passages), tail, premise)
    return [reader.logprobs(Segments([*_parts(context), p, tail]), [premise])[0] for p in passages]


def along_story(reader: LanguageModel, context: str, passages: Sequence[str], separator: str, tail: str,
                premise: str) -> list[list[float]]:
    """Per step k: log-probs of the premise's tokens after ``context + separator.join(passages[:k+1])
    + tail``."""
    if not passages:
        return []
    own = getattr(reader, "chain_tail_logprobs", None)
    if callable(own):
        return own(context, list(passages), separator, tail, premise)
    head, out = _parts(context), []
    for k in range(len(passages)):
        story = [x for p in passages[: k + 1] for x in (separator, p)][1:]
        out.append(reader.logprobs(Segments([*head, *story, tail]), [premise])[0])
    return out


def baseline(reader: LanguageModel, tail: str, premise: str) -> float:
    """Mean log-prob of the premise's tokens after the tail alone (no story)."""
    lps = reader.logprobs(tail.lstrip(), [premise])[0]
    return statistics.fmean(lps) if lps else 0.0


def recall(logprobs: Sequence[float], base: float) -> float:
    """The feature: mean log-prob of the premise after the story minus its baseline."""
    return statistics.fmean(logprobs) - base if logprobs else 0.0
