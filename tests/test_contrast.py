"""The contrast suite's corruptions and its agreement arithmetic, on hand-made stories."""

from __future__ import annotations

import math

import pytest

from storyspace.contrast import (
    CORRUPTIONS,
    FILLER,
    agreement,
    corrupt_step,
    corrupt_story,
    meta_examples,
    sentences,
)

PREMISE = "A lighthouse keeper finds a message in a bottle."
STORY = ("She found the bottle at dawn. The note inside was in her own hand. It was dated fifty years ahead. "
         "She read it twice. Then she climbed the stairs. The lamp was already lit. Someone had been there. "
         "She called out, but only the gulls answered.")
OTHER = ("The train stopped at a station with no name. Nobody got off. The conductor looked at his watch. "
         "Snow fell on the empty platform. A bell rang somewhere far away. He closed the doors.")


def test_sentences_keep_their_punctuation_and_quotes() -> None:
    assert sentences('He said "stop." Then it rained! Did it? Yes') == ['He said "stop."', "Then it rained!", "Did it?",
                                                                     "Yes"]
    assert sentences("  ") == []


def test_each_corruption_does_what_its_name_says() -> None:
    own, theirs = sentences(STORY), sentences(OTHER)
    shuffled = sentences(corrupt_story("shuffled", STORY, PREMISE, OTHER, 0))
    assert sorted(shuffled) == sorted(own) and shuffled != own
    loop = sentences(corrupt_story("loop", STORY, PREMISE, OTHER, 0))
    assert loop[:4] == own[:4] and len(set(loop[4:])) == 1 and len(" ".join(loop).split()) >= len(STORY.split())
    copy = corrupt_story("copy", STORY, PREMISE, OTHER, 0)
    assert copy.startswith(" ".join(own[:4])) and PREMISE in copy
    assert sentences(corrupt_story("splice", STORY, PREMISE, OTHER, 0)) == own[:4] + theirs[3:]
    assert corrupt_story("off_prompt", STORY, PREMISE, OTHER, 0) == OTHER
    meta = sentences(corrupt_story("meta", STORY, PREMISE, OTHER, 0))
    assert [s for s in meta if s in own] == own and any(m in meta for m in meta_examples())
    cut = corrupt_story("cut_off", STORY, PREMISE, OTHER, 0)
    assert not cut.rstrip().endswith((".", "!", "?")) and STORY.startswith(cut)
    filler = sentences(corrupt_story("filler", STORY, PREMISE, OTHER, 0))
    assert len(filler) == len(own) and sum(s in FILLER for s in filler) == len(own) // 2


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corruptions_are_seeded_and_differ_from_the_original(kind: str) -> None:
    a = corrupt_story(kind, STORY, PREMISE, OTHER, 3)
    assert a == corrupt_story(kind, STORY, PREMISE, OTHER, 3) and a != STORY
    so_far = sentences(STORY)[:3]
    step = " ".join(sentences(STORY)[3:5])
    s = corrupt_step(kind, step, so_far, PREMISE, OTHER, 3)
    assert s == corrupt_step(kind, step, so_far, PREMISE, OTHER, 3) and s and s != step


def test_step_corruptions() -> None:
    so_far = sentences(STORY)[:3]
    step = "She read it twice. Then she climbed the stairs."
    assert sorted(corrupt_step("shuffled", step, so_far, PREMISE, OTHER, 0).split()) == sorted(step.split())
    assert corrupt_step("loop", step, so_far, PREMISE, OTHER, 0) == so_far[-1]
    assert corrupt_step("copy", step, so_far, PREMISE, OTHER, 0).startswith(PREMISE)
    assert all(s in sentences(OTHER) for s in sentences(corrupt_step("splice", step, so_far, PREMISE, OTHER, 0)))
    assert corrupt_step("cut_off", step, so_far, PREMISE, OTHER, 0) == "She read it twice. Then she"  # 5 words: the first 2
    assert all(s in FILLER for s in sentences(corrupt_step("filler", step, so_far, PREMISE, OTHER, 0)))
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt_step("vibes", step, so_far, PREMISE, OTHER, 0)


def test_opening_keeps_whole_sentences() -> None:
    from storyspace.contrast import opening

    assert opening(STORY, 14) == "She found the bottle at dawn. The note inside was in her own hand."  # 6 + 8 words
    assert opening(STORY, 13) == "She found the bottle at dawn."
    assert opening(STORY, 1) == "She found the bottle at dawn."
    assert opening(STORY, 1000) == STORY


def test_agreement_counts_wins_and_half_ties() -> None:
    got = agreement([0.5, 0.4, 0.3, None], [0.1, 0.4, 0.9, 0.2])
    assert got.pairs == 3 and got.agreement == pytest.approx((1 + 0.5 + 0) / 3)
    assert got.as_dict() == {"agreement": 0.5, "pairs": 3}
    assert math.isnan(agreement([], []).agreement)
    with pytest.raises(ValueError):
        agreement([1.0], [])
