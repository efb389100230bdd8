"""The baselines and MCTS under a policy-token budget, on deterministic fake worlds (no model).

The budgeted MCTS golden trees below were worked out by hand from the UCT formula and the budget
rule in ``mcts.round_size`` / ``mcts.completion_children``."""

from __future__ import annotations

import json

import pytest

from storyspace.errors import UserError
from storyspace.eval.systems import SystemSpec, parse_systems
from storyspace.search.baselines import (
    beam,
    beam_search,
    beam_shape,
    best_of_n,
    mcts,
    single_pass,
    story_value,
    tokens_of,
    write_stories,
)
from storyspace.search.budget import Budget
from storyspace.search.mcts import Expansion, SearchConfig, search, search_trees
from storyspace.search.tree import Tree
from storyspace.seeding import derive_seed
from tests.search.test_mcts import GOLDEN, FakeWorld as LabelWorld, labels, uct_cfg

COST = 10  # tokens every fake passage costs


class FakeWorld:
    """Passage j after a seed gets a value from (seed, j) alone; every passage costs COST tokens."""

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
                group.append(Expansion(step={"passage": label}, logprob=-1.0, value=value, breakdown={"value": value},
                                       tokens=COST))
                self.tokens += COST
            out.append(group)
        return out


class CostlyLabels(LabelWorld):
    """The golden label world of test_mcts, every passage costing COST tokens."""

    def expand(self, paths, k, seeds):  # noqa: ANN001, ANN201
        return [[Expansion(e.step, e.logprob, e.value, e.breakdown, tokens=COST) for e in g]
                for g in super().expand(paths, k, seeds)]


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
    assert b.scaled(2) == Budget(tokens=80, depth=4, passage_cost=COST)


def test_best_of_n_contains_single_and_picks_the_best() -> None:
    budget = Budget(tokens=160, depth=3, passage_cost=COST)
    single = single_pass(FakeWorld(), budget, 5)
    w2 = FakeWorld()
    bon = best_of_n(w2, budget, 5, [1, 2, 4])
    n = bon.settings["n"]
    assert n == 160 // 30 == 5 and bon.policy_tokens == w2.tokens == n * 3 * COST <= 160
    assert w2.calls == 3  # every step of all n stories in one call
    values = bon.settings["story_values"]
    assert values[0] == pytest.approx(story_value(single.expansions))  # story 0 is single's story
    assert single.policy_tokens == 3 * COST
    assert story_value(bon.expansions) == pytest.approx(max(values))
    assert bon.curve[1]["value_mean"] == pytest.approx(values[0])
    stories = write_stories(FakeWorld(), 3, n, 5)
    best4 = max(range(4), key=lambda i: (values[i], -i))
    assert bon.curve[4] == {"value_mean": pytest.approx(max(values[:4])), "policy_tokens": 4 * 3 * COST,
                            "steps": [e.step for e in stories[best4]]}


def test_beam_shape_and_spend() -> None:
    budget = Budget(tokens=8 * 40, depth=4, passage_cost=COST)
    assert beam_shape(8 * 40, budget, 2) == (4, 2)
    assert beam_shape(40, budget, 2) == (1, 1)
    assert beam_shape(3 * 40, budget, 2) == (1, 2)
    w = FakeWorld()
    run = beam(w, budget, 1, 2, [1, 2, 4, 8])
    assert run.settings == {"width": 4, "k": 2} and run.policy_tokens == 4 * 4 * 2 * COST
    assert len(run.expansions) == 4 and set(run.curve) == {1, 2, 4, 8}
    assert run.curve[2]["policy_tokens"] == 4 * 1 * 2 * COST  # the 2-unit beam ran on its own


def test_beam_keeps_the_best_partial_stories() -> None:
    story, spent = beam_search(FakeWorld(), 2, 1, 3, 7)  # width 1: greedy by value among 3 at each step
    assert len(story) == 2 and spent == 2 * 3 * COST
    first = FakeWorld().expand([[]], 3, [derive_seed(7, "beam", 0, 0)])[0]
    assert story[0].value == max(e.value for e in first)


