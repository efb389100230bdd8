"""The llama.cpp backend on the real embedded GGUF (llama-cpp-python, installed by `make test`)."""

from __future__ import annotations

import numpy as np
import pytest

from storyspace.errors import UserError
from storyspace.models.base import LanguageModel
from storyspace.models.llamacpp import LlamaCppConfig, LlamaCppModel
from storyspace.config import build_config
from storyspace.models.registry import ModelPool, embedded_gguf_path, parse_spec

pytestmark = pytest.mark.slow

MSGS = [{"role": "user", "content": "Write the first sentence of a story about a lighthouse keeper."}]
OTHER = [{"role": "user", "content": "Name a colour."}]


@pytest.fixture(scope="module")
def lc():  # noqa: ANN201
    # the prefix cache on: these tests check that re-used prefixes read as a fresh prefill
    model = LlamaCppModel("llamacpp:embedded", embedded_gguf_path(),
                          LlamaCppConfig(max_rows=8, n_ctx=8192, prefix_cache=True))
    yield model
    model.close()


def test_spec_parses_and_the_pool_runs_embedded_on_llamacpp(tmp_path) -> None:  # noqa: ANN001
    assert str(parse_spec("llamacpp:embedded")) == "llamacpp:embedded"
    with pytest.raises(UserError, match="GGUF file not found"):
        parse_spec(f"llamacpp:{tmp_path / 'missing.gguf'}")
    cfg = build_config(None, {"models": {"backend": "llamacpp"}})
    assert cfg.models.policy_spec == "llamacpp:embedded" and cfg.models.reference == "embedded"
    model = ModelPool(options=cfg.models.options()).get(cfg.models.policy_spec)
    assert isinstance(model, LlamaCppModel) and isinstance(model, LanguageModel)
    with pytest.raises(UserError, match="models.backend must be hf or llamacpp"):
        build_config(None, {"models": {"backend": "vllm"}})


def test_chat_prompt_matches_the_transformers_template(lc, embedded) -> None:  # noqa: ANN001
    assert lc.chat_prompt(MSGS) == embedded.chat_prompt(MSGS)
    assert lc.encode_prefix(lc.chat_prompt(MSGS)) == embedded.encode_prefix(embedded.chat_prompt(MSGS))


def test_greedy_text_and_scores_agree_with_transformers(lc, embedded) -> None:  # noqa: ANN001
    prompt = lc.chat_prompt(MSGS)
    a = lc.sample([prompt], 1, 24, 0.0, [0])[0][0]
    b = embedded.sample([prompt], 1, 24, 0.0, [0])[0][0]
    assert a.text == b.text and list(a.token_ids) == list(b.token_ids)
    context = "Writing prompt: a lighthouse keeper finds a message.\n\nStory:\n"
    conts = [" The keeper climbed the stairs at dawn.", " Blue potato seventeen galaxy."]
    for x, y in zip(lc.logprobs(context, conts), embedded.logprobs(context, conts)):
        assert len(x) == len(y)
        # same Q4_1 weights: llama.cpp (quantised matmuls) and the dequantised float model agree closely
        assert abs(np.mean(x) - np.mean(y)) < 0.1


def test_sample_logprobs_agree_with_scoring_and_prefix_reuse_is_exact(lc) -> None:  # noqa: ANN001
    prompt = lc.chat_prompt(MSGS)
    samples = lc.sample([prompt], 3, 20, 0.9, [5])[0]
    assert len({s.text for s in samples}) > 1
    for s in samples:
        assert len(s.token_ids) == len(s.logprobs) > 0 and all(x <= 0 for x in s.logprobs)
    # scoring re-uses the cached prompt (KV truncation), and must equal a cold evaluation
    texts = [lc.decode(s.token_ids) for s in samples]
    warm = lc.logprobs(prompt, texts)
    cold = LlamaCppModel("cold", lc.path, LlamaCppConfig(max_rows=8, n_ctx=8192))
    fresh = cold.logprobs(prompt, texts)
    cold.close()
    same_tokens = 0
    for s, text, w, f in zip(samples, texts, warm, fresh):
        assert np.allclose(w, f, atol=0.05)
        if lc.encode_continuation(text) == list(s.token_ids):  # sampled text can re-tokenise differently
            assert np.allclose(w, s.logprobs, atol=0.05)
            same_tokens += 1
    assert same_tokens >= 1


def test_each_sample_depends_on_its_seed_and_batches_are_split(lc) -> None:  # noqa: ANN001
    a, b = lc.chat_prompt(MSGS), lc.chat_prompt(OTHER)
    alone = lc.sample([a], 2, 12, 0.9, [7])[0]
    # 5 prompts x 2 samples = 10 rows > max_rows 8: split into two calls
    many = lc.sample([b, a, b, b, b], 2, 12, 0.9, [1, 7, 2, 3, 4])
    assert len(many) == 5 and all(len(g) == 2 for g in many)
    assert [s.text for s in many[1]] == [s.text for s in alone]


