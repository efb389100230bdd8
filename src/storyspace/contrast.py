"""The contrast suite: corrupted versions of human stories that any reader should rank below the
original (issue #11). Each corruption is a pure, seeded function of the story (and of another
story where it needs one), fixed before any value-model weight is fitted.

Story level (``corrupt_story``): the whole story against its corrupted version. Step level
(``corrupt_step``): given the story so far, its true next step against a corrupted next step.
Corruptions keep roughly the original's length, so that length alone does not decide a pair.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from importlib import resources
from typing import Sequence

from storyspace.story import sentences as story_sentences

#: corruption types, in report order
CORRUPTIONS = ("shuffled", "loop", "copy", "splice", "off_prompt", "meta", "cut_off", "filler")

#: generic, eventless sentences (bland filler that fits any story)
FILLER = (
    "It was a day like any other.",
    "Things happened, as they usually do.",
    "Time passed and nothing much changed.",
    "Everything was fine, more or less.",
    "There was a lot to think about.",
    "It was what it was.",
    "Some things were good and some things were not.",
    "The situation was very interesting.",
)

def sentences(text: str) -> list[str]:
    """The story read as one paragraph, cut into sentences (``story.sentences``)."""
    return story_sentences(" ".join(text.split()))


def meta_examples() -> list[str]:
    """Meta talk and assistant-speak: mined from the policy's trees, and a few invented (the
    shipped ``data/meta_talk.jsonl`` says which)."""
    text = resources.files("storyspace.data").joinpath("meta_talk.jsonl").read_text(encoding="utf-8")
    return [json.loads(line)["text"] for line in text.splitlines() if line.strip()]


def cut_mid_sentence(sents: Sequence[str]) -> str:
    """The sentences with the last one cut half-way (never ending on a sentence end)."""
    last = sents[-1].split()
    cut = " ".join(last[: max(1, len(last) // 2)]).rstrip(".!?…\"'”’")
    return _join([*sents[:-1], cut or last[0].rstrip(".!?…")])


def _join(parts: Sequence[str]) -> str:
    return " ".join(p for p in parts if p)


def _words(text: str) -> int:
    return len(text.split())


def _fill_to(parts: list[str], source: Sequence[str], words: int, rng: random.Random) -> list[str]:
    """Add sentences drawn from ``source`` until ``parts`` hold about ``words`` words."""
    while _words(_join(parts)) < words and source:
        parts.append(rng.choice(list(source)))
    return parts


def corrupt_story(kind: str, story: str, premise: str, other: str, seed: int) -> str:
    """The story corrupted by ``kind`` (one of ``CORRUPTIONS``); ``other`` is another story."""
    rng = random.Random(f"{seed}:{kind}")
    sents = sentences(story)
    n = len(sents)
    half = max(1, n // 2)
    length = _words(story)
    if kind == "shuffled":
        out = sents[:]
        for _ in range(10):  # a permutation that differs from the original order
            rng.shuffle(out)
            if out != sents or n < 2:
                break
        return _join(out)
    if kind == "loop":  # the first half, then one of its sentences over and over
        head = sents[:half]
        return _join(_fill_to(head[:], [rng.choice(head)], length, rng))
    if kind == "copy":  # the first half, then the premise and that half copied back
        head = sents[:half]
        return _join(_fill_to(head[:] + [premise.strip()], head, length, rng))
    if kind == "splice":  # the first half, then the second half of another story
        theirs = sentences(other)
        return _join(sents[:half] + theirs[len(theirs) // 2 :])
    if kind == "off_prompt":  # a whole other story under this premise
        return other
    if kind == "meta":  # assistant-speak inserted between sentences
        out = sents[:]
        examples = meta_examples()
        for _ in range(max(1, n // 4)):
            out.insert(rng.randrange(1, len(out) + 1), rng.choice(examples))
        return _join(out)
    if kind == "cut_off":  # the story stops in the middle of a sentence half-way through
        return cut_mid_sentence(sents[: max(1, half)])
    if kind == "filler":  # half the sentences replaced by bland generic filler
        out = sents[:]
        for i in rng.sample(range(n), k=max(1, n // 2)) if n else []:
            out[i] = rng.choice(FILLER)
        return _join(out)
    raise ValueError(f"unknown corruption {kind!r}")


def corrupt_step(kind: str, step: str, so_far: Sequence[str], premise: str, other: str, seed: int) -> str:
    """A corrupted next step, to set against the true ``step`` after the story ``so_far``."""
    rng = random.Random(f"{seed}:step:{kind}")
    length = _words(step)
    if kind == "shuffled":  # the true step's words in another order
        words = step.split()
        for _ in range(10):
            rng.shuffle(words)
            if words != step.split() or len(words) < 2:
                break
        return " ".join(words)
    if kind == "loop":  # the previous step again
        return so_far[-1] if so_far else step
    if kind == "copy":  # the premise and earlier sentences copied back
        earlier = sentences(_join(so_far))
        return _join(_fill_to([premise.strip()], earlier or [premise.strip()], length, rng))
    if kind in ("splice", "off_prompt"):  # a step of another story
        theirs = sentences(other)
        start = rng.randrange(0, max(1, len(theirs) - 1))
        return _join(_fill_to([], theirs[start:] or theirs, length, rng)[: max(1, len(sentences(step)))])
    if kind == "meta":
        return _join(_fill_to([rng.choice(meta_examples())], meta_examples(), min(length, 40), rng))
    if kind == "cut_off":
        return cut_mid_sentence(sentences(step))
    if kind == "filler":
        return _join(_fill_to([], FILLER, length, rng))
    raise ValueError(f"unknown corruption {kind!r}")


@dataclass(frozen=True)
class Agreement:
    """How often a reader ranked the original above its corruption (ties count half)."""

    agreement: float
    pairs: int

    def as_dict(self) -> dict[str, float | int]:
        return {"agreement": round(self.agreement, 4), "pairs": self.pairs}


def agreement(original: Sequence[float], corrupted: Sequence[float]) -> Agreement:
    """Share of (original, corrupted) score pairs the original wins; a tie counts half."""
    if len(original) != len(corrupted):
        raise ValueError("one corrupted score per original")
    pairs = [(a, b) for a, b in zip(original, corrupted) if a is not None and b is not None]
    if not pairs:
        return Agreement(float("nan"), 0)
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs)
    return Agreement(wins / len(pairs), len(pairs))


# -- the suite ---------------------------------------------------------------------------------
def opening(text: str, words: int) -> str:
    """The whole sentences of ``text`` up to about ``words`` words (at least one sentence)."""
    out: list[str] = []
    for s in sentences(text):
        if out and _words(_join(out)) + _words(s) > words:
            break
        out.append(s)
    return _join(out)


def shortened(stories: Sequence[dict], words: int) -> list[dict]:
    """The stories with ``human_story`` cut to its opening (the part of each story the suite reads)."""
    return [{**s, "human_story": opening(s["human_story"], words)} for s in stories]


def story_rows(stories: Sequence[dict], seed: int = 0) -> list[dict]:
    """``score`` rows: each human story and its corrupted versions (``version`` says which); the
    other story a corruption needs is the next one in the list."""
    rows = []
    for i, s in enumerate(stories):
        other = stories[(i + 1) % len(stories)]["human_story"]
        rows.append({"id": s["id"], "prompt": s["prompt"], "story": s["human_story"], "version": "original"})
        for kind in CORRUPTIONS:
            rows.append({"id": s["id"], "prompt": s["prompt"], "version": kind,
                         "story": corrupt_story(kind, s["human_story"], s["prompt"], other, seed + int(s["id"]))})
    return rows


def step_cases(stories: Sequence[dict], step_tokens: int, count_tokens, seed: int = 0,  # noqa: ANN001
               position: int = 2) -> list[dict]:
    """For each story with at least two steps: the story so far (``position`` steps, fewer in a
    short story), its true next step and each corrupted next step."""
    from storyspace.story import split_steps

    cases = []
    for i, s in enumerate(stories):
        steps = split_steps(s["human_story"], step_tokens, count_tokens)
        if len(steps) < 2:
            continue
        j = min(position, len(steps) - 1)
        other = stories[(i + 1) % len(stories)]["human_story"]
        cases.append({"id": s["id"], "prompt": s["prompt"].strip(), "so_far": steps[:j], "true": steps[j],
                      "corrupted": {k: corrupt_step(k, steps[j], steps[:j], s["prompt"], other, seed + int(s["id"]))
                                    for k in CORRUPTIONS}})
    return cases


def score_step_case(value_model, case: dict) -> dict:  # noqa: ANN001
    """The value breakdowns of a case's true step and of each corrupted step, in one reader call."""
    from storyspace.story import Step, Story, ends_sentence

    story = Story(case["prompt"], tuple(Step(p) for p in case["so_far"]))
    passages = [case["true"], *(case["corrupted"][k] for k in CORRUPTIONS)]
    breakdowns = value_model.evaluate(story, passages, [not ends_sentence(p) for p in passages])
    return {"id": case["id"], "true": breakdowns[0], **dict(zip(CORRUPTIONS, breakdowns[1:]))}


def contrast_table(story_scored: Sequence[dict], step_scored: Sequence[dict], key: str = "value_mean",
                   step_key: str = "value") -> dict[str, dict[str, dict]]:
    """``{"story": {kind: {"agreement", "pairs"}}, "step": {...}}``: how often the original (the
    true step) scored above its corruption, by story value (``value.value_mean``) and step value."""
    originals = {r["id"]: r for r in story_scored if r.get("version") == "original" and "error" not in r}
    out: dict[str, dict[str, dict]] = {"story": {}, "step": {}}
    for kind in CORRUPTIONS:
        pairs = [(originals[r["id"]]["value"].get(key), r["value"].get(key)) for r in story_scored
                 if r.get("version") == kind and "error" not in r and r["id"] in originals]
        out["story"][kind] = agreement([a for a, _ in pairs], [b for _, b in pairs]).as_dict()
        steps = [(c["true"].get(step_key), c[kind].get(step_key)) for c in step_scored if kind in c]
        out["step"][kind] = agreement([a for a, _ in steps], [b for _, b in steps]).as_dict()
    return out
