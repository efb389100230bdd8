"""``storyspace study report``: how often each automatic judge picks what people picked.

A judge (the value model's ``value``, a tree's ``q``, an eval's independent ``reader`` or ``llm``
judge) picks the side it scored higher; a tie counts as half an agreement. Agreement is counted
over ratings (every rater's every choice), with a 95 % bootstrap CI over pairs
(``scipy.stats.bootstrap``, percentile, resampling pairs so a pair's several ratings move
together), overall and per rater; and over pairs by majority vote when there are several raters.
Inter-rater agreement: Fleiss' kappa over the pairs every rater rated (two categories, a or b).

Per comparison (an eval study's ``X vs Y``, or ``siblings``), what the raters say of side a
(:func:`comparison_rows`): the share of pairs side a wins (each pair's ratings averaged, so both
orders count alike) with a bootstrap CI over pairs, the two-sided sign test over the pairs with a
majority, the 1-10 score difference in SD pooled over both sides, position consistency (how often
a rater chose the same story when the sides were swapped), and agreement between raters.
"""

from __future__ import annotations

import json
import math
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


def comparison_of(pair: dict[str, Any]) -> str:
    return str(pair.get("comparison") or pair.get("kind") or "pairs")


def comparison_rows(study: dict[str, Any], ratings: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per comparison: ``win_a`` (share of pairs won by side a) and its ``ci``, ``sign_p`` (over
    ``decided`` pairs, ``wins_a`` of them for a), ``score_a``/``score_b`` (mean 1-10 scores),
    ``score_sd`` (score difference over the pooled SD), ``consistency`` over ``swapped`` (rater,
    pair) showings in both orders, ``rater_agreement`` over ``rater_pairs``."""
    from scipy import stats

    by_id = {p["id"]: p for p in study["pairs"]}
    groups: dict[str, list[str]] = {}
    for p in study["pairs"]:
        groups.setdefault(comparison_of(p), []).append(p["id"])
    out = []
    for name, ids in groups.items():
        members = set(ids)
        mine = [r for r in ratings if r["pair"] in members]
        if not mine:
            continue
        picks: dict[str, list[float]] = {}
        sides: dict[str, dict[str, list[float]]] = {}
        for r in mine:
            picks.setdefault(r["pair"], []).append(1.0 if r["choice"] == "a" else 0.0)
            sc = r.get("scores")
            if isinstance(sc, dict) and all(isinstance(sc.get(s), (int, float)) for s in "ab"):
                for s in "ab":
                    sides.setdefault(r["pair"], {"a": [], "b": []})[s].append(float(sc[s]))
        share = [float(np.mean(v)) for v in picks.values()]
        lo, hi = bootstrap_ci(list(picks.values()))
        wins = sum(1 for x in share if x > 0.5)
        decided = sum(1 for x in share if x != 0.5)
        sign_p = float(stats.binomtest(wins, decided, 0.5).pvalue) if decided else float("nan")
        sa = np.array([np.mean(v["a"]) for v in sides.values()])
        sb = np.array([np.mean(v["b"]) for v in sides.values()])
        score_sd = float("nan")
        if len(sa) >= 2:
            pooled = math.sqrt((np.var(sa, ddof=1) + np.var(sb, ddof=1)) / 2)
            score_sd = float(np.mean(sa - sb) / pooled) if pooled > 0 else float("nan")
        # position consistency: a rater's two showings of one pair, sides swapped
        both: dict[tuple[str, str], dict[str, str]] = {}
        for r in mine:
            both.setdefault((r["rater"], r["pair"]), {})[r.get("left", "")] = r["choice"]
        swapped = [v for v in both.values() if set(v) == {"a", "b"}]
        consistent = sum(1 for v in swapped if v["a"] == v["b"])
        # agreement between raters: each rater's verdict per pair (orders averaged), pair by pair
        verdict: dict[str, dict[str, float]] = {}
        for (rater, pid), v in both.items():
            verdict.setdefault(rater, {})[pid] = float(np.mean([c == "a" for c in v.values()]))
        agree, n_agree = [], 0
        names = sorted(verdict)
        for i, x in enumerate(names):
            for y in names[i + 1:]:
                for pid in set(verdict[x]) & set(verdict[y]):
                    vx, vy = verdict[x][pid], verdict[y][pid]
                    agree.append(1.0 - abs(vx - vy) if 0.5 in (vx, vy) else float((vx > 0.5) == (vy > 0.5)))
                    n_agree += 1
        systems = [by_id[ids[0]][s].get("system", s) for s in "ab"]
        out.append({"comparison": name, "side_a": systems[0], "side_b": systems[1], "pairs": len(picks),
                    "ratings": len(mine), "win_a": round(float(np.mean(share)), 4), "ci": [round(lo, 4), round(hi, 4)],
                    "wins_a": wins, "decided": decided, "sign_p": sign_p,
                    "score_a": round(float(np.mean(sa)), 3) if len(sa) else None,
                    "score_b": round(float(np.mean(sb)), 3) if len(sb) else None,
                    "median_a": float(np.median(sa)) if len(sa) else None,
                    "median_b": float(np.median(sb)) if len(sb) else None,
                    "score_sd": round(score_sd, 3) if math.isfinite(score_sd) else None, "scored": len(sa),
                    "consistency": round(consistent / len(swapped), 4) if swapped else None, "swapped": len(swapped),
                    "rater_agreement": round(float(np.mean(agree)), 4) if agree else None, "rater_pairs": n_agree})
    return out


def study_report(study_dir: Path) -> dict[str, Any]:
    """The report's figures (also written: report.md, agreement.png, report.json)."""
    study = load_study(study_dir)
    ratings = read_ratings(study_dir)
    by_id = {p["id"]: p for p in study["pairs"]}
    ratings = [r for r in ratings if r["pair"] in by_id]
    if not ratings:
        raise UserError(f"no ratings in {study_dir} yet: rate pairs in the studio (storyspace studio)")
    raters = sorted({r["rater"] for r in ratings})
    kinds = {r["rater"]: r.get("kind", "person") for r in ratings}
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
    per_comparison = []
    groups: dict[str, set[str]] = {}
    for p in study["pairs"]:
        groups.setdefault(comparison_of(p), set()).add(p["id"])
    for judge in judges if len(groups) > 1 else []:
        for name, ids in groups.items():
            per: dict[str, list[float]] = {}
            for r in ratings:
                pick = judge_pick(by_id[r["pair"]], judge) if r["pair"] in ids else None
                if pick is not None:
                    per.setdefault(r["pair"], []).append(pick if r["choice"] == "a" else 1.0 - pick)
            if per:
                lo, hi = bootstrap_ci(list(per.values()))
                flat = [x for g in per.values() for x in g]
                per_comparison.append({"judge": judge, "comparison": name, "agreement": round(float(np.mean(flat)), 4),
                                       "ci": [round(lo, 4), round(hi, 4)], "pairs": len(per)})
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
              "kinds": kinds, "both_orders": bool(study.get("both_orders")),
              "comparisons": comparison_rows(study, ratings), "agreement": rows,
              "agreement_by_comparison": per_comparison, "majority": majority,
              "kappa": kappa}
    atomic_write(study_dir / "report.json", json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    atomic_write(study_dir / REPORT, report_markdown(report))
    plot_agreement(rows, study_dir / PLOT, report["comparisons"])
    return report


def _p(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.2g}" if x < 0.001 else f"{x:.3f}"


def _o(x: Any, fmt: str) -> str:
    return "–" if x is None else format(x, fmt)


def report_markdown(report: dict[str, Any]) -> str:
    kinds = report.get("kinds", {})
    who = ", ".join(f"{r} ({kinds.get(r, 'person')})" for r in report["raters"])
    lines = [f"# Study report: {report['study']}", "",
             f"{report['pairs']} pairs, {report['ratings']} ratings by {len(report['raters'])} rater(s): {who}."
             + (" Each pair was shown to each rater in both orders." if report.get("both_orders") else ""), ""]
    if report.get("comparisons"):
        lines += ["What the raters chose, per comparison: the share of pairs side a wins (each pair's ratings"
                  " averaged), 95 % bootstrap CI over pairs, two-sided sign test over the pairs with a majority,"
                  " mean (median) 1-10 scores and their difference in pooled SD, position consistency (the same"
                  " story chosen with the sides swapped) and agreement between raters.", "",
                  "| comparison | pairs | a wins | 95 % CI | sign test p (wins/decided) | score a | score b"
                  " | diff (SD) | same both orders | raters agree |", "|---" * 10 + "|"]
        for c in report["comparisons"]:
            cons = f"{c['consistency']:.2f} ({c['swapped']})" if c["consistency"] is not None else "–"
            agree = f"{c['rater_agreement']:.2f} ({c['rater_pairs']})" if c["rater_agreement"] is not None else "–"
            sa = f"{_o(c['score_a'], '.2f')} ({_o(c['median_a'], 'g')})" if c["score_a"] is not None else "–"
            sb = f"{_o(c['score_b'], '.2f')} ({_o(c['median_b'], 'g')})" if c["score_b"] is not None else "–"
            lines.append(f"| {c['comparison']} | {c['pairs']} | {c['win_a']:.2f} | {c['ci'][0]:.2f} – {c['ci'][1]:.2f}"
                         f" | {_p(c['sign_p'])} ({c['wins_a']}/{c['decided']}) | {sa} | {sb}"
                         f" | {_o(c['score_sd'], '+.2f')} | {cons} | {agree} |")
        lines.append("")
    lines += ["How often each judge picks the side the raters chose (ties count half; 95 % bootstrap CI over pairs).", "",
             "| judge | rater | agreement | 95 % CI | ratings | pairs |", "|---|---|---|---|---|---|"]
    for r in report["agreement"]:
        lines.append(f"| {r['judge']} | {r['rater']} | {r['agreement']:.3f} | {r['ci'][0]:.3f} – {r['ci'][1]:.3f} |"
                     f" {r['ratings']} | {r['pairs']} |")
    if report.get("agreement_by_comparison"):
        lines += ["", "The same, per comparison (all raters):", "", "| judge | comparison | agreement | 95 % CI | pairs |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['judge']} | {r['comparison']} | {r['agreement']:.3f} | {r['ci'][0]:.3f} – {r['ci'][1]:.3f}"
                  f" | {r['pairs']} |" for r in report["agreement_by_comparison"]]
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


def plot_agreement(rows: list[dict[str, Any]], path: Path, comparisons: Sequence[dict[str, Any]] = ()) -> None:
    """The judges' agreement with the raters and, when the study compares systems, each
    comparison's win rate of side a, with their 95 % CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("judges' agreement with the raters", [r["judge"] for r in rows if r["rater"] == "all"],
               [r for r in rows if r["rater"] == "all"], "agreement")]
    if comparisons:
        panels.insert(0, ("share of pairs side a wins", [c["comparison"] for c in comparisons], list(comparisons),
                          "win_a"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.4), squeeze=False)
    for ax, (title, labels, items, key) in zip(axes[0], panels):
        means = [r[key] for r in items]
        err = [[max(0.0, m - r["ci"][0]) for m, r in zip(means, items)],
               [max(0.0, r["ci"][1] - m) for m, r in zip(means, items)]]
        err = np.nan_to_num(np.array(err, dtype=float)).reshape(2, len(items))
        ax.barh(list(range(len(items))), means, xerr=err, capsize=4, color="#4a8")
        ax.axvline(0.5, color="#999", linestyle="--", linewidth=1)
        ax.set_yticks(list(range(len(items))), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
