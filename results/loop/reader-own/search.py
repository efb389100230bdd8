"""The default loop's iteration-0 searches (policy 0, SmolLM2, on the 8 training premises of
`results/loop/base/premises.txt`), exactly as `storyspace loop` runs them (same settings and
seeds), with the value-ranked pairs the loop would train on; nothing is trained or measured.
Their sibling passages are then read blind (issue #45: the reader's pairs on the policy's own
trees).

    .venv/bin/python results/loop/reader-own/search.py LOOP_DIR    # LOOP_DIR/iter0/search/p00..p07, iter0/pairs.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

from storyspace.corpus import read_premises
from storyspace.models.registry import ModelPool
from storyspace.train.loop import Loop, LoopConfig

HERE = Path(__file__).parent


def main() -> None:
    out = Path(sys.argv[1])
    cfg = LoopConfig(iterations=1, heldout_mcts=0)
    loop = Loop(out, read_premises(HERE.parent / "base" / "premises.txt"), cfg,
                ModelPool(options=cfg.explore.models.options()), say=print)
    loop.prepare()
    print(loop.search_and_pairs(0))


if __name__ == "__main__":
    main()
