"""Would another final rule pick a better story for the independent reader (b)?

    .venv/bin/python results/eval/final_rules.py EVAL_DIR [EVAL_DIR ...]

Needs `tree_stories.py EVAL_DIR` to have read every finished story of the run's MCTS trees with
(b) first (`EVAL_DIR/tree_stories.jsonl`). For each tree and each rule below, picks the finished
story the rule ranks highest (ties: lower node id, as `Tree.best_story`) and prints the mean (b)
of the picks over the trees, paired against the default rule (`mean`: the mean step value,
`final = story`):

- `mean`, `min`, `median`, `last`: the mean / weakest / median / last step value of the story;
- `mean_q`: the mean Q along its path (each step's Q averages the subtree below it);
- `visits`: the most visits summed along its path.

Reading only: the trees are those the search grew, so a rule's pick is exactly what a search
with that rule would have returned at this budget.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from statistics import median

import numpy as np

from storyspace.eval.stats import paired_t_p
from storyspace.search.tree import Tree

RULES = {
    "mean": lambda vals, qs, visits: float(np.mean(vals)),
    "min": lambda vals, qs, visits: min(vals),
    "median": lambda vals, qs, visits: median(vals),
    "last": lambda vals, qs, visits: vals[-1],
    "mean_q": lambda vals, qs, visits: float(np.mean(qs)),
    "visits": lambda vals, qs, visits: sum(visits),
}


def picks(tree: Tree, readings: dict[int, float]) -> dict[str, float]:
    """(b) of the story each rule picks among the tree's read finished stories."""
    scores: dict[str, dict[int, float]] = {rule: {} for rule in RULES}
    for node in readings:
        path = tree.path(node)[1:]
        vals = [tree.nodes[i].value for i in path]
        qs = [tree.nodes[i].q for i in path]
        visits = [tree.nodes[i].visits for i in path]
        for rule, f in RULES.items():
            scores[rule][node] = f(vals, qs, visits)
    return {rule: readings[max(s, key=lambda n: (s[n], -n))] for rule, s in scores.items()}


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__.split("\n\n")[1].strip())
    rows: list[dict[str, float]] = []
    for d in map(Path, sys.argv[1:]):
        read = d / "tree_stories.jsonl"
        if not read.exists():
            sys.exit(f"final_rules.py: {read} is missing: run results/eval/tree_stories.py {d} first")
        by_premise: dict[int, dict[int, float]] = {}
        for line in read.read_text().splitlines():
            r = json.loads(line)
            by_premise.setdefault(r["premise_id"], {})[r["node"]] = r["b"]
        for f in sorted((d / "trees").glob("p*.mcts.json")):
            pi = int(f.name[1:3])
            if pi in by_premise:
                rows.append(picks(Tree.from_json(json.loads(f.read_text())), by_premise[pi]))
    base = [r["mean"] for r in rows]
    print(f"{len(rows)} trees; (b) of the story each final rule picks, against `mean` (the default)")
    print("| rule | (b) | difference | p paired t | better / differing trees |")
    print("|---|---|---|---|---|")
    for rule in RULES:
        x = [r[rule] for r in rows]
        d = np.subtract(x, base)
        p = f"{paired_t_p(x, base):.3g}" if np.any(d) else ""
        print(f"| {rule} | {np.mean(x):.3f} | {np.mean(d):+.4f} | {p} | {int(np.sum(d > 0))}/{int(np.sum(d != 0))} |")


if __name__ == "__main__":
    main()
