"""The loop's held-out measurement: guards, perplexity, comparisons (hand-made cases)."""

from __future__ import annotations

import math

import pytest

from storyspace.train import heldout as ho
from storyspace.value.penalties import PenaltyConfig


def test_distinct_n_counts_unique_word_ngrams() -> None:
    assert ho.distinct_n(["a b c", "a b d"], 2) == pytest.approx(3 / 4)  # ab bc ab bd
    assert ho.distinct_n(["The cat", "the CAT"], 2) == pytest.approx(1 / 2)  # lower case
    assert ho.distinct_n(["one"], 2) == 0.0


def test_guards_share_of_meta_talk_and_repetition() -> None:
    pen = PenaltyConfig()
    prose = "The lighthouse keeper counted the ships until the fog swallowed the last of them."
    meta = "Here's a revised version of the story: the keeper waits."
    loop = "the ship sank and the ship sank and the ship sank and the ship sank and the ship sank"
    g = ho.guards([[prose, meta], [loop, "  "]], pen)
    assert g["passages"] == 3  # blank passages are not counted
    assert g["meta_share"] == pytest.approx(1 / 3, abs=1e-4)
    assert g["repetition"] > 0.0
    clean = ho.guards([[prose]], pen)
    assert clean["meta_share"] == 0.0 and clean["repetition"] == 0.0 and clean["distinct_2"] == 1.0
    assert ho.guards([], pen)["passages"] == 0


def test_perplexity_and_opening() -> None:
    assert ho.perplexity([[math.log(0.5)] * 3, [math.log(0.5)]]) == pytest.approx(2.0)
    assert math.isnan(ho.perplexity([[]]))
    assert ho.opening("a  b\nc d", 3) == "a b c"


def test_compare_effect_p_values_and_ci() -> None:
    old = [0.1, 0.2, 0.3, 0.2, 0.1, 0.3]
    new = [x + 0.5 for x in old]
    c = ho.compare(new, old)
    assert c["diff"] == pytest.approx(0.5)
    assert c["effect_sd"] == pytest.approx(0.5 / 0.0894, rel=0.01)  # both SDs 0.0894
    assert c["p_welch"] < 0.001 and c["p_perm"] < 0.01
    assert c["ci_low"] <= 0.5 <= c["ci_high"] and c["ci_low"] > 0.3
    same = ho.compare(old, list(reversed(old)))
    assert same["diff"] == 0.0 and same["p_perm"] > 0.5 and same["p_welch"] == pytest.approx(1.0)
    assert math.isnan(ho.compare([0.1], old)["p_welch"])


def _row(i: int, a: list[float], b: list[float], ppl: float) -> dict:
    return {"iteration": i, "stories": {"a": a, "b": b}, "hanna_perplexity": ppl,
            "guards": {"distinct_2": 0.9, "repetition": 0.0, "meta_share": 0.1}}


def test_summary_is_the_last_policy_against_policy_0() -> None:
    rows = [_row(0, [0.1, 0.2, 0.3], [0.3, 0.2, 0.1], 20.0), _row(1, [0.2, 0.3, 0.4], [0.3, 0.2, 0.1], 21.0),
            _row(2, [0.5, 0.6, 0.7], [0.1, 0.2, 0.1], 22.0)]
    s = ho.summary(rows, "storyspace loop --out x", 16)
    assert s["command"] == "storyspace loop --out x" and s["heldout_premises"] == 16 and s["policy"] == 2
    assert s["judge_a"]["diff"] == pytest.approx(0.4) and s["judge_a"]["effect_sd"] == pytest.approx(4.0)
    assert s["judge_b"]["diff"] < 0
    assert s["hanna_perplexity_change"] == pytest.approx(0.1)
    md = ho.comparison_markdown(rows)
    assert md.count("| 1 | a |") == 1 and "| 2 | b |" in md and "+10.0%" in md
    assert ho.comparison_markdown(rows[:1]) == ""
