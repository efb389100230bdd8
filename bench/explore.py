"""Speed of `storyspace explore` against the same model's plain batch-1 decode.

Runs a fixed premise and seed with the default config (or the flags given), then measures the
policy's raw batch-1 decode speed in the same process. Prints figures, and as its last line one
JSON object: wall_s, simulations, policy_tokens, scored_tokens, policy_tokens_per_s,
overhead_share (wall time outside model calls), raw_decode_tokens_per_s and speed_ratio.

    .venv/bin/python bench/explore.py [--simulations N] [--parallel-leaves P] [--device cpu]

``--random-weights DIR`` takes a transformers model directory's ``config.json`` and tokenizer
(no weights needed) and runs the same architecture with random weights as policy, reference and
judge (speed needs no trained weights: the way to bench on a machine the weights cannot reach,
such as a GPU box); the embedded model's shipped calibration and value weights are used as they
are, so the search does the same work per step. Its stories are noise.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from storyspace.cli import quiet_libraries  # noqa: E402
from storyspace.config import build_config  # noqa: E402
from storyspace.explore import Explorer  # noqa: E402
from storyspace.models.registry import ModelPool  # noqa: E402
from storyspace.story import Story, passage_messages  # noqa: E402

PREMISE = "A lighthouse keeper finds a message in a bottle addressed to her, dated fifty years in the future."


def raw_decode_tokens_per_s(model, prompt: str, tokens: int, repeats: int) -> float:  # noqa: ANN001
    """Batch-1 sampling speed of the model (one warm-up call first)."""
    model.sample([prompt], 1, 8, 0.9, [0])
    best = 0.0
    for r in range(repeats):
        start = time.perf_counter()
        out = model.sample([prompt], 1, tokens, 0.9, [r + 1])[0][0]
        best = max(best, len(out.token_ids) / (time.perf_counter() - start))
    return best


def random_weights_model(src: Path, dest: Path, seed: int) -> str:
    """The architecture of ``src`` (its ``config.json`` and tokenizer) with random weights, saved
    to ``dest``; returns its ``hf:`` spec."""
    import shutil

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(src)).save_pretrained(dest)
    AutoTokenizer.from_pretrained(src).save_pretrained(dest)
    for extra in ("chat_template.jinja", "generation_config.json"):
        if (src / extra).is_file():
            shutil.copy(src / extra, dest / extra)
    return f"hf:{dest}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--simulations", type=int)
    ap.add_argument("--parallel-leaves", type=int)
    ap.add_argument("--children", type=int)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--random-weights", type=Path, metavar="DIR",
                    help="config.json + tokenizer of a transformers model: that architecture with random weights")
    args = ap.parse_args()
    quiet_libraries()
    overrides: dict = {"seed": args.seed, "models": {"device": args.device}}
    search = {k: v for k, v in (("simulations", args.simulations), ("parallel_leaves", args.parallel_leaves),
                                ("children", args.children)) if v is not None}
    if search:
        overrides["search"] = search
    with tempfile.TemporaryDirectory() as tmp:
        if args.random_weights is not None:
            from importlib import resources

            spec = random_weights_model(args.random_weights, Path(tmp) / "random", args.seed)
            shipped = resources.files("storyspace.data")
            overrides["models"].update(policy=spec, reference=spec, judge=spec)
            overrides["value"] = {"calibration": str(shipped / "calibration" / "embedded.json"),
                                  "weights": str(shipped / "value" / "embedded.json")}
        cfg = build_config(None, overrides)
        pool = ModelPool(device=args.device)
        t0 = time.perf_counter()
        policy = pool.get(cfg.models.policy)
        load_s = time.perf_counter() - t0
        start = time.perf_counter()
        result = Explorer(pool).start(PREMISE, cfg, Path(tmp) / "run")
        wall = time.perf_counter() - start
    models = {id(m): m for m in pool.loaded().values()}.values()
    model_s = sum(m.usage.seconds for m in models)
    sample_s = sum(m.usage.sample_seconds for m in models)
    score_s = sum(m.usage.score_seconds for m in models)
    budget = result.meta["budget"]
    prompt = policy.chat_prompt(passage_messages(Story(PREMISE), cfg.prompts))
    raw = raw_decode_tokens_per_s(policy, prompt, cfg.policy.step_tokens, repeats=2)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    line = {
        "wall_s": round(wall, 2),
        "simulations": budget["simulations"],
        "expansions": budget["expansions"],
        "policy_tokens": budget["policy_tokens"],
        "scored_tokens": budget["scored_tokens"],
        "policy_tokens_per_s": round(budget["policy_tokens"] / wall, 2),
        "overhead_share": round(max(0.0, wall - model_s) / wall, 4),
        "sample_s": round(sample_s, 2),
        "score_s": round(score_s, 2),
        "scored_tokens_per_s": round(budget["scored_tokens"] / score_s, 2) if score_s else 0.0,
        "raw_decode_tokens_per_s": round(raw, 2),
        "speed_ratio": round(budget["policy_tokens"] / wall / raw, 3),
        "device": str(getattr(policy, "device", "?")),
        "random_weights": args.random_weights is not None,
        "model_load_s": round(load_s, 2),
        "max_rss_mb": round(rss_mb, 1),
        "config": {"simulations": cfg.search.simulations, "children": cfg.search.children,
                   "parallel_leaves": cfg.search.parallel_leaves, "depth": cfg.search.depth,
                   "step_tokens": cfg.policy.step_tokens},
    }
    print(result.story.markdown("Bench story"), file=sys.stderr)
    for key in ("wall_s", "policy_tokens_per_s", "raw_decode_tokens_per_s", "speed_ratio", "overhead_share"):
        print(f"{key:>24}: {line[key]}")
    print(json.dumps(line))


if __name__ == "__main__":
    main()
