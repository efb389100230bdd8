"""#14's claim re-read by another judge (issue #17, item 4): each policy's held-out single-pass
stories of a `storyspace loop` against policy 0's, read by a judge the loop did not use.

    .venv/bin/python results/judges/loop_reread.py collect LOOP --out stories.jsonl
    .venv/bin/storyspace score stories.jsonl --out scored.jsonl --reader none \\
        --llm-judge llamacpp:qwen2.5-coder-1.5b
    .venv/bin/python results/judges/loop_reread.py compare LOOP scored.jsonl --key llm.overall --key llm.coherence

``collect`` writes one `score` row per story file under ``LOOP/eval/policyN/single/`` (``prompt``,
``story``, the policy's own ``passages``, the story ``key`` such as ``p03.s1`` and ``policy``).
``compare`` prints, for every policy against policy 0, the loop's own judges (a) and (b) (from
``LOOP/iterations.json``) and each ``--key`` of the scored rows, with
``storyspace.train.heldout.compare``: effect in pooled SD, Welch and permutation p, bootstrap CI of
the difference, and the tests paired by premise and seed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from storyspace.train.heldout import compare


def collect(loop: Path, out: Path) -> None:
    rows = []
    for pdir in sorted((loop / "eval").glob("policy*"), key=lambda p: int(p.name.removeprefix("policy"))):
        policy = int(pdir.name.removeprefix("policy"))
        for f in sorted((pdir / "single").glob("*.json")):
            d = json.loads(f.read_text())
            rows.append({"prompt": d["premise"], "story": d["story"], "passages": d["passages"],
                         "key": f.stem, "policy": policy})
    if not rows:
        sys.exit(f"loop_reread.py: no held-out stories under {loop}/eval")
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{len(rows)} stories -> {out}", file=sys.stderr)


def number(row: dict, key: str) -> float | None:
    value: object = row
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return float(value) if isinstance(value, (int, float)) else None


def compare_main(loop: Path, scored: Path, keys: list[str]) -> None:
    iterations = json.loads((loop / "iterations.json").read_text())
    rows = [json.loads(x) for x in scored.read_text().splitlines() if x.strip()]
    judges: dict[str, dict[int, dict[str, float]]] = {}
    for it in iterations:
        for j in ("a", "b"):
            judges.setdefault(f"loop judge ({j})", {})[int(it["iteration"])] = it["stories"][j]
    for key in keys:
        by_policy: dict[int, dict[str, float]] = {}
        missing = 0
        for r in rows:
            v = number(r, key)
            if v is None:
                missing += 1
                continue
            by_policy.setdefault(int(r["policy"]), {})[r["key"]] = v
        judges[key + (f" ({missing} unread)" if missing else "")] = by_policy
    print(f"Held-out single-pass stories of {loop.name}, policy i against policy 0 (scored: {scored.name}).\n")
    print("| policy | judge | n | mean (policy i) | mean (policy 0) | effect (SD) | p Welch | CI of difference "
          "| p paired t | p paired perm. |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, by_policy in judges.items():
        base = by_policy.get(0, {})
        for policy in sorted(p for p in by_policy if p):
            new = by_policy[policy]
            c = compare(new, base)
            mean_new = sum(new.values()) / len(new)
            mean_old = sum(base.values()) / len(base)
            print(f"| {policy} | {name} | {c['n_paired']} | {mean_new:.3f} | {mean_old:.3f} | {c['effect_sd']:+.2f} "
                  f"| {c['p_welch']:.3g} | [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] | {c['p_paired_t']:.3g} "
                  f"| {c['p_paired_perm']:.3g} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("loop", type=Path)
    c.add_argument("--out", type=Path, required=True)
    m = sub.add_parser("compare")
    m.add_argument("loop", type=Path)
    m.add_argument("scored", type=Path)
    m.add_argument("--key", action="append", default=[], help="a scored number, e.g. llm.overall (repeatable)")
    args = ap.parse_args()
    if args.cmd == "collect":
        collect(args.loop, args.out)
    else:
        compare_main(args.loop, args.scored, args.key or ["llm.overall"])


if __name__ == "__main__":
    main()
