"""The learned value: its file format, its arithmetic, and the fit on hand-made pairs."""

from __future__ import annotations

import json
import math

import pytest

from storyspace.errors import UserError
from storyspace.value.fit import FitConfig, Pair, cross_validate, fit, fold_of, pair_agreement
from storyspace.value.learned import LinearValue, load_weights, sigmoid


def test_value_is_sigmoid_of_standardised_score_times_penalty() -> None:
    m = LinearValue(features=("surprisal_z", "pmi"), mean=(0.0, 1.0), sd=(1.0, 2.0), weights=(-1.0, 0.5), bias=0.2)
    x = {"surprisal_z": 1.0, "pmi": 3.0, "penalty": 0.5}
    assert m.value(x) == pytest.approx(sigmoid(0.2 - 1.0 + 0.5) * 0.5)
    assert m.value({"surprisal_z": math.inf, "pmi": 0.0}) == 0.0  # an empty passage
    assert LinearValue.from_dict(json.loads(json.dumps(m.as_dict()))).value(x) == pytest.approx(m.value(x))


def test_reward_cap_stops_the_value_rising_beyond_the_human_range() -> None:
    # surprisal_z rewards going down (weight -1), pmi going up (weight 0.5); human range of each at
    # quantiles .01 .05 .95 .99
    human = {"surprisal_z": (-2.0, -1.0, 1.0, 2.0), "pmi": (-1.0, 0.0, 2.0, 3.0)}
    m = LinearValue(features=("surprisal_z", "pmi"), mean=(0.0, 1.0), sd=(1.0, 2.0), weights=(-1.0, 0.5), human=human)
    capped = m.with_cap(0.05)
    assert capped.caps == pytest.approx((1.0, 0.25))  # -1 * (-1 - 0) / 1; 0.5 * (2 - 1) / 2
    inside = {"surprisal_z": -0.5, "pmi": 1.5}
    assert capped.score(inside) == pytest.approx(m.score(inside)) == pytest.approx(0.5 + 0.125)
    beyond = {"surprisal_z": -4.0, "pmi": 9.0}  # far more predictable and coherent than any human step
    assert m.score(beyond) == pytest.approx(4.0 + 2.0) and capped.score(beyond) == pytest.approx(1.0 + 0.25)
    worse = {"surprisal_z": 4.0, "pmi": -9.0}  # the penalising direction is not capped
    assert capped.score(worse) == pytest.approx(m.score(worse)) == pytest.approx(-4.0 - 2.5)
    assert m.with_cap(0.01).caps == pytest.approx((2.0, 0.5))
    # the quantiles travel with the weights; the cap is a setting, not part of the file
    again = LinearValue.from_dict(json.loads(json.dumps(capped.as_dict())))
    assert again.human == human and again.cap == 0.0 and again.with_cap(0.05).caps == capped.caps
    with pytest.raises(UserError, match="--reward-cap must be 0 or one of 0.01, 0.05"):
        m.with_cap(0.2)
    with pytest.raises(UserError, match="needs value weights with human_quantiles"):
        LinearValue(features=("pmi",), mean=(0.0,), sd=(1.0,), weights=(1.0,), cap=0.05)
    with pytest.raises(UserError, match="4 values per feature"):
        LinearValue(features=("pmi",), mean=(0.0,), sd=(1.0,), weights=(1.0,), human={"pmi": (0.0, 1.0)})


def test_shipped_weights_record_the_human_range_and_the_cap_leaves_human_steps_be() -> None:
    m = load_weights("auto", "embedded")
    assert m.human is not None and set(m.human) >= set(m.features)
    for f in m.features:
        assert list(m.human[f]) == sorted(m.human[f])  # quantiles in order
    capped = m.with_cap(0.05)
    typical = {f: m.human[f][1] + 0.5 * (m.human[f][2] - m.human[f][1]) for f in m.features}  # mid human range
    assert capped.value(typical) == pytest.approx(m.value(typical))
    extreme = dict(typical, surprisal_z=m.human["surprisal_z"][0] - 3.0)  # more predictable than any human step
    assert m.value(extreme) > m.value(typical)
    assert capped.value(extreme) == pytest.approx(capped.value(dict(typical, surprisal_z=m.human["surprisal_z"][1])))


