"""Issue #43, item 3, on the real model: the premise the 1.5B's single pass refused
(`q15-single`, premise 6 of premises 32-47), written again exactly as that eval wrote it (its saved
settings, seed and llama.cpp settings), then with `--retries 2`.

    .venv/bin/python results/writer/retry_check.py     # prints both stories' passages and meta flags; retry_check.json
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path

from storyspace.eval.run import EvalConfig, Evaluation
from storyspace.eval.systems import parse_systems
from storyspace.config import from_dict
from storyspace.models.registry import ModelPool

HERE = Path(__file__).parent
PREMISE = 6


def main() -> None:
    saved = json.loads((HERE / "q15-single" / "eval.json").read_text())
    cfg = from_dict(EvalConfig, saved["config"])
    pool = ModelPool(options=cfg.explore.models.options())
    spec = parse_systems(",".join(cfg.systems))[0]
    out = {}
    for retries in (0, 2):
        run_cfg = replace(cfg, explore=replace(cfg.explore, search=replace(cfg.explore.search, retries=retries)))
        with tempfile.TemporaryDirectory() as tmp:
            ev = Evaluation(run_cfg, saved["premises"], Path(tmp) / "eval", pool)
            rec = ev.run_system(PREMISE, spec)["record"]
        out[f"retries={retries}"] = {"passages": rec["passages"], "meta": [b["meta"] for b in rec["breakdowns"]],
                                     "too_short": [b["too_short"] for b in rec["breakdowns"]],
                                     "policy_tokens": rec["policy_tokens"]}
        print(f"retries={retries}: meta {out[f'retries={retries}']['meta']}, too short "
              f"{out[f'retries={retries}']['too_short']}, {rec['policy_tokens']} policy tokens")
        for p in rec["passages"]:
            print("   ", p[:150].replace("\n", " "))
    committed = json.loads(next((HERE / "q15-single" / "stories").glob(f"p{PREMISE:02d}.*.json")).read_text())
    out["committed_passages"] = committed["passages"]
    out["reproduced"] = out["retries=0"]["passages"] == committed["passages"]
    print("the committed story reproduced:", out["reproduced"])
    (HERE / "retry_check.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
