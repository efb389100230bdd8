"""fit-value end to end: the real reader's readings of two HANNA stories, then the command fitting
from saved readings into a weights file that the value model loads."""

from __future__ import annotations

import json

import pytest

from storyspace.cli import main
from storyspace.corpus import human_stories
from storyspace.contrast import CORRUPTIONS
from storyspace.story import PromptConfig
from storyspace.value.fit import FitConfig
from storyspace.value.fit_data import dump_items, make_pairs, read_items
from storyspace.value.config import ValueConfig
from storyspace.value.model import ValueModel, load_calibration


@pytest.mark.slow
def test_fit_value_from_real_readings(embedded, tmp_path, capsys) -> None:  # noqa: ANN001
    vm = ValueModel(embedded, ValueConfig(combine="product"), load_calibration("auto", "embedded"), PromptConfig())
    cfg = FitConfig(step_tokens=32, contrast_words=60, folds=2, stories=2)
    items = read_items(vm, human_stories()[:2], cfg.step_tokens, cfg.contrast_words, cfg.seed)
    kinds = [it["kind"] for it in items]
    assert kinds.count("hanna") == 2 and kinds.count("story") == 2 * (1 + len(CORRUPTIONS)) and "step" in kinds
    pairs = make_pairs(items, vm, cfg)
    assert {p.corruption for p in pairs if p.kind == "story"} == set(CORRUPTIONS)
    readings = tmp_path / "readings.jsonl"
    readings.write_text(dump_items(items, "embedded", cfg))
    out = tmp_path / "w.json"
    assert main(["fit-value", "--readings", str(readings), "--out", str(out), "--step-tokens", "32",
                 "--contrast-words", "60", "--folds", "2", "--stories", "2", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "| story:loop |" in text and f"wrote {out}" in text
    weights = json.loads(out.read_text())
    assert weights["made_by"]["pairs"]["story"] == 2 * len(CORRUPTIONS)
    assert "premise_sim" in weights["features"]
    # the human range of every feature, for the reward cap
    assert set(weights["human_quantiles"]["values"]) == set(weights["features"])
    # the MiniLM similarities were filled in and kept in the readings file
    saved = [json.loads(line) for line in readings.read_text().splitlines()[1:]]
    sims = [r["premise_sim"] for it in saved for r in it["readings"]]
    assert len(sims) == sum(len(it["readings"]) for it in items) and all(-1.0 <= x <= 1.0 for x in sims)
    assert "story:shuffled" in weights["made_by"]["cross_validation"] and weights["made_by"]["settings"]["stories"] == 2
    # the value model reads with them
    learned = ValueModel(embedded, ValueConfig(weights=str(out)), vm.calibration, PromptConfig())
    b = learned.evaluate_story("A cat learns to read.", ["The cat opened the book and read it aloud."], [False])[0]
    assert 0.0 <= b["value"] <= 1.0 and b["value"] == pytest.approx(learned.weights.value(b), abs=1e-5)
    assert learned.embedder is not None and -1.0 <= b["premise_sim"] <= 1.0
    assert "premise_recall" not in weights["features"] and not learned.reads_recall
    # premise recall joins when asked for: read once, kept in the readings file, read by the value model
    assert main(["fit-value", "--readings", str(readings), "--out", str(out), "--step-tokens", "32",
                 "--contrast-words", "60", "--folds", "2", "--stories", "2", "--features", "surprisal_z,pmi,premise_recall",
                 "--force", "--quiet"]) == 0
    capsys.readouterr()
    saved = [json.loads(line) for line in readings.read_text().splitlines()[1:]]
    recalls = [r["premise_recall"] for it in saved for r in it["readings"]]
    assert len(recalls) == len(sims) and all(isinstance(x, float) for x in recalls) and len(set(recalls)) > 5
    with_recall = ValueModel(embedded, ValueConfig(weights=str(out)), vm.calibration, PromptConfig())
    assert with_recall.reads_recall
    b = with_recall.evaluate_story("A cat learns to read.", ["The cat opened the book and read it aloud."], [False])[0]
    assert b["value"] == pytest.approx(with_recall.weights.value(b), abs=1e-5) and "premise_recall" in b
    # the output is not overwritten without --force
    assert main(["fit-value", "--readings", str(readings), "--out", str(out), "--quiet"]) == 2
    assert "exists (use --force" in capsys.readouterr().err
