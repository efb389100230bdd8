"""Reading a story in one pass gives the numbers the search gets reading it step by step."""

from __future__ import annotations

import pytest

from storyspace.models.base import Segments
from storyspace.story import PASSAGE_SEPARATOR, PromptConfig, Step, Story, ends_sentence, reader_context
from storyspace.value.config import ValueConfig
from storyspace.value.model import ValueModel, load_calibration
from storyspace.value.surprisal import chain_logprobs

PREMISE = "A lighthouse keeper finds a message in a bottle."
PASSAGES = [
    "The storm had passed by morning. Old Tom walked down to the rocks and found a green bottle.",
    "“Who sent this?” he asked the gulls. Inside was a letter, dated forty years ago, in his own hand.",
    "He did not remember writing it. The letter asked him to leave the light dark tonight.",
]


def test_ends_sentence() -> None:
    assert ends_sentence("He ran.") and ends_sentence('He said "go!"') and ends_sentence("Wait…")
    assert not ends_sentence("He ran. She") and not ends_sentence('"Go," he') and not ends_sentence("")


def test_reader_context_is_segments_of_the_story_text() -> None:
    story = Story(PREMISE, tuple(Step(p) for p in PASSAGES[:2]))
    ctx = reader_context(story, PromptConfig())
    assert isinstance(ctx, Segments)
    assert ctx.parts[1:] == (PASSAGES[0], PASSAGE_SEPARATOR, PASSAGES[1], PASSAGE_SEPARATOR)
    assert str(ctx).endswith(story.text() + PASSAGE_SEPARATOR)


class StepByStep:
    """The embedded reader without its one-pass method: ``chain_logprobs`` falls back to one
    ``logprobs`` call per step (how llama.cpp and remote readers are read)."""

    def __init__(self, model) -> None:  # noqa: ANN001
        self.model = model
        self.spec = model.spec

    def logprobs(self, context, continuations):  # noqa: ANN001, ANN201
        return self.model.logprobs(context, continuations)


@pytest.mark.slow
def test_one_pass_equals_step_by_step_on_the_real_reader(embedded) -> None:  # noqa: ANN001
    ctx = reader_context(Story(PREMISE), PromptConfig())
    fast = chain_logprobs(embedded, ctx, PASSAGES, PASSAGE_SEPARATOR)
    slow = chain_logprobs(StepByStep(embedded), ctx, PASSAGES, PASSAGE_SEPARATOR)
    assert [len(x) for x in fast] == [len(x) for x in slow] and all(fast)
    for a, b in zip(fast, slow):
        assert a == pytest.approx(b, abs=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("combine", ["product", "learned"])
def test_evaluate_story_equals_the_search_s_step_values(embedded, combine) -> None:  # noqa: ANN001
    vm = ValueModel(embedded, ValueConfig(combine=combine), load_calibration("auto", "embedded"), PromptConfig())
    whole = vm.evaluate_story(PREMISE, PASSAGES, [False] * 3)
    story = Story(PREMISE)
    for passage, got in zip(PASSAGES, whole):
        want = vm.evaluate(story, [passage], [False])[0]
        assert got["value"] == pytest.approx(want["value"], abs=1e-4)
        assert got["surprisal"] == pytest.approx(want["surprisal"], abs=1e-3)
        assert got["copying"] == want["copying"]
        assert got.get("premise_sim", 0.0) == pytest.approx(want.get("premise_sim", 0.0), abs=1e-4)
        story = story.extend(Step(passage))


@pytest.mark.slow
def test_premise_similarity_keeps_a_passage_on_the_prompt(embedded) -> None:  # noqa: ANN001
    """The shipped weights use MiniLM's premise similarity: the value model embeds, a passage about
    the premise is nearer to it than one from another story, and the product form does not embed."""
    vm = ValueModel(embedded, ValueConfig(), load_calibration("auto", "embedded"), PromptConfig())
    assert vm.weights is not None and "premise_sim" in vm.weights.features and vm.embedder is not None
    on, off = vm.evaluate(Story(PREMISE), [PASSAGES[0], "The stock market fell sharply on Tuesday."], [False, False])
    assert on["premise_sim"] > off["premise_sim"] + 0.2
    plain = ValueModel(embedded, ValueConfig(combine="product"), vm.calibration, PromptConfig())
    assert plain.embedder is None and "premise_sim" not in plain.evaluate(Story(PREMISE), [PASSAGES[0]], [False])[0]
