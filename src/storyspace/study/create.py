"""``storyspace study create``: blind A/B pairs for people to choose from.

Two sources:
- explore run directories (their policy's chat template is loaded for prefill-style runs):
  *sibling* passages (two children of one node) whose step values differ
  by at least ``min_margin``; the reader sees the premise and the story so far, then the two
  candidate next passages. Of each node, the highest- and the lowest-valued child.
- an eval directory (its stories.jsonl): two *systems'* whole stories of one premise.

Each pair keeps what every automatic judge said of its two sides (``scores``: the value model's
``value``, and from an eval the independent reader's ``reader`` and the LLM judge's ``llm``), so
that ``study report`` can measure their agreement with the people, and the policy prompt of the
choice (``prompt``) so that ``pairs --from-study`` can turn choices into ORPO pairs. The study is
one editable JSON file, ``study.json``, beside the append-only ``ratings.jsonl``.
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from storyspace.errors import UserError
from storyspace.flags import flag
from storyspace.runs import RunDir, SavedRun, load_run
from storyspace.files import atomic_write, read_json_object, read_jsonl
from storyspace.story import PromptConfig, Story, passage_messages, preference_prompt

STUDY = "study.json"
RATINGS = "ratings.jsonl"


@dataclass(frozen=True)
class StudyConfig:
    """- ``pairs``: how many pairs the study holds (at most; fewer when the sources have fewer).
    - ``min_margin``: least step-value difference of two siblings (explore runs).
    - ``seed``: which pairs are drawn, and each rater's order and sides."""

    pairs: int = field(default=20, metadata=flag("--pairs", "pairs in the study (at most)"))
    min_margin: float = field(default=0.05, metadata=flag("--min-margin", "least value difference of two siblings"))
    seed: int = field(default=0, metadata=flag("--seed", "draw and order seed"))


def sibling_pairs(saved: SavedRun, min_margin: float, chat_prompt: Any = None) -> list[dict[str, Any]]:
    """Per node with two or more children: its highest- against its lowest-valued child
    (``chat_prompt``: the policy's chat template, for a prefill-style run's prompts)."""
    run_dir = saved.run.path
    tree = saved.tree
    out = []
    for node in tree.nodes:
        kids = [tree.nodes[c] for c in node.children if tree.nodes[c].step.get("passage")]
        if len(kids) < 2:
            continue
        hi = max(kids, key=lambda n: (n.value, -n.id))
        lo = min(kids, key=lambda n: (n.value, n.id))
        if hi.value - lo.value < min_margin or hi.step["passage"] == lo.step["passage"]:
            continue
        story = Story.from_steps(saved.premise, tree.steps(node.id))
        side = [{"text": n.step["passage"], "source": f"{run_dir} node {n.id}",
                 "scores": {"value": round(n.value, 6), "q": round(n.q, 6)}} for n in (hi, lo)]
        prompt, lead = preference_prompt(story, saved.config.prompts, chat_prompt)
        out.append({"kind": "siblings", "premise": saved.premise, "context": [s.passage for s in story.steps],
                    "prompt": prompt, "lead": lead, "a": side[0], "b": side[1]})
    return out


def _judge_scores(rec: dict[str, Any]) -> dict[str, float]:
    from storyspace.judges.llm import CRITERIA

    scores = {}
    value = rec.get("value")
    if isinstance(value, dict) and isinstance(value.get("value_mean"), (int, float)):
        scores["value"] = float(value["value_mean"])
    reader = rec.get("reader")
    if isinstance(reader, dict) and isinstance(reader.get("summary"), dict):
        if isinstance(reader["summary"].get("value_mean"), (int, float)):
            scores["reader"] = float(reader["summary"]["value_mean"])
    llm = rec.get("llm")
    if isinstance(llm, dict):
        got = [float(llm[c]) for c in CRITERIA if isinstance(llm.get(c), (int, float))]
        if got:
            scores["llm"] = sum(got) / len(got)
    return scores


