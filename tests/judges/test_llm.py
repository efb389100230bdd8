"""Judge (c): reply parsing, editable prompts, and a real local OpenAI-compatible server."""

from __future__ import annotations

from pathlib import Path

import pytest

from storyspace.errors import UserError
from storyspace.judges.llm import JudgeConfig, LLMJudge, expected_rating, load_prompts, parse_choice, parse_ratings


def test_parse_ratings() -> None:
    text = "Interest: 7\nOriginality: 5/10\nCoherence - 8\nOverall: 11\nInterest: 2"
    assert parse_ratings(text) == {"interest": 7.0, "originality": 5.0, "coherence": 8.0}  # 11 is out of range
    assert parse_ratings("I liked it.") == {}


@pytest.mark.parametrize(
    "reply, choice",
    [("A", "A"), ("B.", "B"), ("Story B is better", "B"), ("The answer is A", "A"), ("I prefer Story A.", "A"),
     ("a story about", None), ("Neither", None)],
)
def test_parse_choice(reply: str, choice: str | None) -> None:
    assert parse_choice(reply) == choice


def test_prompts_are_editable_files(tmp_path: Path) -> None:
    shipped = load_prompts()
    assert "{story}" in shipped.rubric and "{story_a}" in shipped.pairwise
    assert all(p in shipped.pairwise_premises for p in ("{premise_a}", "{story_a}", "{premise_b}", "{story_b}"))
    (tmp_path / "rubric.txt").write_text("Rate {story} for {premise}. Interest, Originality, Coherence, Overall.")
    custom = load_prompts(str(tmp_path))
    assert custom.rubric.startswith("Rate {story}") and custom.pairwise == shipped.pairwise
    (tmp_path / "pairwise.txt").write_text("Which is better? {story_a}")
    with pytest.raises(UserError, match="placeholder"):
        load_prompts(str(tmp_path))
    with pytest.raises(UserError, match="not found"):
        load_prompts(str(tmp_path / "nowhere"))

def test_expected_rating_is_the_mean_under_the_judges_distribution() -> None:
    import math

    assert expected_rating([0.0] * 10) == pytest.approx(5.5)
    assert expected_rating([math.log(0.5) if k in (2, 4) else -1e9 for k in range(1, 11)]) == pytest.approx(3.0)


PREMISE = "A lighthouse keeper finds a message in a bottle."
STORY = ("She opened the bottle at dawn. The note was in her own handwriting, dated fifty years ahead. "
         "She read it twice, then climbed the stairs to light the lamp.")
OTHER = "Bottle bottle. The the the bottle. Let's write a story about a bottle."


@pytest.mark.slow
def test_the_judge_reads_every_verdict_from_a_real_model(embedded) -> None:  # noqa: ANN001
    judge = LLMJudge(embedded)
    rating = judge.rate(PREMISE, STORY)
    assert rating["parsed"] and rating["method"] == "probabilities"
    assert all(1.0 <= rating[c] <= 10.0 for c in ("interest", "originality", "coherence", "overall"))
    pair = judge.compare(PREMISE, STORY, OTHER)
    assert pair["method"] == "probabilities" and None not in pair["choices"] and 0.0 <= pair["x_score"] <= 1.0
    # a story against itself: the two orders are the same question, so position bias cancels exactly
    assert judge.compare(PREMISE, STORY, STORY)["x_score"] == pytest.approx(0.5, abs=1e-6)
    # two stories for two premises: each is shown under its own (the HANNA pairs of validate-judges)
    other_premise = "A baker's oven starts to talk."
    prompt = judge._pair_prompt(PREMISE, STORY, other_premise, OTHER)
    assert f"Story A's premise: {PREMISE}" in prompt and f"Story B's premise: {other_premise}" in prompt
    assert "Story A's premise" not in judge._pair_prompt(PREMISE, STORY, PREMISE, OTHER)
    apart = judge.compare(PREMISE, STORY, OTHER, premise_y=other_premise)
    assert apart["method"] == "probabilities" and 0.0 <= apart["x_score"] <= 1.0
    with pytest.raises(UserError, match="judge method"):
        LLMJudge(embedded, JudgeConfig(method="vibes"))

# The judge behind a real OpenAI-compatible server inside an eval: tests/eval/test_run.py.
