"""The loop re-run's held-out single-pass stories (`results/judges/loop-rerun/stories.jsonl`,
policies 0 and 2, 16 premises x 2 seeds) as two eval-format `stories.jsonl` files, one per seed,
so that `storyspace study create` pairs policy 2 with policy 0 by premise and seed. The value
model's (a) and the Qwen 1.5B judge's readings (`scored-llm15.jsonl`) ride along as the pairs'
judge scores.

    .venv/bin/python results/strong/loop_sources.py      # writes results/strong/loop/s0, s1
"""

import json
from pathlib import Path

HERE = Path(__file__).parent
RERUN = HERE.parent / "judges" / "loop-rerun"

stories = [json.loads(x) for x in (RERUN / "stories.jsonl").read_text().splitlines() if x.strip()]
scored = {(r["key"], r["policy"]): r for r in map(json.loads, (RERUN / "scored-llm15.jsonl").read_text().splitlines())}
for seed in ("s0", "s1"):
    rows = []
    for r in stories:
        if r["policy"] not in (0, 2) or r["key"].endswith(".s1") != (seed == "s1"):
            continue
        extra = scored.get((r["key"], r["policy"]), {})
        rows.append({"premise": r["prompt"], "system": f"policy{r['policy']}", "draw": seed, "key": r["key"], "story": r["story"],
                     "passages": r["passages"], **{k: extra[k] for k in ("value", "llm") if k in extra}})
    out = HERE / "loop" / seed / "stories.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows))
    print(out, len(rows))
