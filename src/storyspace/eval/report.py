"""``report.md`` and the plots of an evaluation, from its story records and comparisons."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from storyspace.eval import stats
from storyspace.judges.llm import CRITERIA
from storyspace.files import atomic_write

#: (record key, score key, label) of every story-level metric the report tabulates
METRICS: tuple[tuple[str, str, str], ...] = (
    ("value", "value_mean", "(a) value model: story value (mean step value)"),
    ("value", "value_min", "(a) value model: weakest step value"),
    ("reader", "value_mean", "(b) independent reader: story value"),
    ("reader", "curiosity", "(b) independent reader: curiosity"),
    ("reader", "coherence", "(b) independent reader: coherence (PMI)"),
    ("reader", "surprisal", "(b) independent reader: surprisal (nats/token)"),
    *(("llm", c, f"(c) LLM judge: {c} (1-10)") for c in CRITERIA),
)


def score(rec: dict[str, Any], source: str, key: str) -> float | None:
    block = rec.get(source)
    if not isinstance(block, dict):
        return None
    if source == "reader":
        block = block.get("summary", {})
    v = block.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def by_system(records: Sequence[dict[str, Any]], source: str, key: str) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for rec in records:
        v = score(rec, source, key)
        if v is not None:
            out.setdefault(rec["system"], {})[rec["premise_id"]] = v
    return out


def _f(x: float, digits: int = 3) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _p(x: float) -> str:
    if x is None or math.isnan(x):
        return ""
    return f"{x:.2g}" if x >= 0.001 else "<0.001"


def metric_table(scores: dict[str, dict[int, float]], systems: Sequence[str], baseline: str = "single") -> list[str]:
    """A row per system: its stories' mean, SD, bootstrap CI, and against ``baseline`` the
    standardised difference, Welch and permutation p (unpaired) and the paired t-test's p over the
    premises both hold (every system writes one story per premise: pairing removes the spread
    between premises)."""
    base_by = scores.get(baseline, {})
    base = list(base_by.values())
    lines = [
        "| system | n | mean ± SD | 95% CI (bootstrap) | Δ vs single (SD) | Welch p | permutation p | paired t p |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, s in enumerate(systems):
        by = scores.get(s, {})
        xs = list(by.values())
        summ = stats.summarize(xs, seed=i)
        if s == baseline or not base or summ.n == 0:
            d = w = p = t = math.nan
        else:
            d, w, p = stats.standardized_difference(xs, base), stats.welch_p(xs, base), stats.permutation_p(xs, base, seed=i)
            shared = [k for k in by if k in base_by]
            t = stats.paired_t_p([by[k] for k in shared], [base_by[k] for k in shared])
        lines.append(
            f"| {s} | {summ.n} | {_f(summ.mean)} ± {_f(summ.sd)} | [{_f(summ.ci_low)}, {_f(summ.ci_high)}] "
            + "".join(f"| {'' if s == baseline else c} " for c in (_f(d, 2), _p(w), _p(p), _p(t))) + "|"
        )
    return lines


def wins_table(wins: np.ndarray, systems: Sequence[str]) -> list[str]:
    rates = stats.win_rates(wins)
    bt = stats.bradley_terry(wins)
    head = "| system | Bradley–Terry log-strength | " + " | ".join(f"wins vs {s}" for s in systems) + " |"
    lines = [head, "|" + "---|" * (len(systems) + 2)]
    for i, s in enumerate(systems):
        cells = ["" if i == j or math.isnan(rates[i, j]) else f"{rates[i, j]:.2f} ({wins[i, j]:g}/{wins[i, j] + wins[j, i]:g})"
                 for j in range(len(systems))]
        lines.append(f"| {s} | {bt[i]:+.2f} | " + " | ".join(cells) + " |")
    return lines


def pairwise_wins(comparisons: Sequence[dict[str, Any]], systems: Sequence[str]) -> tuple[np.ndarray, dict[str, int]]:
    """Win matrix from LLM comparisons (each premise and pair is one game, split by the two orders)."""
    idx = {s: i for i, s in enumerate(systems)}
    wins = np.zeros((len(systems), len(systems)))
    counts = {"comparisons": 0, "unparsed_orders": 0, "position_bias": 0}
    for c in comparisons:
        counts["comparisons"] += 1
        counts["unparsed_orders"] += sum(1 for ch in c.get("choices", []) if ch is None)
        counts["position_bias"] += int(bool(c.get("position_bias")))
        x, y, s = c.get("x"), c.get("y"), c.get("x_score")
        if s is None or x not in idx or y not in idx:
            continue
        wins[idx[x], idx[y]] += s
        wins[idx[y], idx[x]] += 1 - s
    return wins, counts


def curve_points(records: Sequence[dict[str, Any]], key: str = "value_mean",
                 source: str = "value") -> dict[str, dict[int, list[float]]]:
    """system -> budget multiple -> one number per premise: the value model's (``source``
    "value": ``value_mean`` or ``policy_tokens``) or the independent reader's (``source``
    "reader": a key of its summary) figure for the story the system returned at that budget."""
    out: dict[str, dict[int, list[float]]] = {}
    for rec in records:
        for m, point in (rec.get("curve") or {}).items():
            block = point if source == "value" else point.get("reader")
            if isinstance(block, dict) and isinstance(block.get(key), (int, float)):
                out.setdefault(rec["system"], {}).setdefault(int(m), []).append(float(block[key]))
    return out


def judge_summary(scores: dict[str, dict[int, float]], systems: Sequence[str]) -> dict[str, Any]:
    """``{system: {"mean", "sd", "n"}, ..., "pooled_sd"}``: per-system story scores and the SD pooled
    over the systems (root mean within-system variance), the scale of the report's effect sizes."""
    out: dict[str, Any] = {}
    variances = []
    for s in systems:
        xs = list(scores.get(s, {}).values())
        if xs:
            out[s] = {"mean": round(float(np.mean(xs)), 6), "sd": round(stats.sd(xs), 6), "n": len(xs)}
            if len(xs) > 1:
                variances.append(stats.sd(xs) ** 2)
    out["pooled_sd"] = round(math.sqrt(float(np.mean(variances))), 6) if variances else None
    return out


