"""The story world on the real embedded policy: k proposals per path, valued, in one call."""

from __future__ import annotations

import pytest

from storyspace.search.mcts import priors
from storyspace.story import PromptConfig
from storyspace.value.config import ValueConfig
from storyspace.value.model import ValueModel, load_calibration
from storyspace.world import PolicyConfig, StoryWorld

pytestmark = pytest.mark.slow


def make_world(embedded, **policy) -> StoryWorld:  # noqa: ANN001, ANN003
    vm = ValueModel(embedded, ValueConfig(), load_calibration("auto", "embedded"), PromptConfig())
    return StoryWorld("A cat becomes mayor of a small town.", embedded, vm,
                      PolicyConfig(step_tokens=24, **policy), PromptConfig())


def test_expand_proposes_and_values_k_steps_per_path(embedded) -> None:  # noqa: ANN001
    world = make_world(embedded)
    before = embedded.usage.calls
    out = world.expand([[], [{"passage": "The cat won by a landslide.", "plan": ""}]], 3, [1, 2])
    assert [len(g) for g in out] == [3, 3]
    assert embedded.usage.calls - before == 1 + 2 * 2  # one sampling call; 2 reader calls per path
    for group in out:
        for e in group:
            assert set(e.step) == {"plan", "passage"} and e.logprob < 0
            assert 0.0 <= e.value <= 1.0 and e.breakdown["value"] == e.value
        assert sum(priors([e.logprob for e in group], 1.0)) == pytest.approx(1.0)
    again = world.expand([[]], 3, [1])
    assert [e.step for e in again[0]] == [e.step for e in out[0]]  # same seed, same proposals


def test_plan_mode_writes_a_plan_then_a_passage(embedded) -> None:  # noqa: ANN001
    out = make_world(embedded, plan=True, plan_tokens=16).expand([[]], 2, [4])[0]
    assert len(out) == 2 and all(e.step["plan"] for e in out)
    assert "\n" not in out[0].step["plan"]


def test_batch_expander_sends_the_leaves_of_several_premises_in_one_policy_call(embedded) -> None:  # noqa: ANN001
    from storyspace.world import batch_expander

    vm = ValueModel(embedded, ValueConfig(), load_calibration("auto", "embedded"), PromptConfig())
    cfg = PolicyConfig(step_tokens=16)
    worlds = [StoryWorld(p, embedded, vm, cfg, PromptConfig()) for p in ("A cat becomes mayor.", "A dog learns to fly.")]
    batch = batch_expander(worlds)
    before = embedded.usage.calls
    out = batch([(0, [[]], [1]), (1, [[], [{"passage": "The dog jumped.", "plan": ""}]], [2, 3])], 2)
    assert [len(x) for x in out] == [1, 2] and all(len(g) == 2 for x in out for g in x)
    assert embedded.usage.calls - before == 1 + 3 * 2  # one sampling call for both premises
    # each premise's proposals are what its own world proposes with the same seed
    assert [e.step for e in out[1][0]] == [e.step for e in worlds[1].expand([[]], 2, [2])[0]]
    other = StoryWorld("x", embedded, ValueModel(embedded, ValueConfig(), load_calibration("auto", "embedded"),
                                                 PromptConfig()), cfg, PromptConfig())
    with pytest.raises(ValueError, match="must share"):
        batch_expander([worlds[0], other])