def test_budgeted_mcts_golden_tree() -> None:
    # 60 tokens, 2 steps of 10, 2 children. Round 1: reserve 40, room for 1 leaf: the root (A, B).
    # Round 2: best path ends at B (depth 1), reserve 20, 1 leaf: B (UCT 1.4326 > 1.0326) -> BA, BB.
    # Round 3: best path ends at BA (finished), reserve 0, 1 leaf: A (1.3774 > 1.2131) -> AA, AB.
    # 60 tokens spent: no more rounds; BA is a finished story, so no completion.
    world = CostlyLabels(GOLDEN)
    tree = search(Tree.new(max_depth=2), world, uct_cfg(parallel_leaves=1), seed=0,
                  budget=Budget(tokens=60, depth=2, passage_cost=COST))
    assert [c[0][0] for c in world.calls] == ["", "B", "A"]
    ids = labels(tree)
    assert tree.best_path() == [0, ids["B"], ids["BA"]]
    assert (tree.simulations, tree.expansions, tree.policy_tokens) == (3, 3, 60)


def test_budgeted_commit_steps_golden_tree() -> None:
    # 60 tokens, 2 steps of 10, 2 children (20 a leaf). Step 0 may spend until 30: one leaf, the
    # root (A, B); then (30 - 20) // 20 = 0 leaves: commit the higher Q, B. Step 1 may spend until
    # 60: B -> BA, BB; nothing under B is left to expand: commit BA, a finished story. The 20
    # tokens left go unspent (A, off the committed story, is never expanded).
    world = CostlyLabels(GOLDEN)
    tree = search(Tree.new(max_depth=2), world, uct_cfg(parallel_leaves=1, commit_steps=True), seed=0,
                  budget=Budget(tokens=60, depth=2, passage_cost=COST))
    assert [c[0][0] for c in world.calls] == ["", "B"]
    ids = labels(tree)
    assert tree.best_path() == [0, ids["B"], ids["BA"]] and tree.commit == ids["BA"]
    assert (tree.simulations, tree.expansions, tree.policy_tokens) == (2, 2, 40)


@pytest.mark.parametrize("units", [1, 2, 3, 5, 8])
def test_commit_steps_mcts_stays_within_budget_and_its_curve_points_are_runs_at_that_budget(units: int) -> None:
    cfg = SearchConfig(children=3, parallel_leaves=2, commit_steps=True)
    budget = Budget(tokens=units * 3 * COST, depth=3, passage_cost=COST)
    run = mcts(FakeWorld(), cfg, budget, 11, multiples=budget.multiples([1, 2, 4, 8]))
    assert len(run.expansions) == 3 and run.tree.nodes[run.tree.commit].depth == 3  # a whole, committed story
    assert run.policy_tokens == run.tree.policy_tokens <= budget.tokens
    for m, point in run.curve.items():
        alone = mcts(FakeWorld(), cfg, budget.scaled(m), 11)
        assert point["policy_tokens"] == alone.policy_tokens <= m * budget.unit
        assert point["steps"] == [e.step for e in alone.expansions]


def test_commit_steps_search_resumes_to_the_same_tree() -> None:
    cfg = SearchConfig(depth=3, children=3, parallel_leaves=2, commit_steps=True)
    budget = Budget(tokens=6 * 3 * COST, depth=3, passage_cost=COST)
    whole = search(Tree.new(max_depth=3), FakeWorld(), cfg, seed=3, budget=budget)
    saved: list[dict] = []
    search(Tree.new(max_depth=3), FakeWorld(), cfg, seed=3, budget=budget,
           on_round=lambda t: saved.append(json.loads(json.dumps(t.to_json()))))
    assert len({s["commit"] for s in saved}) == 4  # the root, then each committed step
    for state in saved[1::2]:
        resumed = search(Tree.from_json(state), FakeWorld(), cfg, seed=3, budget=budget)
        assert resumed.to_json() == whole.to_json()


