"""File-based raters: a study's pairs go out as blind items, the verdicts come back as ratings.

``storyspace study export STUDY_DIR --rater NAME --out FILE`` writes the rater's items still to
rate, in the rater's own order and sides (:func:`storyspace.study.ratings.layout`): an opaque
``id``, the premise, the story so far for sibling passages, and the two texts as ``A`` and ``B``.
Nothing in an item tells the systems, the source files, the values or the order apart: the id
is a salted hash, and the key that turns an id back into (pair, side on the left) stays in the
study directory (``raters/<rater>.json``); the items file must be written outside it.

``storyspace study import STUDY_DIR FILE --rater NAME`` reads verdict lines
``{"id", "better": "A"|"B", "confidence", "score_a", "score_b"}`` and appends them to
``ratings.jsonl`` with the rater's name and kind (``person`` or ``llm``): every line is checked
before anything is written, and a file with one bad line writes nothing.

The instruction a blind reader gets is a file in the package (:func:`instruction`), one per item
kind, followed by the working rules (``how_to_read.md``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from storyspace.errors import UserError
from storyspace.files import atomic_write, read_json_object, read_jsonl
from storyspace.study.create import load_study
from storyspace.study.ratings import RATER_KINDS, append_ratings, clean_rater, layout, rating_row, read_ratings, shown_key

#: where the keys of the file-based raters live, in the study directory
KEYS = "raters"
#: item kinds and the instruction file each is read with
INSTRUCTIONS = {"stories": "stories.md", "passages": "passages.md", "ratings": "ratings.md"}
#: the score range of a verdict's score_a / score_b, and of its confidence
SCORE_RANGE = (1.0, 10.0)
CONFIDENCE_RANGE = (1.0, 5.0)


def instruction(kind: str) -> str:
    """The fixed instruction text for items of ``kind`` (stories, passages or ratings), with the
    working rules of a blind reader after it."""
    if kind not in INSTRUCTIONS:
        raise UserError(f"no instruction for items of kind {kind!r}")
    pkg = resources.files("storyspace.data.reader")
    return pkg.joinpath(INSTRUCTIONS[kind]).read_text() + "\n" + pkg.joinpath("how_to_read.md").read_text()


def rater_slug(rater: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", rater).strip("_") or "rater"


def key_path(study_dir: Path, rater: str) -> Path:
    return study_dir / KEYS / f"{rater_slug(rater)}.json"


def load_key(study_dir: Path, rater: str) -> dict[str, Any]:
    path = key_path(study_dir, rater)
    if not path.is_file():
        raise UserError(f"{rater} has no exported items in {study_dir}: run storyspace study export first")
    key = read_json_object(path, "rater key")
    if key.get("rater") != rater or not isinstance(key.get("items"), dict) or not isinstance(key.get("salt"), str):
        raise UserError(f"{path} is damaged (or belongs to another rater): export again")
    return key


def item_kind(pair: dict[str, Any]) -> str:
    return "passages" if pair.get("kind") == "siblings" else "stories"


def _outside(study_dir: Path, out: Path) -> None:
    try:
        out.resolve().relative_to(study_dir.resolve())
    except ValueError:
        return
    raise UserError(f"--out {out} is inside the study directory: the items go elsewhere, the key stays there")


def part_paths(out: Path, parts: int) -> list[Path]:
    """``out`` itself, or ``NAME.1.jsonl`` ... ``NAME.N.jsonl`` beside it."""
    if parts == 1:
        return [out]
    return [out.with_name(f"{out.stem}.{k}{out.suffix or '.jsonl'}") for k in range(1, parts + 1)]


def export_items(study_dir: Path, rater: str, out: Path, parts: int = 1) -> dict[str, Any]:
    """Write ``rater``'s items still to rate to ``out`` (or to ``parts`` files: in a both-orders
    study a pair's two showings go to different parts, for two readers), keep the key in the study
    directory, and return ``{"items", "files", "kinds"}``."""
    rater = clean_rater(rater)
    if parts < 1:
        raise UserError(f"--parts must be positive, got {parts}")
    study = load_study(study_dir)
    _outside(study_dir, out)
    path = key_path(study_dir, rater)
    key = read_json_object(path, "rater key") if path.is_file() else {}
    salt = key.get("salt") if isinstance(key.get("salt"), str) and key.get("rater") == rater else secrets.token_hex(16)
    items_key: dict[str, dict[str, str]] = dict(key.get("items", {})) if key.get("rater") == rater else {}
    done = {shown_key(study, r) for r in read_ratings(study_dir) if r["rater"] == rater}
    by_id = {p["id"]: p for p in study["pairs"]}
    showing: dict[str, int] = {}
    files: list[list[dict[str, Any]]] = [[] for _ in range(parts)]
    first_part: dict[str, int] = {}
    for pid, left in layout(study, rater):
        if pid not in first_part:
            first_part[pid] = len(first_part) % parts
        k = showing.get(pid, 0)
        showing[pid] = k + 1
        if shown_key(study, {"pair": pid, "left": left}) in done:
            continue
        pair = by_id[pid]
        right = "b" if left == "a" else "a"
        item_id = "i" + hashlib.sha256(f"{salt}|{pid}|{left}".encode()).hexdigest()[:10]
        items_key[item_id] = {"pair": pid, "left": left}
        item: dict[str, Any] = {"id": item_id, "kind": item_kind(pair), "premise": pair["premise"]}
        if item["kind"] == "passages":
            item["story_so_far"] = "\n\n".join(pair.get("context", []))
        item["A"], item["B"] = pair[left]["text"], pair[right]["text"]
        files[(first_part[pid] + k) % parts].append(item)
    paths = part_paths(out, parts)
    for p, rows in zip(paths, files):
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot write {p}: {exc.strerror or exc}") from exc
        atomic_write(p, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    atomic_write(path, json.dumps({"rater": rater, "salt": salt, "both_orders": bool(study.get("both_orders")),
                                   "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                   "items": items_key}, indent=1) + "\n")
    return {"items": sum(len(f) for f in files), "files": [str(p) for p in paths],
            "kinds": sorted({i["kind"] for f in files for i in f})}


def _number(row: dict[str, Any], name: str, bounds: tuple[float, float], where: str) -> float | None:
    value = row.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise UserError(f"{where}: {name} must be a number, got {row[name]!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{where}: {name} must be a number, got {row[name]!r}")
    if not bounds[0] <= value <= bounds[1]:
        raise UserError(f"{where}: {name} must be between {bounds[0]:g} and {bounds[1]:g}, got {value:g}")
    return float(value)


def verdict_rows(study: dict[str, Any], key: dict[str, Any], verdicts: list[tuple[int, Any]], rater: str, kind: str,
                 source: str) -> list[dict[str, Any]]:
    """Verdict lines -> checked rating rows (one-line errors naming the line)."""
    rows, seen = [], set()
    for n, v in verdicts:
        where = f"{source}:{n}"
        if not isinstance(v, dict):
            raise UserError(f"{where}: a verdict is a JSON object with id and better")
        item = v.get("id")
        if not isinstance(item, str) or item not in key["items"]:
            raise UserError(f"{where}: id {item!r} is not one of {rater}'s items")
        if item in seen:
            raise UserError(f"{where}: item {item} answered twice")
        seen.add(item)
        better = str(v.get("better", "")).strip().strip(".").upper()
        if better not in ("A", "B"):
            raise UserError(f"{where}: better must be A or B (no ties), got {v.get('better')!r}")
        confidence = _number(v, "confidence", CONFIDENCE_RANGE, where)
        score_a = _number(v, "score_a", SCORE_RANGE, where)
        score_b = _number(v, "score_b", SCORE_RANGE, where)
        left = key["items"][item]["left"]
        right = "b" if left == "a" else "a"
        choice = left if better == "A" else right
        scores = {left: score_a, right: score_b} if score_a is not None and score_b is not None else None
        rows.append(rating_row(study, rater, key["items"][item]["pair"], choice, left, kind=kind,
                               confidence=confidence, scores=scores, item=item))
    return rows


def import_verdicts(study_dir: Path, path: Path, rater: str, kind: str = "person") -> dict[str, Any]:
    """Append the verdicts in ``path`` to the study's ratings (all or none); returns
    ``{"imported", "left"}`` (left: the rater's items still unrated)."""
    rater = clean_rater(rater)
    if kind not in RATER_KINDS:
        raise UserError(f"--kind must be person or llm, got {kind!r}")
    study = load_study(study_dir)
    key = load_key(study_dir, rater)
    verdicts = list(read_jsonl(path, "verdicts file"))
    if not verdicts:
        raise UserError(f"{path} holds no verdict")
    rows = verdict_rows(study, key, verdicts, rater, kind, str(path))
    append_ratings(study, study_dir, rows)
    done = {shown_key(study, r) for r in read_ratings(study_dir) if r["rater"] == rater}
    left = sum(1 for pid, side in layout(study, rater) if shown_key(study, {"pair": pid, "left": side}) not in done)
    return {"imported": len(rows), "left": left}
