"""The worker's speed estimate: progress moves while a model call gives none of its own."""

from __future__ import annotations

import time

from storyspace.studio.jobs import FIRST_TOK_S, Speed


def test_speed_is_measured_over_the_jobs_done() -> None:
    s = Speed()
    assert s.tok_s() is None
    s.add(100, 4.0)
    s.add(0, 1.0)  # nothing written: not a measurement
    s.add(50, 1.0)
    assert s.tok_s() == 30.0


def test_estimating_moves_progress_and_never_claims_the_whole() -> None:
    seen: list[tuple[int, int, str]] = []
    s = Speed()
    with s.estimating(lambda d, t, n: seen.append((d, t, n)), 40, "writing 2 passage(s)", tick_s=0.02):
        time.sleep(0.3)
    assert seen[0] == (0, 40, "writing 2 passage(s): starting")
    done = [d for d, _, _ in seen]
    assert done == sorted(done) and 0 < done[-1] <= 39  # moving, never the whole before the call returns
    assert all(t == 40 for _, t, _ in seen)
    assert "about" in seen[-1][2] and "s left" in seen[-1][2]  # no speed measured yet: an estimate
    assert FIRST_TOK_S > 0
    s.add(1000, 1.0)
    seen.clear()
    with s.estimating(lambda d, t, n: seen.append((d, t, n)), 5000, "x", tick_s=0.02):
        time.sleep(0.1)
    assert seen[-1][0] > 0 and "about" not in seen[-1][2]  # a measured speed
