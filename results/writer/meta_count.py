"""Refusals, meta talk and empty passages in the stories of eval directories (issue #43 item 3).

    .venv/bin/python results/writer/meta_count.py EVAL_DIR... [--system NAME ...]

A story counts as meta talk when any of its passages matches the value's meta-talk patterns
(`value.penalties.META_PATTERNS`, refusals included); a passage is empty below the value's
`min_words` (5 words). Prints one markdown row per system, and every flagged passage.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from storyspace.story import words
from storyspace.value.penalties import PenaltyConfig, meta_talk


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("evals", nargs="+", type=Path)
    ap.add_argument("--system", action="append", default=[], help="only these systems (default: all)")
    args = ap.parse_args()
    pen = PenaltyConfig()
    count: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    flagged = []
    for d in args.evals:
        for line in (d / "stories.jsonl").read_text().splitlines():
            row = json.loads(line)
            if args.system and row["system"] not in args.system:
                continue
            c = count[row["system"]]
            c["stories"] += 1
            meta = [p for p in row["passages"] if meta_talk(p, pen.meta_patterns)]
            empty = [p for p in row["passages"] if len(words(p)) < pen.min_words]
            c["meta stories"] += bool(meta)
            c["stories with an empty passage"] += bool(empty)
            c["passages"] += len(row["passages"])
            flagged += [(d.name, row.get("premise_id", row.get("key")), row["system"], p) for p in meta]
    print("| system | stories | with meta talk or a refusal | with an empty passage | passages |")
    print("|---|---|---|---|---|")
    for system, c in sorted(count.items()):
        print(f"| {system} | {c['stories']} | {c['meta stories']} | {c['stories with an empty passage']} | {c['passages']} |")
    for name, pid, system, passage in flagged:
        print(f"- {name} premise {pid} {system}: {passage[:160]!r}")


if __name__ == "__main__":
    main()
