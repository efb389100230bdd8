"""Does choosing by the value model (a) choose better stories for the independent reader (b)?

    .venv/bin/python results/eval/tree_stories.py EVAL_DIR [--out FILE.jsonl]

Reads every finished story (a path from the root to a node at full depth) of every MCTS tree an
`storyspace eval` run saved (`trees/P.mcts.json`), reads each with the run's own independent
reader (b) exactly as the evaluation reads its stories (`Evaluation.read_record`: the passages as
the steps), and prints, over the premises:

- how many finished stories a tree holds;
- within each tree, the Spearman correlation of the stories' (a) (mean step value, from the tree)
  with their (b); the mean over trees and how many trees have it above 0;
- (b) of the story each final choice returns against the mean (b) of all finished stories in the
  same tree (what a random pick among them would get): `story` (the highest (a); the default),
  `visits` (the end of the most-visited path), paired by premise.

The readings are saved line by line to `--out` (default `EVAL_DIR/tree_stories.jsonl`) and a
re-run continues after the stories already read. Stories in a tree are the same ones the search
valued, so this asks only whether (a)'s choice among them is (b)'s, not how the search grows them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from storyspace.config import from_dict
from storyspace.eval.run import EvalConfig, Evaluation
from storyspace.eval.stats import paired_permutation_p, paired_t_p, spearman
from storyspace.search.tree import Tree


def finished_stories(tree: Tree) -> list[tuple[int, list[str], float]]:
    """(node id, passages, mean step value) of every finished story in the tree."""
    out = []
    for node in tree.nodes:
        if node.depth == tree.max_depth and node.id:
            path = tree.path(node.id)[1:]
            out.append((node.id, [tree.nodes[i].step.get("passage", "") for i in path], tree.story_value(node.id)))
    return out


def visits_end(tree: Tree) -> int:
    """The last node of the most-visited path (the tree's choice without ``final = story``)."""
    saved, tree.chosen = tree.chosen, None
    end = tree.best_path()[-1]
    tree.chosen = saved
    return end


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("eval_dir", type=Path)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    meta = json.loads((args.eval_dir / "eval.json").read_text())
    cfg = from_dict(EvalConfig, meta["config"])
    premises = meta["premises"]
    out = args.out or args.eval_dir / "tree_stories.jsonl"
    done = {}
    if out.exists():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            done[(r["premise_id"], r["node"])] = r
    ev = Evaluation(cfg, premises, args.eval_dir)
    rows = []
    files = sorted((args.eval_dir / "trees").glob("p*.mcts.json"))
    if not files:
        sys.exit(f"tree_stories.py: no MCTS trees in {args.eval_dir}/trees")
    with open(out, "a") as fh:
        for f in files:
            pi = int(f.name[1:3])
            tree = Tree.from_json(json.loads(f.read_text()))
            end_visits = visits_end(tree)
            for node, passages, value in finished_stories(tree):
                row = done.get((pi, node))
                if row is None:
                    reading = ev.read_record(premises[pi], passages)
                    row = {"premise_id": pi, "node": node, "a": round(value, 6),
                           "b": reading["summary"]["value_mean"], "passages": passages}
                    fh.write(json.dumps(row) + "\n")
                    fh.flush()
                row.update(chosen=node == tree.chosen, visits=node == end_visits)
                rows.append(row)
    by_p: dict[int, list[dict]] = {}
    for r in rows:
        by_p.setdefault(r["premise_id"], []).append(r)
    counts = [len(v) for v in by_p.values()]
    rhos = [spearman([r["a"] for r in v], [r["b"] for r in v]) for v in by_p.values() if len(v) > 2]
    rhos = [x for x in rhos if x == x]
    print(f"{len(by_p)} trees; finished stories per tree: mean {np.mean(counts):.1f}, min {min(counts)}, max {max(counts)}")
    print(f"within-tree Spearman (a) vs (b): mean {np.mean(rhos):+.3f} over {len(rhos)} trees, "
          f"{sum(x > 0 for x in rhos)} above 0")
    pooled = [r["b"] - np.mean([s["b"] for s in v]) for v in by_p.values() for r in v]
    print(f"SD of (b) within trees: {np.std(pooled, ddof=1):.3f}")
    for rule in ("chosen", "visits"):
        pick, mean_all = [], []
        for v in by_p.values():
            hit = [r for r in v if r[rule]]
            if hit:
                pick.append(hit[0]["b"])
                mean_all.append(float(np.mean([r["b"] for r in v])))
        d = np.subtract(pick, mean_all)
        name = "story (highest a)" if rule == "chosen" else "visits"
        print(f"final {name}: (b) {np.mean(pick):.3f} vs tree mean {np.mean(mean_all):.3f}, "
              f"diff {np.mean(d):+.3f} (paired t p {paired_t_p(pick, mean_all):.3g}, "
              f"sign-flip p {paired_permutation_p(pick, mean_all):.3g}, above {int(np.sum(d > 0))}/{len(d)})")
    best = [max(r["b"] for r in v) for v in by_p.values()]
    print(f"the tree's best story by (b) itself (an oracle, not a rule): {np.mean(best):.3f}")


if __name__ == "__main__":
    main()
