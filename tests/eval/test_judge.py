"""Judge (c): reply parsing, editable prompts, and a real local OpenAI-compatible server."""

from __future__ import annotations

from pathlib import Path

import pytest

from storyspace.errors import UserError
from storyspace.eval.judge import load_prompts, parse_choice, parse_ratings


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
    (tmp_path / "rubric.txt").write_text("Rate {story} for {premise}. Interest, Originality, Coherence, Overall.")
    custom = load_prompts(str(tmp_path))
    assert custom.rubric.startswith("Rate {story}") and custom.pairwise == shipped.pairwise
    (tmp_path / "pairwise.txt").write_text("Which is better? {story_a}")
    with pytest.raises(UserError, match="placeholder"):
        load_prompts(str(tmp_path))
    with pytest.raises(UserError, match="not found"):
        load_prompts(str(tmp_path / "nowhere"))

# The judge against a real server (rubric, both orders): tests/eval/test_run.py, LLM-judge test.
