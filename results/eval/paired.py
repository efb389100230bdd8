"""Pool several `storyspace eval` runs and compare systems paired by premise.

    .venv/bin/python results/eval/paired.py RUN [RUN ...] [--focus mcts] [--units 8] [--png FILE]
        [--scores DIR --score-key llm.overall]

RUN is an eval directory or its `stories.jsonl`; `RUN@TAG` renames that run's systems to
`system@TAG` (e.g. an MCTS run with other settings, to set beside the default one), and
`RUN@TAG=SYSTEM[,SYSTEM]` renames only those (a run of all systems whose MCTS had other settings:
`RUN@c02s=mcts` keeps its baselines' names, so they pool with other runs' baselines). Stories are
matched across runs by premise text, so runs over different premise files pool into one set.
Runs with another `--seed` (from the run's eval.json, or the command in its summary.json) are
further draws of the same premises: a system's score on a premise is then the mean over its
draws, and the paired tests stay over premises; the same premise and seed in two runs keeps the
later one. For each judge,
(a) the run's value model and (b) the independent reader, it prints each system's mean and SD
over its stories at `--units` (a curve point; the full budget by default), the SD pooled over
the systems shown (as `summary.json`'s `pooled_sd`; over single stories, so the unit does not
shrink with more draws), and the `--focus` system against every other: the mean difference in
pooled SD, the paired t-test and sign-flip permutation p (`storyspace.eval.stats`), and the
premises it wins, over the premises both systems have.

With ``--scores DIR`` a third judge (c) is read from ``storyspace score``'s output of each run's
stories: ``DIR/NAME.jsonl`` for the run directory ``NAME`` (made by ``storyspace score
RUN/stories.jsonl --out DIR/NAME.jsonl``), its rows matched to the run's by premise and system;
``--score-key`` names the number (``llm.overall``, ``reader.value_mean``, ...). Only the full
budget's stories are scored that way, so (c) is left out with ``--units``.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path

import numpy as np

from storyspace.eval.report import judge_summary
from storyspace.eval.stats import bootstrap_ci, paired_permutation_p, paired_t_p
from storyspace.viz.plots import _pyplot  # the package's Agg pyplot

JUDGES = {"a": "value model (a)", "b": "independent reader (b)"}


def load(spec: str, scores: Path | None = None, key: str = "") -> list[dict]:
    path, _, tag = spec.partition("@")
    tag, _, only = tag.partition("=")
    renamed = {s.strip() for s in only.split(",") if s.strip()}
    p = Path(path)
    if p.is_dir():
        p = p / "stories.jsonl"
    if not p.is_file():
        sys.exit(f"paired.py: no stories.jsonl at {path}")
    rows = [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    seed = run_seed(p.parent)
    extra = scored(scores / f"{p.parent.name}.jsonl", key) if scores is not None else {}
    for r in rows:
        r["draw"] = seed
        r["c"] = extra.get((r["premise"], r["name"]))
        if tag and (not renamed or r["name"] in renamed):
            r["name"] = f"{r['name']}@{tag}"
    return rows


def scored(path: Path, key: str) -> dict[tuple[str, str], float]:
    """{(premise, system): number at ``key``} from a ``storyspace score`` output; rows that could
    not be scored are left out. A missing file gives nothing (that run has no (c))."""
    if not path.is_file():
        print(f"paired.py: no scores at {path}; that run has no (c)", file=sys.stderr)
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        v: object = r
        for part in key.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        if isinstance(v, (int, float)) and "premise" in r:
            out[(r["premise"], r.get("name", r.get("system")))] = float(v)
    return out


def run_seed(run: Path) -> int:
    """The run's seed: from its eval.json, else from the command in its summary.json (a committed
    run keeps only that), else 0 (eval's default)."""
    if (run / "eval.json").is_file():
        return int(json.loads((run / "eval.json").read_text())["config"]["explore"]["seed"])
    if (run / "summary.json").is_file():
        words = shlex.split(json.loads((run / "summary.json").read_text()).get("command", ""))
        for i, w in enumerate(words):
            if w.startswith("--seed="):
                return int(w.split("=", 1)[1])
            if w == "--seed" and i + 1 < len(words):
                return int(words[i + 1])
    return 0


def score(row: dict, judge: str, units: int | None) -> float | None:
    """The row's story value by one judge, at the full budget or at a curve point."""
    point = row if units is None else row.get("curve", {}).get(str(units))
    if point is None:
        return None
    if judge == "c":
        v = row.get("c") if units is None else None
    elif judge == "a":
        v = point["value"]["value_mean"] if units is None else point.get("value_mean")
    else:
        reader = point.get("reader") or {}
        v = (reader.get("summary") or reader).get("value_mean") if units is None else reader.get("value_mean")
    return None if v is None else float(v)


def scores_by_system(rows: list[dict], judge: str, units: int | None) -> dict[str, dict[tuple[str, int], float]]:
    """{system: {(premise, draw): score}} by one judge."""
    scores: dict[str, dict[tuple[str, int], float]] = {}
    for r in rows:
        v = score(r, judge, units)
        if v is not None:
            scores.setdefault(r["name"], {})[(r["premise"], r.get("draw", 0))] = v
    return scores


def by_premise(draws: dict[tuple[str, int], float]) -> dict[str, float]:
    """A system's score per premise: the mean over its draws."""
    found: dict[str, list[float]] = {}
    for (premise, _), v in draws.items():
        found.setdefault(premise, []).append(v)
    return {p: float(np.mean(v)) for p, v in found.items()}


def compare(scores: dict[str, dict[str, float]], focus: str, other: str, pooled: float) -> dict:
    """``focus`` against ``other`` over their shared premises (``scores``: {system: {premise:
    score}}): mean difference in pooled SD, its bootstrap 95 % CI, paired t and sign-flip p, wins
    (ties count half)."""
    shared = sorted(set(scores[focus]) & set(scores[other]))
    x = [scores[focus][p] for p in shared]
    y = [scores[other][p] for p in shared]
    diffs = np.subtract(x, y) / pooled
    low, high = bootstrap_ci(diffs) if shared else (math.nan, math.nan)
    wins = sum(1 for a, b in zip(x, y) if a > b) + 0.5 * sum(1 for a, b in zip(x, y) if a == b)
    return {"other": other, "n": len(shared), "effect": float(np.mean(diffs)) if shared else math.nan,
            "ci": (low, high), "p_t": paired_t_p(x, y), "p_flip": paired_permutation_p(x, y), "wins": wins}


def table(rows: list[dict], judge: str, units: int | None, focus: str) -> tuple[str, list[dict]]:
    """The judge's markdown table and the ``focus`` system's comparisons."""
    draws = scores_by_system(rows, judge, units)
    scores = {n: by_premise(d) for n, d in draws.items()}
    names = sorted(scores, key=lambda n: (n != "single", n))
    summary = judge_summary(draws, names)  # the eval report's own means, SDs and pooled SD, over stories
    pooled = summary["pooled_sd"] or math.nan
    several = any(len(draws[n]) > len(scores[n]) for n in names)
    out = [f"## {JUDGES[judge]}" + ("" if units is None else f", {units} units"), "",
           "| system | mean ± SD | premises |" + (" stories |" if several else ""),
           "|---|---|---|" + ("---|" if several else "")]
    for n in names:
        out.append(f"| {n} | {summary[n]['mean']:.3f} ± {summary[n]['sd']:.3f} | {len(scores[n])} |"
                   + (f" {summary[n]['n']} |" if several else ""))
    out += ["", f"Pooled SD: {pooled:.3f}", ""]
    found = [compare(scores, focus, n, pooled) for n in names if n != focus] if focus in scores else []
    if found:
        out += [f"| {focus} against | premises | difference (pooled SD) | 95 % CI (bootstrap) | p paired t | "
                "p sign-flip | wins |", "|---|---|---|---|---|---|---|"]
        for c in found:
            out.append(f"| {c['other']} | {c['n']} | {c['effect']:+.2f} | [{c['ci'][0]:+.2f}, {c['ci'][1]:+.2f}] | "
                       f"{c['p_t']:.3g} | {c['p_flip']:.3g} | {c['wins']:g}/{c['n']} |")
        out.append("")
    return "\n".join(out), found


def plot(found: dict[str, list[dict]], focus: str, path: Path, target: float | None) -> None:
    """One panel per judge: the ``focus`` system's mean paired difference against each other
    system, in pooled SD, with its bootstrap 95 % CI."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(found), figsize=(5.2 * len(found), 0.5 + 0.55 * max(map(len, found.values()))),
                             squeeze=False)
    for ax, (judge, comps) in zip(axes[0], found.items()):
        ys = range(len(comps))
        effects = [c["effect"] for c in comps]
        errs = [[c["effect"] - c["ci"][0] for c in comps], [c["ci"][1] - c["effect"] for c in comps]]
        ax.errorbar(effects, list(ys), xerr=errs, fmt="o", capsize=4)
        ax.set_yticks(list(ys), [f"{c['other']} (n {c['n']})" for c in comps])
        ax.axvline(0.0, color="grey", lw=1)
        if target is not None:
            ax.axvline(target, color="tab:red", lw=1, ls="--", label=f"+{target:g} SD")
            ax.legend(fontsize=8, loc="lower right")
        ax.set_title(f"{focus} minus ..., {JUDGES[judge]}", fontsize=9)
        ax.set_xlabel("paired difference (pooled SD), 95 % CI")
        ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="eval directories (or stories.jsonl), each optionally @TAG")
    ap.add_argument("--focus", default="mcts", help="the system compared with every other (default mcts)")
    ap.add_argument("--units", type=int, default=None, help="a curve point instead of the full budget")
    ap.add_argument("--png", type=Path, default=None, help="also plot the focus system's differences here")
    ap.add_argument("--target", type=float, default=0.3, help="a line at this difference in the plot")
    ap.add_argument("--scores", type=Path, default=None,
                    help="a directory of `storyspace score` outputs, NAME.jsonl per run directory NAME: judge (c)")
    ap.add_argument("--score-key", default="llm.overall", help="(c)'s number in those rows (default llm.overall)")
    args = ap.parse_args()
    if args.scores is not None and args.units is None:
        JUDGES["c"] = f"{args.score_key} ({args.scores.name})"
    merged: dict[tuple[str, str, int], dict] = {}
    for spec in args.runs:
        for r in load(spec, args.scores, args.score_key):
            merged[(r["name"], r["premise"], r["draw"])] = r
    rows = list(merged.values())
    found = {}
    for judge in JUDGES:
        text, found[judge] = table(rows, judge, args.units, args.focus)
        print(text)
    if args.png is not None and all(found.values()):
        plot(found, args.focus, args.png, args.target)


if __name__ == "__main__":
    main()
