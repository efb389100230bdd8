"""The transformers backend on the real embedded model (SmolLM2-135M-Instruct)."""

from __future__ import annotations

import numpy as np
import pytest

from storyspace.errors import UserError
from storyspace.models.base import LanguageModel
from storyspace.models.registry import cache_dir, parse_spec

pytestmark = pytest.mark.slow

PROMPT_MSGS = [{"role": "user", "content": "Write the first sentence of a story about a lighthouse keeper."}]


def test_embedded_model_loads_as_a_language_model(embedded) -> None:  # noqa: ANN001
    assert isinstance(embedded, LanguageModel)
    assert embedded.context_length == 8192
    assert (cache_dir() / "converted").is_dir()  # converted once, cached as safetensors
    prompt = embedded.chat_prompt(PROMPT_MSGS)
    assert prompt.startswith("<|im_start|>system") and prompt.endswith("<|im_start|>assistant\n")


def test_sample_logprobs_agree_with_prefix_cached_scoring(embedded) -> None:  # noqa: ANN001
    prompt = embedded.chat_prompt(PROMPT_MSGS)
    samples = embedded.sample([prompt], n=3, max_tokens=24, temperature=0.9, seeds=[11])[0]
    assert len(samples) == 3
    texts = [embedded.tokenizer.decode(s.token_ids) for s in samples]
    scored = embedded.logprobs(prompt, texts)
    for s, lp in zip(samples, scored):
        assert len(s.token_ids) == len(s.logprobs) > 0
        assert all(x <= 0 for x in s.logprobs)
        assert np.allclose(lp, s.logprobs, atol=1e-3)
    assert len({s.text for s in samples}) > 1  # different samples from one seed


def test_each_sample_depends_only_on_its_seed_not_the_batch(embedded) -> None:  # noqa: ANN001
    a = embedded.chat_prompt(PROMPT_MSGS)
    b = embedded.chat_prompt([{"role": "user", "content": "Name a colour."}])
    alone = embedded.sample([a], n=2, max_tokens=16, temperature=1.0, seeds=[5])[0]
    batched = embedded.sample([b, a], n=2, max_tokens=16, temperature=1.0, seeds=[9, 5])[1]
    assert [s.token_ids for s in alone] == [s.token_ids for s in batched]
    other_seed = embedded.sample([a], n=2, max_tokens=16, temperature=1.0, seeds=[6])[0]
    assert [s.token_ids for s in other_seed] != [s.token_ids for s in alone]


def test_greedy_sampling_and_stop_strings(embedded) -> None:  # noqa: ANN001
    prompt = embedded.chat_prompt([{"role": "user", "content": "List three fruits, one per line."}])
    one = embedded.sample([prompt], n=2, max_tokens=30, temperature=0.0, seeds=[1])[0]
    assert one[0].token_ids == one[1].token_ids  # temperature 0 is greedy
    cut = embedded.sample([prompt], n=1, max_tokens=30, temperature=0.0, seeds=[1], stop=["\n"])[0][0]
    assert "\n" not in cut.text and cut.finished
    assert len(cut.token_ids) == len(cut.logprobs) <= len(one[0].token_ids)


def test_scoring_sees_context(embedded) -> None:  # noqa: ANN001
    ctx = "The capital of France is"
    good, bad = embedded.logprobs(ctx, [" Paris.", " banana."])
    assert sum(good) > sum(bad)
    # the shared-prefix batch gives the same numbers as scoring one continuation alone
    alone = embedded.logprobs(ctx, [" Paris."])[0]
    assert np.allclose(alone, good, atol=1e-4)
    assert embedded.usage.scored_tokens > 0 and embedded.usage.generated_tokens > 0


def test_bad_specs_are_user_errors(tmp_path) -> None:  # noqa: ANN001
    for spec in ("gpt-17", "hf:", "mystery:thing"):
        with pytest.raises(UserError, match="unknown model spec"):
            parse_spec(spec)
    with pytest.raises(UserError, match="no transformers model"):
        parse_spec(f"hf:{tmp_path}")
    with pytest.raises(UserError, match="GGUF file not found"):
        parse_spec(f"gguf:{tmp_path / 'x.gguf'}")
