"""``storyspace study report``: how often each automatic judge picks what people picked.

A judge (the value model's ``value``, a tree's ``q``, an eval's independent ``reader`` or ``llm``
judge) picks the side it scored higher; a tie counts as half an agreement. Agreement is counted
over ratings (every rater's every choice), with a 95 % bootstrap CI over pairs
(``scipy.stats.bootstrap``, percentile, resampling pairs so a pair's several ratings move
together), overall and per rater; and over pairs by majority vote when there are several raters.
Inter-rater agreement: Fleiss' kappa over the pairs every rater rated (two categories, a or b).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from storyspace.errors import UserError
from storyspace.files import atomic_write
from storyspace.study.create import load_study
from storyspace.study.ratings import read_ratings

REPORT = "report.md"
PLOT = "agreement.png"


def judge_pick(pair: dict[str, Any], judge: str) -> float | None:
    """1.0 if the judge scored side a higher, 0.0 for b, 0.5 for a tie; None without both scores."""
    a, b = pair["a"].get("scores", {}).get(judge), pair["b"].get("scores", {}).get(judge)
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return None
    return 1.0 if a > b else 0.0 if b > a else 0.5


def agreement(picks: Sequence[float], choices: Sequence[str]) -> float:
    """Mean agreement of judge picks (1 = a, 0 = b, 0.5 = tie) with human choices ("a"/"b")."""
    if not picks:
        return float("nan")
    return float(np.mean([p if c == "a" else 1.0 - p for p, c in zip(picks, choices)]))


def bootstrap_ci(groups: Sequence[Sequence[float]], seed: int = 0, n: int = 2000) -> tuple[float, float]:
    """95 % percentile CI of the mean agreement, resampling groups (pairs) of per-rating scores."""
    from scipy import stats

    if len(groups) < 2:
        return float("nan"), float("nan")
    sums = np.array([sum(g) for g in groups], dtype=float)
    counts = np.array([len(g) for g in groups], dtype=float)
    if np.all(sums / counts == sums[0] / counts[0]):
        return float(sums[0] / counts[0]), float(sums[0] / counts[0])  # no spread to resample
    res = stats.bootstrap((np.arange(len(groups)),), lambda idx, axis=-1: sums[idx].sum(axis) / counts[idx].sum(axis),
                          n_resamples=n, method="percentile", random_state=np.random.default_rng(seed),
                          vectorized=True)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def fleiss_kappa(table: Sequence[Sequence[int]]) -> float:
    """Fleiss' kappa of a subjects x categories count table (each row sums to the raters per
    subject, the same for all rows). scipy has no kappa; this is Fleiss (1971), eqs. 1-5."""
    m = np.asarray(table, dtype=float)
    if m.ndim != 2 or len(m) == 0:
        raise ValueError("a table of counts, one row per subject")
    n = m.sum(axis=1)
    if np.any(n != n[0]) or n[0] < 2:
        raise ValueError("every subject needs the same number of raters, at least 2")
    raters, subjects = n[0], len(m)
    p_j = m.sum(axis=0) / (subjects * raters)
    p_i = ((m * m).sum(axis=1) - raters) / (raters * (raters - 1))
    p_bar, p_e = p_i.mean(), float((p_j**2).sum())
    if p_e >= 1.0:
        return 1.0 if p_bar >= 1.0 else float("nan")
    return float((p_bar - p_e) / (1 - p_e))


def study_report(study_dir: Path) -> dict[str, Any]:
    """The report's figures (also written: report.md, agreement.png, report.json)."""
    study = load_study(study_dir)
    ratings = read_ratings(study_dir)
    by_id = {p["id"]: p for p in study["pairs"]}
    ratings = [r for r in ratings if r["pair"] in by_id]
    if not ratings:
        raise UserError(f"no ratings in {study_dir} yet: rate pairs in the studio (storyspace studio)")
    raters = sorted({r["rater"] for r in ratings})
    judges = sorted({k for p in study["pairs"] for s in "ab" for k in p[s].get("scores", {})})
    rows = []
    for judge in judges:
        for who in [None, *raters]:
            mine = [r for r in ratings if who is None or r["rater"] == who]
            per_pair: dict[str, list[float]] = {}
            for r in mine:
                pick = judge_pick(by_id[r["pair"]], judge)
                if pick is not None:
                    per_pair.setdefault(r["pair"], []).append(pick if r["choice"] == "a" else 1.0 - pick)
            flat = [x for g in per_pair.values() for x in g]
            if not flat:
                continue
            lo, hi = bootstrap_ci(list(per_pair.values()))
            rows.append({"judge": judge, "rater": who or "all", "agreement": round(float(np.mean(flat)), 4),
                         "ci": [round(lo, 4), round(hi, 4)], "ratings": len(flat), "pairs": len(per_pair)})
    majority = []
    if len(raters) > 1:
        votes = {pid: Counter(r["choice"] for r in ratings if r["pair"] == pid) for pid in by_id}
        decided = {pid: ("a" if c["a"] > c["b"] else "b") for pid, c in votes.items() if c and c["a"] != c["b"]}
        for judge in judges:
            got = [(judge_pick(by_id[pid], judge), ch) for pid, ch in decided.items()]
            got = [(p, ch) for p, ch in got if p is not None]
            if got:
                majority.append({"judge": judge, "agreement": round(agreement([p for p, _ in got], [c for _, c in got]), 4),
                                 "pairs": len(got)})
    kappa = None
    if len(raters) > 1:
        full = [pid for pid in by_id if {r["rater"] for r in ratings if r["pair"] == pid} == set(raters)]
        if full:
            table = [[sum(1 for r in ratings if r["pair"] == pid and r["choice"] == c) for c in "ab"] for pid in full]
            kappa = {"fleiss": round(fleiss_kappa(table), 4), "pairs": len(full), "raters": len(raters)}
    report = {"study": str(study_dir), "pairs": len(study["pairs"]), "ratings": len(ratings), "raters": raters,
              "agreement": rows, "majority": majority, "kappa": kappa}
    atomic_write(study_dir / "report.json", json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    atomic_write(study_dir / REPORT, report_markdown(report))
    plot_agreement(rows, study_dir / PLOT)
    return report


def report_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Study report: {report['study']}", "",
             f"{report['pairs']} pairs, {report['ratings']} ratings by {len(report['raters'])} rater(s):"
             f" {', '.join(report['raters'])}.", "",
             "How often each judge picks the side people chose (ties count half; 95 % bootstrap CI over pairs).", "",
             "| judge | rater | agreement | 95 % CI | ratings | pairs |", "|---|---|---|---|---|---|"]
    for r in report["agreement"]:
        lines.append(f"| {r['judge']} | {r['rater']} | {r['agreement']:.3f} | {r['ci'][0]:.3f} – {r['ci'][1]:.3f} |"
                     f" {r['ratings']} | {r['pairs']} |")
    if report["majority"]:
        lines += ["", "By majority vote per pair (tied votes left out):", "", "| judge | agreement | pairs |",
                  "|---|---|---|"]
        lines += [f"| {m['judge']} | {m['agreement']:.3f} | {m['pairs']} |" for m in report["majority"]]
    if report["kappa"]:
        k = report["kappa"]
        lines += ["", f"Inter-rater agreement: Fleiss' kappa {k['fleiss']:.3f} over the {k['pairs']} pairs all"
                      f" {k['raters']} raters rated."]
    lines += ["", f"![agreement]({PLOT})", ""]
    return "\n".join(lines)


def plot_agreement(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    overall = [r for r in rows if r["rater"] == "all"]
    fig, ax = plt.subplots(figsize=(5, 3))
    xs = range(len(overall))
    means = [r["agreement"] for r in overall]
    err = [[max(0.0, m - r["ci"][0]) for m, r in zip(means, overall)],
           [max(0.0, r["ci"][1] - m) for m, r in zip(means, overall)]]
    err = np.nan_to_num(np.array(err, dtype=float))
    ax.bar(list(xs), means, yerr=err, capsize=4, color="#4a8")
    ax.axhline(0.5, color="#999", linestyle="--", linewidth=1)
    ax.set_xticks(list(xs), [r["judge"] for r in overall])
    ax.set_ylim(0, 1)
    ax.set_ylabel("agreement with people")
    ax.set_title("Judges vs human choices")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