def test_stop_strings_and_eos_end_a_sample(lc) -> None:  # noqa: ANN001
    prompt = lc.chat_prompt([{"role": "user", "content": "What is 2+2? Answer with a number only."}])
    short = lc.sample([prompt], 1, 40, 0.0, [0])[0][0]
    assert short.finished and len(short.token_ids) < 40  # ended by the end-of-turn token
    assert "4" in short.text and "<|im_end|>" not in short.text
    text = lc.sample([lc.chat_prompt(MSGS)], 1, 40, 0.0, [0], stop=[","])[0][0]
    assert "," not in text.text and text.finished


def test_usage_counts_tokens(lc) -> None:  # noqa: ANN001
    before = lc.usage.generated_tokens, lc.usage.scored_tokens
    out = lc.sample([lc.chat_prompt(MSGS)], 2, 8, 0.9, [3])[0]
    lc.logprobs("Story:\n", ["One two three."])
    assert lc.usage.generated_tokens - before[0] == sum(len(s.token_ids) for s in out)
    assert lc.usage.scored_tokens > before[1]


def test_after_reset_cache_a_reading_depends_on_its_text_alone(lc) -> None:  # noqa: ANN001
    """Prefixes re-used from earlier calls were computed in other batches; after ``reset_cache``
    a reading is computed from scratch, the same whatever was read before."""
    ctx, conts = "The old lighthouse keeper climbed the stairs.", [" At the top he found a letter.", " It rained."]
    lc.reset_cache()
    fresh = lc.logprobs(ctx, conts)
    lc.logprobs("A different story about a cat and a dog.", [" The dog barked twice at the moon."])
    lc.logprobs(ctx + " At the top", [" he found a letter and a key."])
    lc.reset_cache()
    assert lc.logprobs(ctx, conts) == fresh


LONG = ("Writing prompt: A lighthouse keeper finds a message in a bottle addressed to her.\n\nStory:\n"
        "The storm had blown itself out by morning, and Mara walked the shingle as she always did, looking "
        "for what the sea had left. Rope, a broken oar, a gull with one wing. Then, wedged between two stones, "
        "a green bottle with a cork sealed in wax, and inside it a folded page with her own name on it, written "
        "in a hand she did not know. She carried it up the hundred and twelve steps of the tower before she "
        "dared to open it, and when she did, the paper smelled of smoke and oranges.")


def test_a_reading_does_not_depend_on_what_the_cache_holds(lc) -> None:  # noqa: ANN001
    """With micro-batches under 64 tokens (``n_ubatch``'s choice with the prefix cache) llama.cpp computes a prefix
    the same way whether it was prefilled whole, re-used from the cache with a new suffix, or
    decoded one sampled token at a time: readings and samples are functions of their text."""
    assert lc.cfg.micro_batch < 64 and len(lc.encode_prefix(LONG)) > 128
    conts = [" She read it twice.", " The lamp went out, and the sea was quiet for the first time in years."]
    lc.reset_cache()
    fresh = lc.logprobs(LONG, conts)
    first = lc.sample([LONG], 2, 16, 0.9, [11])[0]
    # other calls leave other prefixes in the cache: part of the text, the text and a sample
    lc.logprobs(LONG[: len(LONG) // 2], [" Nothing else."])
    lc.logprobs(LONG + first[0].text, [" Then she slept."])
    assert lc.logprobs(LONG, conts) == fresh
    again = lc.sample([LONG], 2, 16, 0.9, [11])[0]
    assert [s.text for s in again] == [s.text for s in first]
    assert [s.logprobs for s in again] == [s.logprobs for s in first]


def test_by_default_a_call_depends_on_its_inputs_alone() -> None:
    """The default (no prefix cache): after a history of explore-like calls (several rows, banks
    cycling, scoring between them) a call samples exactly what it samples on a fresh context, so
    a resumed search, which starts fresh, repeats the uninterrupted one (issue #43)."""
    assert LlamaCppConfig().prefix_cache is False
    busy = LlamaCppModel("busy", embedded_gguf_path(), LlamaCppConfig(max_rows=8, n_ctx=8192))
    fresh = LlamaCppModel("fresh", embedded_gguf_path(), LlamaCppConfig(max_rows=8, n_ctx=8192))
    try:
        story = LONG
        for k in range(4):
            got = busy.sample([story], 3, 24, 0.9, [k])[0]
            busy.logprobs(story, [s.text for s in got])
            story += got[k % 3].text
        ours = busy.sample([story], 3, 24, 0.9, [42])[0]
        theirs = fresh.sample([story], 3, 24, 0.9, [42])[0]
        assert [s.token_ids for s in ours] == [s.token_ids for s in theirs]
        assert [s.logprobs for s in ours] == [s.logprobs for s in theirs]
    finally:
        busy.close()
        fresh.close()
