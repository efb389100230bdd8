"""Statistics of an evaluation: pure functions of lists of numbers (numpy + scipy).

Every resampling function takes a ``seed`` so that a report is reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    sd: float  # sample SD (ddof = 1); 0 for n < 2
    ci_low: float  # bootstrap 95% CI of the mean
    ci_high: float


def finite(xs: Sequence[float | None]) -> list[float]:
    return [float(x) for x in xs if x is not None and math.isfinite(float(x))]


def sd(xs: Sequence[float]) -> float:
    return float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0


def bootstrap_ci(xs: Sequence[float], seed: int = 0, resamples: int = 5000, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean (``scipy.stats.bootstrap``)."""
    from scipy import stats

    a = np.asarray(xs, dtype=float)
    if a.size == 0:
        return (math.nan, math.nan)
    if a.size == 1 or np.all(a == a[0]):
        return (float(a[0]), float(a[0]))
    res = stats.bootstrap((a,), np.mean, n_resamples=resamples, confidence_level=level, method="percentile",
                          vectorized=True, rng=np.random.default_rng(seed))
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def summarize(xs: Sequence[float | None], seed: int = 0) -> Summary:
    v = finite(xs)
    if not v:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    lo, hi = bootstrap_ci(v, seed)
    return Summary(len(v), float(np.mean(v)), sd(v), lo, hi)


