"""Shipped data: the 96 HANNA human stories (MIT, dig-team; prompts from WritingPrompts) and
premise files given by users."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from storyspace.errors import UserError
from storyspace.flags import flag
from storyspace.files import read_text
from storyspace.story import printable

HANNA_FILE = "hanna_human_stories.jsonl"
#: ``--n-stories``, declared once for ``calibrate`` and ``validate-value``
N_STORIES = flag("--n-stories", "how many of the 96 shipped HANNA human stories")


def human_stories() -> list[dict]:
    """Rows with ``id``, ``prompt``, ``human_story`` and the six mean human ratings (1-5)."""
    text = resources.files("storyspace.data").joinpath(HANNA_FILE).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def shipped_premises() -> list[str]:
    return [row["prompt"].strip() for row in human_stories()]


def read_premises(path: Path) -> list[str]:
    """Premises from a file: JSON lines with a ``prompt`` (or ``premise``) field, or plain text
    with one premise per line."""
    text = read_text(path, "premise file")
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{path}:{n}: invalid JSON ({exc.msg})") from exc
            value = row.get("prompt", row.get("premise")) if isinstance(row, dict) else None
            if not isinstance(value, str):
                raise UserError(f"{path}:{n}: no 'prompt' or 'premise' text field")
            line = value.strip()
        line = printable(line).strip()
        if line:
            out.append(line)
    if not out:
        raise UserError(f"no premises in {path}")
    return out
