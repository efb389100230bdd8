import pytest

from storyspace.corpus import human_stories, read_premises, shipped_premises
from storyspace.errors import UserError


def test_shipped_hanna_stories_and_premises() -> None:
    rows = human_stories()
    assert len(rows) == 96
    assert {"prompt", "human_story", "human_surprise", "human_coherence"} <= set(rows[0])
    premises = shipped_premises()
    assert len(premises) == 96 and all(p.strip() == p and p for p in premises)


def test_read_premises_text_and_jsonl(tmp_path) -> None:  # noqa: ANN001
    txt = tmp_path / "p.txt"
    txt.write_text("First premise.\n\n  Second premise. \n")
    assert read_premises(txt) == ["First premise.", "Second premise."]
    jl = tmp_path / "p.jsonl"
    jl.write_text('{"prompt": "A"}\n{"premise": "B"}\n')
    assert read_premises(jl) == ["A", "B"]
    jl.write_text('{"title": "A"}\n')
    with pytest.raises(UserError, match="no 'prompt'"):
        read_premises(jl)
    with pytest.raises(UserError, match="not found"):
        read_premises(tmp_path / "nope.txt")
