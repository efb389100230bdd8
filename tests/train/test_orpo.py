"""ORPO on the real embedded model: a couple of steps change the weights; the model reloads."""

from __future__ import annotations

import json

import pytest

from storyspace.errors import UserError
from storyspace.train.orpo import TrainConfig, train_orpo

pytestmark = pytest.mark.slow

SYSTEM = {"role": "system", "content": "You are a skilled fiction writer."}


def pairs(n: int) -> list[dict]:
    out = []
    for i in range(n):
        user = {"role": "user", "content": f"Story premise: a storm, night {i}.\n\nWrite the next passage."}
        out.append({
            "prompt": [SYSTEM, user],
            "chosen": [{"role": "assistant", "content": "Rain hammered the shutters while she lit the last lamp."}],
            "rejected": [{"role": "assistant", "content": "Let's try to make this into a captivating opening scene."}],
        })
    return out


def test_orpo_changes_weights_and_the_model_reloads_and_generates(tmp_path, pool) -> None:  # noqa: ANN001
    import torch
    from safetensors.torch import load_file

    from storyspace.models.registry import model_dir, parse_spec

    out = tmp_path / "model"
    summary = train_orpo(pairs(4), "embedded", out, TrainConfig(max_steps=2, batch_size=2, learning_rate=1e-3,
                                                                warmup_ratio=0.0), device="cpu")
    assert summary["steps"] == 2 and summary["pairs"] == 4
    for name in ("config.json", "model.safetensors", "adapter/adapter_config.json", "metrics.jsonl", "metrics.png",
                 "train.json"):
        assert (out / name).is_file(), name
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and {"loss", "nll_loss", "log_odds_ratio", "rewards/accuracies", "rewards/margins"} <= set(rows[0])
    base = load_file(model_dir(parse_spec("embedded")) / "model.safetensors")
    tuned = load_file(out / "model.safetensors")
    key = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(base[key], tuned[key])  # LoRA merged into the weights
    assert torch.equal(base["model.embed_tokens.weight"], tuned["model.embed_tokens.weight"])
    model = pool.get(f"hf:{out}")
    prompt = model.chat_prompt([SYSTEM, {"role": "user", "content": "Write one sentence."}])
    sample = model.sample([prompt], 1, 12, 0.8, [0])[0][0]
    assert sample.token_ids and len(sample.logprobs) == len(sample.token_ids)
    with pytest.raises(UserError, match="not empty"):
        train_orpo(pairs(2), "embedded", out, TrainConfig(max_steps=1), device="cpu")
