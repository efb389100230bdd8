"""How fast does a llama.cpp writer prefill and decode, by micro-batch, rows and GGUF file?

The policy's calls in a search have two parts: the prompt (the premise and the story so far, up to
~500 tokens at depth 4) is prefilled, then ``children`` rows sample a passage together, one token
per row per step. This bench times the two apart on one model, for each ``n_ubatch`` given (the
prefix cache off, as by default):

- prefill: one long prompt (the policy's chat prompt plus ~450 tokens of story), one token sampled;
- decode: the policy's prompt for the premise, ``rows`` samples of ``--tokens`` tokens in one call
  (rows = 1 is plain batch-1 decoding; 4 is one MCTS expansion; 16 is four leaves of 4 at once).

    .venv/bin/python bench/llamacpp_shapes.py [--model llamacpp:qwen2.5-coder-1.5b|FILE.gguf ...]
        [--n-ubatch 32,128] [--rows 1,4,16] [--tokens 48]

Prints a line per measurement and, last, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from storyspace.config import build_config  # noqa: E402
from storyspace.models.llamacpp import LlamaCppConfig, LlamaCppModel, cores  # noqa: E402
from storyspace.models.registry import NAMED_GGUF, named_gguf_path, parse_spec  # noqa: E402
from storyspace.story import Story, passage_messages  # noqa: E402

PREMISE = "A lighthouse keeper finds a message in a bottle addressed to her, dated fifty years in the future."
FILLER = " ".join(["The keeper climbed the stairs and watched the grey sea for a sign."] * 30)


def gguf(model: str) -> Path:
    if model.endswith(".gguf") and not model.startswith("llamacpp:"):
        return Path(model)
    spec = parse_spec(model)
    return named_gguf_path(spec.target) if spec.target in NAMED_GGUF else Path(spec.target)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", nargs="+", default=["llamacpp:qwen2.5-coder-1.5b"])
    ap.add_argument("--n-ubatch", default="32,128")
    ap.add_argument("--rows", default="1,4,16")
    ap.add_argument("--tokens", type=int, default=48)
    args = ap.parse_args()
    prompts = build_config(None, {}).prompts
    story = Story(PREMISE)
    out = []
    for model in args.model:
        for ub in [int(x) for x in args.n_ubatch.split(",")]:
            m = LlamaCppModel(model, gguf(model), LlamaCppConfig(n_ubatch=ub))
            try:
                prompt = m.chat_prompt(passage_messages(story, prompts))
                long = prompt + FILLER
                m.sample([prompt], 1, 4, 0.9, [0])  # warm-up
                start = time.perf_counter()
                m.sample([long], 1, 1, 0.9, [0])
                prefill_s = time.perf_counter() - start
                row = {"model": model, "n_ubatch": m.cfg.micro_batch, "threads": m.threads,
                       "prefill_tokens": m.count_tokens(long), "prefill_s": round(prefill_s, 2),
                       "prefill_tokens_per_s": round(m.count_tokens(long) / prefill_s, 1)}
                print(f"{Path(model).name} n_ubatch={row['n_ubatch']} prefill {row['prefill_tokens']} tokens:"
                      f" {row['prefill_s']} s, {row['prefill_tokens_per_s']} tok/s", flush=True)
                for rows in [int(x) for x in args.rows.split(",")]:
                    start = time.perf_counter()
                    got = m.sample([prompt], rows, args.tokens, 0.9, [1])[0]
                    dt = time.perf_counter() - start
                    n = sum(len(s.token_ids) for s in got)
                    row[f"decode_rows{rows}_tokens_per_s"] = round(n / dt, 2)
                    print(f"{Path(model).name} n_ubatch={row['n_ubatch']} rows={rows}: {n} tokens in {dt:.1f} s,"
                          f" {n / dt:.2f} tok/s", flush=True)
                out.append(row)
            finally:
                m.close()
    print(json.dumps({"rows": out, "cores": cores()}))


if __name__ == "__main__":
    main()
