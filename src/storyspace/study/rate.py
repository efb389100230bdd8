"""``storyspace study rate STUDY_DIR --rater openai:URL#MODEL``: a model behind an OpenAI-compatible
chat endpoint reads every item of a study blind, as a file-based rater would.

The items are exactly what ``study export`` gives a person or a helper (ids, premise, the two
texts in the rater's own order and sides; in a ``--both-orders`` study every pair twice, sides
swapped); the system message is the package's fixed instruction for the item kind. The answer is
asked for as a JSON object (``response_format`` with a JSON schema where the server takes one,
plain JSON otherwise) and read leniently; an answer that names neither A nor B after two tries
leaves the item unrated (counted, never guessed). Each verdict is appended as it comes, so a
stopped run continues where it stopped. The rater is recorded as ``openai:MODEL`` of kind
``llm``.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any, Callable

from storyspace.errors import BackendError, UserError
from storyspace.files import read_jsonl
from storyspace.study.create import load_study
from storyspace.study.raters import export_items, instruction, load_key, verdict_rows
from storyspace.study.ratings import MAX_RATER_CHARS, append_ratings

#: what the answer must hold (a JSON schema, for servers that constrain their output to one)
VERDICT_SCHEMA = {
    "type": "object",
    "properties": {"better": {"type": "string", "enum": ["A", "B"]},
                   "confidence": {"type": "integer", "minimum": 1, "maximum": 5},
                   "score_a": {"type": "integer", "minimum": 1, "maximum": 10},
                   "score_b": {"type": "integer", "minimum": 1, "maximum": 10}},
    "required": ["better", "confidence", "score_a", "score_b"],
}
#: tries per item before it is left unrated
TRIES = 2
MAX_TOKENS = 120


def render_item(item: dict[str, Any]) -> str:
    """An item as the user message: its id, the premise, the story so far, and the two texts."""
    noun = "Passage" if item.get("kind") == "passages" else "Story"
    parts = [f"Item id: {item['id']}", f"Premise: {item['premise']}"]
    if item.get("kind") == "passages":
        parts.append("Story so far:\n" + (item.get("story_so_far") or "(the story has not begun)"))
    parts += [f"{noun} A:\n{item['A']}", f"{noun} B:\n{item['B']}",
              'Answer with one JSON object: {"id", "better": "A" or "B", "confidence", "score_a", "score_b"}.']
    return "\n\n".join(parts)


def parse_verdict(text: str) -> dict[str, Any] | None:
    """The verdict in a model's answer: the first JSON object with ``better`` A or B; else a bare
    "better: A" / "A" answer; None when it names neither."""
    for match in re.finditer(r"\{.*?\}", text, flags=re.S):
        try:
            got = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        if isinstance(got, dict) and str(got.get("better", "")).strip().upper() in ("A", "B"):
            out = {"better": str(got["better"]).strip().upper()}
            for k, lo, hi in (("confidence", 1, 5), ("score_a", 1, 10), ("score_b", 1, 10)):
                v = got.get(k)
                if isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi:
                    out[k] = v
            return out
    bare = re.search(r"better\W{0,3}\s*\"?\b([AB])\b", text, flags=re.I) or re.fullmatch(r"\W*([AB])\W*", text.strip())
    return {"better": bare.group(1).upper()} if bare else None


def rater_name(spec: str) -> str:
    """``openai:URL#MODEL`` -> ``openai:MODEL`` (the name the ratings carry), checked."""
    if not spec.startswith("openai:"):
        raise UserError(f"study rate reads through an OpenAI-compatible server: --rater openai:URL#MODEL, got {spec!r}")
    from storyspace.models.openai import split_target

    _, model = split_target(spec[len("openai:"):])
    return f"openai:{model}"[:MAX_RATER_CHARS]


class ChatRater:
    """One chat request per item, through the project's ``openai:`` backend client. The answer's
    form is asked for as OpenAI's (and vLLM's) ``json_schema`` response format, else as
    llama-cpp-python's ``json_object`` with a schema, else not at all: the first form the server
    takes is kept."""

    FORMATS: tuple[dict[str, Any] | None, ...] = (
        {"type": "json_schema", "json_schema": {"name": "verdict", "schema": VERDICT_SCHEMA}},
        {"type": "json_object", "schema": VERDICT_SCHEMA},
        None,
    )

    def __init__(self, spec: str) -> None:
        from storyspace.models.openai import OpenAIConfig, OpenAIModel

        self.model = OpenAIModel(spec, spec[len("openai:"):], OpenAIConfig(retries=2, concurrency=1))
        self.formats = list(self.FORMATS)

    def answer(self, system: str, user: str) -> str:
        client, name = self.model.client, self.model.model
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        args: dict[str, Any] = {"model": name, "messages": msgs, "temperature": 0.0, "max_tokens": MAX_TOKENS}
        while True:
            fmt = self.formats[0]
            extra = {"response_format": fmt} if fmt else {}
            try:
                got = self.model._call("/chat/completions", lambda: client.chat.completions.create(**args, **extra),
                                       tries=1 if fmt else None)
            except BackendError:
                if fmt is None:
                    raise
                self.formats.pop(0)  # the server refuses this form: the next one
                continue
            self.formats = [fmt]  # the server takes this form: keep it
            return self.model._choice(got).message.content or ""


def rate_study(study_dir: Path, spec: str, progress: Callable[[int, int], None] | None = None,
               rater: ChatRater | None = None) -> dict[str, Any]:
    """Every item the model has not rated yet, read and appended; returns ``{"rater", "imported",
    "unparsed"}``."""
    name = rater_name(spec)
    study = load_study(study_dir)
    with tempfile.TemporaryDirectory() as tmp:
        items_file = Path(tmp) / "items.jsonl"
        export_items(study_dir, name, items_file)
        items = [row for _, row in read_jsonl(items_file, "items file")]
    key = load_key(study_dir, name)
    chat = rater or ChatRater(spec)
    imported = unparsed = 0
    for k, item in enumerate(items):
        if progress is not None:
            progress(k, len(items))
        got = None
        for _ in range(TRIES):
            got = parse_verdict(chat.answer(instruction(item["kind"]), render_item(item)))
            if got is not None:
                break
        if got is None:
            unparsed += 1
            continue
        rows = verdict_rows(study, key, [(k + 1, {**got, "id": item["id"]})], name, "llm", spec)
        append_ratings(study, study_dir, rows)
        imported += 1
    if progress is not None:
        progress(len(items), len(items))
    return {"rater": name, "imported": imported, "unparsed": unparsed}
