"""Surprisal of passages under the frozen reference reader (mean token NLL, nats)."""

from __future__ import annotations

import math
from typing import Sequence

from storyspace.models.base import LanguageModel, Segments


def mean_nll(logprobs: Sequence[float]) -> float:
    """Mean negative log-likelihood per token; ``inf`` for no tokens."""
    return -sum(logprobs) / len(logprobs) if logprobs else math.inf


def mean_surprisal(reader: LanguageModel, context: str, passages: Sequence[str]) -> list[float]:
    """Mean negative log-likelihood per token of each passage after ``context`` (one shared
    prefix cache for all passages). An empty passage gets ``inf``."""
    return [mean_nll(lps) for lps in reader.logprobs(context, list(passages))]


def chain_logprobs(reader: LanguageModel, context: str, passages: Sequence[str], separator: str) -> list[list[float]]:
    """Per-token log-probs of passage k after ``context + separator.join(passages[:k]) +
    separator`` (just ``context`` for the first): how a story is read step by step.

    A reader with its own ``chain_logprobs`` (transformers: one forward pass) does it in time
    linear in the story; otherwise one ``logprobs`` call per step (llama.cpp re-uses the cached
    prefix, so that is linear too; a remote server reads the prefix again)."""
    own = getattr(reader, "chain_logprobs", None)
    if callable(own):
        return own(context, list(passages), separator)
    head = list(context.parts) if isinstance(context, Segments) else [context]
    out = []
    for k, passage in enumerate(passages):
        story = [x for p in passages[:k] for x in (p, separator)]
        out.append(reader.logprobs(Segments([*head, *story]), [passage])[0])
    return out
