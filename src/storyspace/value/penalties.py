"""Degeneration penalties: factors in [0, 1] that multiply the step value."""

from __future__ import annotations

import re
from dataclasses import dataclass

from storyspace.story import words

#: assistant-speak about the story rather than story prose (a chat artefact of instruct models)
META_PATTERNS: tuple[str, ...] = (
    r"\blet'?s (try|make|write|begin|start|explore|create)\b",
    r"\byou (could|can|might|should|may) (start|begin|introduce|add|write|describe|use|make|try|create)\b",
    r"\b(story|writing) (premise|prompt)\b",
    r"\b(your|this|the) premise\b",
    r"\bopening (scene|line|paragraph)\b",
    r"\bhere(?:'s| is) (a|an|the|my|your) (story|passage|continuation|scene|opening|version)\b",
    r"\bthe reader\b",
    r"\b(first|next|following) (\d+|two|three|few) sentences\b",
    r"\bI hope (you|this)\b",
)


@dataclass(frozen=True)
class PenaltyConfig:
    """Defaults: a passage with fewer than ``min_words`` words is worthless; a passage with no
    complete sentence keeps ``cut_off_factor`` of its value; repeated word n-grams inside the
    passage and n-grams copied from the story so far reduce the value in proportion."""

    min_words: int = 5
    cut_off_factor: float = 0.5
    repeat_ngram: int = 3
    repeat_weight: float = 1.0
    copy_ngram: int = 4
    copy_weight: float = 1.0
    #: factor for passages that talk *about* the story (``META_PATTERNS``), e.g. "Let's make this
    #: a captivating opening scene": measured to win searches otherwise (see NOTES.md)
    meta_factor: float = 0.2
    meta_patterns: tuple[str, ...] = META_PATTERNS


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def repetition(passage: str, n: int) -> float:
    """Share of the passage's word n-grams that repeat an earlier n-gram of the same passage."""
    grams = ngrams(words(passage), n)
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def copying(passage: str, story_so_far: str, n: int) -> float:
    """Share of the passage's word n-grams that already occur in the story so far (or premise)."""
    grams = ngrams(words(passage), n)
    if not grams:
        return 0.0
    seen = set(ngrams(words(story_so_far), n))
    return sum(g in seen for g in grams) / len(grams)


def meta_talk(passage: str, patterns: tuple[str, ...]) -> int:
    """How many of the patterns occur in the passage (case-insensitive)."""
    return sum(bool(re.search(p, passage, re.IGNORECASE)) for p in patterns)


def penalties(passage: str, story_so_far: str, cut_off: bool, cfg: PenaltyConfig) -> dict[str, float]:
    """Each factor and their product (``penalty``); 1.0 means no penalty."""
    n_words = len(words(passage))
    empty = 0.0 if n_words < cfg.min_words else 1.0
    cut = cfg.cut_off_factor if cut_off else 1.0
    rep = repetition(passage, cfg.repeat_ngram)
    cop = copying(passage, story_so_far, cfg.copy_ngram)
    rep_factor = max(0.0, 1.0 - cfg.repeat_weight * rep)
    copy_factor = max(0.0, 1.0 - cfg.copy_weight * cop)
    meta = meta_talk(passage, cfg.meta_patterns)
    meta_factor = cfg.meta_factor if meta else 1.0
    return {
        "repetition": round(rep, 4),
        "copying": round(cop, 4),
        "cut_off": float(cut_off),
        "too_short": float(empty == 0.0),
        "meta": float(meta),
        "penalty": empty * cut * rep_factor * copy_factor * meta_factor,
    }
