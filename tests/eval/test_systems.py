"""The evaluated systems' budgets and choices, on a deterministic fake world (no model)."""

from __future__ import annotations

import pytest

from storyspace.errors import UserError
from storyspace.eval.systems import (
    Budget,
    SystemSpec,
    beam_shape,
    parse_systems,
    run_beam,
    run_best_of_n,
    run_mcts,
    run_single,
    story_value,
)
from storyspace.search.mcts import Expansion, SearchConfig

COST = 10  # tokens every fake passage costs


class FakeWorld:
    """Passage j after a seed gets a value from (seed, j) alone; every passage costs COST tokens."""

    premise = "a premise"

    def __init__(self) -> None:
        self.tokens = 0
        self.calls = 0

    def expand(self, paths, k, seeds):  # noqa: ANN001, ANN201
        self.calls += 1
        out = []
        for path, seed in zip(paths, seeds):
            group = []
            for j in range(k):
                value = ((seed * 31 + j * 17) % 101) / 100
                label = f"{len(path)}:{seed % 1000}:{j}"
                group.append(Expansion(step={"passage": label}, logprob=-1.0, value=value, breakdown={"value": value}))
                self.tokens += COST
            out.append(group)
        return out


def spender(world: FakeWorld):  # noqa: ANN201
    start = world.tokens
    return lambda: world.tokens - start


def test_parse_systems() -> None:
    assert parse_systems("single, mcts@hf:/m") == [SystemSpec("single"), SystemSpec("mcts", "hf:/m")]
    assert SystemSpec("mcts", "hf:/m").label == "mcts@hf:/m"
    for bad in ("", "greedy", "mcts@", "beam,beam"):
        with pytest.raises(UserError):
            parse_systems(bad)


def test_budget_units_and_curve_multiples() -> None:
    b = Budget(tokens=200, depth=4, passage_cost=COST)
    assert b.unit == 40
    assert b.multiples([1, 2, 4, 8]) == [1, 2, 4]  # 8 units (320) do not fit in 200


def test_best_of_n_contains_single_and_picks_the_best() -> None:
    budget = Budget(tokens=160, depth=3, passage_cost=COST)
    w1 = FakeWorld()
    single = run_single(w1, budget, 5, spender(w1))
    w2 = FakeWorld()
    spent = spender(w2)
    bon = run_best_of_n(w2, budget, 5, spent, [1, 2, 4])
    n = bon.settings["n"]
    assert n == 160 // 30 == 5 and spent() == n * 3 * COST <= 160
    assert w2.calls == 3  # every step of all n stories in one call
    values = bon.settings["story_values"]
    assert values[0] == pytest.approx(story_value(single.expansions))  # story 0 is single's story
    assert story_value(bon.expansions) == pytest.approx(max(values))
    assert bon.curve[1]["value_mean"] == pytest.approx(values[0])
    assert bon.curve[4]["value_mean"] == pytest.approx(max(values[:4]))


def test_beam_shape_and_spend() -> None:
    budget = Budget(tokens=8 * 40, depth=4, passage_cost=COST)
    assert beam_shape(8 * 40, budget, 2) == (4, 2)
    assert beam_shape(40, budget, 2) == (1, 1)
    assert beam_shape(3 * 40, budget, 2) == (1, 2)
    w = FakeWorld()
    spent = spender(w)
    run = run_beam(w, budget, 1, spent, [1, 2, 4, 8], 2)
    assert run.settings == {"width": 4, "k": 2} and run.policy_tokens == 4 * 4 * 2 * COST
    assert len(run.expansions) == 4 and set(run.curve) == {1, 2, 4, 8}
    assert run.curve[2]["policy_tokens"] == 4 * 1 * 2 * COST  # the 2-unit beam ran on its own


def test_beam_keeps_the_best_partial_stories() -> None:
    from storyspace.eval.systems import beam_search

    w = FakeWorld()
    story = beam_search(w, 2, 1, 3, 7)  # width 1: greedy by value among 3 at each step
    assert len(story) == 2
    first = FakeWorld().expand([[]], 3, [story_seed_for_beam(7, 0, 0)])[0]
    assert story[0].value == max(e.value for e in first)


def story_seed_for_beam(seed: int, d: int, i: int) -> int:
    from storyspace.seeding import derive_seed

    return derive_seed(seed, "beam", d, i)


@pytest.mark.parametrize("units", [1, 2, 3, 5, 8])
def test_mcts_stays_within_budget_and_completes(units: int) -> None:
    cfg = SearchConfig(children=3, parallel_leaves=2)
    budget = Budget(tokens=units * 3 * COST, depth=3, passage_cost=COST)
    w = FakeWorld()
    spent = spender(w)
    run = run_mcts(w, cfg, budget, 11, spent, budget.multiples([1, 2, 4, 8]))
    assert len(run.expansions) == 3  # a whole story
    own = spent() - run.settings["snapshot_tokens"]
    assert own == run.policy_tokens <= budget.tokens
    assert set(run.curve) == set(budget.multiples([1, 2, 4, 8]))
    for m, point in run.curve.items():
        assert point["policy_tokens"] <= m * budget.unit


def test_mcts_snapshot_at_one_unit_equals_a_one_unit_run() -> None:
    cfg = SearchConfig(children=3, parallel_leaves=2)
    big = Budget(tokens=8 * 3 * COST, depth=3, passage_cost=COST)
    small = Budget(tokens=3 * COST * 3, depth=3, passage_cost=COST)  # exactly the completion of an empty tree
    w = FakeWorld()
    run = run_mcts(w, cfg, big, 4, spender(w), [3])
    w2 = FakeWorld()
    alone = run_mcts(w2, cfg, small, 4, spender(w2), [3])
    assert run.curve[3]["value_mean"] == pytest.approx(story_value(alone.expansions))
