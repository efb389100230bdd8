"""Statistics of the evaluation against hand-computed values and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from storyspace.eval import stats


def test_summary_and_bootstrap_ci() -> None:
    xs = [1.0, 2.0, 3.0, 4.0]
    s = stats.summarize(xs + [None, float("nan")])
    assert (s.n, s.mean) == (4, 2.5)
    assert s.sd == pytest.approx(math.sqrt(5 / 3))  # sample SD
    assert 1.0 <= s.ci_low < 2.5 < s.ci_high <= 4.0
    assert stats.summarize([]).n == 0
    assert stats.bootstrap_ci([7.0]) == (7.0, 7.0)


def test_standardized_difference_is_cohens_d() -> None:
    a, b = [2.0, 4.0, 6.0], [1.0, 2.0, 3.0]  # SDs 2 and 1: pooled sqrt(2.5)
    assert stats.standardized_difference(a, b) == pytest.approx(2.0 / math.sqrt(2.5))
    assert math.isnan(stats.standardized_difference([1.0, 1.0], [1.0, 1.0]))


def test_welch_matches_scipy_and_permutation_p() -> None:
    rng = np.random.default_rng(3)
    a, b = list(rng.normal(0, 1, 12)), list(rng.normal(1.5, 1, 12))
    assert stats.welch_p(a, b) == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue)
    assert stats.permutation_p(a, b, resamples=2000) < 0.01
    same = [1.0, 2.0, 3.0]
    assert stats.permutation_p(same, same, resamples=500) == pytest.approx(1.0)
    # a permutation p is never 0: (hits + 1) / (resamples + 1)
    assert stats.permutation_p([10.0] * 4, [0.0] * 4, resamples=99) >= 1 / 100
    assert math.isnan(stats.permutation_p([1.0], [2.0])) and math.isnan(stats.welch_p([1.0], [2.0]))


def test_win_matrix_rates_and_bradley_terry() -> None:
    scores = {"x": {0: 3.0, 1: 2.0, 2: 5.0}, "y": {0: 1.0, 1: 2.0, 2: 4.0}, "z": {0: 0.0, 1: 0.0}}
    wins = stats.win_matrix(scores, ["x", "y", "z"])
    assert wins[0, 1] == 2.5 and wins[1, 0] == 0.5  # a tie counts half to each
    assert wins[0, 2] == 2 and wins[2, 0] == 0  # only shared premises count
    rates = stats.win_rates(wins)
    assert rates[0, 1] == pytest.approx(2.5 / 3) and math.isnan(rates[0, 0])
    bt = stats.bradley_terry(wins)
    assert bt[0] > bt[1] > bt[2] and abs(bt.sum()) < 1e-9


def test_bradley_terry_recovers_known_strengths() -> None:
    s = np.array([1.0, 0.0, -1.0])
    p = 1 / (1 + np.exp(s[None, :] - s[:, None]))  # P(i beats j)
    games = 1000
    wins = p * games
    np.fill_diagonal(wins, 0)
    est = stats.bradley_terry(wins, prior=0.0)
    assert est == pytest.approx(s - s.mean(), abs=1e-3)


def test_spearman_ci_and_pairwise_agreement() -> None:
    x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    rho, lo, hi = stats.spearman_ci(x, [2.0, 1.0, 4.0, 3.0, 6.0, 5.0], resamples=500)
    assert rho == pytest.approx(sps.spearmanr(x, [2, 1, 4, 3, 6, 5]).statistic)
    assert lo <= rho <= hi
    # human 1, 2, 3.5; component orders (1,2) wrongly, the rest rightly; (1, 2) differ by exactly 1
    rate, pairs = stats.pairwise_agreement([0.5, 0.4, 0.9], [1.0, 2.0, 3.5])
    assert pairs == 3 and rate == pytest.approx(2 / 3)
    rate, pairs = stats.pairwise_agreement([0.5, 0.5], [1.0, 3.0])
    assert (rate, pairs) == (0.5, 1)
    assert stats.pairwise_agreement([1.0, 2.0], [1.0, 1.5]) == (pytest.approx(float("nan"), nan_ok=True), 0)


def test_paired_tests_match_scipy() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=12)
    b = a + 0.3 + rng.normal(scale=0.2, size=12)
    assert stats.paired_t_p(b, a) == pytest.approx(sps.ttest_rel(b, a).pvalue)
    exact = sps.permutation_test((b, a), lambda u, v, axis=-1: np.mean(u - v, axis=axis), permutation_type="samples",
                                 vectorized=True).pvalue  # 2^12 flips: exact
    assert stats.paired_permutation_p(b, a) == pytest.approx(exact)
    assert math.isnan(stats.paired_t_p([1.0], [0.0])) and math.isnan(stats.paired_permutation_p([1.0, 2.0], [0.0]))
