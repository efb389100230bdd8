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
