"""Degeneration penalties: factors in [0, 1] that multiply the step value."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from storyspace.story import sentences, words

#: assistant-speak about the story rather than story prose (a chat artefact of instruct models)
META_PATTERNS: tuple[str, ...] = (
    # talking to the writer about what to write
    r"\blet'?s (try|make|write|begin|start|explore|create|continue|get started)\b",
    r"\byou (could|can|might|should|may) (start|begin|introduce|add|write|describe|use|make|try|create)\b",
    r"\b(you asked|you want(ed)? me|your (request|prompt|premise|requirements))\b",
    r"\b(feel free to|let me know if|happy to help|i can help (you )?with|as an ai|language model)\b",
    r"\bI hope (this|it|that) (helps|meets|captures|works|is what)\b|\bI hope you (enjoy|like|liked|found)\b",
    r"^\s*(sure|certainly|of course|absolutely|okay|great)[,!.]\s*(here|i'm|i am|i'll|i will|let)\b",
    r"^\s*(human|assistant|user|system)\s*:",
    # refusals (the Qwen 1.5B writer refused one premise of 16 this way, issue #43)
    r"\bI(?:'m| am) sorry,? but I (?:can(?:no|')t|am unable to|'m unable to|won't|will not)\b",
    r"\b(?:can(?:no|')t|unable to) (?:assist|help) with (?:that|this|your)(?: \w+)? (?:request|prompt)\b",
    # talking about the story instead of telling it
    r"\b(story|writing) (premise|prompt)\b",
    r"\b(your|this|the) premise\b",
    r"\bopening (scene|line|paragraph|sentence)\b",
    r"\bhere(?:'s| is| are) (a|an|the|my|your|some)( \w+)?( \w+)? (story|stories|passage|continuation|scene|opening|"
    r"version|draft|rewrite|ideas?|options?)\b",
    r"\b(revised|rewritten|improved|updated|better|alternative) (version|story|passage|draft|option)\b",
    r"\bI(?:'ve| have) (written|crafted|created|added|revised|rewritten|included|made) (a|an|the|this|some)\b",
    r"\b(continue|continuing|rewrite|rewriting) (the|this|your) (story|passage|scene)\b",
    r"\bin this (passage|story|scene|chapter|paragraph|continuation)\b",
    r"\b(the|our) (protagonist|main character)\b",
    r"\b(sets the tone|plot twist|character development|story ?line|the narrative)\b",
    r"\bthe reader\b",
    r"\b(first|next|following) (\d+|two|three|four|few) (sentences|paragraphs)\b",
    # mined from the policy's own passages under the prefill prompt (results/prompts/passages.jsonl,
    # read and labelled): they catch 6 more of its 58 meta passages, no passage labelled prose and
    # no sentence of the 96 HANNA human stories
    r"^\s*what an? ([\w'-]+[ ,]+){0,4}(world|story|tale|premise|idea|end|ending|prompt|concept|setting)\b",
    r"\bthe (story|tale|plot) (opens|begins|starts|unfolds) (with|in|on)\b",
    r"\b(it|this)(?:'s| is) a (story|tale) about\b|\bthe (story|tale) is about\b",
    r"\bthe plot (revolves|centers|centres|follows)\b",
)

#: how many of ``META_PATTERNS`` (from the end) were mined in session 7 (tests check them apart)
MINED_PATTERNS = 4

#: function words, never counted by ``word_loop`` (a content word said over and over is the loop)
FUNCTION_WORDS = frozenset("""
a an the and or but nor if then than so as of at by for from in into on onto to with without about above
after before again against all am are was were be been being is it its i me my mine we us our you your he
him his she her hers they them their theirs there here this that these those what which who whom whose
when where why how not no only own same too very can could will would shall should may might must do does
did doing have has had having just also up down out over under off once more most other some such each
few both any one two like said says say now still even n't
""".split())


@dataclass(frozen=True)
class PenaltyConfig:
    """Defaults: a passage with fewer than ``min_words`` words is worthless; a passage with no
    complete sentence keeps ``cut_off_factor`` of its value; repeated word n-grams inside the
    passage and n-grams copied from the story so far reduce the value in proportion (copying
    twice over: a passage with half its 4-grams copied is worth nothing — human HANNA steps copy
    0.6 % of theirs on average, 3 of 801 more than 20 %; the policy's near-verbatim repeats of its
    own last step copy ~60 % and the reader finds them very likely, which PMI would reward)."""

    min_words: int = 5
    cut_off_factor: float = 0.5
    repeat_ngram: int = 3
    repeat_weight: float = 1.0
    copy_ngram: int = 4
    copy_weight: float = 2.0
    #: factor for passages that talk *about* the story (``META_PATTERNS``), e.g. "Let's make this
    #: a captivating opening scene": measured to win searches otherwise (see NOTES.md)
    meta_factor: float = 0.2
    meta_patterns: tuple[str, ...] = META_PATTERNS
    #: factor for a passage that repeats a whole sentence (of at least ``sentence_min_words``
    #: words) of the story so far or of itself, word for word: the policy's self-repetition
    #: ("The air was thick with..." again, then new text) that n-gram shares only halve
    sentence_copy_factor: float = 0.2
    sentence_min_words: int = 4
    #: a story whose earlier passages talk about the story is broken for a reader whatever comes
    #: next: each later step keeps ``meta_factor`` of its value too, so a search cannot buy a meta
    #: first step with a good continuation (seen in ``make run`` under path-mean backup)
    meta_taints: bool = True
    #: factor for a passage that says one content word over and over ("a tiny, tiny amount of
    #: tiny water that looked tiny"): at least ``word_loop_count`` times and at least
    #: ``word_loop_share`` of its words. The n-gram shares miss it (the word comes in new company
    #: each time) and the reader finds it easy, so an MCTS on a development premise chose such
    #: passages (NOTES.md, session 10). No step of the 96 HANNA human stories trips it, cut at 64
    #: tokens as the value reads them nor at 40 words (the most there: "fire" 5 of 47 words, a
    #: refrain); 6 of 654 passages of the policy's trees do.
    word_loop_factor: float = 0.2
    word_loop_count: int = 5
    word_loop_share: float = 0.11


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


def repeated_sentences(passage: str, story_so_far: str, min_words: int) -> int:
    """How many sentences of the passage (of at least ``min_words`` words) occur word for word
    in the story so far or earlier in the passage."""
    seen = {tuple(words(s)) for s in sentences(story_so_far)}
    count = 0
    for sent in sentences(passage):
        key = tuple(words(sent))
        if len(key) >= min_words and key in seen:
            count += 1
        seen.add(key)
    return count


def word_loop(passage: str) -> tuple[str, int, float]:
    """The passage's most frequent content word (not a ``FUNCTION_WORDS`` word, three letters or
    more), its count and its share of the passage's words ("", 0, 0.0 without one)."""
    ws = words(passage)
    counts = Counter(w.strip("'") for w in ws)
    content = [(n, w) for w, n in counts.items() if w.isalpha() and len(w) > 2 and w not in FUNCTION_WORDS]
    if not content:
        return "", 0, 0.0
    n, w = max(content, key=lambda x: (x[0], x[1]))
    return w, n, n / len(ws)


