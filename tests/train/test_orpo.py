"""ORPO and DPO on the real embedded model: each moves the policy toward the chosen text of the
pairs it trained on, and the tuned model reloads and generates."""

from __future__ import annotations

import json
import statistics

import pytest

from storyspace.errors import UserError
from storyspace.train.orpo import TrainConfig, train_orpo
from tests.conftest import SYSTEM, orpo_pairs

pytestmark = pytest.mark.slow


def preference_gap(model, pairs: list[dict]) -> float:  # noqa: ANN001
    """Mean over pairs of the mean token log-prob of chosen minus that of rejected."""
    gaps = []
    for p in pairs:
        prompt = model.chat_prompt(p["prompt"])
        chosen, rejected = model.logprobs(prompt, [p["chosen"][0]["content"], p["rejected"][0]["content"]])
        gaps.append(statistics.fmean(chosen) - statistics.fmean(rejected))
    return statistics.fmean(gaps)


def test_orpo_moves_the_policy_toward_the_chosen_text(orpo_trained, pool) -> None:  # noqa: ANN001
    out, pairs, summary = orpo_trained
    assert summary["steps"] == 4 and summary["pairs"] == 4
    before = preference_gap(pool.get("embedded"), pairs)
    after = preference_gap(pool.get(f"hf:{out}"), pairs)
    assert after > before + 0.5, (before, after)  # the chosen text gained on the rejected one


def test_orpo_writes_its_model_metrics_and_refuses_a_used_directory(orpo_trained, pool) -> None:  # noqa: ANN001
    import torch
    from safetensors.torch import load_file

    from storyspace.models.registry import model_dir, parse_spec

    out, _, _ = orpo_trained
    for name in ("config.json", "model.safetensors", "adapter/adapter_config.json", "metrics.jsonl", "metrics.png",
                 "train.json"):
        assert (out / name).is_file(), name
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {"loss", "nll_loss", "log_odds_ratio", "rewards/accuracies", "rewards/margins"} <= set(rows[0])
    base = load_file(model_dir(parse_spec("embedded")) / "model.safetensors")
    tuned = load_file(out / "model.safetensors")
    assert torch.equal(base["model.embed_tokens.weight"], tuned["model.embed_tokens.weight"])  # LoRA: attention only
    model = pool.get(f"hf:{out}")
    prompt = model.chat_prompt([SYSTEM, {"role": "user", "content": "Write one sentence."}])
    sample = model.sample([prompt], 1, 12, 0.8, [0])[0][0]
    assert sample.token_ids and len(sample.logprobs) == len(sample.token_ids)
    with pytest.raises(UserError, match="not empty"):
        train_orpo(orpo_pairs(2), "embedded", out, TrainConfig(max_steps=1), device="cpu")


def test_dpo_moves_the_policy_toward_the_chosen_text(tmp_path, pool) -> None:  # noqa: ANN001
    out = tmp_path / "dpo"
    pairs = orpo_pairs(4)
    cfg = TrainConfig(loss="dpo", max_steps=4, batch_size=2, learning_rate=1e-3, warmup_ratio=0.0)
    summary = train_orpo(pairs, "embedded", out, cfg, device="cpu")
    assert summary["steps"] == 4 and summary["config"]["loss"] == "dpo"
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {"loss", "rewards/accuracies", "rewards/margins", "logps/chosen"} <= set(rows[0])
    assert "nll_loss" not in rows[0]  # DPO has no NLL term
    before = preference_gap(pool.get("embedded"), pairs)
    after = preference_gap(pool.get(f"hf:{out}"), pairs)
    assert after > before + 0.5, (before, after)


def test_dpo_needs_a_positive_beta() -> None:
    from storyspace.train.orpo import validate_train

    with pytest.raises(UserError, match="--beta must be > 0"):
        validate_train(TrainConfig(loss="dpo", beta=0.0))
    validate_train(TrainConfig(loss="orpo", beta=0.0))  # ORPO with beta 0 is the NLL alone
