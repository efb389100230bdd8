"""Preference pairs from golden trees: which siblings, margins, filtering, TRL format."""

from __future__ import annotations

import json

import pytest

from dataclasses import replace

from storyspace.config import ExploreConfig
from storyspace.errors import UserError
from storyspace.search.mcts import backup
from storyspace.search.tree import Tree
from storyspace.train.pairs import PairConfig, read_pairs, tree_pairs, validate_pairs, write_pairs

CFG = replace(ExploreConfig(), prompts=replace(ExploreConfig().prompts, style="chat"))


def template(messages: list[dict[str, str]]) -> str:
    """A stand-in chat template (the real one is tested through the loop)."""
    return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages) + "<assistant>"


def golden_tree() -> Tree:
    """root -> A (v .2), B (v .7), C (v .5); B -> BA (v .6), BB (v .59), leaf backup"""
    tree = Tree.new(max_depth=2)
    for text, q in (("The sea was calm that night.", 0.2), ("A bell rang under the water.", 0.7),
                    ("Mara counted the gulls twice.", 0.5)):
        node = tree.add_child(0, {"passage": text, "plan": ""}, -1.0, q, {})
        backup(tree, node.id, q)
    for text, q in (("She dived toward the sound.", 0.6), ("She dove toward the sound.", 0.59)):
        node = tree.add_child(2, {"passage": text, "plan": ""}, -1.0, q, {})
        backup(tree, node.id, q)
    return tree


def test_highest_and_lowest_q_children_make_the_pair() -> None:
    rows = tree_pairs(golden_tree(), CFG, "A premise.", "run-x", PairConfig(min_margin=0.05))
    assert len(rows) == 1  # B's children differ by 0.01 < margin
    row = rows[0]
    assert row["chosen"] == [{"role": "assistant", "content": "A bell rang under the water."}]
    assert row["rejected"] == [{"role": "assistant", "content": "The sea was calm that night."}]
    # Q(B) = (0.7 + 0.6 + 0.59) / 3 = 0.63 once its children are backed up; margin 0.63 - 0.2
    assert row["margin"] == pytest.approx(0.43) and row["chosen_q"] == pytest.approx(0.63)
    assert row["node"] == 0 and row["chosen_node"] == 2 and row["rejected_node"] == 1 and row["run"] == "run-x"
    roles = [m["role"] for m in row["prompt"]]
    assert roles == ["system", "user"] and "A premise." in row["prompt"][1]["content"]


def test_pairing_best_vs_rest_and_all() -> None:
    # root's children by Q: B .63, C .5, A .2 (B's children back up into it)
    def got(pairing: str, margin: float = 0.05) -> list[tuple[int, int, float]]:
        rows = tree_pairs(golden_tree(), CFG, "A premise.", "r", PairConfig(min_margin=margin, pairing=pairing))
        return [(r["chosen_node"], r["rejected_node"], round(r["margin"], 2)) for r in rows]

    assert got("extremes") == [(2, 1, 0.43)]
    assert got("best_vs_rest") == [(2, 3, 0.13), (2, 1, 0.43)]
    assert got("all") == [(2, 3, 0.13), (2, 1, 0.43), (3, 1, 0.3)]
    assert got("all", margin=0.2) == [(2, 1, 0.43), (3, 1, 0.3)]  # each pair meets the margin on its own
    rows = tree_pairs(golden_tree(), CFG, "A premise.", "r", PairConfig(min_margin=0.05, pairing="all"))
    assert all(r["prompt"] == rows[0]["prompt"] for r in rows)  # one state, one prompt
    with pytest.raises(UserError, match="--pairing"):
        validate_pairs(PairConfig(pairing="best"))


def test_prompt_is_the_state_of_the_parent_and_near_duplicates_are_dropped() -> None:
    rows = tree_pairs(golden_tree(), CFG, "A premise.", "r", PairConfig(min_margin=0.0, max_similarity=0.99))
    deeper = [r for r in rows if r["node"] == 2]
    assert len(deeper) == 1 and "A bell rang under the water." in deeper[0]["prompt"][1]["content"]
    strict = tree_pairs(golden_tree(), CFG, "A premise.", "r", PairConfig(min_margin=0.0, max_similarity=0.9))
    assert [r["node"] for r in strict] == [0]  # "dived" vs "dove": too similar to teach anything


def test_prefill_pairs_are_the_exact_prompt_text_and_the_passages_that_continue_it() -> None:
    prefill = ExploreConfig()
    assert prefill.prompts.style == "prefill"
    rows = {r["node"]: r for r in tree_pairs(golden_tree(), prefill, "A premise.", "r",
                                             PairConfig(min_margin=0.0, max_similarity=0.99), template)}
    first, deeper = rows[0], rows[2]
    assert first["prompt"].endswith("Premise: A premise.</user><assistant>")  # nothing written yet
    assert first["chosen"] == "A bell rang under the water." and first["rejected"] == "The sea was calm that night."
    assert deeper["prompt"].endswith("<assistant>A bell rang under the water.")  # the story so far, continued
    assert deeper["chosen"] == " She dived toward the sound."  # the space that joins it to the story
    with pytest.raises(UserError, match="chat template"):
        tree_pairs(golden_tree(), prefill, "A premise.", "r", PairConfig())


def test_pairs_file_round_trip_and_errors(tmp_path) -> None:  # noqa: ANN001
    rows = tree_pairs(golden_tree(), CFG, "A premise.", "r", PairConfig())
    path = tmp_path / "pairs.jsonl"
    assert write_pairs(rows, path) == len(rows)
    assert read_pairs(path) == json.loads(json.dumps(rows))
    path.write_text('{"prompt": "x"}\n')
    with pytest.raises(UserError, match="needs prompt, chosen and rejected"):
        read_pairs(path)
    with pytest.raises(UserError, match="not found"):
        read_pairs(tmp_path / "none.jsonl")


def test_select_pairs_keeps_the_largest_margins_in_file_order() -> None:
    from storyspace.train.pairs import select_pairs

    rows = [{"id": i, "margin": m} for i, m in enumerate([0.05, 0.3, 0.01, 0.2, 0.3])] + [{"id": 5}]
    ids = lambda got: [r["id"] for r in got]  # noqa: E731
    assert ids(select_pairs(rows, PairConfig(min_margin=0.02))) == [0, 1, 3, 4, 5]  # no margin recorded: kept
    assert ids(select_pairs(rows, PairConfig(min_margin=0.1, max_pairs=2))) == [1, 5]  # inf, then the first 0.3
    assert ids(select_pairs(rows, PairConfig(min_margin=0.0, max_pairs=3))) == [1, 4, 5]
    with pytest.raises(UserError, match="max-pairs"):
        validate_pairs(PairConfig(max_pairs=-1))
