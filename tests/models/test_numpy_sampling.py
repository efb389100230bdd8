"""The numpy token choice of the llama.cpp backend: exact nucleus, right frequencies, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from storyspace.models.sampling import choose, log_softmax, nucleus, row_rng


def reference_nucleus(logits: np.ndarray, top_p: float) -> set[int]:
    p = np.exp(log_softmax(logits.astype(np.float64)))
    order = np.argsort(-p, kind="stable")
    kept, mass = [], 0.0
    for t in order:
        if mass > top_p:  # keep tokens until the mass before them passes top_p
            break
        kept.append(int(t))
        mass += p[t]
    return set(kept)


@pytest.mark.parametrize("top_p", [0.5, 0.9, 0.95, 1.0])
@pytest.mark.parametrize("peak", [0.0, 4.0, 12.0])
def test_nucleus_matches_a_full_sort_reference(top_p: float, peak: float) -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=5000).astype(np.float32)
    logits[:20] += peak
    ids, probs = nucleus(logits, top_p, candidates=256)
    assert set(ids.tolist()) == reference_nucleus(logits, top_p)
    assert probs.sum() == pytest.approx(1.0, abs=1e-5) and np.all(np.diff(probs) <= 1e-7)


def test_draws_follow_the_truncated_distribution_and_logprob_is_temperature_one() -> None:
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05], dtype=np.float32))
    rng = row_rng(3, 0)
    draws = [choose(logits[None], 1.0, 0.81, [rng])[0][0] for _ in range(20000)]
    freq = np.bincount(draws, minlength=4) / len(draws)
    assert freq[3] == 0.0  # outside the nucleus
    assert np.allclose(freq[:3], [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95], atol=0.015)
    tokens, lps = choose(np.stack([logits, logits]), 0.5, 1.0, [row_rng(1, 0), row_rng(1, 1)])
    assert lps == pytest.approx([float(np.log([0.5, 0.3, 0.15, 0.05])[t]) for t in tokens], abs=1e-5)
    assert choose(logits[None], 0.0, 0.9, [row_rng(0, 0)])[0] == [0]  # temperature 0 = argmax


def test_a_rows_draw_depends_only_on_its_seed() -> None:
    logits = np.random.default_rng(1).normal(size=(3, 1000)).astype(np.float32) * 3
    a = choose(logits, 0.9, 0.95, [row_rng(5, j) for j in range(3)])[0]
    b = choose(logits[1:2], 0.9, 0.95, [row_rng(5, 1)])[0]
    assert a[1] == b[0]