def summary(records: Sequence[dict[str, Any]], cfg: Any, systems: Sequence[str], command: str = "") -> dict[str, Any]:
    """``summary.json``: the command, premises, budget in units, and per judge each system's mean
    and SD of story value at the full budget with the pooled SD (judge_a: the value model,
    judge_b: the independent reader) and the same at every curve budget (``curve``)."""
    budget = cfg.budget()
    out: dict[str, Any] = {"command": command, "premises": len({r["premise_id"] for r in records}),
                           "units": budget.tokens // budget.unit if budget.tokens % budget.unit == 0
                           else budget.tokens / budget.unit}
    for name, source in (("judge_a", "value"), ("judge_b", "reader")):
        scores = by_system(records, source, "value_mean")
        if scores:
            out[name] = judge_summary(scores, systems)
    out["curve"] = {}
    for name, source in (("judge_a", "value"), ("judge_b", "reader")):
        points = curve_points(records, source=source)
        if points:
            out["curve"][name] = {s: {str(m): {"mean": round(float(np.mean(v)), 6), "sd": round(stats.sd(v), 6),
                                               "n": len(v)} for m, v in sorted(points[s].items())}
                                  for s in systems if s in points}
    return out


def report_markdown(
    records: Sequence[dict[str, Any]], comparisons: Sequence[dict[str, Any]], cfg: Any, systems: Sequence[str],
    failed: Sequence[dict[str, Any]] = (),
) -> str:
    e = cfg.explore
    budget = cfg.budget()
    n_premises = len({r["premise_id"] for r in records})
    lines = [
        "# Evaluation: what does the search buy at equal compute?",
        "",
        f"{n_premises} premises × {len(systems)} systems; budget **{budget.tokens} policy tokens per story**"
        f" (one unit = one whole single-pass story = {budget.depth} steps × {budget.passage_cost} tokens ="
        f" {budget.unit}); policy `{e.models.policy_spec}`, value model reader `{e.models.reference}`"
        f" (a), independent reader `{cfg.reader or 'off'}` (b), LLM judge `{cfg.llm_judge or 'off'}` (c)"
        f" (judge c). Search: {e.search.children} children, {e.search.parallel_leaves} leaves per round,"
        f" {e.search.selection} c={e.search.c_explore}; beam k = {cfg.beam_k}; seed {e.seed}.",
        "",
        "Δ vs single is the standardised difference (mean difference / pooled SD), as COS(M+O)S reports its gains;"
        " p-values are two-sided and uncorrected; CIs are percentile bootstrap CIs of the mean.",
        "",
        "## Compute per story",
        "",
        "| system | policy tokens (mean, min–max) | scored tokens (mean) | wall s (mean) | settings (first premise) |",
        "|---|---|---|---|---|",
    ]
    for s in systems:
        rs = [r for r in records if r["system"] == s]
        if not rs:
            continue
        pt = [r["policy_tokens"] for r in rs]
        settings = ", ".join(f"{k} {v}" for k, v in rs[0].get("settings", {}).items()
                             if not isinstance(v, (list, dict)))
        lines.append(
            f"| {s} | {np.mean(pt):.0f} ({min(pt)}–{max(pt)}) | {np.mean([r['scored_tokens'] for r in rs]):.0f} "
            f"| {np.mean([r['wall_s'] for r in rs]):.1f} | {settings} |"
        )
    for source, key, label in METRICS:
        scores = by_system(records, source, key)
        if not scores:
            continue
        lines += ["", f"## {label}", "", *metric_table(scores, systems)]
    lines += ["", "## Pairwise win rates and Bradley–Terry strengths", "",
              "Per premise, the system with the higher score wins (ties half); the LLM judge's games are its"
              " A/B answers, each pair asked in both orders.", ""]
    for source, key, label in (("value", "value_mean", "(a) value model"), ("reader", "value_mean", "(b) independent reader"),
                               ("llm", "overall", "(c) LLM judge, rubric overall")):
        scores = by_system(records, source, key)
        if scores:
            lines += [f"**{label}**", "", *wins_table(stats.win_matrix(scores, systems), systems), ""]
    if comparisons:
        wins, counts = pairwise_wins(comparisons, systems)
        lines += [f"**(c) LLM judge, pairwise A/B** ({counts['comparisons']} comparisons; {counts['unparsed_orders']}"
                  f" unparsed answers; {counts['position_bias']} with the same letter in both orders)", "",
                  *wins_table(wins, systems), ""]
    ratings = [r.get("llm") for r in records if isinstance(r.get("llm"), dict)]
    if ratings:
        lines += [f"LLM rubric replies parsed in full: {sum(bool(x.get('parsed')) for x in ratings)}/{len(ratings)}.", ""]
    tokens = curve_points(records, "policy_tokens")
    for source, label in (("value", "value model, a"), ("reader", "independent reader, b")):
        curves = curve_points(records, source=source)
        mults = sorted({m for c in curves.values() for m in c})
        if not mults:
            continue
        lines += [f"## Story value ({label}) vs budget", "",
                  "Mean ± SD over premises of the value of the story each system returns with m units of budget"
                  " (in brackets: the policy tokens it actually spent, mean).", "",
                  "| system | " + " | ".join(f"{m}x ({m * budget.unit} tok)" for m in mults) + " |",
                  "|---|" + "---|" * len(mults)]
        for s in systems:
            c = curves.get(s, {})
            t = tokens.get(s, {})
            lines.append(f"| {s} | " + " | ".join(
                f"{_f(float(np.mean(c[m])))} ± {_f(stats.sd(c[m]))} ({np.mean(t[m]):.0f})" if m in c and m in t
                else "" for m in mults) + " |")
        lines.append("")
    if failed:
        lines += ["", "## Failed", "",
                  "Tasks that failed on every try (their premises are left out of every table above; re-run the"
                  " command to try them again; `failed.json`):", "", "| stage | task | tries | error |", "|---|---|---|---|"]
        lines += [f"| {f['stage']} | {f['task']} | {f['attempts']} | {str(f['error']).replace('|', '/')} |" for f in failed]
    lines += ["", "Plots: `value_distributions.png`, `budget_curve.png`; every story with its scores: `stories.jsonl`;"
              " means and SDs per judge: `summary.json`.", ""]
    return "\n".join(lines)


def write_report(out: Path, records: Sequence[dict[str, Any]], comparisons: Sequence[dict[str, Any]], cfg: Any,
                 systems: Sequence[str], failed: Sequence[dict[str, Any]] = (), command: str = "") -> None:
    from storyspace.viz.plots import plot_budget_curve, plot_value_distributions

    atomic_write(out / "report.md", report_markdown(records, comparisons, cfg, systems, failed))
    atomic_write(out / "summary.json", json.dumps(summary(records, cfg, systems, command), indent=1) + "\n")
    groups = {}
    for source, key, label in (("value", "value_mean", "(a) value model"), ("reader", "value_mean", "(b) independent reader"),
                               ("llm", "overall", "(c) LLM judge overall")):
        scores = by_system(records, source, key)
        if scores:
            groups[label] = {s: list(scores.get(s, {}).values()) for s in systems}
    plot_value_distributions(groups, out / "value_distributions.png")
    plot_budget_curve({"value model (a)": curve_points(records), "independent reader (b)": curve_points(records, source="reader")},
                      cfg.budget().unit, out / "budget_curve.png")
