"""Pool the held-out stories of several loops whose policies are the same models, and compare
each policy with policy 0 over all of them (``storyspace.train.heldout.compare``).

    .venv/bin/python results/loop/pooled.py LOOP_DIR_OR_ITERATIONS_JSON [...] [--policy N]

Each loop's story keys (held-out premise and seed, e.g. ``p03.s1``) are prefixed with its
position, so the same slot of two loops stays two stories; pooling is right only where the
loops' policy i are the same model (as `base/` and `dpo/base/`, whose training premises, seeds
and settings are equal: their policies are bitwise identical) and their held-out premises differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from storyspace.train.heldout import compare


def rows_of(spec: str) -> list[dict]:
    p = Path(spec)
    if p.is_dir():
        p = p / "iterations.json"
    if not p.is_file():
        sys.exit(f"pooled.py: no iterations.json at {spec}")
    return json.loads(p.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("loops", nargs="+")
    ap.add_argument("--policy", type=int, default=-1, help="policy compared with policy 0 (default: every one)")
    args = ap.parse_args()
    loops = [rows_of(s) for s in args.loops]
    last = min(len(rows) for rows in loops) - 1
    policies = range(1, last + 1) if args.policy < 0 else [args.policy]
    print(f"{len(loops)} loops pooled: {', '.join(args.loops)}\n")
    print("| policy | judge | stories | mean (policy i) | mean (policy 0) | effect (SD) | p Welch | p perm. "
          "| CI of difference | p paired t | p paired perm. |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for i in policies:
        for judge in ("a", "b"):
            new, old = {}, {}
            for n, rows in enumerate(loops):
                new.update({f"{n}:{k}": v for k, v in rows[i]["stories"][judge].items()})
                old.update({f"{n}:{k}": v for k, v in rows[0]["stories"][judge].items()})
            c = compare(new, old)
            mean_new, mean_old = sum(new.values()) / len(new), sum(old.values()) / len(old)
            print(f"| {i} | {judge} | {c['n_new']} | {mean_new:.3f} | {mean_old:.3f} | {c['effect_sd']:+.2f} "
                  f"| {c['p_welch']:.2g} | {c['p_perm']:.2g} | [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] "
                  f"| {c['p_paired_t']:.2g} | {c['p_paired_perm']:.2g} |")
    print("\nHANNA perplexity change of each policy against policy 0, per loop:")
    for spec, rows in zip(args.loops, loops):
        base = rows[0]["hanna_perplexity"]
        print(f"- {spec}: " + ", ".join(f"policy {r['iteration']} {r['hanna_perplexity'] / base - 1:+.1%}"
                                        for r in rows[1:]))


if __name__ == "__main__":
    main()
