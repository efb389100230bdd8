"""A one-iteration loop on two premises with tiny budgets, end to end on the real model."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from storyspace.errors import UserError
from storyspace.search.mcts import SearchConfig
from storyspace.train.loop import Loop, LoopConfig, split_premises
from storyspace.train.pairs import PairConfig
from storyspace.train.sweep import Sweep, Variant


def test_split_premises() -> None:
    assert split_premises(list("abcdef"), 2, 3) == (["a", "b"], ["d", "e", "f"])
    with pytest.raises(UserError, match="need 7 premises"):
        split_premises(list("abcdef"), 4, 3)


@pytest.mark.slow
def test_one_iteration_loop_end_to_end_and_resume(tmp_path, pool) -> None:  # noqa: ANN001
    base = LoopConfig()
    explore = replace(base.explore, search=SearchConfig(simulations=2, depth=2, children=2, parallel_leaves=2),
                      policy=replace(base.explore.policy, step_tokens=16))
    cfg = LoopConfig(iterations=1, train_premises=1, heldout_premises=1, heldout_seeds=2, heldout_mcts=1, explore=explore,
                     train=replace(base.train, max_steps=1, batch_size=2), pairs=PairConfig(min_margin=0.0, max_similarity=1.0))
    premises = ["A cat becomes mayor of a small town.", "A clock that runs backwards is found in an attic."]
    out = tmp_path / "loop"
    rows = Loop(out, premises, cfg, pool).run()
    assert [r["iteration"] for r in rows] == [0, 1]
    assert rows[1]["policy"].startswith("hf:") and rows[1]["pairs"] >= 1
    for r in rows:
        # two single-pass stories of depth 2 on one held-out premise, one MCTS story
        assert r["single"]["n"] == 4 and r["mcts"]["n"] == 2
        assert 0.0 <= r["single"]["mean"] <= 1.0
        # judges (a) and (b), per story, keyed by held-out premise and seed
        assert list(r["stories"]["a"]) == list(r["stories"]["b"]) == ["p00", "p00.s1"]
        assert all(0.0 <= v <= 1.0 for v in [*r["stories"]["a"].values(), *r["stories"]["b"].values()])
        assert r["hanna_perplexity"] > 1.0 and r["guards"]["passages"] >= 2
    assert rows[0]["policy"] != rows[1]["policy"]
    assert "loss" in rows[1]["orpo"] and "logps/chosen" in rows[1]["orpo"]  # the loop's default loss, DPO
    assert json.loads((out / "iter1/model/train.json").read_text())["config"]["loss"] == "dpo"
    for name in ("loop.json", "iterations.json", "iterations.md", "iterations.png", "summary.json", "iter0/pairs.jsonl",
                 "iter1/model/config.json", "eval/policy1/single/p00.json", "eval/policy1/single/p00.s1.json",
                 "eval/policy1/reader/p00.s1.json", "eval/policy0/hanna.json", "eval/policy0/mcts/p00/tree.json"):
        assert (out / name).is_file(), name
    first, second = (json.loads((out / f"eval/policy0/single/{n}").read_text()) for n in ("p00.json", "p00.s1.json"))
    assert first["seed"] != second["seed"] and first["passages"]
    md = (out / "iterations.md").read_text()
    assert "| 0 |" in md and "| 1 | a |" in md and "| 1 | b |" in md and "HANNA perplexity" in md
    summary = json.loads((out / "summary.json").read_text())
    assert summary["heldout_premises"] == 1 and set(summary["judge_a"]) >= {"effect_sd", "p_welch", "p_perm"}
    assert summary["judge_a"]["n_paired"] == 2  # the same two (premise, seed) stories under either policy
    assert summary["hanna_perplexity_change"] == pytest.approx(
        rows[1]["hanna_perplexity"] / rows[0]["hanna_perplexity"] - 1.0, abs=1e-3)
    # a sweep on the loop's own pairs: the loop's setting reuses its policy 1, another trains one
    sweep = Sweep(out, [Variant("loop"), Variant("beta 1.0", {"beta": 1.0}, {"max_pairs": 1})], pool,
                  command="storyspace sweep LOOP")
    swept = sweep.run()
    assert [r["variant"] for r in swept] == ["loop", "beta 1.0"]
    assert swept[0]["model"] == str(out / "iter1" / "model") and swept[0]["stories"] == rows[1]["stories"]
    assert swept[1]["pairs"] == 1 and (out / "sweep" / "beta-1.0" / "model" / "train.json").is_file()
    assert swept[1]["train"]["beta"] == 1.0 and swept[1]["flags"] == "--beta 1.0 --max-pairs 1"
    for r in swept:
        assert set(r["judge_a"]) >= {"effect_sd", "p_welch", "p_perm", "ci_low"} and r["judge_b"]["n_new"] == 2
    for name in ("sweep.json", "sweep.md", "sweep.png", "beta-1.0/eval/reader/p00.s1.json"):
        assert (out / "sweep" / name).is_file(), name
    assert json.loads((out / "sweep" / "sweep.json").read_text())["command"] == "storyspace sweep LOOP"
    # a variant that pairs otherwise makes its pairs afresh from the loop's trees; a larger margin selects
    def ids(rows: list[dict]) -> set[tuple]:
        return {(r["run"], r["node"], r["chosen_node"], r["rejected_node"]) for r in rows}

    loop_pairs = [json.loads(line) for line in (out / "iter0" / "pairs.jsonl").read_text().splitlines()]
    found, path = sweep.pairs_for(replace(cfg.pairs, min_margin=0.5), tmp_path / "margin")
    assert path == out / "iter0" / "pairs.jsonl" and ids(found) <= ids(loop_pairs)
    every, path = sweep.pairs_for(replace(cfg.pairs, pairing="all"), tmp_path / "all")
    assert path == tmp_path / "all" / "pairs.jsonl" and path.is_file() and ids(every) >= ids(loop_pairs)
    # a second run finds everything on disk and recomputes nothing
    mtime = (out / "iter1" / "model" / "model.safetensors").stat().st_mtime
    again = Loop(out, premises, cfg, pool).run()
    assert json.loads(json.dumps(again)) == json.loads((out / "iterations.json").read_text())
    assert (out / "iter1" / "model" / "model.safetensors").stat().st_mtime == mtime
    other = replace(cfg, pairs=PairConfig(min_margin=0.5))
    with pytest.raises(UserError, match="other settings"):
        Loop(out, premises, other, pool).run()
    # more iterations on resume extend a finished loop (its finished pieces are kept)
    Loop(out, premises, replace(cfg, iterations=2), pool).prepare()
    assert json.loads((out / "loop.json").read_text())["config"]["iterations"] == 2
    assert (out / "iter1" / "model" / "model.safetensors").stat().st_mtime == mtime


def test_a_loop_written_before_a_setting_existed_resumes_with_that_setting_at_its_default(tmp_path) -> None:
    from dataclasses import asdict

    from storyspace.train.orpo import TrainConfig

    premises = [f"premise {i}" for i in range(3)]
    cfg = LoopConfig(train_premises=1, heldout_premises=1, train=TrainConfig(max_steps=12))  # ORPO
    meta = {"config": asdict(cfg), "base": cfg.explore.models.policy, "train_premises": premises[:1],
            "heldout_premises": premises[-1:]}
    del meta["config"]["train"]["loss"]  # as a loop.json of session 12 and before
    out = tmp_path / "loop"
    out.mkdir()
    (out / "loop.json").write_text(json.dumps(meta))
    Loop(out, premises, cfg, pool=None).prepare()  # the same settings: resumes
    with pytest.raises(UserError, match="other settings"):
        Loop(out, premises, replace(cfg, train=replace(cfg.train, loss="dpo")), pool=None).prepare()


def test_train_from_base_trains_policy_i_plus_1_from_the_base_on_every_iteration_s_pairs(tmp_path) -> None:
    from storyspace.train.pairs import write_pairs

    premises = [f"premise {i}" for i in range(3)]
    out = tmp_path / "loop"
    for k, margins in enumerate(([0.5, 0.01], [0.3, 0.2, 0.1])):  # 0.01 is under the least margin 0.02
        write_pairs([{"prompt": f"p{k}", "chosen": f"c{k}.{j}", "rejected": "r", "margin": m}
                     for j, m in enumerate(margins)], out / f"iter{k}" / "pairs.jsonl")
    base = Loop(out, premises, LoopConfig(train_premises=1, heldout_premises=1), pool=None)
    assert base.cfg.train_from == "base" and [base.start_of(i) for i in (0, 1)] == [0, 0]
    assert [p["chosen"] for p in base.training_pairs(1)] == ["c0.0", "c1.0", "c1.1", "c1.2"]
    assert base.policy_spec(base.start_of(1)) == base.base
    previous = Loop(out, premises, LoopConfig(train_premises=1, heldout_premises=1, train_from="previous"), pool=None)
    assert [previous.start_of(i) for i in (0, 1)] == [0, 1]
    assert [p["chosen"] for p in previous.training_pairs(1)] == ["c1.0", "c1.1", "c1.2"]
    assert previous.policy_spec(1).endswith("iter1/model")
    # the first iteration is the same under either: policy 0 on iteration 0's pairs
    assert base.training_pairs(0) == previous.training_pairs(0) == [base.training_pairs(1)[0]]


def test_a_loop_written_before_train_from_existed_resumes_as_it_trained_then(tmp_path) -> None:
    from dataclasses import asdict

    premises = [f"premise {i}" for i in range(3)]
    cfg = LoopConfig(train_premises=1, heldout_premises=1, train_from="previous")
    meta = {"config": asdict(cfg), "base": cfg.explore.models.policy, "train_premises": premises[:1],
            "heldout_premises": premises[-1:]}
    del meta["config"]["train_from"]  # as a loop.json of session 13 and before: policy i+1 from policy i
    out = tmp_path / "loop"
    out.mkdir()
    (out / "loop.json").write_text(json.dumps(meta))
    Loop(out, premises, cfg, pool=None).prepare()
    with pytest.raises(UserError, match="other settings"):
        Loop(out, premises, replace(cfg, train_from="base"), pool=None).prepare()


def test_train_from_must_be_known() -> None:
    from storyspace.train.loop import validate_loop

    with pytest.raises(UserError, match="--train-from must be one of base, previous"):
        validate_loop(LoopConfig(train_from="policy 0", reader=""))


def test_a_pairs_file_replaces_the_first_iteration_s_search(tmp_path) -> None:  # noqa: ANN001
    from storyspace.train.loop import validate_loop
    from storyspace.train.pairs import read_pairs, write_pairs

    pairs = tmp_path / "reader.jsonl"
    rows = [{"prompt": f"p{j}", "chosen": f"c{j}", "rejected": f"r{j}", "votes": "2-0"} for j in range(3)]
    write_pairs(rows, pairs)
    cfg = LoopConfig(iterations=1, train_premises=1, heldout_premises=1, reader="", pairs_from=str(pairs))
    validate_loop(cfg)
    loop = Loop(tmp_path / "loop", [f"premise {i}" for i in range(3)], cfg, pool=None)  # no model: nothing searched
    path = loop.search_and_pairs(0)
    assert read_pairs(path) == rows and not (tmp_path / "loop" / "iter0" / "search").exists()
    assert loop.training_pairs(0) == rows  # no margin recorded: every choice is kept
    from storyspace.train.loop import iterations_markdown

    assert f"pairs: from {pairs} (no search)" in iterations_markdown([], cfg)
    with pytest.raises(UserError, match="run --iterations 1, not 2"):
        validate_loop(replace(cfg, iterations=2))
    with pytest.raises(UserError, match="not found|no pairs|cannot"):
        validate_loop(replace(cfg, pairs_from=str(tmp_path / "none.jsonl")))
