"""The label table of results/value/siblings-q15/README.md: per study, the rated pairs, how many
both orders read the same way, and how often the value the search computed (the tree's step
value) picked the side the reader chose, on those.

    .venv/bin/python results/value/siblings-q15/labels.py results/value/siblings-q15/study-* \
        [--jsonl results/value/siblings-q15/labels.jsonl]

``--jsonl`` also writes every rated pair as one line: the study and pair id, the premise and its
index among the shipped premises (``storyspace premises``; from the run's name ``pNN``), the run
and the two passages' node ids (a, b as the study drew the sides) with their common parent, the
two passages, the votes for a and b over both showings, and the value the search gave each.
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


def main(dirs: list[str], jsonl: str = "") -> None:
    trees: dict = {}
    lines = []
    print("| study | pairs | the two orders agree | the value the search used agrees (on those) |")
    print("|---|---|---|---|")
    total = [0, 0, 0]
    for d in dirs:
        study = json.loads((Path(d) / "study.json").read_text())
        by_id = {p["id"]: p for p in study["pairs"]}
        labels = sibling_labels(Path(d))
        agree = [lab for lab in labels if min(lab["votes"]) == 0]
        for lab in labels:
            pair = by_id[lab["id"].rsplit(":", 1)[1]]
            run = lab["source"]
            parent = trees.setdefault(run, json.loads((Path(run) / "tree.json").read_text())["nodes"])[lab["nodes"][0]]["parent"]
            lines.append({"study": Path(d).name, "pair": pair["id"], "premise": lab["premise"],
                          "premise_index": int(Path(run).name[1:3]), "run": run, "parent": parent,
                          "nodes": lab["nodes"], "a": lab["a"], "b": lab["b"], "votes": lab["votes"],
                          "values": [tree_value(pair[s]["source"], trees) for s in "ab"]})
        hits = 0
        for lab in agree:
            pair = by_id[lab["id"].rsplit(":", 1)[1]]
            win, lose = ("a", "b") if lab["votes"][0] > lab["votes"][1] else ("b", "a")
            hits += tree_value(pair[win]["source"], trees) > tree_value(pair[lose]["source"], trees)
        total = [total[0] + len(labels), total[1] + len(agree), total[2] + hits]
        print(f"| {Path(d).name} | {len(labels)} | {len(agree)} ({len(agree) / len(labels):.3f}) |"
              f" {hits / max(1, len(agree)):.3f} |")
    print(f"| all | {total[0]} | {total[1]} ({total[1] / max(1, total[0]):.3f}) | {total[2] / max(1, total[1]):.3f} |")
    if jsonl:
        Path(jsonl).write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
        print(f"\n{len(lines)} labelled pairs -> {jsonl}", file=sys.stderr)


if __name__ == "__main__":
    args = sys.argv[1:]
    out = ""
    if "--jsonl" in args:
        k = args.index("--jsonl")
        out = args[k + 1]
        del args[k: k + 2]
    main(args, out)
