"""The label table of results/value/siblings-q15/README.md: per study, the rated pairs, how many
both orders read the same way, and how often the value the search computed (the tree's step
value) picked the side the reader chose, on those.

    .venv/bin/python results/value/siblings-q15/labels.py results/value/siblings-q15/study-*
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from storyspace.study.labels import sibling_labels


def tree_value(source: str, trees: dict) -> float:
    run, _, node = source.rpartition(" node ")
    if run not in trees:
        trees[run] = json.loads((Path(run) / "tree.json").read_text())["nodes"]
    return float(trees[run][int(node)]["value"])


def main(dirs: list[str]) -> None:
    trees: dict = {}
    print("| study | pairs | the two orders agree | the value the search used agrees (on those) |")
    print("|---|---|---|---|")
    total = [0, 0, 0]
    for d in dirs:
        study = json.loads((Path(d) / "study.json").read_text())
        by_id = {p["id"]: p for p in study["pairs"]}
        labels = sibling_labels(Path(d))
        agree = [lab for lab in labels if min(lab["votes"]) == 0]
        hits = 0
        for lab in agree:
            pair = by_id[lab["id"].rsplit(":", 1)[1]]
            win, lose = ("a", "b") if lab["votes"][0] > lab["votes"][1] else ("b", "a")
            hits += tree_value(pair[win]["source"], trees) > tree_value(pair[lose]["source"], trees)
        total = [total[0] + len(labels), total[1] + len(agree), total[2] + hits]
        print(f"| {Path(d).name} | {len(labels)} | {len(agree)} ({len(agree) / len(labels):.3f}) |"
              f" {hits / max(1, len(agree)):.3f} |")
    print(f"| all | {total[0]} | {total[1]} ({total[1] / max(1, total[0]):.3f}) | {total[2] / max(1, total[1]):.3f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
