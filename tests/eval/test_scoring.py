"""Scoring any story with the real embedded reader; ``storyspace score`` files with bad rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storyspace.errors import UserError
from storyspace.judges.scorers import Scorers
from storyspace.eval.score_file import score_file
from storyspace.eval.scoring import score_passages, score_story, story_steps, summarize_breakdowns
from storyspace.story import split_steps
from storyspace.story import PromptConfig
from storyspace.value.config import ValueConfig
from storyspace.value.model import ValueModel, load_calibration

PREMISE = "A lighthouse keeper finds a message in a bottle."
STORY = (
    "The storm had passed by morning. Old Tom walked down to the rocks and found a green bottle wedged between "
    "two stones. Inside was a letter, dated forty years ago, in his own handwriting. He did not remember writing "
    "it. The letter asked him to leave the light dark on the night of the first of March. That night was tonight."
)


def words(text: str) -> int:
    return len(text.split())


def test_split_steps_groups_whole_sentences() -> None:
    steps = split_steps("One two three. Four five six! Seven eight? Nine.", 5, words)
    assert steps == ["One two three. Four five six!", "Seven eight? Nine."]
    # a short tail joins the step before it
    assert split_steps("A b c d e f. G.", 4, words) == ["A b c d e f. G."]
    assert split_steps("No sentence end at all here", 3, words) == ["No sentence end at all here"]


def test_summarize_breakdowns() -> None:
    s = summarize_breakdowns([{"value": 0.2, "curiosity": 0.5}, {"value": 0.4, "curiosity": 0.7}])
    assert s["value_mean"] == pytest.approx(0.3) and s["value_min"] == 0.2 and s["curiosity"] == pytest.approx(0.6)
    assert summarize_breakdowns([]) == {}


def test_story_steps_are_a_rows_own_passages() -> None:
    assert story_steps({"passages": ["A.", " ", "B."]}) == ["A.", "B."]
    for row in ({}, {"passages": []}, {"passages": ["", " "]}, {"passages": "A. B."}, {"passages": ["A.", 3]}):
        assert story_steps(row) is None


@pytest.fixture(scope="module")
def value_model(embedded):  # noqa: ANN001, ANN201
    return ValueModel(embedded, ValueConfig(), load_calibration("auto", "embedded"), PromptConfig())


@pytest.mark.slow
def test_score_story_values_each_step_in_context(value_model) -> None:  # noqa: ANN001
    out = score_story(value_model, PREMISE, STORY, 24)
    assert len(out["steps"]) == len(out["breakdowns"]) >= 2
    assert " ".join(out["steps"]).split() == STORY.split()  # nothing lost, nothing added
    s = out["summary"]
    assert 0 <= s["value_min"] <= s["value_mean"] <= 1 and s["steps"] == len(out["steps"])
    assert {"curiosity", "coherence", "surprisal", "pmi", "penalty"} <= set(s)
    # the first step is read after the premise alone, the second after the first
    again = score_story(value_model, PREMISE, STORY, 24)
    assert again["summary"]["value_mean"] == pytest.approx(s["value_mean"], abs=1e-4)


@pytest.mark.slow
def test_score_file_keeps_going_past_bad_rows_and_resumes(value_model, tmp_path: Path) -> None:  # noqa: ANN001
    src = tmp_path / "stories.jsonl"
    src.write_text("\n".join([
        json.dumps({"prompt": PREMISE, "story": STORY, "id": "good"}),
        json.dumps({"prompt": PREMISE, "story": "   "}),
        "not json",
        json.dumps({"prompt": PREMISE}),
        json.dumps({"prompt": PREMISE, "story": "word " * 9000}),
    ]) + "\n")
    out = tmp_path / "scored.jsonl"
    rows = score_file(src, out, Scorers(value=value_model), 48)
    assert [("error" in r) for r in rows] == [False, True, True, True, True]
    assert rows[0]["id"] == "good" and 0 <= rows[0]["value"]["value_mean"] <= 1
    assert rows[1]["error"] == "empty story" and "too long" in rows[4]["error"]
    assert all("\n" not in r.get("error", "") for r in rows)
    # a stopped run continues after the rows already written
    lines = out.read_text().splitlines()
    out.write_text(lines[0] + "\n")
    again = score_file(src, out, Scorers(value=value_model), 48)
    assert len(again) == 5 and len(out.read_text().splitlines()) == 5 and again[0] == rows[0]


def test_score_file_refuses_a_missing_or_empty_input(tmp_path: Path, value_model) -> None:  # noqa: ANN001
    with pytest.raises(UserError):
        score_file(tmp_path / "missing.jsonl", tmp_path / "o.jsonl", Scorers(value=value_model), 48)
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(UserError):
        score_file(tmp_path / "empty.jsonl", tmp_path / "o.jsonl", Scorers(value=value_model), 48)


@pytest.mark.slow
def test_score_file_reads_an_eval_story_in_its_own_passages(value_model, tmp_path: Path) -> None:  # noqa: ANN001
    passages = [STORY[:120].rsplit(" ", 1)[0], STORY[len(STORY[:120].rsplit(" ", 1)[0]) + 1:]]
    src = tmp_path / "stories.jsonl"  # eval's stories.jsonl: premise, not prompt; the passages it chose
    src.write_text(json.dumps({"premise": PREMISE, "system": "mcts", "story": "\n\n".join(passages),
                               "passages": passages}) + "\n")
    row = score_file(src, tmp_path / "scored.jsonl", Scorers(value=value_model), 24)[0]
    assert "error" not in row and row["system"] == "mcts" and row["value"]["steps"] == 2
    eval_reading = summarize_breakdowns(score_passages(value_model, PREMISE, passages))
    assert row["value"]["value_mean"] == pytest.approx(eval_reading["value_mean"], abs=1e-4)
    assert row["step_values"] == pytest.approx([b["value"] for b in score_passages(value_model, PREMISE, passages)],
                                               abs=1e-4)
