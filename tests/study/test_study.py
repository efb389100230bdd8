"""Studies: pairs drawn from runs and evals, ratings appended and continued, the agreement and
kappa arithmetic on hand-made cases, choices as ORPO pairs. No model is needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storyspace.cli import main
from storyspace.errors import UserError
from storyspace.study.create import StudyConfig, create_study, load_study
from storyspace.study.preferences import study_preferences
from storyspace.study.ratings import append_rating, layout, next_pair, read_ratings
from storyspace.study.report import agreement, bootstrap_ci, fleiss_kappa, judge_pick, study_report
from tests.test_bad_input import write_run


def write_eval(path: Path) -> Path:
    """An eval's stories.jsonl: two premises, three systems each, with the three judges' scores."""
    path.mkdir(parents=True)
    rows = []
    for pi in range(2):
        for si, system in enumerate(["single", "best-of-n", "mcts"]):
            rows.append({"premise_id": pi, "premise": f"Premise {pi}.", "system": system,
                         "story": f"Story {pi} by {system}.", "value": {"value_mean": 0.1 * si, "value_min": 0.0},
                         "reader": {"summary": {"value_mean": 0.3 - 0.1 * si}},
                         "llm": {"interest": 5, "originality": 5, "coherence": 5 + si, "overall": 5}})
    (path / "stories.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_sibling_pairs_from_runs_keep_values_prompt_and_context(tmp_path: Path) -> None:
    run = write_run(tmp_path / "runs" / "a")
    study = create_study([run], tmp_path / "study", StudyConfig(pairs=5, min_margin=0.05))
    assert study["available"] == 1 and len(study["pairs"]) == 1  # one node with children: the root
    pair = study["pairs"][0]
    assert pair["kind"] == "siblings" and pair["context"] == []
    assert (pair["a"]["text"], pair["b"]["text"]) == ("She opened it.", "The sea was grey.")  # highest vs lowest
    assert pair["a"]["scores"]["value"] == 0.6 and pair["b"]["scores"]["value"] == 0.2
    # a prefill-style run (the default): the exact prompt text, rendered with the policy's chat template
    assert isinstance(pair["prompt"], str) and "Premise: A lighthouse keeper" in pair["prompt"]
    assert pair["prompt"].rstrip().endswith("assistant") and pair["lead"] == ""
    assert load_study(tmp_path / "study")["pairs"] == study["pairs"]
    with pytest.raises(UserError, match="not an empty directory"):
        create_study([run], tmp_path / "study", StudyConfig())
    with pytest.raises(UserError, match="no pair"):
        create_study([run], tmp_path / "study2", StudyConfig(min_margin=0.9))


def test_system_pairs_from_an_eval_carry_every_judge(tmp_path: Path) -> None:
    ev = write_eval(tmp_path / "eval")
    study = create_study([ev], tmp_path / "study", StudyConfig(pairs=100))
    assert study["available"] == 6 and len(study["pairs"]) == 6  # 2 premises x 3 system pairs
    pair = next(p for p in study["pairs"] if p["a"]["system"] == "single" and p["b"]["system"] == "mcts")
    assert pair["a"]["scores"] == {"value": 0.0, "reader": 0.3, "llm": 5.0}
    assert pair["b"]["scores"]["llm"] == pytest.approx(5.5)
    assert judge_pick(pair, "value") == 0.0 and judge_pick(pair, "reader") == 1.0
    with pytest.raises(UserError, match="neither an explore run"):
        create_study([tmp_path], tmp_path / "s3", StudyConfig())



def test_curve_points_are_stories_of_their_own_when_asked(tmp_path: Path) -> None:
    ev = tmp_path / "eval"
    ev.mkdir()
    rows = []
    for pi in range(2):
        rows.append({"premise": f"Premise {pi}.", "system": "mcts", "story": f"Four {pi}.\n\nMore.",
                     "curve": {"2": {"value_mean": 0.4, "passages": [f"Two {pi}.", "Less."]},
                               "4": {"value_mean": 0.6, "passages": [f"Four {pi}.", "More."]}}})
        rows.append({"premise": f"Premise {pi}.", "system": "single", "story": f"One {pi}.",
                     "curve": {"1": {"value_mean": 0.1, "passages": [f"One {pi}."]}}})
    rows.append({"premise": "Premise 9.", "system": "mcts", "story": "Old.", "curve": {"2": {"value_mean": 0.3}, "4": {}}})
    (ev / "stories.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    study = create_study([ev], tmp_path / "study", StudyConfig(pairs=0, curve_points=True,
                                                                comparisons="mcts vs mcts/2u; mcts/2u vs single"))
    got = sorted((p["comparison"], p["a"]["text"], p["b"]["text"], p["b"]["scores"].get("value")) for p in study["pairs"])
    assert got == [("mcts vs mcts/2u", "Four 0.\n\nMore.", "Two 0.\n\nLess.", 0.4),
                   ("mcts vs mcts/2u", "Four 1.\n\nMore.", "Two 1.\n\nLess.", 0.4),
                   ("mcts/2u vs single", "Two 0.\n\nLess.", "One 0.", None),
                   ("mcts/2u vs single", "Two 1.\n\nLess.", "One 1.", None)]  # the old record kept no passages
    assert all(p["a"]["source"].endswith("curve 2u") for p in study["pairs"] if p["a"]["system"] == "mcts/2u")
    # without the flag a curve point is no system (only the largest point is the story)
    with pytest.raises(UserError, match="no stories of mcts/2u"):
        create_study([ev], tmp_path / "study2", StudyConfig(pairs=0, comparisons="mcts vs mcts/2u"))

def test_each_rater_has_a_fixed_order_and_continues_where_they_stopped(tmp_path: Path) -> None:
    study = create_study([write_eval(tmp_path / "eval")], tmp_path / "study", StudyConfig(pairs=6, seed=3))
    d = tmp_path / "study"
    assert layout(study, "ann") == layout(study, "ann") and layout(study, "ann") != layout(study, "bob")
    seen = []
    for _ in range(3):
        shown = next_pair(study, read_ratings(d), "ann")
        seen.append(shown["pair"])
        append_rating(study, d, "ann", shown["pair"], shown["left"]["side"], shown["left"]["side"], "clearer")
    assert seen == [pid for pid, _ in layout(study, "ann")[:3]]
    again = next_pair(study, read_ratings(d), "ann")
    assert again["pair"] == layout(study, "ann")[3][0] and again["rated"] == 3
    with pytest.raises(UserError, match="already rated"):
        append_rating(study, d, "ann", seen[0], "a", "a")
    with pytest.raises(UserError, match="no pair"):
        append_rating(study, d, "ann", "p999", "a", "a")
    lines = (d / "ratings.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["reason"] == "clearer"


def test_agreement_counts_ties_as_half() -> None:
    assert agreement([1.0, 0.0, 0.5], ["a", "a", "b"]) == pytest.approx((1 + 0 + 0.5) / 3)


def test_fleiss_kappa_matches_the_textbook_example() -> None:
    # Fleiss (1971) as worked in Wikipedia's "Fleiss' kappa": 10 subjects, 14 raters, 5 categories
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert fleiss_kappa(table) == pytest.approx(0.210, abs=0.0005)
    assert fleiss_kappa([[2, 0], [0, 2], [2, 0]]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        fleiss_kappa([[2, 0], [1, 0]])


def test_bootstrap_ci_brackets_the_mean() -> None:
    groups = [[1.0], [0.0], [1.0], [1.0], [0.0, 1.0], [1.0]]
    lo, hi = bootstrap_ci(groups)
    mean = sum(sum(g) for g in groups) / sum(len(g) for g in groups)
    assert lo <= mean <= hi and 0.0 <= lo < hi <= 1.0


def test_report_and_preferences_from_two_raters(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    study = create_study([write_eval(tmp_path / "eval")], tmp_path / "study", StudyConfig(pairs=6))
    d = tmp_path / "study"
    for pair in study["pairs"]:  # both raters choose the side with the higher LLM score (b when tied)
        pick = "a" if judge_pick(pair, "llm") == 1.0 else "b"
        append_rating(study, d, "ann", pair["id"], pick, "a")
        append_rating(study, d, "bob", pair["id"], pick, "b")
    report = study_report(d)
    overall = {r["judge"]: r for r in report["agreement"] if r["rater"] == "all"}
    assert overall["llm"]["agreement"] == pytest.approx(1 - 0.5 * sum(judge_pick(p, "llm") == 0.5
                                                                     for p in study["pairs"]) / 6)
    assert overall["value"]["ratings"] == 12 and overall["value"]["pairs"] == 6
    assert report["kappa"] == {"fleiss": 1.0, "pairs": 6, "raters": 2}
    assert (d / "report.md").is_file() and (d / "agreement.png").stat().st_size > 1000
    prefs = study_preferences(d)
    assert len(prefs) == 6 and all(p["votes"] == "2-0" for p in prefs)
    assert main(["pairs", "--from-study", str(d), "--out", str(tmp_path / "p.jsonl")]) == 0
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 6
    assert main(["study", "report", str(d)]) == 0
    assert "Fleiss' kappa 1.000" in capsys.readouterr().out


def test_study_cli_refuses_bad_input_in_one_line(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    for args in (["study", "create", "--out", str(tmp_path / "s")], ["study", "report"],
                 ["study", "report", str(tmp_path)], ["pairs", "--out", str(tmp_path / "p.jsonl")],
                 ["study", "create", "--from", str(tmp_path / "none"), "--out", str(tmp_path / "s")]):
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("storyspace: error: ") and "\n" not in err, err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "study.json").write_text('{"pairs": [{"id": "p1"}]}')
    assert main(["study", "report", str(tmp_path / "bad")]) == 2
    assert "damaged" in capsys.readouterr().err


def test_choices_on_one_writer_s_siblings_are_written_as_pairs_for_another_policy(tmp_path: Path, embedded,  # noqa: ANN001
                                                                                  capsys) -> None:  # noqa: ANN001
    from storyspace.story import PromptConfig, Story, preference_prompt

    dirs = []
    for k, context in enumerate(([], ["The lamp went out.", "She climbed the stairs."])):
        d = tmp_path / f"study{k}"
        study = create_study([write_run(tmp_path / "runs" / f"r{k}")], d, StudyConfig(pairs=5, min_margin=0.05))
        # as a study of another writer's trees: its prompt is that writer's, its story so far its own
        study["pairs"][0].update(prompt="<another writer's template> Premise: ...", context=context)
        (d / "study.json").write_text(json.dumps(study))
        append_rating(study, d, "reader-1", "p001", "b", "a")
        append_rating(study, d, "reader-2", "p001", "b", "b")
        dirs.append(d)
    kept = study_preferences(dirs[1])
    assert kept[0]["prompt"] == "<another writer's template> Premise: ..."  # as the study holds it
    out = tmp_path / "pairs.jsonl"
    assert main(["pairs", "--from-study", *map(str, dirs), "--prompt-for", "embedded", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2 and [r["study"] for r in rows] == list(map(str, dirs))
    for row, context in zip(rows, ([], ["The lamp went out.", "She climbed the stairs."])):
        story = Story.from_steps(row["premise"], [{"passage": p} for p in context])
        prompt, lead = preference_prompt(story, PromptConfig(), embedded.chat_prompt)
        assert row["prompt"] == prompt and all(p in prompt for p in context)
        assert (row["chosen"], row["rejected"]) == (lead + "The sea was grey.", lead + "She opened it.")  # b won 2-0
        assert lead == (" " if context else "") and row["votes"] == "2-0"
    assert main(["pairs", "--prompt-for", "embedded", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "--prompt-for goes with --from-study" in capsys.readouterr().err
