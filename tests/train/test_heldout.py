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


def _keyed(xs: list[float]) -> dict[str, float]:
    return {f"p{j:02d}": x for j, x in enumerate(xs)}


def test_compare_effect_p_values_and_ci() -> None:
    old = [0.1, 0.2, 0.3, 0.2, 0.1, 0.3]
    new = [x + 0.5 for x in old]
    c = ho.compare(_keyed(new), _keyed(old))
    assert c["diff"] == pytest.approx(0.5)
    assert c["effect_sd"] == pytest.approx(0.5 / 0.0894, rel=0.01)  # both SDs 0.0894
    assert c["p_welch"] < 0.001 and c["p_perm"] < 0.01
    assert c["ci_low"] <= 0.5 <= c["ci_high"] and c["ci_low"] > 0.3
    same = ho.compare(_keyed(old), _keyed(list(reversed(old))))
    assert same["diff"] == 0.0 and same["p_perm"] > 0.5 and same["p_welch"] == pytest.approx(1.0)
    assert math.isnan(ho.compare({"p00": 0.1}, _keyed(old))["p_welch"])


def test_compare_pairs_stories_by_key() -> None:
    # premises differ a lot, the new policy adds a small, steady gain to each: only a paired test sees it
    old = {f"p{j:02d}": 0.1 * j for j in range(8)}
    new = {k: v + 0.02 + 0.005 * (j % 2) for j, (k, v) in enumerate(old.items())}
    c = ho.compare(new, old)
    assert c["n_paired"] == 8
    assert c["p_welch"] > 0.5 and c["p_perm"] > 0.5
    assert c["p_paired_t"] < 1e-4
    assert c["p_paired_perm"] == pytest.approx(2 / 2**8, abs=1e-4)  # exact: only all-positive or all-negative flips are as far
    # only shared keys are paired, whatever the order
    shuffled = dict(reversed(list(new.items()))) | {"p99": 5.0}
    c2 = ho.compare(shuffled, old)
    assert c2["n_paired"] == 8 and c2["p_paired_t"] == pytest.approx(c["p_paired_t"])
    assert c2["n_new"] == 9
    # no pairs at all, or a difference without spread (t undefined): nan; the sign flips still count
    assert math.isnan(ho.compare({"x": 1.0, "y": 2.0}, old)["p_paired_t"])
    halves = {f"p{j:02d}": 0.5 * j for j in range(8)}
    constant = ho.compare({k: v + 0.5 for k, v in halves.items()}, halves)
    assert math.isnan(constant["p_paired_t"]) and constant["p_paired_perm"] == pytest.approx(2 / 2**8, abs=1e-4)


def _row(i: int, a: list[float], b: list[float], ppl: float) -> dict:
    return {"iteration": i, "stories": {"a": _keyed(a), "b": _keyed(b)}, "hanna_perplexity": ppl,
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
