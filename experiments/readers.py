"""Issue #16, item 3: is a bigger reader's raw signal better than SmolLM2's? Each reader reads the
contrast suite's story pairs (a HANNA human story's opening against its 8 corruptions) and the
96 whole HANNA human stories; no calibration, no fitting: the two raw signals the value model's
features start from.

    .venv/bin/python experiments/readers.py --readers embedded,llamacpp:gemma3-270m,llamacpp:qwen2.5-coder-0.5b \
        > results/value/readers.md

Run on 32 stories, one reader a process (``results/value/readers.md``): SmolLM2 on transformers
6.4 min, Qwen2.5-Coder-0.5B on llama.cpp 24.9 min, Gemma 3 270M on llama.cpp 15.1 min (llama.cpp
readers read a story step by step, one call a step); all 96 stories would take ~3x that.

Per story (steps of whole sentences of ~64 tokens of the embedded reader's tokenizer, so every
reader reads the same steps): the mean over steps of the mean token surprisal after the premise
and the story so far (``surprisal``, lower = likelier), and of the contextual PMI (surprisal after
a neutral context minus it, ``pmi``, higher = the story so far helps more). Printed: how often
the original opening beats its corruption (ties half), per type; HANNA pairwise agreement per
criterion (pairs whose rating differs by >= 1); reading speed.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from storyspace import contrast  # noqa: E402
from storyspace.corpus import human_stories  # noqa: E402
from storyspace.models.registry import ModelPool  # noqa: E402
from storyspace.story import PASSAGE_SEPARATOR, PromptConfig, split_steps  # noqa: E402
from storyspace.value.surprisal import chain_logprobs, mean_nll  # noqa: E402

CRITERIA = ("relevance", "coherence", "empathy", "surprise", "engagement", "complexity")


def read(reader, premise: str, steps: list[str], prompts: PromptConfig) -> tuple[float, float]:  # noqa: ANN001
    """(mean surprisal, mean PMI) over the story's steps."""
    ctx = chain_logprobs(reader, prompts.reader_header.format(premise=premise.strip()), steps, PASSAGE_SEPARATOR)
    neu = reader.logprobs(prompts.reader_neutral, steps)
    s = [mean_nll(x) for x in ctx]
    p = [mean_nll(n) - mean_nll(c) for c, n in zip(ctx, neu)]
    return statistics.fmean(s), statistics.fmean(p)


def win(a: float, b: float) -> float:
    return 1.0 if a > b else 0.5 if a == b else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--readers", default="embedded,llamacpp:gemma3-270m,llamacpp:qwen2.5-coder-0.5b")
    ap.add_argument("--stories", type=int, default=96)
    args = ap.parse_args()
    pool = ModelPool(device="cpu")
    prompts = PromptConfig()
    count = pool.get("embedded").count_tokens
    stories = human_stories()[: args.stories]
    rows = contrast.story_rows(contrast.shortened(stories, 160), 0)
    texts = [(r["id"], r["version"], r["prompt"], split_steps(r["story"], 64, count)) for r in rows]
    whole = [(s, split_steps(s["human_story"], 64, count)) for s in stories]
    print("# Raw reader signals on the contrast suite and HANNA (issue #16, item 3)\n")
    print(f"Command: `.venv/bin/python experiments/readers.py --readers {args.readers} --stories {args.stories}`\n")
    table = []
    for spec in [x.strip() for x in args.readers.split(",") if x.strip()]:
        reader = pool.get(spec)
        start, tokens = time.perf_counter(), reader.usage.scored_tokens
        got = {(i, v): read(reader, p, st, prompts) for i, v, p, st in texts if st}
        hanna = [(s, read(reader, s["prompt"], st, prompts)) for s, st in whole if st]
        secs = time.perf_counter() - start
        rate = (reader.usage.scored_tokens - tokens) / secs
        out = {}
        for kind in contrast.CORRUPTIONS:
            pairs = [(got[(i, "original")], got[(i, kind)]) for i, v, _, _ in texts
                     if v == kind and (i, kind) in got and (i, "original") in got]
            out[kind] = (statistics.fmean(win(b[0], a[0]) for a, b in pairs),  # lower surprisal wins
                         statistics.fmean(win(a[1], b[1]) for a, b in pairs), len(pairs))
        crit = {}
        for c in CRITERIA:
            ws_s, ws_p = [], []
            for (sa, va), (sb, vb) in itertools.combinations(hanna, 2):
                ra, rb = sa[f"human_{c}"], sb[f"human_{c}"]
                if abs(ra - rb) < 1.0:
                    continue
                (hi, lo) = (va, vb) if ra > rb else (vb, va)
                ws_s.append(win(lo[0], hi[0]))
                ws_p.append(win(hi[1], lo[1]))
            crit[c] = (statistics.fmean(ws_s) if ws_s else float("nan"),
                       statistics.fmean(ws_p) if ws_p else float("nan"), len(ws_s))
        table.append((spec, out, crit, rate, secs))
        print(f"{spec}: {secs / 60:.1f} min, {rate:.0f} scored tokens/s", file=sys.stderr, flush=True)
    kinds = list(contrast.CORRUPTIONS)
    for label, k in (("lower surprisal", 0), ("higher PMI", 1)):
        print(f"## Story level: the original opening has the {label}\n")
        print("| reader | " + " | ".join(kinds) + " | mean |")
        print("|---|" + "---|" * (len(kinds) + 1))
        for spec, out, _, _, _ in table:
            vals = [out[t][k] for t in kinds]
            print(f"| {spec} | " + " | ".join(f"{v:.3f}" for v in vals) + f" | {statistics.fmean(vals):.3f} |")
        print()
    for label, k in (("lower surprisal", 0), ("higher PMI", 1)):
        print(f"## HANNA human stories: the better-rated story has the {label} (pairs with a gap >= 1)\n")
        print("| reader | " + " | ".join(CRITERIA) + " |")
        print("|---|" + "---|" * len(CRITERIA))
        for spec, _, crit, _, _ in table:
            print(f"| {spec} | " + " | ".join(f"{crit[c][k]:.3f}" for c in CRITERIA) + " |")
        print()
    print("| reader | minutes | scored tokens/s |\n|---|---|---|")
    for spec, _, _, rate, secs in table:
        print(f"| {spec} | {secs / 60:.1f} | {rate:.0f} |")
    if table:
        print(f"\n{table[0][1][kinds[0]][2]} story pairs per type; HANNA pairs per criterion: "
              + ", ".join(f"{c} {table[0][2][c][2]}" for c in CRITERIA))


if __name__ == "__main__":
    main()
