"""Shared fixtures: the real embedded model, loaded once per test session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def pool():  # noqa: ANN201
    from storyspace.models.registry import ModelPool

    return ModelPool(device="cpu")


@pytest.fixture(scope="session")
def embedded(pool):  # noqa: ANN001, ANN201
    return pool.get("embedded")


SYSTEM = {"role": "system", "content": "You are a skilled fiction writer."}
CHOSEN = "Rain hammered the shutters while she lit the last lamp."
REJECTED = "Let's try to make this into a captivating opening scene."


def orpo_pairs(n: int) -> list[dict]:
    """n preference pairs: prose chosen over assistant-speak, for prompts that differ a little."""
    out = []
    for i in range(n):
        user = {"role": "user", "content": f"Story premise: a storm, night {i}.\n\nWrite the next passage."}
        out.append({"prompt": [SYSTEM, user], "chosen": [{"role": "assistant", "content": CHOSEN}],
                    "rejected": [{"role": "assistant", "content": REJECTED}]})
    return out


@pytest.fixture(scope="session")
def orpo_trained(tmp_path_factory):  # noqa: ANN001, ANN201
    """A policy trained by ORPO for a few steps on ``orpo_pairs`` (shared by the ORPO and the
    export tests): (model directory, the pairs, the training summary)."""
    from storyspace.train.orpo import TrainConfig, train_orpo

    out = tmp_path_factory.mktemp("orpo") / "model"
    pairs = orpo_pairs(4)
    summary = train_orpo(pairs, "embedded", out, TrainConfig(max_steps=4, batch_size=2, learning_rate=1e-3,
                                                             warmup_ratio=0.0), device="cpu")
    return out, pairs, summary
