"""fit-value end to end: the real reader's readings of two HANNA stories, then the command fitting
from saved readings into a weights file that the value model loads."""

from __future__ import annotations

import json

import pytest

from storyspace.cli import main
from storyspace.errors import UserError
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
    # a reading resumed after its first items reads the rest alike, and hands each new item on
    begun: list = []
    assert read_items(vm, human_stories()[:2], cfg.step_tokens, cfg.contrast_words, cfg.seed, done=items[:3],
                      on_read=begun.append) == items and begun == items[3:]
    with pytest.raises(UserError, match="not of these stories"):
        read_items(vm, human_stories()[1:3], cfg.step_tokens, cfg.contrast_words, cfg.seed, done=items[:3])
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
    # a fit killed while reading resumes from the readings kept so far (a line cut by the kill dropped)
    resumed, partial = tmp_path / "resumed.jsonl", tmp_path / "resumed.jsonl.partial"
    partial.write_text(dump_items(items[:4], "embedded", cfg) + '{"kind": "st')
    small = ["--step-tokens", "32", "--contrast-words", "60", "--folds", "2", "--stories", "2"]
    assert main(["fit-value", "--readings", str(resumed), "--out", str(tmp_path / "r.json"), *small]) == 0
    assert f"resuming the readings begun in {partial}: 4 read" in capsys.readouterr().err.replace("\n", "")
    assert not partial.exists()
    again = [json.loads(line) for line in resumed.read_text().splitlines()[1:]]
    assert [(it["kind"], it["id"]) for it in again] == [(it["kind"], it["id"]) for it in items]
    partial.write_text(dump_items(items[:4], "embedded", FitConfig(step_tokens=48, stories=2)))
    assert main(["fit-value", "--readings", str(resumed), "--out", str(tmp_path / "r2.json"), *small, "--quiet"]) == 0
    assert partial.exists()  # complete readings are used as they are: a partial beside them is not read
    resumed.unlink()
    assert main(["fit-value", "--readings", str(resumed), "--out", str(tmp_path / "r3.json"), *small, "--quiet"]) == 2
    assert "begun with other settings" in capsys.readouterr().err
    # the output is not overwritten without --force
    assert main(["fit-value", "--readings", str(readings), "--out", str(out), "--quiet"]) == 2
    assert "exists (use --force" in capsys.readouterr().err
    # with studies of sibling pairs: their passages are read once each, kept beside the HANNA readings
    studies = [sibling_study(tmp_path, s["prompt"].strip(), [("a", "a"), ("b", "b"), ("a", "b")])[0]
               for s in human_stories()[:2]]
    args = ["fit-value", "--readings", str(readings), "--out", str(out), "--step-tokens", "32", "--contrast-words", "60",
            "--folds", "2", "--stories", "2", "--study", *map(str, studies), "--force", "--quiet"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "| siblings:reader |" in text and "sibling labels: 6 pairs rated, 4 the same way by every showing, 2 tied" in text
    made = json.loads(out.read_text())["made_by"]
    assert made["pairs"]["siblings"] == 4 and made["studies"]["labels"]["split"] == 2
    assert set(made["studies"]["shipped_value_agreement"]) == {"cap 0", "cap 0.05"}
    saved = [json.loads(line) for line in readings.read_text().splitlines()[1:]]
    passages = [it for it in saved if it["kind"] == "passage"]
    assert len(passages) == 6 and all(-1.0 <= it["readings"][0]["premise_sim"] <= 1.0 for it in passages)
    assert {it["readings"][0]["so_far"].strip() for it in passages} == {s["prompt"].strip() for s in human_stories()[:2]}
    before = readings.read_text()
    assert main(args) == 0  # again: nothing left to read, the file unchanged
    assert readings.read_text() == before and "siblings:reader" in capsys.readouterr().out
    assert main([*args[:-3], str(tmp_path / "nope"), "--force", "--quiet"]) == 2  # a study that is not there
    assert "nope" in capsys.readouterr().err


def sibling_study(tmp_path, premise: str, votes: list[tuple[str, str]]):  # noqa: ANN001, ANN201
    """A study of every two siblings of a hand-made run of ``premise`` (3 children: 3 pairs),
    rated by two raters, one per showing: ``votes[k]`` = (first rater's choice, second's)."""
    from storyspace.study.create import StudyConfig, create_study
    from storyspace.study.ratings import append_rating
    from tests.test_bad_input import write_run

    slug = "".join(c for c in premise[:12] if c.isalnum())
    run = write_run(tmp_path / f"run-{slug}", premise=premise)
    d = tmp_path / f"study-{slug}"
    study = create_study([run], d, StudyConfig(pairing="all", pairs=0, both_orders=True))
    for pair, (x, y) in zip(study["pairs"], votes):
        append_rating(study, d, "reader-1", pair["id"], x, "a", kind="llm")
        append_rating(study, d, "reader-2", pair["id"], y, "b", kind="llm")
    return d, study


def test_sibling_labels_become_weighted_pairs_and_ties_drop(tmp_path) -> None:  # noqa: ANN001
    from storyspace.study.labels import sibling_labels
    from storyspace.value.fit_data import FeatureSettings, features_of, passage_key, premise_groups, sibling_fit_pairs

    premise = human_stories()[5]["prompt"].strip()
    d, study = sibling_study(tmp_path, premise, [("a", "a"), ("a", "b"), ("b", "b")])
    labels = sibling_labels(d)
    assert [lab["votes"] for lab in labels] == [[2, 0], [1, 1], [0, 2]]
    assert labels[0]["a"] == study["pairs"][0]["a"]["text"] and labels[0]["context"] == []
    # fake readings, one per distinct passage: the fit needs only their features
    texts = {t for lab in labels for t in (lab["a"], lab["b"])}
    items = [{"kind": "passage", "id": passage_key(premise, [], t),
              "readings": [{"passage": t, "so_far": premise + "\n", "ctx": [-len(t) / 10, -1.0], "neutral": [-3.0, -2.5],
                            "cut_off": False, "story": "", "premise_sim": 0.3}]} for t in texts]
    settings = FeatureSettings(load_calibration("auto", "embedded"), ValueConfig())
    pairs, counts = sibling_fit_pairs(items, labels, settings, weight=0.5)
    assert counts == {"labelled": 3, "unanimous": 2, "split": 1}
    assert len(pairs) == 2 and all(p.kind == "siblings" and p.weight == 0.5 for p in pairs)
    assert {p.groups for p in pairs} == {(premise_groups()[premise],)} == {("5",)}  # folds group by HANNA prompt
    # the winner is the side the votes chose: pair 1 went to its side a, pair 3 to its side b
    feats = {it["id"]: features_of(it["readings"], settings)[0] for it in items}
    assert pairs[0].better[0] == feats[passage_key(premise, [], labels[0]["a"])] != pairs[0].worse[0]
    assert pairs[1].better[0] == feats[passage_key(premise, [], labels[2]["b"])] != pairs[1].worse[0]
    with pytest.raises(UserError, match="no reading"):
        sibling_fit_pairs(items[:1], labels, settings)
    empty, _ = sibling_study(tmp_path / "e", premise, [])
    with pytest.raises(UserError, match="no rated sibling pair"):
        sibling_labels(empty)
