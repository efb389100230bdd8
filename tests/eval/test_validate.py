"""validate-value: the agreement table (pure) and the command on a few real HANNA stories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storyspace.cli import main
from storyspace.corpus import human_stories
from storyspace.eval.validate import hanna_rows, validation_markdown, validation_table


def test_hanna_rows_carry_the_ratings() -> None:
    rows = hanna_rows(human_stories()[:2])
    assert set(rows[0]) >= {"id", "prompt", "story", "human_surprise", "human_coherence"}
    assert rows[0]["story"] == human_stories()[0]["human_story"]


def test_validation_table_on_known_orders() -> None:
    rows = [
        {"human_surprise": float(i), "human_coherence": float(4 - i), "value": {"value_mean": i / 10, "pmi": -i}}
        for i in range(5)
    ] + [{"error": "empty story"}]
    table = {(t["component"], t["human"]): t for t in validation_table(rows)}
    up = table[("value.value_mean", "Surprise")]
    assert up["rho"] == pytest.approx(1.0) and up["agreement"] == 1.0 and up["n"] == 5 and up["pairs"] == 10
    assert table[("value.value_mean", "Coherence")]["agreement"] == 0.0
    assert table[("value.pmi", "Coherence")]["rho"] == pytest.approx(1.0)
    text = validation_markdown(list(table.values()), rows, 1.0)
    assert "5 stories scored (1 could not be)" in text and "| value.pmi | Coherence | 5 | +1.000" in text


@pytest.mark.slow
def test_validate_value_and_score_commands(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "validate"
    args = ["validate-value", "--n-stories", "4", "--out", str(out), "--reference", "llamacpp:embedded",
            "--step-tokens", "96", "--quiet"]
    assert main([*args, "--reader", "none"]) == 0
    text = capsys.readouterr().out
    assert "| value.value_mean | Surprise | 4 |" in text and (out / "validate.md").read_text().strip() == text.strip()
    hanna = json.loads((out / "validate.json").read_text())["hanna"]
    assert set(hanna) == {"Relevance", "Coherence", "Empathy", "Surprise", "Engagement", "Complexity"}
    assert set(hanna["Surprise"]["value.value_mean"]) == {"agreement", "rho", "pairs"}
    assert (out / "validate.png").stat().st_size > 1000
    # the contrast suite on two stories: every corruption type at story and step level
    out2 = tmp_path / "contrast"
    assert main(["validate-value", "--suite", "contrast", "--contrast-stories", "2", "--contrast-words", "80", "--out", str(out2),
                 "--reference", "llamacpp:embedded", "--step-tokens", "48", "--reader", "none", "--quiet"]) == 0
    contrast = json.loads((out2 / "validate.json").read_text())["contrast"]
    from storyspace.contrast import CORRUPTIONS

    for level in ("story", "step"):
        assert set(contrast[level]) == set(CORRUPTIONS)
        assert all(v["pairs"] == 2 and 0.0 <= v["agreement"] <= 1.0 for v in contrast[level].values())
    assert "contrast suite" in capsys.readouterr().out
    # scoring your own stories, judge (b) included
    src = tmp_path / "mine.jsonl"
    src.write_text(json.dumps({"prompt": "A cat learns to read.", "story": "The cat opened the book. It read the "
                               "first word aloud, and the house went quiet."}) + "\n" + json.dumps({"prompt": "x"}) + "\n")
    assert main(["score", str(src), "--out", str(tmp_path / "scored.jsonl"), "--reference", "llamacpp:embedded",
                 "--quiet"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "scored.jsonl").read_text().splitlines()]
    assert "value" in rows[0] and 0 <= rows[0]["reader"]["value_mean"] <= 1 and "error" in rows[1]
    assert "scored 1 of 2 stories" in capsys.readouterr().out
