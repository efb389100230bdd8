"""MCTS on golden trees with a deterministic fake step model (no language model involved).

Every expected number below was computed by hand from the UCT/PUCT formulas in mcts.py.
"""

from __future__ import annotations

import json
import math

import pytest

from storyspace.search.mcts import (
    Expansion,
    SearchConfig,
    anything_to_expand,
    backup,
    child_score,
    open_nodes,
    priors,
    q_bounds,
    run_round,
    search,
    search_trees,
    select_batch,
    select_leaf,
)
from storyspace.search.tree import Tree


class FakeWorld:
    """Children are labelled A, B, C...; the path of labels looks up value and log-prob."""

    def __init__(self, values: dict[str, float], logprobs: dict[str, float] | None = None) -> None:
        self.values = values
        self.logprobs = logprobs or {}
        self.calls: list[tuple[list[str], int]] = []

    def expand(self, paths, k, seeds):  # noqa: ANN001, ANN201
        out = []
        for path in paths:
            prefix = "".join(step["label"] for step in path)
            self.calls.append(([prefix], k))
            group = []
            for j in range(k):
                label = prefix + chr(ord("A") + j)
                value = self.values.get(label, _pseudo(label))
                group.append(
                    Expansion(step={"label": label[-1], "full": label}, logprob=self.logprobs.get(label, -1.0),
                              value=value, breakdown={"value": value})
                )
            out.append(group)
        return out


def _pseudo(label: str) -> float:
    return (sum(ord(c) * (i + 1) for i, c in enumerate(label)) % 97) / 97.0


GOLDEN = {"A": 0.2, "B": 0.6, "BA": 0.9, "BB": 0.1, "AA": 0.5, "AB": 0.3}


def labels(tree: Tree) -> dict[str, int]:
    return {tree.nodes[n].step["full"]: n for n in range(1, len(tree.nodes))}


def visits(tree: Tree) -> dict[str, int]:
    return {tree.nodes[n].step.get("full", "root"): tree.nodes[n].visits for n in range(len(tree.nodes))}


def uct_cfg(**kw) -> SearchConfig:  # noqa: ANN003
    base = dict(simulations=4, depth=2, children=2, selection="uct", c_explore=1.0, parallel_leaves=1,
                complete_best_path=False, normalize_q=False, backup="leaf", final="visits")
    base.update(kw)
    return SearchConfig(**base)


def test_first_expansion_backs_up_each_child_once() -> None:
    tree = Tree.new(max_depth=2)
    run_round(tree, FakeWorld(GOLDEN), uct_cfg(), seed=0)
    ids = labels(tree)
    assert tree.root.visits == 2 and tree.root.total == pytest.approx(0.8)
    assert tree.nodes[ids["A"]].visits == 1 and tree.nodes[ids["A"]].q == pytest.approx(0.2)
    assert tree.nodes[ids["B"]].q == pytest.approx(0.6)
    assert tree.simulations == 1 and tree.expansions == 1


def test_uct_golden_tree_after_four_simulations() -> None:
    # sim1 expands the root; sim2: B (1.4326 > 1.0326); sim3: A (1.3774 > 1.2131);
    # sim4: B (1.3061 > 1.1061) then BA (1.9481 > 0.1 + 1.0481), a finished story: its Q backs up again.
    world = FakeWorld(GOLDEN)
    tree = search(Tree.new(max_depth=2), world, uct_cfg(), seed=0)
    assert [c[0][0] for c in world.calls] == ["", "B", "A"]
    assert visits(tree) == {"root": 7, "A": 3, "B": 4, "BA": 2, "BB": 1, "AA": 1, "AB": 1}
    ids = labels(tree)
    assert tree.root.total == pytest.approx(3.5)
    assert tree.nodes[ids["B"]].total == pytest.approx(2.5)
    assert tree.nodes[ids["BA"]].q == pytest.approx(0.9)
    assert tree.best_path() == [0, ids["B"], ids["BA"]]
    assert tree.simulations == 4 and tree.expansions == 3