def meta_talk(passage: str, patterns: tuple[str, ...]) -> int:
    """How many of the patterns occur in the passage (case-insensitive)."""
    return sum(bool(re.search(p, passage, re.IGNORECASE | re.MULTILINE)) for p in patterns)


def penalties(passage: str, story_so_far: str, cut_off: bool, cfg: PenaltyConfig, story_text: str = "") -> dict[str, float]:
    """Each factor and their product (``penalty``); 1.0 means no penalty. ``story_so_far`` is
    the premise and the story (copying), ``story_text`` the story's passages alone (meta talk
    there taints the passage, ``meta_taints``)."""
    n_words = len(words(passage))
    empty = 0.0 if n_words < cfg.min_words else 1.0
    cut = cfg.cut_off_factor if cut_off else 1.0
    rep = repetition(passage, cfg.repeat_ngram)
    cop = copying(passage, story_so_far, cfg.copy_ngram)
    rep_factor = max(0.0, 1.0 - cfg.repeat_weight * rep)
    copy_factor = max(0.0, 1.0 - cfg.copy_weight * cop)
    meta = meta_talk(passage, cfg.meta_patterns)
    before = bool(cfg.meta_taints and story_text and meta_talk(story_text, cfg.meta_patterns))
    meta_factor = cfg.meta_factor if (meta or before) else 1.0
    repeated = repeated_sentences(passage, story_so_far, cfg.sentence_min_words)
    sentence_factor = cfg.sentence_copy_factor if repeated else 1.0
    _, loop_count, loop_share = word_loop(passage)
    looped = loop_count >= cfg.word_loop_count and loop_share >= cfg.word_loop_share
    return {
        "repetition": round(rep, 4),
        "copying": round(cop, 4),
        "cut_off": float(cut_off),
        "too_short": float(empty == 0.0),
        "meta": float(meta),
        "meta_before": float(before),
        "repeated_sentences": float(repeated),
        "word_loop": float(looped),
        "penalty": empty * cut * rep_factor * copy_factor * meta_factor * sentence_factor
        * (cfg.word_loop_factor if looped else 1.0),
    }
