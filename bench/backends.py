"""Every available backend, one process, a fixed premise and seed: how fast does each explore?

For each backend (``hf``: transformers; ``llamacpp``: the policy on llama.cpp in process, the reader on
transformers, as ``--backend llamacpp`` runs; ``llamacpp_all``: the reader on llama.cpp too;
``openai``: the policy through a llama-cpp-python server started here on loopback with the
embedded GGUF, the reader in process, and the server's scoring speed on one reader call) it
measures

- raw decode tokens/s: the policy's plain batch-1 sampling of one passage (best of 2);
- explore: one ``explore`` run (policy *and* reference reader on that backend): policy tokens
  per wall second, scored tokens per second of scoring, simulations per minute, and the ratio of
  explore policy throughput to the raw batch-1 decode throughput;
- explore_many (``--many N``, backends that batch): N premises searched together by
  ``search_trees``, one policy call for the frontier of all trees: the same figures.

Prints a table, and as its last line one JSON object keyed by backend.

    .venv/bin/python bench/backends.py [--simulations 12] [--backends hf,llamacpp,openai] [--many 4] [--n-ubatch N]
        [--policy llamacpp:qwen2.5-coder-1.5b]     # the llamacpp row with another policy (the writer)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from storyspace.assemble import assemble  # noqa: E402
from storyspace.cli import quiet_libraries  # noqa: E402
from storyspace.config import build_config  # noqa: E402
from storyspace.corpus import shipped_premises  # noqa: E402
from storyspace.explore import Explorer  # noqa: E402
from storyspace.models.llamacpp import available as llamacpp_available  # noqa: E402
from storyspace.models.llamacpp import cores  # noqa: E402
from storyspace.models.registry import ModelPool  # noqa: E402
from storyspace.search.mcts import search_trees  # noqa: E402
from storyspace.search.tree import Tree  # noqa: E402
from storyspace.seeding import derive_seed  # noqa: E402
from storyspace.story import Story, passage_messages  # noqa: E402
from storyspace.world import batch_expander  # noqa: E402

PREMISE = "A lighthouse keeper finds a message in a bottle addressed to her, dated fifty years in the future."


def raw_decode(model, prompt: str, tokens: int) -> float:  # noqa: ANN001
    model.sample([prompt], 1, 8, 0.9, [0])  # warm-up
    best = 0.0
    for r in range(2):
        start = time.perf_counter()
        out = model.sample([prompt], 1, tokens, 0.9, [r + 1])[0][0]
        best = max(best, len(out.logprobs) / (time.perf_counter() - start))
    return best


def usage_delta(models, before):  # noqa: ANN001, ANN201
    gen = sum(m.usage.generated_tokens for m in models) - before[0]
    scored = sum(m.usage.scored_tokens for m in models) - before[1]
    score_s = sum(m.usage.score_seconds for m in models) - before[2]
    return gen, scored, score_s


def snapshot(models):  # noqa: ANN001, ANN201
    return (sum(m.usage.generated_tokens for m in models), sum(m.usage.scored_tokens for m in models),
            sum(m.usage.score_seconds for m in models))


def bench_backend(name: str, cfg, pool: ModelPool, many: int) -> dict:  # noqa: ANN001
    t0 = time.perf_counter()
    policy = pool.get(cfg.models.policy_spec)
    reader = pool.get(cfg.models.reference)
    load_s = time.perf_counter() - t0
    models = list({id(m): m for m in (policy, reader)}.values())
    prompt = policy.chat_prompt(passage_messages(Story(PREMISE), cfg.prompts))
    raw = raw_decode(policy, prompt, cfg.policy.step_tokens)
    before = snapshot(models)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = Explorer(pool).start(PREMISE, cfg, Path(tmp) / "run")
        wall = time.perf_counter() - start
    gen, scored, score_s = usage_delta(models, before)
    sims = result.meta["budget"]["simulations"]
    row = {
        "raw_decode_tokens_per_s": round(raw, 2),
        "explore_policy_tokens_per_s": round(gen / wall, 2),
        "scored_tokens_per_s": round(scored / score_s, 1) if score_s else None,
        "simulations_per_min": round(60 * sims / wall, 2),
        "speed_ratio": round(gen / wall / raw, 3),
        "explore_wall_s": round(wall, 1),
        "policy_tokens": gen,
        "scored_tokens": scored,
        "model_load_s": round(load_s, 2),
        "simulations": sims,
    }
    if many > 1:
        premises = shipped_premises()[:many]
        parts = assemble(pool, cfg)
        worlds = [parts.world(p) for p in premises]
        trees = [Tree.new(cfg.search.depth, {"premise": p}) for p in premises]
        before = snapshot(models)
        start = time.perf_counter()
        search_trees(trees, worlds, cfg.search, [derive_seed(cfg.seed, "bench", i) for i in range(many)],
                     batch=batch_expander(worlds))
        wall = time.perf_counter() - start
        gen, scored, _ = usage_delta(models, before)
        row.update({
            "many_premises": many,
            "many_policy_tokens_per_s": round(gen / wall, 2),
            "many_simulations_per_min": round(60 * sum(t.simulations for t in trees) / wall, 2),
            "many_speed_ratio": round(gen / wall / raw, 3),
            "many_wall_s": round(wall, 1),
        })
    return row


def server_scoring(model) -> float:  # noqa: ANN001
    """Scored tokens per second of one reader-sized call (a 100-word context, 3 passages)."""
    context = "Writing prompt: " + PREMISE + "\n\nStory:\n" + " ".join(["The tide came in slowly."] * 20)
    passages = [" She read the letter twice.", " The lamp went dark at midnight.", " Gulls circled the tower."]
    before = model.usage.scored_tokens
    start = time.perf_counter()
    model.logprobs(context, passages)
    return round((model.usage.scored_tokens - before) / (time.perf_counter() - start), 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--simulations", type=int, default=12)
    ap.add_argument("--backends", default="hf,llamacpp,llamacpp_all,openai")
    ap.add_argument("--many", type=int, default=4, help="premises searched together (llamacpp, hf with --many-hf)")
    ap.add_argument("--many-hf", action="store_true", help="also run explore_many on transformers (slow on CPU)")
    ap.add_argument("--openai-simulations", type=int, default=4,
                    help="explore budget of the openai row (llama-cpp-python's server is slow with logprobs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-ubatch", type=int, default=None,
                    help="llama.cpp micro-batch (models.llamacpp.n_ubatch; default: the package's)")
    ap.add_argument("--policy", default=None, metavar="SPEC",
                    help="the llamacpp row's policy (e.g. llamacpp:qwen2.5-coder-1.5b; default: the embedded model)")
    args = ap.parse_args()
    quiet_libraries()
    wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
    rows: dict[str, dict] = {}
    base = {"seed": args.seed, "search": {"simulations": args.simulations}}
    llama = {} if args.n_ubatch is None else {"llamacpp": {"n_ubatch": args.n_ubatch}}
    for name in wanted:
        if name != "hf" and not llamacpp_available():
            print(f"{name}: skipped (llama-cpp-python is not installed)", file=sys.stderr)
            continue
        server = None
        if name == "hf":
            cfg = build_config(None, {**base, "models": {"device": "cpu"}})
            many = args.many if args.many_hf else 0
        elif name == "llamacpp":  # what --backend llamacpp does: the policy on llama.cpp, the reader on hf
            policy = {"policy": args.policy} if args.policy else {}
            cfg = build_config(None, {**base, "models": {"backend": "llamacpp", "device": "cpu", **policy, **llama}})
            many = args.many
        elif name == "llamacpp_all":  # the reader on llama.cpp too
            cfg = build_config(None, {**base, "models": {"backend": "llamacpp", "reference": "llamacpp:embedded", **llama}})
            many = 0
        else:
            from storyspace.models.local_server import LlamaServer

            server = LlamaServer(threads=cores()).start()
            spec = server.spec
            # The policy through the server, the reader in process: llama-cpp-python's server
            # sorts the whole vocabulary in Python for every token it reports a log-prob of (a
            # 6-simulation explore with the reader on it did not finish in 9 minutes), so its
            # scoring speed is measured apart, on one reader call, and the row runs fewer
            # simulations (--openai-simulations).
            cfg = build_config(None, {**base, "search": {"simulations": args.openai_simulations},
                                      "models": {"policy": spec, "device": "cpu"}})
            cfg = replace(cfg, models=replace(cfg.models, openai=replace(cfg.models.openai, score_prefix="<|im_start|>")))
            many = 0
        try:
            pool = ModelPool(options=cfg.models.options())
            rows[name] = bench_backend(name, cfg, pool, many)
            if server is not None:
                rows[name]["server_scored_tokens_per_s"] = server_scoring(pool.get(cfg.models.policy_spec))
        finally:
            if server is not None:
                server.stop()
        print(f"{name:9s} " + "  ".join(f"{k}={v}" for k, v in rows[name].items()), file=sys.stderr, flush=True)
    rows["machine"] = {"cores": cores(), "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                       "simulations": args.simulations, "n_ubatch": cfg.models.llamacpp.micro_batch,
                       "policy": args.policy or "embedded"}
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