def test_virtual_loss_spreads_a_batch_over_distinct_leaves() -> None:
    tree = Tree.new(max_depth=2)
    run_round(tree, FakeWorld(GOLDEN), uct_cfg(), seed=0)
    ids = labels(tree)
    # B first; under one virtual visit B scores 0.3 + sqrt(ln 3 / 2) = 1.0412 < A's 1.2481.
    assert select_batch(tree, uct_cfg(), 2) == [ids["B"], ids["A"]]
    # without virtual loss the same leaf would be chosen again, so the batch stops at one
    assert select_batch(tree, uct_cfg(virtual_loss=0.0), 2) == [ids["B"]]
    # selection leaves no trace of the virtual visits
    assert tree.root.visits == 2


def test_parallel_round_expands_both_leaves_in_one_model_call() -> None:
    world = FakeWorld(GOLDEN)
    tree = Tree.new(max_depth=3)
    cfg = uct_cfg(parallel_leaves=2, simulations=3, depth=3)
    run_round(tree, world, cfg, seed=0)
    n_calls = len(world.calls)
    run_round(tree, world, cfg, seed=0)
    assert len(world.calls) - n_calls == 2  # two paths, and FakeWorld logs one entry per path
    assert tree.simulations == 3 and tree.expansions == 3
    assert tree.root.visits == 6


def test_puct_uses_policy_priors() -> None:
    lps = {"A": -1.0, "B": -2.0}
    assert priors([-1.0, -2.0], 1.0) == pytest.approx([0.7311, 0.2689], abs=1e-4)
    for c, expected in ((1.0, "B"), (2.0, "A")):
        # c=1: A .2 + .7311*sqrt(2)/2 = .717 < B .6 + .2689*sqrt(2)/2 = .790; c=2: A 1.234 > B .980
        tree = Tree.new(max_depth=2)
        cfg = uct_cfg(selection="puct", c_explore=c)
        run_round(tree, FakeWorld(GOLDEN, lps), cfg, seed=0)
        assert tree.nodes[select_leaf(tree, cfg)].step["full"] == expected


def test_rollout_estimate_is_mean_of_value_and_rollout_values() -> None:
    world = FakeWorld({"A": 0.2, "B": 0.6, "AA": 1.0, "BA": 0.0})
    tree = Tree.new(max_depth=2)
    run_round(tree, world, uct_cfg(rollout_depth=1), seed=0)
    ids = labels(tree)
    assert tree.nodes[ids["A"]].q == pytest.approx((0.2 + 1.0) / 2)
    assert tree.nodes[ids["B"]].q == pytest.approx((0.6 + 0.0) / 2)
    assert tree.nodes[ids["A"]].value == pytest.approx(0.2)  # the node's own value is kept apart
    assert len(tree.nodes) == 3  # rollout steps are not added to the tree


def test_complete_extends_best_path_to_full_depth_greedily() -> None:
    cfg = uct_cfg(simulations=1, depth=3, complete_best_path=True)
    world = FakeWorld({"A": 0.2, "B": 0.6, "BA": 0.1, "BB": 0.7, "BBA": 0.4, "BBB": 0.3})
    tree = search(Tree.new(max_depth=3), world, cfg, seed=0)
    path = [tree.nodes[n].step["full"] for n in tree.best_path()[1:]]
    assert path == ["B", "BB", "BBA"]
    assert tree.simulations == 1 and tree.expansions == 3


def test_resumed_search_equals_uninterrupted_search() -> None:
    cfg = SearchConfig(simulations=9, depth=3, children=3, parallel_leaves=2, complete_best_path=True)
    whole = search(Tree.new(max_depth=3), FakeWorld({}), cfg, seed=7)
    part = search(Tree.new(max_depth=3), FakeWorld({}), SearchConfig(**{**cfg.__dict__, "simulations": 4,
                                                                        "complete_best_path": False}), seed=7)
    reloaded = Tree.from_json(json.loads(json.dumps(part.to_json())))
    resumed = search(reloaded, FakeWorld({}), cfg, seed=7)
    assert resumed.to_json() == whole.to_json()