def test_budgeted_mcts_completes_with_fewer_children_when_the_budget_is_short() -> None:
    # 30 tokens cannot pay a round (completion reserve 2 steps x 2 children x 10 = 40): no round;
    # the completion gets min(2, 30 // (2 steps x 10)) = 1 child per step: A then AA.
    world = CostlyLabels(GOLDEN)
    tree = search(Tree.new(max_depth=2), world, uct_cfg(), seed=0, budget=Budget(tokens=30, depth=2, passage_cost=COST))
    assert [tree.nodes[n].step["full"] for n in tree.best_path()[1:]] == ["A", "AA"]
    assert (tree.simulations, tree.policy_tokens) == (0, 20)
    assert [k for _, k in world.calls] == [1, 1]


#: values of the label world under which a budgeted search's last round moves the most-visited
#: path off a finished story (found by searching random value tables; the end state is below)
SWITCH = {"A": 0.6, "AA": 0.9, "AAA": 0.3, "AAB": 0.8, "AABA": 0.9, "AAC": 0.6, "AB": 0.8, "ABA": 0.3,
          "ABB": 0.9, "ABC": 0.6, "AC": 0.1, "B": 0.8, "BA": 0.8, "BAA": 0.5, "BAAA": 0.2, "BAAB": 0.3,
          "BAAC": 0.9, "BAB": 0.1, "BAC": 0.4, "BB": 0.3, "BC": 0.1, "C": 0.5, "CA": 0.0, "CB": 0.2, "CC": 0.7}


@pytest.mark.parametrize("final", ["story", "visits"])
def test_budgeted_mcts_spends_no_unpaid_completion_when_a_finished_story_is_returned(final: str) -> None:
    # 240 tokens, 4 steps of 10, 3 children (30 a leaf), c 0.2, one leaf a round, finished stories
    # skipped. After 7 rounds (210 tokens) the best path ends at the finished story BAAC, so the
    # reserve is 0 and the 8th round may spend the last 30: it expands AB. That moves the
    # most-visited path to A (11 visits against B's 10), then AA (5 against AB's 4), then AAB, an
    # unexpanded leaf at depth 3, whose completion the 0 tokens left cannot pay for.
    world = CostlyLabels(SWITCH)
    cfg = SearchConfig(depth=4, children=3, parallel_leaves=1, c_explore=0.2, skip_finished=True, final=final)
    tree = search(Tree.new(max_depth=4), world, cfg, seed=0, budget=Budget(tokens=240, depth=4, passage_cost=COST))
    expanded = [c[0][0] for c in world.calls]
    assert expanded[:8] == ["", "B", "A", "BA", "C", "BAA", "AA", "AB"]
    ids = labels(tree)
    by_visits = Tree.from_json(tree.to_json())
    by_visits.chosen = None
    assert by_visits.best_path()[:4] == [0, ids["A"], ids["AA"], ids["AAB"]]
    if final == "story":
        # the finished story with the best mean step value is returned; no completion is bought
        assert expanded == expanded[:8] and tree.policy_tokens == 240
        assert tree.chosen == ids["BAAC"] and tree.best_story() == ids["BAAC"]
    else:
        # the most-visited path is the story, so it must be whole: one child a step, overspent
        assert expanded[8:] == ["AAB"] and [k for _, k in world.calls][8:] == [1]
        assert tree.policy_tokens == 250 and tree.chosen is None
        assert tree.nodes[tree.best_path()[-1]].step["full"] == "AABA"


def test_budgeted_mcts_shortens_its_last_round() -> None:
    # 2 leaves a round, 100 tokens, 3 steps of 10, 2 children (20 tokens a leaf).
    # Round 1: reserve 3 x 20 = 60, room for 2 leaves, but the root is the only leaf: 1.
    # Round 2: the best path ends at depth 1, reserve 40, room (100 - 20 - 40) / 20 = 2 leaves.
    # Round 3: the best path ends at depth 2, reserve 20, room (100 - 60 - 20) / 20 = 1 leaf: shortened.
    world = CostlyLabels({})
    cfg = uct_cfg(depth=3, parallel_leaves=2)
    sims: list[int] = [0]
    tree = search(Tree.new(max_depth=3), world, cfg, seed=0, budget=Budget(tokens=100, depth=3, passage_cost=COST),
                  on_round=lambda t: sims.append(t.simulations))
    per_round = [b - a for a, b in zip(sims, sims[1:])]
    assert per_round[:3] == [1, 2, 1]
    assert tree.policy_tokens == 100 and tree.nodes[tree.best_leaf()].depth == 3


