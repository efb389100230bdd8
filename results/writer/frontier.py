"""The writer frontier (issue #43): quality read blind against seconds per story, one row per writer
and system, from the blind reader's studies and the evals' per-story wall times.

    .venv/bin/python results/writer/frontier.py        # frontier.md, frontier.png, frontier.json

Quality: the share of pairs (both orders averaged) a row wins against the reference, SmolLM2-135M
MCTS deep first at 8 units (`results/eval/confirm/p32-47` ... `p80-95`), with its 95 % bootstrap
CI over pairs, and its mean 1-10 score as the reader gave it in those pairs; premises 32-95 of the
shipped set where a row was read on them (`pairs`: how many; the 0.5B's and Gemma's single rows 32-63,
the 1.5B's best-of-n and the 0.5B's search rows 64-79, SmolLM2's MCTS below 8 units 80-95). Seconds per story:
the mean `wall_s` of the eval's stories (`stories/*.json`), each eval alone on one machine (an AMD EPYC, 2 cores,
session 30; the 0.5B's search rows session 31 on the same kind of machine): for the 1.5B rows of `q15-p64/`
(32 premises) and `q15-bon-p64/` (16), the 0.5B's search rows of `q05-mcts-p64/` and `q05-bon-p64/` (16), for the
others of `smol-timing2/` (4 premises, every system on llama.cpp). The MCTS rows below the full budget are the search stopped early (`eval --curve`,
read with `study create --curve-points`): SmolLM2's at 1, 2 and 4 units from `../eval/confirm/
curve80-95` (premises 80-95; its 8-unit story, another run of the reference's settings, read against
the reference as a check of the noise), the 1.5B's and the 0.5B's at 2 units from their own 4-unit runs; their
seconds are estimated, the full story's seconds times the share of its policy tokens the point had
spent (marked ~).
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
Q15 = "mcts@llamacpp:qwen2.5-coder-1.5b"
Q05 = "mcts@llamacpp:qwen2.5-coder-0.5b"
SMOL_CURVE = HERE / "study-smol-curve"
ROWS = [
    ("SmolLM2-135M single", CLAIMS, "mcts@c02s vs single", "b", ("smol-timing2", "single")),
    ("SmolLM2-135M best-of-n 8u", CLAIMS, "mcts@c02s vs best-of-n", "b", ("smol-timing2", "best-of-n")),
    ("SmolLM2-135M beam 8u", CLAIMS, "mcts@c02s vs beam", "b", ("smol-timing2", "beam")),
    ("SmolLM2-135M MCTS 1u", SMOL_CURVE, "mcts@c/1u vs mcts", "a", ("smol-timing2", "mcts", "1")),
    ("SmolLM2-135M MCTS 2u", SMOL_CURVE, "mcts@c/2u vs mcts", "a", ("smol-timing2", "mcts", "2")),
    ("SmolLM2-135M MCTS 4u", SMOL_CURVE, "mcts@c/4u vs mcts", "a", ("smol-timing2", "mcts", "4")),
    ("SmolLM2-135M MCTS 8u, the reference run again", SMOL_CURVE, "mcts@c vs mcts", "a", ("smol-timing2", "mcts")),
    ("SmolLM2-135M MCTS 8u (reference)", None, None, None, ("smol-timing2", "mcts")),
    ("Gemma-3-270M single", (HERE / "study-small", HERE / "study-small-p48"), "single@llamacpp:gemma3-270m vs mcts", "a",
     ("smol-timing2", "single@llamacpp:gemma3-270m")),
    ("Qwen2.5-Coder-0.5B single", (HERE / "study-small", HERE / "study-small-p48"),
     "single@llamacpp:qwen2.5-coder-0.5b vs mcts", "a",
     ("smol-timing2", "single@llamacpp:qwen2.5-coder-0.5b")),
    ("Qwen2.5-Coder-0.5B best-of-n 4u", HERE / "study-q05b", "best-of-n@llamacpp:qwen2.5-coder-0.5b vs mcts", "a",
     ("q05-bon-p64", "best-of-n@llamacpp:qwen2.5-coder-0.5b")),
    ("Qwen2.5-Coder-0.5B MCTS 2u", HERE / "study-q05", f"{Q05}/2u vs mcts", "a", ("q05-mcts-p64", Q05, "2")),
    ("Qwen2.5-Coder-0.5B MCTS 4u", HERE / "study-q05", f"{Q05} vs mcts", "a", ("q05-mcts-p64", Q05)),
    ("Qwen2.5-Coder-1.5B single", (HERE / "study-q15", HERE / "study-q15e", HERE / "study-q15f"),
     "single@llamacpp:qwen2.5-coder-1.5b vs mcts", "a", ("q15-p64", "single@llamacpp:qwen2.5-coder-1.5b")),
    ("Qwen2.5-Coder-1.5B best-of-n 4u", HERE / "study-q15g", "best-of-n@llamacpp:qwen2.5-coder-1.5b vs mcts", "a",
     ("q15-bon-p64", "best-of-n@llamacpp:qwen2.5-coder-1.5b")),
    ("Qwen2.5-Coder-1.5B MCTS 2u", (HERE / "study-q15-2u", HERE / "study-q15f"), f"{Q15}/2u vs mcts", "a",
     ("q15-p64", Q15, "2")),
    ("Qwen2.5-Coder-1.5B MCTS 4u (the default)",
     (HERE / "study-q15b", HERE / "study-q15c", HERE / "study-q15d", HERE / "study-q15f"), f"{Q15} vs mcts", "a",
     ("q15-p64", Q15)),
]
#: labels drawn below their point (another row's label would cover them)
LABEL_BELOW = {"Qwen2.5-Coder-0.5B MCTS 2u": (5, -26), "Qwen2.5-Coder-0.5B MCTS 4u": (-30, -13)}
#: premises of the reference runs (the rows from the 96-premise study are cut to them)
PREMISES = {json.loads(x)["premise"].strip() for part in ("p32-47", "p48-63", "p64-79", "p80-95")
            for x in (HERE.parent / "eval" / "confirm" / part / "stories.jsonl").read_text().splitlines()}


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


def seconds(src: tuple[str, ...] | None) -> tuple[float | None, bool]:
    """Mean seconds per story of one eval's system, and whether it is an estimate (a curve point:
    the story's seconds times the share of its policy tokens the point had spent)."""
    if src is None:
        return None, False
    folder, system, *point = src
    walls = []
    for f in glob.glob(str(HERE / folder / "stories" / "*.json")):
        rec = json.loads(Path(f).read_text())
        if rec.get("system") != system or not isinstance(rec.get("wall_s"), (int, float)):
            continue
        if point:
            at, full = rec["curve"][point[0]], rec["curve"][max(rec["curve"], key=int)]
            walls.append(rec["wall_s"] * at["policy_tokens"] / full["policy_tokens"])
        else:
            walls.append(rec["wall_s"])
    return (round(statistics.fmean(walls), 1) if walls else None), bool(point)