def test_tree_json_round_trip_keeps_everything() -> None:
    tree = search(Tree.new(max_depth=2), FakeWorld(GOLDEN), uct_cfg(), seed=0)
    data = tree.to_json()
    again = Tree.from_json(json.loads(json.dumps(data)))
    assert again.to_json() == data
    assert data["best_path"] == tree.best_path()
    assert all(math.isclose(n["q"], n["total"] / n["visits"], rel_tol=1e-5) for n in data["nodes"] if n["visits"])


def test_best_child_breaks_visit_ties_by_q_then_id() -> None:
    tree = Tree.new(max_depth=2)
    a = tree.add_child(0, {}, 0.0, 0.0, {})
    b = tree.add_child(0, {}, 0.0, 0.0, {})
    backup(tree, a.id, 0.4)
    backup(tree, b.id, 0.5)
    assert tree.best_path() == [0, b.id]
    backup(tree, a.id, 0.4)
    assert tree.best_path() == [0, a.id]  # more visits beats higher Q


def test_min_max_normalisation_makes_small_value_gaps_count() -> None:
    # values 0.02 vs 0.05: raw UCT with c=1 is dominated by exploration; normalised Q is 0 vs 1
    world = FakeWorld({"A": 0.02, "B": 0.05, "C": 0.03})
    tree = Tree.new(max_depth=3)
    raw = uct_cfg(children=3, depth=3, c_explore=0.1)
    run_round(tree, world, raw, seed=0)
    ids = labels(tree)
    assert q_bounds(tree) == (pytest.approx(0.02), pytest.approx(0.05))
    # normalised: A 0 + e, B 1 + e, C 1/3 + e with e = 0.1 sqrt(ln 3) for all three
    normed = uct_cfg(children=3, depth=3, c_explore=0.1, normalize_q=True)
    assert select_leaf(tree, normed) == ids["B"]
    virtual = {ids["B"]: 1.0, 0: 1.0}
    # under one virtual visit B's normalised Q halves (0.025 -> (0.025-0.02)/0.03 = 1/6) and C wins
    assert child_score(tree, 0, ids["C"], normed, virtual, q_bounds(tree)) > child_score(
        tree, 0, ids["B"], normed, virtual, q_bounds(tree))


def test_path_mean_backup_counts_each_steps_own_value() -> None:
    # A weak step (0.1) whose children look great (0.9, 0.8) vs a good step (0.6) with 0.5, 0.4
    world = FakeWorld({"A": 0.1, "B": 0.6, "AA": 0.9, "AB": 0.8, "BA": 0.5, "BB": 0.4})
    cfg = uct_cfg(backup="path_mean")
    tree = Tree.new(max_depth=2)
    run_round(tree, world, cfg, seed=0)
    ids = labels(tree)
    from storyspace.search.mcts import expand
    expand(tree, world, [ids["A"], ids["B"]], cfg, seed=0)
    a, b = tree.nodes[ids["A"]], tree.nodes[ids["B"]]
    # A: its own 0.1, then (0.1+0.9)/2 and (0.1+0.8)/2 -> W = 1.05 over 3 visits
    assert a.visits == 3 and a.total == pytest.approx(0.1 + 0.5 + 0.45)
    # B: 0.6, (0.6+0.5)/2, (0.6+0.4)/2 -> W = 1.65
    assert b.total == pytest.approx(0.6 + 0.55 + 0.5)
    assert b.q > a.q  # with leaf backup A would win: (0.1+0.9+0.8)/3 = 0.6 > (0.6+0.5+0.4)/3 = 0.5
    assert tree.root.total == pytest.approx(a.total + b.total)
    leafy = Tree.new(max_depth=2)
    run_round(leafy, world, uct_cfg(), seed=0)
    expand(leafy, world, [1, 2], uct_cfg(), seed=0)
    assert leafy.nodes[1].q == pytest.approx(0.6) and leafy.nodes[2].q == pytest.approx(0.5)