def standardized_difference(a: Sequence[float], b: Sequence[float]) -> float:
    """(mean a - mean b) in units of the pooled SD, sqrt((sd_a^2 + sd_b^2) / 2) (Cohen's d, as the
    COS(M+O)S paper reports its gains); nan when both SDs are 0."""
    if len(a) < 2 or len(b) < 2:
        return math.nan
    pooled = math.sqrt((sd(a) ** 2 + sd(b) ** 2) / 2)
    return (float(np.mean(a)) - float(np.mean(b))) / pooled if pooled > 0 else math.nan


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Welch t-test p-value (unequal variances)."""
    if len(a) < 2 or len(b) < 2 or (sd(a) == 0 and sd(b) == 0):
        return math.nan
    from scipy import stats

    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def permutation_p(a: Sequence[float], b: Sequence[float], seed: int = 0, resamples: int = 10000) -> float:
    """Two-sided permutation test of the difference in means (``scipy.stats.permutation_test``;
    exact when there are fewer distinct splits than ``resamples``, else (hits + 1) / (resamples + 1));
    nan with fewer than two values a side (as ``welch_p``)."""
    from scipy import stats

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size < 2 or y.size < 2:
        return math.nan

    def mean_difference(u: np.ndarray, v: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean(u, axis=axis) - np.mean(v, axis=axis)

    res = stats.permutation_test((x, y), mean_difference, permutation_type="independent", alternative="two-sided",
                                 n_resamples=resamples, vectorized=True, rng=np.random.default_rng(seed))
    return float(min(1.0, res.pvalue))


def paired_t_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided paired t-test p-value (``scipy.stats.ttest_rel``): ``a[i]`` and ``b[i]`` are the
    same unit (premise, seed) under two conditions; nan with fewer than two pairs or no spread."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.size < 2 or float(np.std(d)) == 0.0:
        return math.nan
    from scipy import stats

    return float(stats.ttest_rel(a, b).pvalue)


def paired_permutation_p(a: Sequence[float], b: Sequence[float], seed: int = 0, resamples: int = 10000) -> float:
    """Two-sided sign-flip permutation test of the mean paired difference (``permutation_test``
    with ``permutation_type="samples"``: each pair's two values may swap; exact for few pairs)."""
    from scipy import stats

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size < 2 or x.size != y.size:
        return math.nan

    def mean_difference(u: np.ndarray, v: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean(u - v, axis=axis)

    res = stats.permutation_test((x, y), mean_difference, permutation_type="samples", alternative="two-sided",
                                 n_resamples=resamples, vectorized=True, rng=np.random.default_rng(seed))
    return float(min(1.0, res.pvalue))


def win_matrix(scores: dict[str, dict[str, float]], systems: Sequence[str]) -> np.ndarray:
    """wins[i, j]: premises where system i scored above j (a tie counts half to each).
    ``scores[system][premise_id]``; only premises that both systems have count."""
    k = len(systems)
    wins = np.zeros((k, k))
    for i, a in enumerate(systems):
        for j, b in enumerate(systems):
            if i == j:
                continue
            for pid, sa in scores.get(a, {}).items():
                sb = scores.get(b, {}).get(pid)
                if sb is None or sa is None:
                    continue
                wins[i, j] += 1.0 if sa > sb else 0.5 if sa == sb else 0.0
    return wins


def win_rates(wins: np.ndarray) -> np.ndarray:
    """rate[i, j] = wins of i over j / games between them (nan on the diagonal and without games)."""
    games = wins + wins.T
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(games > 0, wins / np.where(games > 0, games, 1), np.nan)
    np.fill_diagonal(rate, np.nan)
    return rate


def bradley_terry(wins: np.ndarray, prior: float = 0.5, iterations: int = 500, tol: float = 1e-10) -> np.ndarray:
    """Bradley-Terry strengths by Hunter's (2004) MM updates, as log-strengths with mean 0.

    ``prior`` pseudo-wins each way between every pair keep an undefeated system finite.
    P(i beats j) = 1 / (1 + exp(s_j - s_i)).
    """
    k = wins.shape[0]
    if k == 0:
        return np.zeros(0)
    w = wins + prior * (1 - np.eye(k))
    games = w + w.T
    p = np.ones(k)
    for _ in range(iterations):
        denom = np.array([sum(games[i, j] / (p[i] + p[j]) for j in range(k) if j != i) for i in range(k)])
        new = w.sum(axis=1) / np.where(denom > 0, denom, 1)
        new = new / np.exp(np.mean(np.log(new)))
        if np.max(np.abs(new - p)) < tol:
            p = new
            break
        p = new
    s = np.log(p)
    return s - s.mean()


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    from scipy import stats

    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan
    return float(stats.spearmanr(x, y).statistic)


def _spearman_along(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman rho of paired samples along ``axis`` (vectorised for ``scipy.stats.bootstrap``)."""
    from scipy import stats

    xr, yr = stats.rankdata(x, axis=axis), stats.rankdata(y, axis=axis)
    xr = xr - xr.mean(axis=axis, keepdims=True)
    yr = yr - yr.mean(axis=axis, keepdims=True)
    den = np.sqrt((xr**2).sum(axis=axis) * (yr**2).sum(axis=axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (xr * yr).sum(axis=axis) / np.where(den > 0, den, 1), 0.0)


def spearman_ci(
    x: Sequence[float], y: Sequence[float], seed: int = 0, resamples: int = 2000, level: float = 0.95
) -> tuple[float, float, float]:
    """Spearman rho with a percentile bootstrap CI over resampled pairs (``scipy.stats.bootstrap``,
    ``paired=True``; a resample without rank variation counts as rho 0)."""
    from scipy import stats

    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rho = spearman(xa, ya)
    if math.isnan(rho):
        return (rho, math.nan, math.nan)
    res = stats.bootstrap((xa, ya), _spearman_along, paired=True, vectorized=True, n_resamples=resamples,
                          confidence_level=level, method="percentile", rng=np.random.default_rng(seed))
    return (rho, float(res.confidence_interval.low), float(res.confidence_interval.high))


def pairwise_agreement(component: Sequence[float], human: Sequence[float], min_gap: float = 1.0) -> tuple[float, int]:
    """Over pairs whose human ratings differ by at least ``min_gap``: how often the component
    orders them as the humans did (a tie in the component counts half). Returns (rate, pairs)."""
    c, h = np.asarray(component, dtype=float), np.asarray(human, dtype=float)
    agree, pairs = 0.0, 0
    for i in range(len(c)):
        for j in range(i + 1, len(c)):
            gap = h[i] - h[j]
            if abs(gap) < min_gap - 1e-9:
                continue
            pairs += 1
            d = c[i] - c[j]
            agree += 0.5 if d == 0 else float((d > 0) == (gap > 0))
    return (agree / pairs if pairs else math.nan, pairs)
