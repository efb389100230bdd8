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
    """ORPO metrics against step: loss and NLL; log-odds ratio; reward accuracy and margin."""
    plt = _pyplot()
    steps = [r["step"] for r in records]
    panels = [
        ("loss", ["loss", "nll_loss"]),
        ("log-odds ratio", ["log_odds_ratio"]),
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
    """Held-out mean step value (+- SD) per iteration, single-pass and MCTS."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for key, label in (("single", "single pass"), ("mcts", "MCTS")):
        xs = [r["iteration"] for r in rows if key in r]
        ms = [r[key]["mean"] for r in rows if key in r]
        sds = [r[key]["sd"] for r in rows if key in r]
        ax.errorbar(xs, ms, yerr=sds, marker="o", capsize=3, label=label)
    ax.set_xlabel("policy iteration (0 = base)")
    ax.set_ylabel("held-out step value")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
