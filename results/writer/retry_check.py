"""Issue #43, item 3, on the real model: a premise the 1.5B's single pass refused, written again
exactly as its eval wrote it (its saved settings, seed and llama.cpp settings), then with
`--retries 2`.

    .venv/bin/python results/writer/retry_check.py     # q15-single premise 6 (of 32-47): retry_check.json
    .venv/bin/python results/writer/retry_check.py q15-p48 0 --system single@llamacpp:qwen2.5-coder-1.5b \
        --out retry_check-p48.json                      # premise 0 of 48-63

Prints both stories' passages and meta flags.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from storyspace.eval.run import EvalConfig, Evaluation, _slug
from storyspace.eval.systems import parse_systems
from storyspace.config import from_dict
from storyspace.models.registry import ModelPool

HERE = Path(__file__).parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("eval", nargs="?", default="q15-single", help="an eval directory under results/writer")
    ap.add_argument("premise", nargs="?", type=int, default=6, help="the premise's index in that eval")
    ap.add_argument("--system", help="the single-pass system of that eval (default: its first)")
    ap.add_argument("--out", default="retry_check.json")
    args = ap.parse_args()
    saved = json.loads((HERE / args.eval / "eval.json").read_text())
    cfg = from_dict(EvalConfig, saved["config"])
    pool = ModelPool(options=cfg.explore.models.options())
    spec = parse_systems(args.system or cfg.systems[0])[0]
    out = {}
    for retries in (0, 2):
        run_cfg = replace(cfg, explore=replace(cfg.explore, search=replace(cfg.explore.search, retries=retries)))
        with tempfile.TemporaryDirectory() as tmp:
            ev = Evaluation(run_cfg, saved["premises"], Path(tmp) / "eval", pool)
            rec = ev.run_system(args.premise, spec)["record"]
        out[f"retries={retries}"] = {"passages": rec["passages"], "meta": [b["meta"] for b in rec["breakdowns"]],
                                     "too_short": [b["too_short"] for b in rec["breakdowns"]],
                                     "policy_tokens": rec["policy_tokens"]}
        print(f"retries={retries}: meta {out[f'retries={retries}']['meta']}, too short "
              f"{out[f'retries={retries}']['too_short']}, {rec['policy_tokens']} policy tokens")
        for p in rec["passages"]:
            print("   ", p[:150].replace("\n", " "))
    committed = json.loads((HERE / args.eval / "stories" / f"p{args.premise:02d}.{_slug(spec.label)}.json").read_text())
    out["committed_passages"] = committed["passages"]
    out["reproduced"] = out["retries=0"]["passages"] == committed["passages"]
    print("the committed story reproduced:", out["reproduced"])
    (HERE / args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
