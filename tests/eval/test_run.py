"""``storyspace eval`` end to end on the real models (llama.cpp policy, transformers value model,
Gemma 3 270M as the independent reader, a real local server as the LLM judge)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from storyspace.config import ExploreConfig
from storyspace.errors import UserError
from storyspace.judges.llm import CRITERIA, JudgeConfig
from storyspace.eval.run import EvalConfig, Evaluation
from storyspace.models.registry import ModelPool
from storyspace.search.mcts import SearchConfig
from storyspace.world import PolicyConfig

PREMISES = [
    "A lighthouse keeper finds a message in a bottle.",
    "The last train of the night stops at a station that is not on any map.",
]


def tiny(**changes) -> EvalConfig:  # noqa: ANN003
    """Stories of 2 steps x 12 tokens; a budget of 3 stories. The policy runs on transformers,
    whose samples do not depend on what ran before (llama.cpp's prefix cache can shift a
    near-tie token, so a story redone after a kill may differ there)."""
    explore = ExploreConfig(search=SearchConfig(depth=2, children=3, parallel_leaves=2),
                            policy=PolicyConfig(step_tokens=12))
    return replace(EvalConfig(explore=explore, n_premises=2, budget_tokens=3 * 24, curve=(1, 2, 4)), **changes)


@pytest.fixture(scope="module")
def eval_pool():  # noqa: ANN201
    return ModelPool(device="cpu")


@pytest.mark.slow
def test_eval_end_to_end_then_resume(tmp_path: Path, eval_pool) -> None:  # noqa: ANN001
    out = tmp_path / "eval"
    report = Evaluation(tiny(), PREMISES, out, eval_pool).run()
    text = report.read_text()
    for part in ("(a) value model: story value", "(b) independent reader: story value", "Δ vs single",
                 "Bradley–Terry", "Story value (value model, a) vs budget", "Story value (independent reader, b) vs budget"):
        assert part in text
    rows = [json.loads(x) for x in (out / "stories.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and {r["system"] for r in rows} == {"single", "best-of-n", "beam", "mcts"}
    for r in rows:
        assert r["passages"] and r["story"] and len(r["breakdowns"]) == 2
        assert 0 <= r["value"]["value_mean"] <= 1 and 0 <= r["reader"]["summary"]["value_mean"] <= 1
        assert r["reader"]["reader"] == "llamacpp:gemma3-270m"
        assert r["scored_tokens"] > 0
        if r["system"] != "single":
            assert r["policy_tokens"] <= r["budget_tokens"] == 72
    bon = [r for r in rows if r["system"] == "best-of-n"]
    assert all(r["settings"]["n"] == 3 and set(r["curve"]) == {"1", "2"} for r in bon)  # 4 units do not fit
    for r in bon:
        assert max(r["settings"]["story_values"]) == pytest.approx(r["value"]["value_mean"], abs=1e-6)
    # every curve point holds its story, read by (b) too: a smaller budget's own story has a file
    for r in rows:
        for m, point in r["curve"].items():
            assert point["passages"] and 0 <= point["reader"]["value_mean"] <= 1
            if point["passages"] == r["passages"]:
                assert point["reader"] == r["reader"]["summary"]
            else:
                assert (out / "reader" / f"p{r['premise_id']:02d}.{r['system']}.x{m}.json").is_file()
    single = [r for r in rows if r["system"] == "single"]
    assert all(r["curve"]["1"]["passages"] == r["passages"] for r in single)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["premises"] == 2 and summary["units"] == 3
    for judge, source in (("judge_a", lambda r: r["value"]["value_mean"]), ("judge_b", lambda r: r["reader"]["summary"]["value_mean"])):
        for system in ("single", "best-of-n", "beam", "mcts"):
            xs = [source(r) for r in rows if r["system"] == system]
            assert summary[judge][system]["mean"] == pytest.approx(sum(xs) / 2, abs=1e-5)
        sds = [summary[judge][s]["sd"] for s in ("single", "best-of-n", "beam", "mcts")]
        assert summary[judge]["pooled_sd"] == pytest.approx((sum(x * x for x in sds) / 4) ** 0.5, abs=1e-5)
    assert set(summary["curve"]["judge_b"]["best-of-n"]) == {"1", "2"}
    assert (out / "value_distributions.png").stat().st_size > 1000 and (out / "budget_curve.png").stat().st_size > 1000
    assert (out / "trees" / "p00.mcts.json").is_file()
    assert json.loads((out / "eval.json").read_text())["status"] == "finished"

    # a killed eval: one story and its reading are gone; the rest is kept, the story is redone alike
    lost = out / "stories" / "p01.beam.json"
    before = json.loads(lost.read_text())
    lost.unlink()
    (out / "reader" / "p01.beam.json").unlink()
    kept = out / "stories" / "p00.mcts.json"
    mtime = kept.stat().st_mtime_ns
    Evaluation(tiny(), PREMISES, out, eval_pool).run()
    assert kept.stat().st_mtime_ns == mtime
    assert json.loads(lost.read_text())["passages"] == before["passages"]

    # other settings in the same directory are refused; so is a directory that holds something else
    with pytest.raises(UserError, match="other settings"):
        Evaluation(tiny(beam_k=3), PREMISES, out, eval_pool).prepare()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        Evaluation(tiny(), PREMISES, tmp_path / "other", eval_pool).prepare()


@pytest.mark.slow
def test_eval_with_an_llm_judge_reads_every_verdict(tmp_path: Path, eval_pool) -> None:  # noqa: ANN001
    # an in-process judge renders the chat itself: verdicts come from its probabilities
    cfg = tiny(systems=("single", "best-of-n"), n_premises=1, reader="", llm_judge="embedded")
    out = tmp_path / "eval"
    text = Evaluation(cfg, PREMISES, out, eval_pool).run().read_text()
    assert "(c) LLM judge, pairwise A/B** (1 comparisons; 0 unparsed answers" in text
    assert "LLM rubric replies parsed in full: 2/2" in text
    rows = [json.loads(x) for x in (out / "stories.jsonl").read_text().splitlines()]
    assert "reader" not in rows[0]
    for r in rows:
        assert r["llm"]["parsed"] is True and r["llm"]["method"] == "probabilities"
        assert all(1 <= r["llm"][c] <= 10 for c in CRITERIA)
    pair = json.loads((out / "llm" / "p00.pair.single.vs.best-of-n.json").read_text())
    assert len(pair["raw"]) == 2 and pair["x"] == "single"  # asked in both orders
    assert None not in pair["choices"] and 0.0 <= pair["x_score"] <= 1.0


@pytest.mark.slow
def test_an_llm_judge_behind_a_chat_endpoint_answers_in_replies(tmp_path: Path) -> None:
    from storyspace.judges.llm import LLMJudge
    from storyspace.models.local_server import LlamaServer
    from storyspace.models.openai import OpenAIConfig, OpenAIModel

    with LlamaServer(log=tmp_path / "server.log") as server:
        judge = LLMJudge(OpenAIModel(server.spec, server.spec.split(":", 1)[1], OpenAIConfig()),
                         JudgeConfig(max_tokens=24))
        rating = judge.rate(PREMISES[0], "She read the message twice and climbed the stairs.")
        pair = judge.compare(PREMISES[0], "She read the message twice.", "The bottle was empty.")
    assert rating["method"] == "reply" and rating["raw"].strip() and isinstance(rating["parsed"], bool)
    assert all(1 <= rating[c] <= 10 for c in CRITERIA if c in rating)
    # the pairwise question is answered with a letter first, which the reply parser reads
    assert pair["method"] == "reply" and len(pair["raw"]) == 2 and None not in pair["choices"]