def test_search_trees_batches_the_frontier_of_all_trees_and_equals_separate_searches() -> None:
    cfg = SearchConfig(simulations=9, depth=3, children=3, parallel_leaves=2, complete_best_path=True)
    worlds = [FakeWorld({}), FakeWorld(GOLDEN), FakeWorld({"A": 0.9})]
    seeds = [7, 8, 9]
    alone = [search(Tree.new(max_depth=3), FakeWorld(w.values), cfg, seed=s) for w, s in zip(worlds, seeds)]
    calls: list[list[tuple[int, int]]] = []

    def batch(requests, k):  # noqa: ANN001, ANN202
        calls.append([(i, len(paths)) for i, paths, _ in requests])
        return [worlds[i].expand(paths, k, s) for i, paths, s in requests]

    rounds: list[int] = []
    trees = search_trees([Tree.new(max_depth=3) for _ in worlds], worlds, cfg, seeds, batch=batch,
                         on_round=lambda i, _tree: rounds.append(i))
    assert [t.to_json() for t in trees] == [t.to_json() for t in alone]
    # one call per round for all trees: the first round has only the roots, then 2 leaves a tree
    assert calls[0] == [(0, 1), (1, 1), (2, 1)] and calls[1] == [(0, 2), (1, 2), (2, 2)]
    assert all(sorted(i for i, _ in c) == [0, 1, 2] for c in calls[:4])
    assert len(calls) == 6  # three separate searches make 15 model calls (rounds + completion)
    assert rounds[:3] == [0, 1, 2]
    with pytest.raises(ValueError, match="one model and one seed"):
        search_trees([Tree.new(max_depth=3)], worlds, cfg, seeds)


def test_final_story_returns_the_best_finished_story_not_the_most_visited_path() -> None:
    # UCT c = 1, leaf backup, 3 simulations. Sim 1: the root -> A (0.9), B (0.6). Sim 2: A
    # (0.9 + sqrt(ln 2) = 1.733 > 1.433) -> AA (0.6), AB (0.5); A: 3 visits, Q 0.667. Sim 3: B
    # (0.6 + sqrt(ln 4) = 1.777 > 0.667 + sqrt(ln 4 / 3) = 1.346) -> BA (1.0), BB (0.1); B: 3
    # visits, Q 0.567. Most visits (tie, then Q): A -> AA, story value 0.75; the best finished
    # story is B -> BA, (0.6 + 1.0) / 2 = 0.8.
    values = {"A": 0.9, "B": 0.6, "AA": 0.6, "AB": 0.5, "BA": 1.0, "BB": 0.1}
    by_visits = search(Tree.new(max_depth=2), FakeWorld(values), uct_cfg(simulations=3), seed=0)
    ids = labels(by_visits)
    assert by_visits.best_path() == [0, ids["A"], ids["AA"]] and by_visits.chosen is None
    by_story = search(Tree.new(max_depth=2), FakeWorld(values), uct_cfg(simulations=3, final="story"), seed=0)
    assert by_story.chosen == ids["BA"] and by_story.best_path() == [0, ids["B"], ids["BA"]]
    assert by_story.story_value(ids["BA"]) == pytest.approx(0.8)
    assert [n.visits for n in by_story.nodes] == [n.visits for n in by_visits.nodes]  # the same search
    again = Tree.from_json(json.loads(json.dumps(by_story.to_json())))
    assert again.chosen == ids["BA"] and again.best_path() == by_story.best_path()