def test_budgeted_search_resumes_to_the_same_tree() -> None:
    cfg = SearchConfig(depth=3, children=3, parallel_leaves=2)
    budget = Budget(tokens=12 * 3 * COST, depth=3, passage_cost=COST)
    whole = search(Tree.new(max_depth=3), FakeWorld(), cfg, seed=3, budget=budget)
    saved: list[dict] = []
    search(Tree.new(max_depth=3), FakeWorld(), cfg, seed=3, budget=budget,
           on_round=lambda t: saved.append(json.loads(json.dumps(t.to_json()))))
    resumed = search(Tree.from_json(saved[1]), FakeWorld(), cfg, seed=3, budget=budget)
    assert resumed.to_json() == whole.to_json()


def test_budgeted_search_of_many_trees_equals_separate_searches() -> None:
    cfg = SearchConfig(depth=3, children=2, parallel_leaves=2)
    budget = Budget(tokens=5 * 3 * COST, depth=3, passage_cost=COST)
    seeds = [1, 2, 3]
    alone = [search(Tree.new(max_depth=3), FakeWorld(), cfg, seed=s, budget=budget) for s in seeds]
    together = search_trees([Tree.new(max_depth=3) for _ in seeds], [FakeWorld() for _ in seeds], cfg, seeds, budget)
    assert [t.to_json() for t in together] == [t.to_json() for t in alone]


@pytest.mark.parametrize("units", [1, 2, 3, 5, 8])
def test_mcts_stays_within_budget_and_completes(units: int) -> None:
    cfg = SearchConfig(children=3, parallel_leaves=2)
    budget = Budget(tokens=units * 3 * COST, depth=3, passage_cost=COST)
    w = FakeWorld()
    run = mcts(w, cfg, budget, 11, multiples=budget.multiples([1, 2, 4, 8]))
    assert len(run.expansions) == 3  # a whole story
    assert run.policy_tokens == run.tree.policy_tokens <= budget.tokens
    assert set(run.curve) == set(budget.multiples([1, 2, 4, 8]))
    for m, point in run.curve.items():
        assert point["policy_tokens"] <= m * budget.unit


@pytest.mark.parametrize("m", [1, 2, 3, 5])
def test_mcts_snapshot_equals_a_run_at_that_budget(m: int) -> None:
    cfg = SearchConfig(children=3, parallel_leaves=2)
    big = Budget(tokens=8 * 3 * COST, depth=3, passage_cost=COST)
    run = mcts(FakeWorld(), cfg, big, 4, multiples=[m])
    alone = mcts(FakeWorld(), cfg, big.scaled(m), 4)
    assert run.curve[m] == {"value_mean": pytest.approx(story_value(alone.expansions)),
                            "policy_tokens": alone.policy_tokens, "steps": [e.step for e in alone.expansions]}


def test_mcts_final_story_returns_the_best_finished_story_of_the_same_search() -> None:
    budget = Budget(tokens=8 * 3 * COST, depth=3, passage_cost=COST)
    by_visits = mcts(FakeWorld(), SearchConfig(children=3, parallel_leaves=2), budget, 5)
    by_story = mcts(FakeWorld(), SearchConfig(children=3, parallel_leaves=2, final="story"), budget, 5)
    tree = by_story.tree
    finished = [n.id for n in tree.nodes if n.depth == 3]
    assert len(finished) > 1
    assert story_value(by_story.expansions) == pytest.approx(max(tree.story_value(i) for i in finished))
    assert story_value(by_story.expansions) >= story_value(by_visits.expansions)
    assert by_story.policy_tokens == by_visits.policy_tokens  # the choice costs nothing


@pytest.mark.parametrize("rollout", [1, 2])
def test_mcts_with_rollouts_stays_within_budget(rollout: int) -> None:
    cfg = SearchConfig(children=3, parallel_leaves=2, rollout_depth=rollout)
    budget = Budget(tokens=8 * 4 * COST, depth=4, passage_cost=COST)
    run = mcts(FakeWorld(), cfg, budget, 2, multiples=[1, 2, 4, 8])
    assert len(run.expansions) == 4 and run.policy_tokens <= budget.tokens
    for m, point in run.curve.items():
        assert point["policy_tokens"] <= m * budget.unit


