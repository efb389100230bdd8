"""The writer frontier (issue #43): quality read blind against seconds per story, one row per writer
and system, from the blind reader's studies and the evals' per-story wall times.

    .venv/bin/python results/writer/frontier.py        # frontier.md, frontier.png, frontier.json

Quality: the share of pairs (both orders averaged) a row wins against the reference, SmolLM2-135M
MCTS deep first at 8 units (`results/eval/confirm/p32-47`), with its 95 % bootstrap CI over pairs,
and its mean 1-10 score as the reader gave it in those pairs. Seconds per story: the mean `wall_s`
of the eval's stories (`stories/*.json`), measured on this 2-core machine with other jobs beside
them (so an upper bound), and, for the SmolLM2 rows, of `smol-timing/` (4 premises, alone), for
the 1.5B's MCTS (the default) of `q15-mcts4-p40/` (8 premises, alone: `q15-mcts4/` ran beside
two test runs, 385 s a story).
"""

import glob
import json
import statistics
from pathlib import Path

import numpy as np

from storyspace.study.create import load_study
from storyspace.study.ratings import read_ratings
from storyspace.study.report import bootstrap_ci, comparison_of
from storyspace.viz.plots import _pyplot

HERE = Path(__file__).parent
CLAIMS = HERE.parent / "strong" / "claims96"
REF = "SmolLM2 MCTS 8u"

#: (label, study dir(s), comparison, side of the row, seconds-per-story source(s) (eval dir, system name));
#: a row read in several studies (premises split across evals) pools their pairs
ROWS = [
    ("SmolLM2-135M single", CLAIMS, "mcts@c02s vs single", "b", ("smol-timing", "single")),
    ("SmolLM2-135M best-of-n 8u", CLAIMS, "mcts@c02s vs best-of-n", "b", None),
    ("SmolLM2-135M beam 8u", CLAIMS, "mcts@c02s vs beam", "b", None),
    ("SmolLM2-135M MCTS 8u (reference)", None, None, None, ("smol-timing", "mcts")),
    ("Gemma-3-270M single", HERE / "study-small", "single@llamacpp:gemma3-270m vs mcts", "a",
     ("small-single", "single@llamacpp:gemma3-270m")),
    ("Qwen2.5-Coder-0.5B single", HERE / "study-small", "single@llamacpp:qwen2.5-coder-0.5b vs mcts", "a",
     ("small-single", "single@llamacpp:qwen2.5-coder-0.5b")),
    ("Qwen2.5-Coder-1.5B single", HERE / "study-q15", "single@llamacpp:qwen2.5-coder-1.5b vs mcts", "a",
     ("q15-single", "single@llamacpp:qwen2.5-coder-1.5b")),
    ("Qwen2.5-Coder-1.5B MCTS 4u (the default)", (HERE / "study-q15b", HERE / "study-q15c"),
     "mcts@llamacpp:qwen2.5-coder-1.5b vs mcts", "a",
     [("q15-mcts4-p40", "mcts@llamacpp:qwen2.5-coder-1.5b")]),
]
#: premises of the reference run (the rows from the 96-premise study are cut to them)
PREMISES = {json.loads(x)["premise"].strip() for x in (HERE.parent / "eval" / "confirm" / "p32-47" / "stories.jsonl")
            .read_text().splitlines()}


def quality(study_dirs: Path | tuple[Path, ...], comparison: str, side: str) -> dict | None:
    wins: dict[str, list[float]] = {}
    scores: list[float] = []
    for k, study_dir in enumerate(study_dirs if isinstance(study_dirs, tuple) else (study_dirs,)):
        if not (study_dir / "study.json").is_file():
            continue
        study = load_study(study_dir)
        pairs = {p["id"] for p in study["pairs"] if comparison_of(p) == comparison and p["premise"].strip() in PREMISES}
        for r in read_ratings(study_dir):
            if r["pair"] in pairs:
                wins.setdefault(f"{k}:{r['pair']}", []).append(1.0 if r["choice"] == side else 0.0)
                if isinstance(r.get("scores"), dict) and side in r["scores"]:
                    scores.append(float(r["scores"][side]))
    if not wins:
        return None
    lo, hi = bootstrap_ci(list(wins.values()))
    return {"wins": round(float(np.mean([np.mean(v) for v in wins.values()])), 3), "ci": [round(lo, 3), round(hi, 3)],
            "pairs": len(wins), "score": round(statistics.fmean(scores), 2) if scores else None}


def seconds(src: tuple[str, str] | list[tuple[str, str]] | None) -> float | None:
    if src is None:
        return None
    walls = []
    for folder, system in src if isinstance(src, list) else [src]:
        for f in glob.glob(str(HERE / folder / "stories" / "*.json")):
            rec = json.loads(Path(f).read_text())
            if rec.get("system") == system and isinstance(rec.get("wall_s"), (int, float)):
                walls.append(rec["wall_s"])
    return round(statistics.fmean(walls), 1) if walls else None


def main() -> None:
    rows = []
    for label, study, comparison, side, timing in ROWS:
        q = quality(study, comparison, side) if study else {"wins": 0.5, "ci": [0.5, 0.5], "pairs": 0, "score": None}
        rows.append({"row": label, "seconds_per_story": seconds(timing), **(q or {"wins": None})})
    lines = ["# The writer frontier (issue #43)", "", __doc__.strip().split("\n\n", 1)[1], "",
             f"| writer, system | s / story | wins vs {REF} | 95 % CI | pairs | mean score (1-10) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("wins") is None:
            lines.append(f"| {r['row']} | {r['seconds_per_story'] or '–'} | not read | | | |")
            continue
        ci = f"{r['ci'][0]:.2f} – {r['ci'][1]:.2f}" if r["pairs"] else "–"
        lines.append(f"| {r['row']} | {r['seconds_per_story'] or '–'} | {r['wins']:.2f} | {ci} | {r['pairs'] or '–'}"
                     f" | {r['score'] if r['score'] is not None else '–'} |")
    (HERE / "frontier.md").write_text("\n".join(lines) + "\n")
    (HERE / "frontier.json").write_text(json.dumps(rows, indent=1) + "\n")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for r in rows:
        if r.get("wins") is None or not r["seconds_per_story"]:
            continue
        err = [[r["wins"] - r["ci"][0]], [r["ci"][1] - r["wins"]]]
        ax.errorbar(r["seconds_per_story"], r["wins"], yerr=err, fmt="o", capsize=3)
        ax.annotate(r["row"], (r["seconds_per_story"], r["wins"]), textcoords="offset points", xytext=(5, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlim(15, 1500)
    ax.set_xticks([20, 50, 100, 200, 500, 1000], ["20", "50", "100", "200", "500", "1000"])
    ax.minorticks_off()
    ax.axhline(0.5, color="#999", linestyle="--", linewidth=1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("seconds per story on 2 CPU cores (log)")
    ax.set_ylabel(f"share of pairs won vs {REF}\n(blind LLM reader, both orders)")
    ax.set_title("Quality against cost, premises 32-47")
    fig.tight_layout()
    fig.savefig(HERE / "frontier.png", dpi=110)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
