"""A study's ratings: one JSON line per choice in ``ratings.jsonl``, appended, flushed and fsynced
per rating (under an ``flock``, so that two raters' lines never interleave), never rewritten.

Each rater sees the pairs in their own order and with their own sides, drawn from the study's
seed and the rater's name, so a rater who comes back continues where they stopped with the same
layout; the side a pair was shown on is kept with the choice. In a ``both_orders`` study each
pair is shown to each rater twice, once with each side on the left, and rated once each way.

A rating names its rater's ``kind`` (``person``, or ``llm`` for a language model reading blind),
and may carry the rater's ``confidence`` and 1-10 ``scores`` of the two sides (file-based raters,
``storyspace study import``).
"""

from __future__ import annotations

import fcntl
import json
import os
import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from storyspace.errors import UserError
from storyspace.files import read_jsonl
from storyspace.story import printable
from storyspace.study.create import RATINGS

MAX_REASON_CHARS = 1000
MAX_RATER_CHARS = 60
#: who rated: a person, or a language model reading blind
RATER_KINDS = ("person", "llm")


def clean_rater(name: str) -> str:
    """A rater's name: printable, one line, 1..60 characters."""
    name = " ".join(printable(str(name)).split())
    if not name:
        raise UserError("give a rater name")
    if len(name) > MAX_RATER_CHARS:
        raise UserError(f"the rater name is too long (at most {MAX_RATER_CHARS} characters)")
    return name


def layout(study: dict[str, Any], rater: str) -> list[tuple[str, str]]:
    """(pair id, side shown on the left: "a" or "b") in the rater's order."""
    rng = random.Random(f"{study.get('seed', 0)}:{rater}")
    ids = [p["id"] for p in study["pairs"]]
    if study.get("both_orders"):
        shown = [(pid, left) for pid in ids for left in "ab"]
        rng.shuffle(shown)
        return shown
    rng.shuffle(ids)
    return [(pid, "a" if rng.random() < 0.5 else "b") for pid in ids]


def shown_key(study: dict[str, Any], row: dict[str, Any]) -> tuple[str, ...]:
    """What one rater may rate once: the pair, or in a both-orders study the pair and its left side."""
    return (row["pair"], row.get("left", "")) if study.get("both_orders") else (row["pair"],)


def read_ratings(study_dir: Path) -> list[dict[str, Any]]:
    """Every rating kept; a damaged line (a crash mid-write cannot leave one, a hand edit can) is
    a one-line error naming it."""
    path = study_dir / RATINGS
    if not path.exists():
        return []
    out = []
    for n, row in read_jsonl(path, "ratings file"):
        if not isinstance(row, dict) or row.get("choice") not in ("a", "b") or not isinstance(row.get("pair"), str) \
                or not isinstance(row.get("rater"), str):
            raise UserError(f"{path}:{n}: a rating needs rater, pair and choice a or b")
        out.append(row)
    return out


def next_pair(study: dict[str, Any], ratings: list[dict[str, Any]], rater: str) -> dict[str, Any] | None:
    """The rater's next unrated pair as shown: ``left``/``right`` texts and the sides behind them
    (``None`` when the rater has rated every pair)."""
    done = {shown_key(study, r) for r in ratings if r["rater"] == rater}
    order = layout(study, rater)
    by_id = {p["id"]: p for p in study["pairs"]}
    for pid, left in order:
        if shown_key(study, {"pair": pid, "left": left}) in done:
            continue
        pair = by_id[pid]
        right = "b" if left == "a" else "a"
        return {"pair": pid, "kind": pair.get("kind", ""), "premise": pair["premise"],
                "context": list(pair.get("context", [])), "left": {"side": left, "text": pair[left]["text"]},
                "right": {"side": right, "text": pair[right]["text"]}, "rated": len(done), "total": len(order)}
    return None


def rating_row(study: dict[str, Any], rater: str, pair: str, choice: str, left: str, reason: str = "",
               kind: str = "person", confidence: float | None = None,
               scores: dict[str, float] | None = None, item: str | None = None) -> dict[str, Any]:
    """One checked rating (one-line errors): ``scores`` are the rater's 1-10 scores by side."""
    rater = clean_rater(rater)
    if pair not in {p["id"] for p in study["pairs"]}:
        raise UserError(f"no pair {pair!r} in this study")
    if choice not in ("a", "b") or left not in ("a", "b"):
        raise UserError("choice and left must be 'a' or 'b'")
    if kind not in RATER_KINDS:
        raise UserError(f"the rater kind must be person or llm, got {kind!r}")
    reason = " ".join(printable(str(reason or "")).split())
    if len(reason) > MAX_REASON_CHARS:
        raise UserError(f"the reason is too long (at most {MAX_REASON_CHARS} characters)")
    row: dict[str, Any] = {"rater": rater, "kind": kind, "pair": pair, "choice": choice, "left": left,
                           "reason": reason}
    if confidence is not None:
        row["confidence"] = confidence
    if scores:
        row["scores"] = scores
    if item is not None:
        row["item"] = item
    row["time"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return row


def append_rating(study: dict[str, Any], study_dir: Path, rater: str, pair: str, choice: str, left: str,
                  reason: str = "", kind: str = "person") -> dict[str, Any]:
    """Check and append one choice (a rater rates a pair once, in a both-orders study once each
    way: a second choice is refused)."""
    row = rating_row(study, rater, pair, choice, left, reason, kind)
    append_ratings(study, study_dir, [row])
    return row


def append_ratings(study: dict[str, Any], study_dir: Path, rows: list[dict[str, Any]]) -> None:
    """Append checked rows (:func:`rating_row`) in one write, or none of them: a row its rater has
    rated already (in the file, or twice in ``rows``) is refused before anything is written."""
    path = study_dir / RATINGS
    with open(path, "a+", encoding="utf-8") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # released when the file closes
        fh.seek(0)
        seen = set()
        for line in fh.read().splitlines():
            got = _loads(line)
            if isinstance(got.get("rater"), str) and isinstance(got.get("pair"), str):
                seen.add((got["rater"], *shown_key(study, got)))
        for row in rows:
            key = (row["rater"], *shown_key(study, row))
            if key in seen:
                way = f" with side {row['left']} on the left" if study.get("both_orders") else ""
                raise UserError(f"{row['rater']} has already rated pair {row['pair']}{way}")
            seen.add(key)
        fh.seek(0, os.SEEK_END)
        fh.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        fh.flush()
        os.fsync(fh.fileno())


def _loads(line: str) -> dict[str, Any]:
    try:
        got = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return got if isinstance(got, dict) else {}