def test_budgeted_search_without_exploration_spends_its_budget_only_when_it_skips_finished_stories() -> None:
    # 60 tokens, 2 steps of 10, 2 children, c = 0: the root, then B (BA 0.9, BB 0.1). Classic
    # selection then returns to BA, a finished story that spends nothing, until the safety stop:
    # 40 tokens spent. Skipping finished stories expands A with the last 20.
    budget = Budget(tokens=60, depth=2, passage_cost=COST)
    classic = search(Tree.new(max_depth=2), CostlyLabels(GOLDEN), uct_cfg(c_explore=0.0), seed=0, budget=budget)
    assert classic.policy_tokens == 40 and classic.expansions == 2
    skipping = search(Tree.new(max_depth=2), CostlyLabels(GOLDEN), uct_cfg(c_explore=0.0, skip_finished=True), seed=0,
                      budget=budget)
    assert skipping.policy_tokens == 60 and skipping.expansions == 3 and skipping.simulations == 3


class RefusingWorld(FakeWorld):
    """As FakeWorld, but a seed divisible by 3 gives meta talk (a refusal) and one divisible by 5
    an empty passage, as the value marks them."""

    def expand(self, paths, k, seeds):  # noqa: ANN001, ANN201
        out = super().expand(paths, k, seeds)
        for group, seed in zip(out, seeds):
            for j, e in enumerate(group):
                if seed % 3 == 0:
                    group[j] = Expansion({"passage": "I'm sorry, but I can't assist with that request."}, -1.0, 0.1,
                                         {"value": 0.1, "meta": 1.0, "too_short": 0.0}, tokens=COST)
                elif seed % 5 == 0:
                    group[j] = Expansion({"passage": ""}, -1.0, 0.0, {"value": 0.0, "meta": 0.0, "too_short": 1.0},
                                         tokens=COST)
        return out


def test_retries_resample_refusals_and_empty_passages_and_pay_for_them() -> None:
    budget = Budget(tokens=8 * 4 * COST, depth=4, passage_cost=COST)
    # seeds where some step is unusable: naive decoding keeps them, retries replace them
    unusable = lambda story: [e for e in story if e.breakdown.get("meta") or e.breakdown.get("too_short")]  # noqa: E731
    for seed in range(40):
        naive = write_stories(RefusingWorld(), 4, 3, seed)
        world = RefusingWorld()
        guarded = write_stories(world, 4, 3, seed, retries=3)
        bad_naive = sum(len(unusable(s)) for s in naive)
        if not bad_naive:
            assert [[e.step for e in s] for s in guarded] == [[e.step for e in s] for s in naive]
            continue
        # every kept step is usable unless four draws in a row were not (rare with these seeds)
        assert sum(len(unusable(s)) for s in guarded) < bad_naive
        # the tokens of discarded draws are paid: the world generated exactly what the stories cost
        paid = sum(tokens_of(s) for s in guarded)
        assert paid == world.tokens and paid > sum(tokens_of(s) for s in naive)
        # usable steps drawn at the first try are the naive ones (same seeds)
        for s_naive, s_guard in zip(naive, guarded):
            first_bad = next((d for d, e in enumerate(s_naive) if unusable([e])), len(s_naive))
            assert [e.step for e in s_guard[:first_bad]] == [e.step for e in s_naive[:first_bad]]
    run = single_pass(RefusingWorld(), budget, 3, retries=2)
    assert run.settings == {"retries": 2} and run.policy_tokens == tokens_of(run.expansions)
    naive_runs = [single_pass(RefusingWorld(), budget, s).expansions for s in range(40)]
    guarded_runs = [single_pass(RefusingWorld(), budget, s, retries=2).expansions for s in range(40)]
    assert sum(map(len, map(unusable, guarded_runs))) * 3 < sum(map(len, map(unusable, naive_runs)))
    assert best_of_n(RefusingWorld(), budget, 3, retries=2).settings["retries"] == 2
    assert single_pass(RefusingWorld(), budget, 3).settings == {}  # naive decoding: the paper's baseline
