import math

import pytest

from storyspace.value.curiosity import CuriosityParams, curiosity


def test_inverted_u_peaks_at_human_surprisal_and_falls_off_both_sides() -> None:
    p = CuriosityParams(mu=3.7, sigma=0.9)
    peak = curiosity(3.7, p)
    assert peak == pytest.approx(1.0)
    # the model's own habits (2.1 nats) and shuffled text (7.6 nats) both score low
    assert curiosity(2.1, p) < 0.3 and curiosity(7.6, p) < 0.01
    # symmetric in z, one SD away gives exp(-1/2)
    assert curiosity(3.7 + 0.9, p) == pytest.approx(math.exp(-0.5))
    assert curiosity(3.7 - 0.9, p) == pytest.approx(curiosity(3.7 + 0.9, p))


def test_shifted_peak_and_non_finite_surprisal() -> None:
    p = CuriosityParams(mu=3.0, sigma=1.0, z0=0.5, width=2.0)
    assert curiosity(3.5, p) == pytest.approx(1.0)
    assert curiosity(float("inf"), p) == 0.0
    assert curiosity(float("nan"), p) == 0.0