def system_pairs(eval_dir: Path) -> list[dict[str, Any]]:
    """Every two systems' stories of each premise of an eval's stories.jsonl."""
    path = eval_dir / "stories.jsonl"
    if not path.is_file():
        raise UserError(f"{eval_dir} holds no finished eval (stories.jsonl not found)")
    by_premise: dict[Any, list[dict[str, Any]]] = {}
    for n, rec in read_jsonl(path, "eval stories file"):
        if not isinstance(rec, dict) or not isinstance(rec.get("story"), str) or not isinstance(rec.get("premise"), str):
            raise UserError(f"{path}:{n}: a story record needs premise and story")
        by_premise.setdefault(rec.get("premise_id", rec["premise"]), []).append(rec)
    out = []
    prompts = PromptConfig()
    for recs in by_premise.values():
        for x, y in itertools.combinations(recs, 2):
            if x["story"].strip() == y["story"].strip() or not x["story"].strip() or not y["story"].strip():
                continue
            side = [{"text": r["story"], "source": f"{eval_dir} {r.get('system', '?')}", "system": r.get("system", "?"),
                     "scores": _judge_scores(r)} for r in (x, y)]
            out.append({"kind": "systems", "premise": x["premise"], "context": [],
                        "prompt": passage_messages(Story(x["premise"]), prompts), "a": side[0], "b": side[1]})
    return out


def create_study(sources: list[Path], out: Path, cfg: StudyConfig) -> dict[str, Any]:
    """Draw ``cfg.pairs`` pairs from the sources into ``out/study.json`` (a new directory)."""
    if cfg.pairs < 1:
        raise UserError(f"--pairs must be positive, got {cfg.pairs}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out} exists and is not an empty directory")
    from storyspace.train.pairs import template_for

    found: list[dict[str, Any]] = []
    templates: dict[tuple[str, str], Any] = {}
    for src in sources:
        if (src / RunDir.RUN).is_file():
            saved = load_run(src)
            found += sibling_pairs(saved, cfg.min_margin, template_for(saved.config, templates))
        elif (src / "stories.jsonl").is_file():
            found += system_pairs(src)
        else:
            raise UserError(f"--from {src}: neither an explore run (run.json) nor an eval (stories.jsonl)")
    if not found:
        raise UserError("the sources hold no pair to compare (siblings whose values differ, or two systems' stories)")
    rng = random.Random(cfg.seed)
    chosen = rng.sample(found, min(cfg.pairs, len(found)))
    pairs = [{"id": f"p{i + 1:03d}", **p} for i, p in enumerate(chosen)]
    study = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seed": cfg.seed,
             "sources": [str(s) for s in sources], "available": len(found), "pairs": pairs}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / STUDY, json.dumps(study, indent=1, ensure_ascii=False) + "\n")
    return study


def add_pair(study_dir: Path, pair: dict[str, Any], source: str) -> dict[str, Any]:
    """Append one pair (``kind``, ``premise``, ``context``, ``a``, ``b``, and the policy
    ``prompt``) to the study in ``study_dir``, made when missing; its id is the next free
    ``pNNN``. A pair whose two sides are already in the study (either way round) is not added
    twice. Returns the pair as kept."""
    if (study_dir / STUDY).is_file():
        study = load_study(study_dir)
    elif study_dir.exists() and (not study_dir.is_dir() or any(study_dir.iterdir())):
        raise UserError(f"{study_dir} exists and holds no study.json")
    else:
        study = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seed": 0,
                 "sources": [], "available": 0, "pairs": []}
    texts = {pair["a"]["text"], pair["b"]["text"]}
    for p in study["pairs"]:
        if p.get("premise") == pair["premise"] and {p["a"]["text"], p["b"]["text"]} == texts:
            return p
    ids = {p["id"] for p in study["pairs"]}
    n = len(study["pairs"]) + 1
    while f"p{n:03d}" in ids:
        n += 1
    kept = {"id": f"p{n:03d}", **pair}
    study["pairs"].append(kept)
    if source not in study["sources"]:
        study["sources"].append(source)
    study["available"] = len(study["pairs"])
    study_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(study_dir / STUDY, json.dumps(study, indent=1, ensure_ascii=False) + "\n")
    return kept


def load_study(study_dir: Path) -> dict[str, Any]:
    """study.json, checked: pairs with an id, a premise and two sides with a text."""
    study = read_json_object(study_dir / STUDY, "study")
    pairs = study.get("pairs")
    if not isinstance(pairs, list) or not pairs:
        raise UserError(f"{study_dir / STUDY} is damaged: no pairs")
    seen = set()
    for p in pairs:
        if (not isinstance(p, dict) or not isinstance(p.get("id"), str) or not isinstance(p.get("premise"), str)
                or any(not isinstance(p.get(s), dict) or not isinstance(p[s].get("text"), str) for s in "ab")):
            raise UserError(f"{study_dir / STUDY} is damaged: a pair needs id, premise, a.text and b.text")
        if p["id"] in seen:
            raise UserError(f"{study_dir / STUDY} is damaged: pair id {p['id']} twice")
        seen.add(p["id"])
    if not isinstance(study.get("seed", 0), int):
        raise UserError(f"{study_dir / STUDY} is damaged: seed must be a whole number")
    return study
