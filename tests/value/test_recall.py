"""Premise recall: the transformers reader's batched forms give the numbers of one plain
``logprobs`` call per candidate or step (how llama.cpp and remote readers are read), and the
signal tells a story of its premise from one of another premise."""

from __future__ import annotations

import json

import pytest

from storyspace.models.base import Segments
from storyspace.story import PASSAGE_SEPARATOR, PromptConfig, Step, Story
from storyspace.value import recall
from storyspace.value.learned import LinearValue
from storyspace.value.config import ValueConfig
from storyspace.value.model import ValueModel, load_calibration, premise_recalls
from tests.value.test_reading import PASSAGES, PREMISE, StepByStep

OTHER = [
    "The bakery opened at six. Marta rolled the dough for the morning bread and hummed an old song.",
    "A customer came in asking for rye. There was none left: the flour delivery had not come.",
    "She baked him a loaf of wheat instead and told him it was rye. He never knew the difference.",
]
TAIL = PromptConfig().reader_recall_tail


def test_recall_is_mean_logprob_minus_baseline() -> None:
    assert recall.recall([-1.0, -3.0], -4.0) == pytest.approx(2.0)
    assert recall.recall([], -4.0) == 0.0


@pytest.mark.slow
def test_batched_candidates_equal_one_call_each(embedded) -> None:  # noqa: ANN001
    context = Segments(["Story:\n", PASSAGES[0], PASSAGE_SEPARATOR])
    fast = recall.after_candidates(embedded, context, PASSAGES[1:] + OTHER[:1], TAIL, PREMISE)
    slow = recall.after_candidates(StepByStep(embedded), context, PASSAGES[1:] + OTHER[:1], TAIL, PREMISE)
    assert len(fast) == 3 and all(len(x) == len(fast[0]) > 5 for x in fast)
    for a, b in zip(fast, slow):
        assert a == pytest.approx(b, abs=1e-3)


@pytest.mark.slow
def test_along_story_in_one_pass_equals_one_call_per_step(embedded) -> None:  # noqa: ANN001
    context = Segments(["Story:\n"])
    fast = recall.along_story(embedded, context, PASSAGES, PASSAGE_SEPARATOR, TAIL, PREMISE)
    slow = recall.along_story(StepByStep(embedded), context, PASSAGES, PASSAGE_SEPARATOR, TAIL, PREMISE)
    assert [len(x) for x in fast] == [len(x) for x in slow] and len(fast) == 3
    for a, b in zip(fast, slow):
        assert a == pytest.approx(b, abs=1e-3)


@pytest.mark.slow
def test_a_story_of_its_premise_recalls_it_better_than_another_story(embedded) -> None:  # noqa: ANN001
    prompts = PromptConfig()
    own = premise_recalls(embedded, prompts, PREMISE, PASSAGES, True)
    other = premise_recalls(embedded, prompts, PREMISE, OTHER, True)
    assert own[-1] > 0.5 > other[-1]
    assert sum(own) > sum(other)


@pytest.mark.slow
def test_search_and_scoring_read_the_same_recall(embedded, tmp_path) -> None:  # noqa: ANN001
    """A value model whose weights use premise_recall reads it, the same in both ways in."""
    w = LinearValue(("surprisal_z", "premise_recall"), (0.0, 0.0), (1.0, 1.0), (-0.5, 1.0))
    path = tmp_path / "w.json"
    path.write_text(json.dumps(w.as_dict()))
    vm = ValueModel(embedded, ValueConfig(weights=str(path)), load_calibration("auto", "embedded"), PromptConfig())
    assert vm.reads_recall
    whole = vm.evaluate_story(PREMISE, PASSAGES, [False] * 3)
    search = vm.evaluate(Story(PREMISE, (Step(PASSAGES[0]),)), PASSAGES[1:2], [False])
    assert whole[1]["premise_recall"] == pytest.approx(search[0]["premise_recall"], abs=1e-3)
    assert whole[1]["value"] == pytest.approx(search[0]["value"], abs=1e-3)
    plain = ValueModel(embedded, ValueConfig(combine="product"), load_calibration("auto", "embedded"), PromptConfig())
    assert not plain.reads_recall and "premise_recall" not in plain.evaluate_story(PREMISE, PASSAGES[:1], [False])[0]
