"""PNG plots (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence


def _pyplot():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_training(records: Sequence[dict[str, Any]], path: Path) -> None:
    """Training metrics against step: loss (and ORPO's NLL); ORPO's log-odds ratio or DPO's
    log-probs of chosen and rejected; reward accuracy and margin."""
    plt = _pyplot()
    steps = [r["step"] for r in records]
    panels = [
        ("loss", ["loss", "nll_loss"]),
        ("log-odds ratio (ORPO), log-probs (DPO)", ["log_odds_ratio", "logps/chosen", "logps/rejected"]),
        ("rewards", ["rewards/accuracies", "rewards/margins"]),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(12, 3.4))
    for ax, (title, keys) in zip(axes, panels):
        for key in keys:
            ys = [r.get(key) for r in records]
            if any(y is not None for y in ys):
                ax.plot(steps, [float("nan") if y is None else y for y in ys], marker=".", label=key)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_iterations(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Held-out values (mean +- SD) per policy iteration: judge (a), the value model (single-pass
    story value, and the MCTS story's step value), and judge (b), the independent reader."""
    plt = _pyplot()
    panels = [("judge a: value model", (("judge_a", "single pass (story)"), ("mcts", "MCTS (step)"))),
              ("judge b: independent reader", (("judge_b", "single pass (story)"),))]
    panels = [(t, [(k, lab) for k, lab in keys if any(r.get(k, {}).get("n") for r in rows)]) for t, keys in panels]
    panels = [(t, keys) for t, keys in panels if keys]
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5.2 * max(1, len(panels)), 3.6), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels):
        for key, label in keys:
            got = [r for r in rows if r.get(key, {}).get("n")]
            ax.errorbar([r["iteration"] for r in got], [r[key]["mean"] for r in got], yerr=[r[key]["sd"] for r in got],
                        marker="o", capsize=3, label=label)
        ax.set_xticks(sorted({r["iteration"] for r in rows}))
        ax.set_xlabel("policy iteration (0 = base)")
        ax.set_ylabel("held-out value")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sweep(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Each sweep variant's effect over policy 0 (pooled SD) by judge (a) and judge (b)."""
    plt = _pyplot()
    names = [r["variant"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 0.5 * len(names) + 1.6))
    for k, (judge, label) in enumerate((("a", "judge a: value model"), ("b", "judge b: independent reader"))):
        effects = [(r.get(f"judge_{judge}") or {}).get("effect_sd", float("nan")) for r in rows]
        ax.barh([i + 0.4 * k - 0.2 for i in range(len(names))], effects, height=0.38, label=label)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.axvline(0.3, color="grey", linewidth=0.8, linestyle="--")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("single-pass story value vs policy 0 (effect, pooled SD)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_value_distributions(groups: dict[str, dict[str, list[float]]], path: Path) -> None:
    """One panel per judge: a box per system with its stories' scores as points."""
    plt = _pyplot()
    panels = [(label, data) for label, data in groups.items() if any(data.values())]
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(4.2 * max(1, len(panels)), 3.8), squeeze=False)
    for ax, (label, data) in zip(axes[0], panels):
        names = list(data)
        ax.boxplot([data[n] or [float("nan")] for n in names], showfliers=False)
        for i, n in enumerate(names, start=1):
            ys = data[n]
            xs = [i + 0.08 * ((j % 5) - 2) for j in range(len(ys))]
            ax.scatter(xs, ys, s=12, alpha=0.6)
        ax.set_xticks(range(1, len(names) + 1), names, rotation=20, fontsize=8)
        ax.set_title(label, fontsize=10)
    if not panels:
        axes[0][0].set_title("no scores")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_budget_curve(panels: dict[str, dict[str, dict[int, list[float]]]], unit: int, path: Path) -> None:
    """Mean story value (± SE over premises) against the budget, one line per system, one panel
    per judge (``{"value model (a)": {system: {multiple: [value per premise]}}, ...}``)."""
    import math

    plt = _pyplot()
    panels = {label: curves for label, curves in panels.items() if curves} or {"value model (a)": {}}
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 3.8), squeeze=False)
    for ax, (label, curves) in zip(axes[0], panels.items()):
        for name, points in curves.items():
            ms = sorted(points)
            means = [sum(points[m]) / len(points[m]) for m in ms]
            ses = [
                (math.sqrt(sum((v - mu) ** 2 for v in points[m]) / (len(points[m]) - 1)) / math.sqrt(len(points[m])))
                if len(points[m]) > 1 else 0.0
                for m, mu in zip(ms, means)
            ]
            ax.errorbar(ms, means, yerr=ses, marker="o", capsize=3, label=name)
        ax.set_xscale("log", base=2)
        ticks = sorted({m for points in curves.values() for m in points})
        if ticks:
            ax.set_xticks(ticks, [f"{m}x" for m in ticks])
            ax.minorticks_off()
        ax.set_xlabel(f"budget (units of {unit} policy tokens = one single-pass story)")
        ax.set_ylabel(f"story value ({label})")
        ax.set_title(f"story returned vs budget: {label}")
        if curves:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_validation(hanna: dict[str, dict[str, dict]] | None, contrast: dict[str, dict[str, dict]] | None,
                    path: Path, component: str = "value.value_mean") -> None:
    """Left: pairwise agreement of the story value with each human rating (HANNA); right: how
    often the original beats each corruption (contrast suite), story and step level."""
    plt = _pyplot()
    panels = [p for p in (("hanna", hanna), ("contrast", contrast)) if p[1]]
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(6 * max(1, len(panels)), 3.6), squeeze=False)
    for ax, (name, data) in zip(axes[0], panels):
        if name == "hanna":
            crit = [c for c in data if component in data[c]]
            ax.bar(crit, [data[c][component]["agreement"] for c in crit], color="#4a8")
            ax.set_title(f"HANNA: {component} vs human ratings")
            ax.set_ylabel("pairwise agreement")
            ax.tick_params(axis="x", rotation=30)
        else:
            kinds = list(data["story"])
            xs = range(len(kinds))
            ax.bar([x - 0.2 for x in xs], [data["story"][k]["agreement"] for k in kinds], 0.4, label="story")
            ax.bar([x + 0.2 for x in xs], [data["step"][k]["agreement"] for k in kinds], 0.4, label="step")
            ax.set_xticks(list(xs), kinds, rotation=30)
            ax.axhline(0.95, color="#a33", lw=1, ls="--", label="target 0.95")
            ax.set_title("contrast: original preferred over corruption")
            ax.legend(fontsize=8, loc="lower left")
        ax.axhline(0.5, color="#888", lw=1, ls=":")
        ax.set_ylim(0, 1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_judges(summaries: list[dict[str, Any]], path: Path) -> None:
    """``validate-judges``: left, each judge's story score's pairwise agreement with each HANNA
    human rating; right, how often it scores an original above each corruption (story level)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    width = 0.8 / max(1, len(summaries))
    for panel, ax in zip(("hanna", "contrast"), axes):
        labels: list[str] = []
        for j, s in enumerate(summaries):
            if panel == "hanna":
                data = s["hanna"].get(s["key"], {})
                labels = labels or list(data)
                ys = [data.get(c, {}).get("agreement", float("nan")) for c in labels]
            else:
                labels = labels or list(s["contrast"])
                ys = [s["contrast"].get(k, {}).get("agreement", float("nan")) for k in labels]
            ax.bar([i - 0.4 + width * (j + 0.5) for i in range(len(ys))], ys, width, label=s["judge"])
        ax.set_xticks(range(len(labels)), labels, rotation=30)
        ax.axhline(0.5, color="#888", lw=1, ls=":")
        ax.axhline(0.7 if panel == "hanna" else 0.9, color="#a33", lw=1, ls="--")
        ax.set_ylim(0, 1)
        ax.set_title("HANNA: agreement with people (story score)" if panel == "hanna"
                     else "contrast: original above corruption (story level)")
    axes[0].set_ylabel("share of pairs")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, max(1, len(labels))), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 * ((len(labels) + 3) // 4), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
