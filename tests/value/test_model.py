"""The value model on the real embedded reader with the shipped calibration."""

from __future__ import annotations

import pytest

from storyspace.errors import UserError
from storyspace.story import PromptConfig, Step, Story
from storyspace.value.calibrate import auc
from storyspace.value.coherence import pmi_coherence, PMIParams
from storyspace.value.config import ValueConfig
from storyspace.value.model import ValueModel, load_calibration

STORY = Story(
    "A lighthouse keeper finds a message in a bottle addressed to her, dated fifty years in the future.",
    (Step("Mara found the bottle wedged between two rocks below the lighthouse, its glass fogged with salt. "
          "Inside was a letter with her own name on the envelope."),),
)
TRUE_NEXT = "She broke the wax seal with her thumbnail. The letter was dated fifty years from today, in her handwriting."
OFF_TOPIC = "The quarterly earnings report showed a modest rise in revenue across the European division."


def test_shipped_calibration_is_plausible() -> None:
    cal = load_calibration("auto", "embedded")
    assert 2.0 < cal.curiosity.mu < 6.0 and 0.2 < cal.curiosity.sigma < 2.0
    comp = cal.raw["comparison"]
    assert comp["best_signal"] in ("pmi", "cosine", "judge") and comp["n_stories"] >= 90
    with pytest.raises(UserError, match="no calibration"):
        load_calibration("auto", "hf:/some/model")


def test_pmi_coherence_is_monotone_and_bounded() -> None:
    p = PMIParams(center=0.5, scale=0.25)
    xs = [pmi_coherence(x, p) for x in (-2.0, 0.0, 0.5, 1.0, 5.0)]
    assert xs == sorted(xs) and xs[2] == pytest.approx(0.5) and 0.0 <= xs[0] and xs[-1] <= 1.0


def test_auc() -> None:
    assert auc([3, 4], [1, 2]) == 1.0 and auc([1], [1]) == 0.5


@pytest.mark.slow
def test_value_prefers_a_true_continuation_to_an_off_topic_one(embedded) -> None:  # noqa: ANN001
    cal = load_calibration("auto", "embedded")
    vm = ValueModel(embedded, ValueConfig(coherence="pmi", combine="product"), cal, PromptConfig())
    true, off = vm.evaluate(STORY, [TRUE_NEXT, OFF_TOPIC], [False, False])
    assert true["pmi"] > off["pmi"]
    assert true["coherence"] > off["coherence"]
    assert true["value"] > off["value"]
    for b in (true, off):
        assert b["value"] == pytest.approx(b["curiosity"] * b["coherence"] * b["penalty"], abs=1e-5)
        assert b["surprisal"] > 0 and b["surprisal_neutral"] > 0
    # the default, learned value: the same order, and the value is the shipped weights' formula
    learned = ValueModel(embedded, ValueConfig(), cal, PromptConfig())
    true_l, off_l = learned.evaluate(STORY, [TRUE_NEXT, OFF_TOPIC], [False, False])
    assert true_l["value"] > off_l["value"]
    assert true_l["value"] == pytest.approx(learned.weights.value(true_l), abs=1e-5)
    assert true_l["surprisal"] == pytest.approx(true["surprisal"], abs=1e-4)


@pytest.mark.slow
def test_cosine_and_judge_signals_run_on_real_models(embedded) -> None:  # noqa: ANN001
    cal = load_calibration("auto", "embedded")
    cos_vm = ValueModel(embedded, ValueConfig(coherence="cosine"), cal, PromptConfig())
    true, off = cos_vm.evaluate(STORY, [TRUE_NEXT, OFF_TOPIC], [False, False])
    assert true["coherence_raw"] > off["coherence_raw"]  # MiniLM: on-topic is closer
    judge_vm = ValueModel(embedded, ValueConfig(coherence="judge"), cal, PromptConfig(), judge=embedded)
    for b in judge_vm.evaluate(STORY, [TRUE_NEXT, OFF_TOPIC], [False, False]):
        assert 0.0 < b["coherence"] < 1.0 and b["coherence_signal"] == "judge"


def test_reward_cap_reaches_the_value_model(embedded) -> None:  # noqa: ANN001
    from storyspace.config import validate_value

    cal = load_calibration("auto", "embedded")
    story = Story("A lighthouse keeper finds a letter in a bottle.")
    passages = ["The keeper kept the lamp. The keeper kept the lamp. The keeper kept the lamp burning.",
                "She broke the wax seal with her thumbnail; the paper inside smelled of oranges."]
    plain = ValueModel(embedded, ValueConfig(), cal, PromptConfig())
    capped = ValueModel(embedded, ValueConfig(reward_cap=0.05), cal, PromptConfig())
    assert plain.weights.cap == 0.0 and capped.weights.cap == 0.05
    for a, b in zip(plain.evaluate(story, passages, [False, False]), capped.evaluate(story, passages, [False, False])):
        # the same reading; the cap can only take reward away, never add it
        assert a["surprisal"] == b["surprisal"] and b["value"] <= a["value"] + 1e-12
    with pytest.raises(UserError, match="--reward-cap must be 0 or one of"):
        validate_value(ValueConfig(reward_cap=0.3))