def test_best_story_needs_a_finished_story_and_a_chosen_node_must_be_one() -> None:
    tree = Tree.new(max_depth=2)
    a = tree.add_child(0, {"label": "A"}, -1.0, 0.5, {})
    assert tree.best_story() is None
    b = tree.add_child(a.id, {"label": "B"}, -1.0, 0.3, {})
    assert tree.best_story() == b.id and tree.story_value(b.id) == pytest.approx(0.4)
    data = tree.to_json()
    data["chosen"] = a.id  # not a finished story
    with pytest.raises(ValueError, match="chosen"):
        Tree.from_json(data)
    data["chosen"] = 99
    with pytest.raises(ValueError, match="chosen"):
        Tree.from_json(data)


def test_commit_steps_golden_tree() -> None:
    # 4 simulations over 2 steps: step 0 may use ceil(4 x 1/2) = 2. Sim 1 expands the root (A 0.2,
    # B 0.6); sim 2: B (0.6 + sqrt(ln 2) = 1.4326 > 1.0326) -> BA 0.9, BB 0.1; B: Q 1.6 / 3. Commit
    # the highest Q: B. Step 1 (up to 4 simulations) searches under B only: sims 3 and 4 revisit
    # BA (1.948 > 1.148; 1.733 > 1.277). Commit BA, a finished story. A is never expanded.
    world = FakeWorld(GOLDEN)
    tree = search(Tree.new(max_depth=2), world, uct_cfg(commit_steps=True), seed=0)
    assert [c[0][0] for c in world.calls] == ["", "B"]
    assert visits(tree) == {"root": 6, "A": 1, "B": 5, "BA": 3, "BB": 1}
    ids = labels(tree)
    assert tree.commit == ids["BA"] and tree.best_path() == [0, ids["B"], ids["BA"]]
    assert tree.simulations == 4 and tree.expansions == 2
    again = Tree.from_json(json.loads(json.dumps(tree.to_json())))
    assert again.commit == tree.commit and again.best_path() == tree.best_path()


def test_commit_follows_q_not_visits_and_best_path_starts_at_the_commit() -> None:
    tree = Tree.new(max_depth=3)
    a = tree.add_child(0, {"label": "A"}, -1.0, 0.2, {})
    b = tree.add_child(0, {"label": "B"}, -1.0, 0.6, {})
    a.visits, a.total, b.visits, b.total = 5, 2.0, 2, 1.0  # A: more visits, Q 0.4; B: Q 0.5
    from storyspace.search.mcts import commit_child

    assert commit_child(tree) == b.id and tree.best_path() == [0, a.id]
    tree.commit = b.id
    assert tree.best_path() == [0, b.id] and sorted(tree.subtree(0)) == [0, a.id, b.id]
    data = tree.to_json()
    data["commit"] = 9
    with pytest.raises(ValueError, match="commit"):
        Tree.from_json(data)


def test_skip_finished_selects_past_a_subtree_of_finished_stories() -> None:
    # After the root and B are expanded (depth 2), B holds only finished stories (BA 0.9, BB 0.1).
    # Without exploration classic selection returns to BA; with skip_finished it expands A.
    world = FakeWorld(GOLDEN)
    tree = Tree.new(max_depth=2)
    run_round(tree, world, uct_cfg(c_explore=0.0), seed=0)
    run_round(tree, world, uct_cfg(c_explore=0.0), seed=0)
    ids = labels(tree)
    assert [c[0][0] for c in world.calls] == ["", "B"]
    assert select_leaf(tree, uct_cfg(c_explore=0.0)) == ids["BA"]
    assert select_leaf(tree, uct_cfg(c_explore=0.0, skip_finished=True)) == ids["A"]
    assert open_nodes(tree) == {0, ids["A"]}
    assert anything_to_expand(tree) and not anything_to_expand(tree, ids["B"])
    # nothing left to expand anywhere: the rule falls back to the classic walk
    run_round(tree, world, uct_cfg(c_explore=0.0, skip_finished=True), seed=0)
    assert open_nodes(tree) == set() and not anything_to_expand(tree)
    assert select_leaf(tree, uct_cfg(c_explore=0.0, skip_finished=True)) == ids["BA"]
