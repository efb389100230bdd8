"""Pool the blind readings of several studies that hold the same comparison on different premises
(issue #43: the 1.5B's MCTS rows were run as two evals of 8 premises each, read as two studies).

    .venv/bin/python results/writer/pooled.py STUDY_DIR... [--out FILE.md]

Pair ids are prefixed by their study, then `study.report.comparison_rows` (the same arithmetic as
`storyspace study report`) runs on the union. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from storyspace.study.report import comparison_rows


def load(study_dir: Path, tag: str) -> tuple[dict, list[dict]]:
    study = json.loads((study_dir / "study.json").read_text())
    ratings = [json.loads(line) for line in (study_dir / "ratings.jsonl").read_text().splitlines() if line.strip()]
    for pair in study["pairs"]:
        pair["id"] = f"{tag}:{pair['id']}"
    for r in ratings:
        r["pair"] = f"{tag}:{r['pair']}"
    return study, ratings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("studies", nargs="+", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    merged: dict = {}
    ratings: list[dict] = []
    for k, d in enumerate(args.studies):
        study, got = load(d, f"s{k}")
        if not merged:
            merged = {**study, "pairs": []}
        merged["pairs"] += study["pairs"]
        ratings += got
    rows = comparison_rows(merged, ratings)
    lines = [f"Pooled over {', '.join(str(d) for d in args.studies)} ({len(merged['pairs'])} pairs, {len(ratings)} ratings)",
             "", "| comparison | pairs | a wins | 95 % CI | sign test p (wins/decided) | score a | score b | diff (SD) | same both orders |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['comparison']} | {r['pairs']} | {r['win_a']:.2f} | {r['ci'][0]:.2f} – {r['ci'][1]:.2f} | "
                     f"{r['sign_p']:.3g} ({r['wins_a']}/{r['decided']}) | {r['score_a']:.2f} ({r['median_a']}) | "
                     f"{r['score_b']:.2f} ({r['median_b']}) | {r['score_sd']:+.2f} | {r['consistency']:.2f} ({r['swapped']}) |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
