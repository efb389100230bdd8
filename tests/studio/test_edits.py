"""Studio edits of a saved run, on the real embedded model: expand, search under a node, a
person's passage, pin and export; one writer at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from storyspace.errors import UserError
from storyspace.runs import RunBusy, RunDir, load_run
from storyspace.studio import edits, export

pytestmark = pytest.mark.slow


def world_of(pool, saved):  # noqa: ANN001, ANN201
    from storyspace.assemble import assemble

    return assemble(pool, saved.config).world(saved.premise)


def test_expand_adds_k_valued_children_and_saves_them(runs_root: Path, pool) -> None:  # noqa: ANN001
    path = runs_root / "lighthouse"
    with edits.editing(path) as saved:
        node = saved.tree.best_path()[1]
        visits = saved.tree.nodes[node].visits
        kids = list(saved.tree.nodes[node].children)
        edit = edits.expand_node(saved, world_of(pool, saved), node, 2)
    again = load_run(path)  # what was written reads back whole
    assert len(edit.added) == 2 and again.tree.nodes[node].children == kids + edit.added
    assert again.tree.nodes[node].visits == visits + 2  # each new child backed up once
    for n in edit.added:
        child = again.tree.nodes[n]
        assert child.visits == 1 and child.step["passage"] and "value" in child.breakdown
    assert again.meta["edits"][-1]["kind"] == "expand" and again.meta["budget"]["nodes"] == len(again.tree.nodes)
    with edits.editing(path) as saved:  # a second expansion of the node draws other passages
        second = edits.expand_node(saved, world_of(pool, saved), node, 2)
    texts = [load_run(path).tree.nodes[n].step["passage"] for n in (*edit.added, *second.added)]
    assert len(set(texts)) == 4


class Recording:
    """The real policy, with every prompt it is asked to continue kept."""

    def __init__(self, policy) -> None:  # noqa: ANN001
        self.policy, self.prompts = policy, []

    def sample(self, prompts, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
        self.prompts += list(prompts)
        return self.policy.sample(prompts, *args, **kwargs)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.policy, name)


def test_an_instruction_reaches_the_policys_prompt_and_is_kept(runs_root: Path, pool) -> None:  # noqa: ANN001
    path = runs_root / "lighthouse"
    asked = "  The   keeper burns the letter\x07 without reading it. "
    with edits.editing(path) as saved:
        world = world_of(pool, saved)
        world.policy = Recording(world.policy)
        edit = edits.expand_node(saved, world, 0, 2, asked)
    assert world.policy.prompts and all("What happens next: The keeper burns the letter without reading it." in p
                                        for p in world.policy.prompts)
    again = load_run(path)
    for n in edit.added:
        step = again.tree.nodes[n].step
        assert step["instruction"] == step["plan"] == "The keeper burns the letter without reading it."
    assert edits.node_detail(again, edit.added[0])["instruction"].startswith("The keeper burns")
    with edits.editing(path) as saved:  # without one the prompt has no such line and nothing is kept
        world = world_of(pool, saved)
        world.policy = Recording(world.policy)
        plain = edits.expand_node(saved, world, 0, 1)
    assert not any("What happens next" in p for p in world.policy.prompts)
    assert "instruction" not in load_run(path).tree.nodes[plain.added[0]].step
    with pytest.raises(UserError, match="instruction is too long"), edits.editing(path) as saved:
        edits.expand_node(saved, world_of(pool, saved), 0, 1, "x" * 301)


def test_a_rewrite_is_a_new_sibling_and_the_original_stays(runs_root: Path, pool) -> None:  # noqa: ANN001
    path = runs_root / "lighthouse"
    before = load_run(path)
    node = before.tree.best_path()[1]
    original = dict(before.tree.nodes[node].step)
    kids = list(before.tree.nodes[node].children)
    with edits.editing(path) as saved:
        edit = edits.revise(saved, world_of(pool, saved), node, "  She read the letter twice,\nthen\tburned it.  ")
    after = load_run(path)
    (new,) = edit.added
    assert edit.kind == "revise" and after.tree.nodes[new].parent == before.tree.nodes[node].parent
    step = after.tree.nodes[new].step
    assert step == {"plan": "", "passage": "She read the letter twice, then burned it.", "author": "human", "revises": str(node)}
    assert "value" in after.tree.nodes[new].breakdown
    assert after.tree.nodes[node].step == original and after.tree.nodes[node].children == kids  # the original kept
    assert edits.node_detail(after, new)["revises"] == node and after.meta["edits"][-1]["kind"] == "revise"
    with pytest.raises(UserError, match="premise is not a passage"), edits.editing(path) as saved:
        edits.revise(saved, world_of(pool, saved), 0, "text")


def test_a_hidden_branch_is_kept_and_shown_again(runs_root: Path) -> None:
    path = runs_root / "lighthouse"
    node = load_run(path).tree.best_path()[1]
    nodes = len(load_run(path).tree.nodes)
    with edits.editing(path) as saved:
        edits.set_hidden(saved, node, True)
    saved = load_run(path)
    assert len(saved.tree.nodes) == nodes and saved.tree.nodes[node].step["hidden"] == "yes"
    assert [n["hidden"] for n in edits.tree_summary(saved)["nodes"]].count(True) == 1
    with edits.editing(path) as saved:
        edits.set_hidden(saved, node, False)
    assert "hidden" not in load_run(path).tree.nodes[node].step
    assert [e["kind"] for e in load_run(path).meta["edits"][-2:]] == ["hide", "show"]
    with pytest.raises(UserError, match="premise"), edits.editing(path) as saved:
        edits.set_hidden(saved, 0, True)


def test_a_cancelled_search_keeps_the_simulations_it_finished(runs_root: Path, pool) -> None:  # noqa: ANN001
    from storyspace.studio.jobs import Cancelled
    from tests.studio.conftest import deepen

    path = runs_root / "lighthouse"
    deepen(path)  # the tiny run is saturated at depth 2: deeper, every simulation adds a node
    nodes = len(load_run(path).tree.nodes)

    def stop(done: int, total: int) -> None:
        raise Cancelled("asked to stop")

    with pytest.raises(Cancelled, match=r"after [1-4] of 5 simulations"), edits.editing(path) as saved:
        edits.search_under(saved, world_of(pool, saved), 0, 5, on_round=stop)
    after = load_run(path)
    assert len(after.tree.nodes) > nodes and after.meta["edits"][-1]["kind"] == "search"  # what it found is saved


def test_search_under_a_node_grows_only_its_subtree(runs_root: Path, pool) -> None:  # noqa: ANN001
    path = runs_root / "lighthouse"
    rounds = []
    with edits.editing(path) as saved:  # a fresh, unexpanded child of the root to search under
        node = edits.expand_node(saved, world_of(pool, saved), 0, 1).added[0]
    with edits.editing(path) as saved:
        sims = saved.tree.simulations
        edit = edits.search_under(saved, world_of(pool, saved), node, 3, on_round=lambda d, t: rounds.append((d, t)))
    tree = load_run(path).tree
    assert tree.simulations == sims + 3 and rounds[-1] == (3, 3)
    assert edit.added and all(node in tree.path(n) for n in edit.added)


def test_a_persons_passage_is_valued_marked_and_exported_when_pinned(runs_root: Path, pool) -> None:  # noqa: ANN001
    path = runs_root / "lighthouse"
    text = "The letter was in her own handwriting, dated forty years on."
    with edits.editing(path) as saved:
        world = world_of(pool, saved)
        expected = world.value_model.evaluate(edits.story_at(saved, 0), [text], [False])[0]["value"]
        edit = edits.add_human_step(saved, world, 0, "  The letter was in her own\nhandwriting, dated forty years on. ")
    saved = load_run(path)
    node = saved.tree.nodes[edit.added[0]]
    assert node.step == {"plan": "", "passage": text, "author": "human"}
    assert node.value == pytest.approx(expected) and node.visits == 1
    with edits.editing(path) as saved:
        edits.pin(saved, node.id)
    saved = load_run(path)
    assert saved.meta["pinned"] == node.id and edits.chosen_node(saved) == node.id
    md = export.export_run(saved).text  # the export is the pinned story, under the premise
    assert md.startswith(f"# {saved.premise}\n") and md.endswith(f"\n\n{text}\n")
    assert text in (path / RunDir.PINNED).read_text()
    with edits.editing(path) as saved, pytest.raises(UserError, match="empty"):
        edits.add_human_step(saved, world_of(pool, saved), 0, " \n ")


def test_finished_stories_and_missing_nodes_are_refused(runs_root: Path) -> None:
    saved = load_run(runs_root / "lighthouse")
    leaf = next(n.id for n in saved.tree.nodes if n.depth == saved.tree.max_depth)
    with pytest.raises(UserError, match="finished story"):
        edits.check_node(saved.tree, leaf)
    with pytest.raises(UserError, match="no node 999"):
        edits.check_node(saved.tree, 999)
    edits.check_node(saved.tree, leaf, open_only=False)


def test_one_writer_at_a_time(runs_root: Path, pool) -> None:  # noqa: ANN001
    from storyspace.explore import Explorer

    path = runs_root / "lighthouse"
    with RunDir(path).writer():
        with pytest.raises(RunBusy, match="being changed"):
            with edits.editing(path, wait_s=0.2):
                pass
        with pytest.raises(RunBusy):
            Explorer(pool).resume(path)  # explore --resume of a run the studio is changing
    with edits.editing(path, wait_s=0.2) as saved:  # free again
        assert saved.premise


def test_a_damaged_run_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    run = tmp_path / "bad"
    run.mkdir()
    (run / "run.json").write_text("{")
    with pytest.raises(UserError, match="invalid JSON"):
        with edits.editing(run):
            pass
    assert sorted(p.name for p in run.iterdir()) == ["run.json"]
