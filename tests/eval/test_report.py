"""The eval report's tables (hand-made scores)."""

from __future__ import annotations

from storyspace.eval.report import metric_table


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip("|").split("|")]


def test_metric_table_pairs_systems_by_premise() -> None:
    # premises differ a lot; mcts beats single on every premise by a small, steady margin
    single = {j: 0.1 * j for j in range(8)}
    mcts = {j: v + 0.02 + 0.005 * (j % 2) for j, v in single.items()}
    lines = metric_table({"single": single, "mcts": mcts}, ["single", "mcts"])
    head = _cells(lines[0])
    base, row = dict(zip(head, _cells(lines[2]))), dict(zip(head, _cells(lines[3])))
    assert base["system"] == "single" and base["paired t p"] == "" and base["Welch p"] == ""
    assert row["n"] == "8" and float(row["Welch p"]) > 0.5  # unpaired: drowned by the premises' spread
    assert row["paired t p"] == "<0.001"
    # a system missing a premise is paired on the premises both hold
    partial = metric_table({"single": single, "mcts": {j: mcts[j] for j in range(3)}}, ["single", "mcts"])
    assert dict(zip(head, _cells(partial[3])))["n"] == "3" and dict(zip(head, _cells(partial[3])))["paired t p"] != ""