def main() -> None:
    rows = []
    for label, study, comparison, side, timing in ROWS:
        q = quality(study, comparison, side) if study else {"wins": 0.5, "ci": [0.5, 0.5], "pairs": 0, "score": None}
        secs, estimated = seconds(timing)
        rows.append({"row": label, "seconds_per_story": secs, "seconds_estimated": estimated, **(q or {"wins": None})})
    lines = ["# The writer frontier (issue #43)", "", __doc__.strip().split("\n\n", 1)[1], "",
             f"| writer, system | s / story | wins vs {REF} | 95 % CI | pairs | mean score (1-10) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("wins") is None:
            lines.append(f"| {r['row']} | {r['seconds_per_story'] or '–'} | not read | | | |")
            continue
        ci = f"{r['ci'][0]:.2f} – {r['ci'][1]:.2f}" if r["pairs"] else "–"
        secs = f"~{r['seconds_per_story']}" if r["seconds_estimated"] else r["seconds_per_story"] or "–"
        lines.append(f"| {r['row']} | {secs} | {r['wins']:.2f} | {ci} | {r['pairs'] or '–'}"
                     f" | {r['score'] if r['score'] is not None else '–'} |")
    (HERE / "frontier.md").write_text("\n".join(lines) + "\n")
    (HERE / "frontier.json").write_text(json.dumps(rows, indent=1) + "\n")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    placed = [r for r in rows if r.get("wins") is not None and r["seconds_per_story"]]
    front = [r for r in sorted(placed, key=lambda r: r["seconds_per_story"])
             if not any(o["seconds_per_story"] <= r["seconds_per_story"] and o["wins"] > r["wins"] for o in placed)]
    ax.step([r["seconds_per_story"] for r in front], [r["wins"] for r in front], where="post", color="#bbb",
            linewidth=1, zorder=0, label="the front (faster and better than every row to its right)")
    for r in placed:
        err = [[r["wins"] - r["ci"][0]], [r["ci"][1] - r["wins"]]]
        ax.errorbar(r["seconds_per_story"], r["wins"], yerr=err, fmt="o", capsize=3)
        ax.annotate(r["row"], (r["seconds_per_story"], r["wins"]), textcoords="offset points",
                    xytext=LABEL_BELOW.get(r["row"], (5, 4)), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlim(5, 200)
    ax.set_xticks([5, 10, 20, 50, 100, 200], ["5", "10", "20", "50", "100", "200"])
    ax.minorticks_off()
    ax.axhline(0.5, color="#999", linestyle="--", linewidth=1)
    ax.set_ylim(0, 1.05)
    ax.legend(loc="lower right", fontsize=7, frameon=False)
    ax.set_xlabel("seconds per story on 2 CPU cores (log; ~: estimated)")
    ax.set_ylabel(f"share of pairs won vs {REF}\n(blind LLM reader, both orders)")
    ax.set_title("Quality against cost, premises 32-95 (rows read on fewer: see frontier.md)")
    fig.tight_layout()
    fig.savefig(HERE / "frontier.png", dpi=110)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
