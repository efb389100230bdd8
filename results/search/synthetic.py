"""How should MCTS spend a policy-token budget?  A synthetic step world, calibrated on real trees.

The real step values of 16 MCTS trees of `storyspace eval --n-premises 16` (results/eval/n16_learned,
486 valued passages) have: mean 0.36, SD 0.22; 17 % of passages valued ~0 (the degeneration and
meta-talk penalties), more at depth (5 % at step 1 ... 25 % at step 4); siblings differ by SD
~0.21 around their family's mean; family means differ by SD ~0.15; parent and child values
correlate 0.29. The fake world below draws values with that shape (a family effect that carries
half of the parent's latent quality, sibling noise, zero-valued passages that taint the next
steps), then runs the package's own searches (`storyspace.search.baselines`) at 8 units of
2048 tokens, and reports the mean story value (mean step value, the value model's story value)
over 300 premises (seeds): mean, SD, policy tokens spent.

    .venv/bin/python results/search/synthetic.py > results/search/synthetic.txt

It only answers questions of search logic (where to spend passages when step values look like
ours); whether a choice also pleases another reader is `storyspace eval`'s job.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import replace

from storyspace.search import baselines
from storyspace.search.budget import Budget
from storyspace.search.mcts import Expansion, SearchConfig

RHO, FAMILY, SIBLING, MEAN = 0.5, 0.12, 0.17, 0.5
P_ZERO = {1: 0.05, 2: 0.12, 3: 0.17, 4: 0.25}
TAINT = 0.6  # chance that a passage after a zero-valued one is zero-valued too
N = 300
BUDGET = Budget(tokens=2048, depth=4, passage_cost=64)


class SyntheticWorld:
    def expand(self, paths, k, seeds):  # noqa: ANN001, ANN201
        out = []
        for path, seed in zip(paths, seeds):
            rng = random.Random(seed * 1000003 + len(path))
            latent = float(path[-1]["z"]) if path else 0.0
            tainted = bool(path) and path[-1]["zero"] == "1"
            family = RHO * latent + (1 - RHO**2) ** 0.5 * rng.gauss(0, 1)
            group = []
            for _ in range(k):
                value = MEAN + FAMILY * family + SIBLING * rng.gauss(0, 1)
                zero = (tainted and rng.random() < TAINT) or rng.random() < P_ZERO[min(len(path) + 1, 4)]
                value = 0.0 if zero else min(1.0, max(0.0, value))
                step = {"z": str(family), "zero": "1" if zero else "0", "id": str(rng.random())}
                group.append(Expansion(step, 0.0, value, {}, tokens=BUDGET.passage_cost))
            out.append(group)
        return out


def measure(run) -> str:  # noqa: ANN001
    results = [run(seed) for seed in range(N)]
    values = [baselines.story_value(r.expansions) for r in results]
    tokens = statistics.fmean(r.policy_tokens for r in results)
    return f"{statistics.fmean(values):.3f} ± {statistics.pstdev(values):.3f} | {tokens:.0f}"


def main() -> None:
    world = SyntheticWorld()
    print("| system | settings | story value (mean ± SD over 300) | policy tokens |")
    print("|---|---|---|---|")
    print("| single |  |", measure(lambda s: baselines.single_pass(world, BUDGET, s)), "|")
    print("| best-of-n | n 8 |", measure(lambda s: baselines.best_of_n(world, BUDGET, s)), "|")
    for w, k in ((4, 2), (2, 4), (1, 8)):
        def beam_run(s, w=w, k=k):  # noqa: ANN001, ANN202
            story, spent = baselines.beam_search(world, BUDGET.depth, w, k, s)
            return baselines.SystemRun(story, {}, {}, spent)
        print(f"| beam | width {w}, k {k} |", measure(beam_run), "|")
    base = SearchConfig(children=3, final="visits")  # the defaults before issue #15
    variants = [("children 3, c 0.7, UCT, 4 leaves a round, path-mean backup (old defaults)", {})]
    variants += [(f"children {k}", {"children": k}) for k in (2, 4, 6, 8)]
    variants += [(f"c {c}", {"c_explore": c}) for c in (0.2, 1.5)]
    variants += [("1 leaf a round", {"parallel_leaves": 1}), ("leaf backup", {"backup": "leaf"}),
                 ("rollout 1 step", {"rollout_depth": 1})]
    for final in ("visits", "story"):
        for label, change in variants:
            cfg = replace(base, final=final, **change)
            print(f"| mcts | {label}, final {final} |",
                  measure(lambda s, cfg=cfg: baselines.mcts(world, cfg, BUDGET, s)), "|")
    for k in (3, 4, 6, 8):
        for final in ("visits", "story"):
            cfg = replace(base, children=k, final=final, commit_steps=True)
            print(f"| mcts per step (`--commit-steps`) | children {k}, final {final} |",
                  measure(lambda s, cfg=cfg: baselines.mcts(world, cfg, BUDGET, s)), "|")
    for k in (4, 6):
        for label, change in (("c 0.2", {"c_explore": 0.2}), ("leaf backup", {"backup": "leaf"}),
                              ("rollout 1 step", {"rollout_depth": 1})):
            cfg = replace(base, final="story", children=k, **change)
            print(f"| mcts | children {k}, {label}, final story |",
                  measure(lambda s, cfg=cfg: baselines.mcts(world, cfg, BUDGET, s)), "|")


if __name__ == "__main__":
    main()
