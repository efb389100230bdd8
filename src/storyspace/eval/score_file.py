"""``storyspace score``: score a JSONL file of stories as a user would score their own drafts.

Each input line is a JSON object with ``prompt`` (or ``premise``, as ``eval``'s ``stories.jsonl``
has it) and ``story``; a line with ``passages`` (a list of strings, as ``eval`` writes them) is
read in those steps, as the eval read it, and any other story is cut into steps of about
``--step-tokens`` tokens. Each output line is that object
with ``value`` ((a) the value model: story value = mean and minimum step value, and each component's mean),
``reader`` ((b) the independent reader) and ``llm`` ((c) the LLM judge) when they are on, or with an ``error`` when
the row cannot be scored (the other rows go on). The output is written line by line; a run that
was stopped continues after the rows already in the output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from storyspace.errors import UserError
from storyspace.eval.scoring import score_passages, score_story, story_steps, summarize_breakdowns
from storyspace.judges.scorers import Scorers


def read_rows(path: Path) -> list[dict[str, Any] | str]:
    """Parsed rows; a line that is not a JSON object stays as an error string."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError as exc:
        raise UserError(f"stories file not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read stories file {path}: {exc}") from exc
    rows: list[dict[str, Any] | str] = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            rows.append(f"line {n} is not JSON")
            continue
        rows.append(row if isinstance(row, dict) else f"line {n} is not a JSON object")
    if not rows:
        raise UserError(f"no stories in {path}")
    return rows


def score_row(row: dict[str, Any], scorers: Scorers, step_tokens: int) -> dict[str, Any]:
    prompt, story = row.get("prompt", row.get("premise")), row.get("story")
    if not isinstance(prompt, str) or not isinstance(story, str):
        return {**row, "error": "needs string fields 'prompt' (or 'premise') and 'story'"}
    try:
        a = score_story(scorers.value, prompt, story, step_tokens, story_steps(row))
    except UserError as exc:
        return {**row, "error": str(exc)}
    out = {**row, "value": a["summary"], "step_values": [b["value"] for b in a["breakdowns"]]}
    if scorers.reader is not None:
        b = score_passages(scorers.reader, prompt.strip(), a["steps"])
        out["reader"] = summarize_breakdowns(b)
    if scorers.llm is not None:
        out["llm"] = scorers.llm.rate(prompt.strip(), story.strip())
    return out


def score_file(
    src: Path,
    out: Path,
    scorers: Scorers,
    step_tokens: int,
    on_row: Callable[[int, int], None] | None = None,
    rows: list[dict[str, Any] | str] | None = None,
) -> list[dict[str, Any]]:
    """Score every row of ``src`` (or ``rows``) into ``out``; returns all output rows."""
    rows = rows if rows is not None else read_rows(src)
    done: list[dict[str, Any]] = []
    if out.is_file():
        try:
            done = [json.loads(x) for x in out.read_text().splitlines() if x.strip()]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"{out} exists and is not a scored file ({exc}): choose another --out") from exc
        if len(done) > len(rows):
            raise UserError(f"{out} holds more rows than {src}: choose another --out")
    if out.is_dir():
        raise UserError(f"--out {out} is a directory: give a file name")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fh = open(out, "a")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from exc
    with fh:
        for i in range(len(done), len(rows)):
            if on_row is not None:
                on_row(i, len(rows))
            row = rows[i]
            scored = {"error": row} if isinstance(row, str) else score_row(row, scorers, step_tokens)
            fh.write(json.dumps(scored) + "\n")
            fh.flush()
            done.append(scored)
    if on_row is not None:
        on_row(len(rows), len(rows))
    return done
