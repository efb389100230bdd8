"""A reader-pairs loop's held-out single-pass stories as eval-format `stories.jsonl` files, one
per seed, beside the value loop's policies 0, 1 and 2 of the same premises and seeds (its re-run
of session 20, `results/judges/loop-rerun/stories.jsonl`), so that `storyspace study create`
pairs them by premise and seed.

    .venv/bin/python results/loop/reader/sources.py LOOP_DIR                          # reader/s0, s1: reader1, policy0, policy2
    .venv/bin/python results/loop/reader/sources.py LOOP_DIR --name own1 --policies 0 1 \
        --out results/loop/reader-own                                                 # reader-own/s0, s1

System names: NAME (the loop's policy 1, trained on the blind reader's sibling choices) and
`policyK` (the value loop's, as committed). The loop's own policy 0 stories are compared with the
committed ones (the same seeds: they should be the same texts).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).parent
RERUN = HERE.parent.parent / "judges" / "loop-rerun" / "stories.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("loop", type=Path)
    ap.add_argument("--name", default="reader1", help="the system name of the loop's policy 1")
    ap.add_argument("--policies", nargs="+", type=int, default=[0, 2], help="the value loop's policies beside it")
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    committed = [json.loads(x) for x in RERUN.read_text().splitlines() if x.strip()]
    same = differ = 0
    for seed in ("s0", "s1"):
        rows = [{"premise": r["prompt"], "system": f"policy{r['policy']}", "draw": seed, "key": r["key"],
                 "story": r["story"], "passages": r["passages"]}
                for r in committed if r["policy"] in args.policies and r["key"].endswith(".s1") == (seed == "s1")]
        old0 = {r["key"]: r for r in committed if r["policy"] == 0}
        for rec_path in sorted((args.loop / "eval" / "policy1" / "single").glob("*.json")):
            key = rec_path.stem
            if key.endswith(".s1") != (seed == "s1"):
                continue
            rec = json.loads(rec_path.read_text())
            mine0 = json.loads((args.loop / "eval" / "policy0" / "single" / rec_path.name).read_text())
            if key not in old0 or old0[key]["prompt"] != rec["premise"]:
                raise SystemExit(f"{key}: no committed policy0 story of the same premise")
            same, differ = (same + 1, differ) if mine0["passages"] == old0[key]["passages"] else (same, differ + 1)
            rows.append({"premise": rec["premise"], "system": args.name, "draw": seed, "key": key,
                         "story": rec["story"], "passages": rec["passages"]})
        out = args.out / seed / "stories.jsonl"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows))
        print(out, len(rows))
    print(f"this loop's policy 0 stories equal to the committed ones: {same} of {same + differ}")


if __name__ == "__main__":
    main()
