"""ORPO variations on the pairs of a finished loop: does any setting move the policy?

Usage (after ``storyspace loop --out LOOP``; one variant after another, resumable)::

    .venv/bin/python experiments/orpo_variations.py LOOP --out OUT

For each variant it trains a policy from the loop's iteration-0 pairs (the same pairs that made
the loop's policy 1), then measures it two ways, both against the base policy:

- held-out single-pass step value: the loop's held-out premises, one sample per step, the loop's
  own seed for each premise plus ``--extra-seeds`` more (so n = premises x seeds x depth);
- pair accuracy on unseen pairs: the share of the loop's iteration-1 pairs (other states, other
  trees) whose chosen passage the policy finds more likely than the rejected one (mean log-prob
  per token) — does the preference generalise beyond the training pairs?

Writes OUT/variants.jsonl (one row per finished variant) and OUT/variants.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

from storyspace.corpus import shipped_premises
from storyspace.models.registry import ModelPool
from storyspace.files import atomic_write
from storyspace.seeding import derive_seed
from storyspace.train.loop import Loop, LoopConfig
from storyspace.train.orpo import TrainConfig, train_orpo
from storyspace.train.pairs import read_pairs

# name -> (train overrides, least Q margin of the pairs used); None = no training (a given model)
VARIANTS: dict[str, tuple[dict, float] | None] = {
    "base": None,
    "loop-policy1": None,  # the loop's own policy 1: lr 5e-5, 12 steps
    "lr5e-4-30steps": ({"learning_rate": 5e-4, "max_steps": 30}, 0.02),
    "lr5e-4-30steps-beta1": ({"learning_rate": 5e-4, "max_steps": 30, "beta": 1.0}, 0.02),
    "lr5e-4-30steps-margin0.1": ({"learning_rate": 5e-4, "max_steps": 30}, 0.1),
}


def last_metrics(model_dir: Path, last: int = 5) -> dict[str, float]:
    """ORPO metrics averaged over the last few logged steps (one step is only 4 pairs)."""
    logs = [json.loads(line) for line in (model_dir / "metrics.jsonl").read_text().splitlines()][-last:]
    keys = ("loss", "nll_loss", "log_odds_ratio", "rewards/accuracies", "rewards/margins")
    return {k: round(statistics.fmean(r[k] for r in logs), 4) for k in keys}


def pair_accuracy(model, pairs: list[dict]) -> tuple[float, float]:  # noqa: ANN001
    """Share of pairs with mean log-prob(chosen) > mean log-prob(rejected), and the mean gap."""
    wins, gaps = 0, []
    for p in pairs:
        context = model.chat_prompt(p["prompt"])
        lp = model.logprobs(context, [p["chosen"][0]["content"], p["rejected"][0]["content"]])
        gap = statistics.fmean(lp[0]) - statistics.fmean(lp[1])
        gaps.append(gap)
        wins += gap > 0
    return wins / len(pairs), statistics.fmean(gaps)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("loop", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--extra-seeds", type=int, default=1)
    ap.add_argument("--only", nargs="*", default=None, help="variant names to run")
    args = ap.parse_args()
    meta = json.loads((args.loop / "loop.json").read_text())
    cfg = LoopConfig()
    pool = ModelPool(device="cpu")
    loop = Loop(args.out / "scratch", shipped_premises(), cfg, pool)
    loop.heldout = meta["heldout_premises"]
    train_pairs = read_pairs(args.loop / "iter0" / "pairs.jsonl")
    unseen = read_pairs(args.loop / "iter1" / "pairs.jsonl")
    done = {}
    rows_path = args.out / "variants.jsonl"
    if rows_path.exists():
        done = {r["variant"]: r for r in map(json.loads, rows_path.read_text().splitlines())}
    for name, variant in VARIANTS.items():
        if (args.only and name not in args.only) or name in done:
            continue
        row: dict = {"variant": name}
        if name == "base":
            spec = meta["base"]
        elif name == "loop-policy1":
            spec = f"hf:{args.loop / 'iter1' / 'model'}"
            row["train"] = last_metrics(args.loop / "iter1" / "model")
            row["pairs"] = len(train_pairs)
        else:
            overrides, margin = variant
            pairs = [p for p in train_pairs if p["margin"] >= margin]
            model_dir = args.out / name / "model"
            if not (model_dir / "train.json").exists():
                print(f"[{name}] ORPO on {len(pairs)} pairs", file=sys.stderr, flush=True)
                train_orpo(pairs, meta["base"], model_dir, replace(TrainConfig(), **overrides), device="cpu")
            summary = json.loads((model_dir / "train.json").read_text())
            row["train"] = last_metrics(model_dir)
            row["train_seconds"] = summary["train_seconds"]
            row["pairs"] = len(pairs)
            row["config"] = overrides
            spec = f"hf:{model_dir}"
        print(f"[{name}] held-out single-pass stories", file=sys.stderr, flush=True)
        values = []
        for j, premise in enumerate(loop.heldout):
            seeds = [derive_seed(cfg.explore.seed, "heldout", j)]
            seeds += [derive_seed(cfg.explore.seed, "heldout", j, "extra", e) for e in range(args.extra_seeds)]
            for seed in seeds:
                values += loop.single_pass(spec, premise, seed)["values"]
        row["single"] = {"mean": round(statistics.fmean(values), 4), "sd": round(statistics.stdev(values), 4),
                         "n": len(values), "values": values}
        acc, gap = pair_accuracy(pool.get(spec), unseen)
        row["unseen_pairs"] = {"n": len(unseen), "accuracy": round(acc, 3), "mean_logprob_gap": round(gap, 4)}
        with open(rows_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        done[name] = row
        print(f"[{name}] {json.dumps({k: v for k, v in row.items() if k != 'single'})} single "
              f"{row['single']['mean']:.3f} ± {row['single']['sd']:.3f}", file=sys.stderr, flush=True)
    atomic_write(args.out / "variants.md", markdown(list(done.values())))
    print((args.out / "variants.md").read_text())
    return 0


def markdown(rows: list[dict]) -> str:
    base = next((r["single"]["values"] for r in rows if r["variant"] == "base"), None)
    lines = [
        "| variant | pairs | train loss (last 5) | reward acc. (last 5) | reward margin (last 5) | held-out single-pass value (mean ± SD, n) | Welch t vs base | unseen-pair accuracy (n) | mean log-prob gap |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = r.get("train", {})
        s = r["single"]
        welch = ""
        if base is not None and r["variant"] != "base":
            welch = f"{welch_t(s['values'], base):.2f}"
        fmt = lambda k: f"{t[k]:.3f}" if k in t else ""  # noqa: E731
        lines.append(
            f"| {r['variant']} | {r.get('pairs', '')} | {fmt('loss')} | {fmt('rewards/accuracies')} | "
            f"{fmt('rewards/margins')} | {s['mean']:.3f} ± {s['sd']:.3f} ({s['n']}) | {welch} | "
            f"{r['unseen_pairs']['accuracy']:.3f} ({r['unseen_pairs']['n']}) | {r['unseen_pairs']['mean_logprob_gap']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def welch_t(a: list[float], b: list[float]) -> float:
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    return (statistics.fmean(a) - statistics.fmean(b)) / (va + vb) ** 0.5


if __name__ == "__main__":
    raise SystemExit(main())