def test_bad_weights_are_one_line_errors(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(UserError, match="unknown feature"):
        LinearValue(features=("nope",), mean=(0.0,), sd=(1.0,), weights=(1.0,))
    with pytest.raises(UserError, match="sd positive"):
        LinearValue(features=("pmi",), mean=(0.0,), sd=(0.0,), weights=(1.0,))
    bad = tmp_path / "w.json"
    bad.write_text('{"features": ["pmi"]}')
    with pytest.raises(UserError, match="missing or bad field"):
        load_weights(str(bad), "embedded")
    with pytest.raises(UserError, match="no value weights"):
        load_weights("auto", "hf:/some/model")


def test_shipped_weights_load_and_say_how_they_were_made() -> None:
    m = load_weights("auto", "embedded")
    assert m.features and m.raw is not None
    made = m.raw["made_by"]
    assert "storyspace fit-value" in made["command"] and made["cross_validation"]


def _steps(s: float, p: float, n: int = 2) -> list[dict[str, float]]:
    return [{"surprisal_z": s, "pmi": p, "penalty": 1.0}] * n


def _pairs() -> list[Pair]:
    """Better stories have lower surprisal and higher PMI, each prompt its own group."""
    out = []
    for i in range(40):
        d = 0.2 + (i % 5) * 0.1
        out.append(Pair((f"p{i}",), "story", "x", _steps(-d, d), _steps(d, -d)))
    return out


def test_fit_learns_the_direction_of_hand_made_pairs() -> None:
    cfg = FitConfig(features="surprisal_z,pmi", l2=0.001)
    m = fit(_pairs(), cfg)
    assert m.weights[0] < 0 < m.weights[1]
    assert pair_agreement(m, _pairs())["story"]["agreement"] == 1.0


def test_folds_never_split_a_prompt_and_cv_counts_every_pair_once() -> None:
    fold = fold_of(["a", "b", "c", "d", "e", "a"], 5, seed=0)
    assert sorted(fold.values()) == [0, 1, 2, 3, 4]
    cv = cross_validate(_pairs(), FitConfig(features="surprisal_z,pmi", folds=4))
    assert cv["story"]["pairs"] == 40 and cv["story"]["pooled"] == 1.0
    # a pair of two prompts is tested only when both are in the test fold
    pairs = _pairs() + [Pair(("p0", "p1"), "hanna", "rating", _steps(-1, 1), _steps(1, -1))]
    cv = cross_validate(pairs, FitConfig(features="surprisal_z,pmi", folds=2, seed=3))
    assert cv.get("hanna", {"pairs": 0})["pairs"] <= 1


def _item(kind: str, sid: int, version: str, ctx: float, **extra) -> dict:  # noqa: ANN003
    reading = {"passage": "Rain fell on the old roof. She listened.", "so_far": "A premise.\n", "ctx": [ctx] * 6,
               "neutral": [-3.0] * 6, "cut_off": False}
    return {"kind": kind, "id": sid, "version": version, "readings": [reading, reading], **extra}


def test_make_pairs_from_readings() -> None:
    from storyspace.value.fit_data import make_pairs
    from storyspace.value.config import ValueConfig
    from storyspace.value.model import load_calibration

    class Like:
        calibration = load_calibration("auto", "embedded")
        cfg = ValueConfig()

    items = [_item("story", 1, "original", -2.0), _item("story", 1, "loop", -1.0), _item("story", 2, "loop", -1.0)]
    items += [_item("hanna", i, "original", -2.0 - i, ratings={"human_coherence": 1.0 + 2 * i, "human_surprise": 2.0})
              for i in range(3)]
    step = _item("step", 1, "original", -2.0)
    step["versions"] = ["original", "loop", "meta"]
    step["readings"] = step["readings"] + step["readings"][:1]
    items.append(step)
    pairs = make_pairs(items, Like(), FitConfig(min_gap=1.0))
    kinds = sorted((p.kind, p.corruption) for p in pairs)
    # story 2 has no original: no pair; hanna pairs 0-1, 1-2, 0-2 all differ by >= 1
    assert kinds == [("hanna", "rating")] * 3 + [("step", "loop"), ("step", "meta"), ("story", "loop")]
    best = [p for p in pairs if p.kind == "hanna" and set(p.groups) == {"0", "2"}][0]
    assert best.better[0]["surprisal"] == pytest.approx(4.0)  # story 2 is rated higher


def test_premise_of_a_saved_reading() -> None:
    from storyspace.value.fit_data import premise_of

    assert premise_of({"so_far": "A premise.\n", "story": ""}) == "A premise."
    assert premise_of({"so_far": "Two\nlines.\nOne step.", "story": "One step."}) == "Two\nlines."
    assert premise_of({"so_far": "Old file.\nOne step."}) == "Old file."  # saved before ``story`` was kept


def test_hanna_criteria_are_cross_validated_per_fold_model() -> None:
    """Ten hand-made HANNA stories: the better rated the less surprising. Each is valued by the fold
    model that did not see it, and every pair with a rating gap counts once."""
    from storyspace.value.fit_data import hanna_cross_validated, make_pairs
    from storyspace.value.config import ValueConfig
    from storyspace.value.model import load_calibration

    class Like:
        calibration = load_calibration("auto", "embedded")
        cfg = ValueConfig()

    items = [_item("hanna", i, "original", -1.0 - 0.2 * i,
                   ratings={"human_coherence": 1.0 + 0.5 * i, "human_surprise": 3.0}) for i in range(10)]
    cfg = FitConfig(features="surprisal_z", folds=2, l2=0.001)
    pairs = make_pairs(items, Like(), cfg)
    got = hanna_cross_validated(items, Like(), pairs, cfg)
    gaps = sum(1 for a in range(10) for b in range(a + 1, 10) if 0.5 * (b - a) >= 1.0)
    assert got["human_coherence"]["pairs"] == gaps and got["human_coherence"]["pooled"] == 1.0
    assert "human_surprise" not in got  # no two stories differ on it
