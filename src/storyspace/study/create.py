"""``storyspace study create``: blind A/B pairs for people to choose from.

Two sources:
- explore run directories (their policy's chat template is loaded for prefill-style runs):
  *sibling* passages (two children of one node); the reader sees the premise and the story so
  far, then the two candidate next passages. ``pairing = "extremes"``: of each node, the highest-
  and the lowest-valued child, when their step values differ by at least ``min_margin``;
  ``"random"``: of each node, two children drawn at random (the choice the search makes between
  siblings, not chosen by value), at every depth; ``"all"``: every two children of each node,
  sides drawn at random (the most labels per passage written: a value fitted on the reader's
  choices between siblings, issue #44).
- eval directories (their stories.jsonl): two *systems'* whole stories of one premise. Stories
  are matched across the evals by premise text; ``DIR@TAG`` renames that eval's systems to
  ``system@TAG`` and ``DIR@TAG=SYS[,SYS]`` only those (an MCTS run with other settings beside
  another eval's baselines), as ``results/eval/paired.py`` does. A record's optional ``draw``
  field (a seed) pairs stories of the same premise and draw only. With ``curve_points`` each
  story's curve points (the story the search had found at fewer units, ``eval --curve``) become
  stories of their own, system ``SYSTEM/Nu`` (a budget's frontier point without another run).
  ``systems`` picks which systems
  (every two of them, or ``focus`` against each); side ``a`` is the focus, else the system
  named first.

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
    - ``seed``: which pairs are drawn, and each rater's order and sides.
    - ``systems``: an eval's systems to compare (comma-separated; every two of them, side a the
      one named first), all when empty; ``focus``: only this one (side a) against each of them;
      ``comparisons``: exactly the comparisons listed (``X vs Y; Z vs Y``), instead of both.
    - ``both_orders``: each pair is shown to each rater twice, sides swapped (its position
      consistency is reported).
    - ``curve_points``: an eval story's curve points below its full budget are stories of system
      ``SYSTEM/Nu`` (N units) too."""

    pairs: int = field(default=20, metadata=flag("--pairs", "pairs in the study (at most; 0: every pair found)"))
    min_margin: float = field(default=0.05, metadata=flag("--min-margin", "least value difference of two siblings"))
    seed: int = field(default=0, metadata=flag("--seed", "draw and order seed"))
    systems: str = field(default="", metadata=flag("--systems", "eval systems to compare (every two; all when not given)",
                                                    metavar="X,Y"))
    focus: str = field(default="", metadata=flag("--focus", "compare this system (side a) against each of --systems only",
                                                 metavar="SYSTEM"))
    pairing: str = field(default="extremes", metadata=flag(
        "--pairing", "siblings of explore runs: highest vs lowest valued, two drawn at random, or every two",
        choices=("extremes", "random", "all")))
    comparisons: str = field(default="", metadata=flag(
        "--comparisons", "exactly these comparisons, side a first: 'X vs Y; Z vs Y' (instead of --systems/--focus)",
        metavar="'X vs Y; ...'"))
    both_orders: bool = field(default=False, metadata=flag("--both-orders", "show each pair twice to each rater, sides swapped"))
    curve_points: bool = field(default=False, metadata=flag(
        "--curve-points", "an eval story's curve points below its budget are stories too, system SYSTEM/Nu"))


def sibling_pairs(saved: SavedRun, min_margin: float, chat_prompt: Any = None, pairing: str = "extremes",
                  rng: random.Random | None = None) -> list[dict[str, Any]]:
    """Per node with two or more children: its highest- against its lowest-valued child
    (``extremes``, when they differ by ``min_margin``), two of them drawn with ``rng``
    (``random``), or every two of them, sides drawn with ``rng`` (``all``); ``chat_prompt``: the policy's chat template, for a prefill-style run's prompts."""
    run_dir = saved.run.path
    tree = saved.tree
    rng = rng or random.Random(0)
    out = []
    for node in tree.nodes:
        kids = [tree.nodes[c] for c in node.children if tree.nodes[c].step.get("passage")]
        if len(kids) < 2:
            continue
        if pairing == "all":
            chosen = [tuple(rng.sample(two, 2)) for two in itertools.combinations(kids, 2)]
        elif pairing == "random":
            chosen = [tuple(rng.sample(kids, 2))]
        else:
            hi = max(kids, key=lambda n: (n.value, -n.id))
            lo = min(kids, key=lambda n: (n.value, n.id))
            chosen = [(hi, lo)] if hi.value - lo.value >= min_margin else []
        chosen = [(x, y) for x, y in chosen if x.step["passage"] != y.step["passage"]]
        if not chosen:
            continue
        story = Story.from_steps(saved.premise, tree.steps(node.id))
        prompt, lead = preference_prompt(story, saved.config.prompts, chat_prompt)
        for x, y in chosen:
            side = [{"text": n.step["passage"], "source": f"{run_dir} node {n.id}", "node": n.id,
                     "scores": {"value": round(n.value, 6), "q": round(n.q, 6)}} for n in (x, y)]
            out.append({"kind": "siblings", "premise": saved.premise, "context": [s.passage for s in story.steps],
                        "depth": node.depth + 1, "prompt": prompt, "lead": lead, "a": side[0], "b": side[1]})
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


def eval_source(spec: Path) -> tuple[Path, str, set[str]]:
    """``DIR``, ``DIR@TAG`` or ``DIR@TAG=SYS[,SYS]`` -> (directory, tag, systems renamed; empty: all)."""
    text = str(spec)
    path, _, tag = text.partition("@")
    tag, _, only = tag.partition("=")
    return Path(path), tag, {s.strip() for s in only.split(",") if s.strip()}


def eval_records(eval_dir: Path, tag: str = "", only: set[str] | frozenset[str] = frozenset(),
                 curve_points: bool = False) -> list[dict[str, Any]]:
    """An eval's story records, each system renamed ``system@tag`` (all, or those in ``only``);
    with ``curve_points`` also one record per curve point below the story's largest, system
    ``SYSTEM/Nu``, its story the point's passages."""
    path = eval_dir / "stories.jsonl"
    if not path.is_file():
        raise UserError(f"{eval_dir} holds no finished eval (stories.jsonl not found)")
    out = []
    for n, rec in read_jsonl(path, "eval stories file"):
        if not isinstance(rec, dict) or not isinstance(rec.get("story"), str) or not isinstance(rec.get("premise"), str):
            raise UserError(f"{path}:{n}: a story record needs premise and story")
        system = str(rec.get("system", "?"))
        if tag and (not only or system in only):
            system = f"{system}@{tag}"
        out.append({**rec, "system": system, "_source": f"{eval_dir} {rec.get('system', '?')}"})
        if curve_points:
            out += _curve_records(path, n, out[-1])
    return out


def _curve_records(path: Path, line: int, rec: dict[str, Any]) -> list[dict[str, Any]]:
    """The stories of ``rec``'s curve points below its largest (``eval --curve``), as records of
    system ``SYSTEM/Nu``; their judges' scores are the point's own (the value's reading)."""
    curve = rec.get("curve")
    if not isinstance(curve, dict) or not curve:
        return []
    try:
        units = sorted((int(m), m) for m in curve)
    except ValueError:
        raise UserError(f"{path}:{line}: curve points are unit counts, got {sorted(curve)}") from None
    out = []
    for m, key in units[:-1]:
        point = curve[key]
        passages = point.get("passages") if isinstance(point, dict) else None
        if not isinstance(passages, list) or not all(isinstance(p, str) for p in passages):
            continue  # an eval from before curve points kept their passages: no story to show
        story = Story.from_steps(rec["premise"], [{"passage": p} for p in passages]).text()
        value = {"value_mean": point["value_mean"]} if isinstance(point.get("value_mean"), (int, float)) else None
        out.append({"premise": rec["premise"], "story": story, "system": f"{rec['system']}/{m}u",
                    **({"draw": rec["draw"]} if "draw" in rec else {}), **({"value": value} if value else {}),
                    "_source": f"{rec['_source']} curve {m}u"})
    return out


def comparisons(names: list[str], cfg: StudyConfig) -> list[tuple[str, str]]:
    """The (side a, side b) system pairs the study compares, from ``--comparisons``, or from
    ``--systems`` / ``--focus``."""
    if cfg.comparisons:
        if cfg.systems or cfg.focus:
            raise UserError("--comparisons lists every comparison: give it without --systems and --focus")
        pairs = [tuple(x.strip() for x in item.split(" vs ")) for item in cfg.comparisons.split(";") if item.strip()]
        if not pairs or any(len(p) != 2 or not all(p) or p[0] == p[1] for p in pairs):
            raise UserError(f"--comparisons: 'X vs Y; Z vs Y' (two different systems each), got {cfg.comparisons!r}")
        missing = sorted({s for p in pairs for s in p if s not in names})
        if missing:
            raise UserError(f"--comparisons: no stories of {', '.join(missing)} in the evals"
                            f" (they hold {', '.join(names) or 'none'})")
        return list(dict.fromkeys(pairs))  # type: ignore[arg-type]
    chosen = [s.strip() for s in cfg.systems.split(",") if s.strip()] if cfg.systems else list(names)
    if len(set(chosen)) != len(chosen):
        raise UserError(f"--systems names a system twice: {cfg.systems}")
    missing = [s for s in chosen + ([cfg.focus] if cfg.focus else []) if s not in names]
    if missing:
        raise UserError(f"--systems/--focus: no stories of {', '.join(missing)} in the evals"
                        f" (they hold {', '.join(names) or 'none'})")
    if cfg.focus:
        return [(cfg.focus, s) for s in chosen if s != cfg.focus]
    return list(itertools.combinations(chosen, 2))


def system_pairs(sources: list[Path], cfg: StudyConfig = StudyConfig()) -> list[dict[str, Any]]:
    """Two systems' stories of each premise, over the evals' stories.jsonl matched by premise text,
    for each comparison of :func:`comparisons`."""
    by_premise: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    names: list[str] = []
    for spec in sources:
        eval_dir, tag, only = eval_source(spec)
        for rec in eval_records(eval_dir, tag, only, cfg.curve_points):
            mine = by_premise.setdefault((rec["premise"].strip(), str(rec.get("draw", ""))), {})
            if rec["system"] in mine:
                raise UserError(f"{eval_dir}: premise {rec['premise'][:40]!r}... has a {rec['system']} story in two"
                                " sources: tag one with DIR@TAG (or give the stories a draw field)")
            mine[rec["system"]] = rec
            if rec["system"] not in names:
                names.append(rec["system"])
    out = []
    prompts = PromptConfig()
    for first, second in comparisons(names, cfg):
        for recs in by_premise.values():
            x, y = recs.get(first), recs.get(second)
            if x is None or y is None:
                continue
            if x["story"].strip() == y["story"].strip() or not x["story"].strip() or not y["story"].strip():
                continue
            side = [{"text": r["story"], "source": r["_source"], "system": r["system"],
                     "scores": _judge_scores(r)} for r in (x, y)]
            out.append({"kind": "systems", "comparison": f"{first} vs {second}", "premise": x["premise"],
                        "context": [], "prompt": passage_messages(Story(x["premise"]), prompts),
                        "a": side[0], "b": side[1]})
    return out


def create_study(sources: list[Path], out: Path, cfg: StudyConfig) -> dict[str, Any]:
    """Draw ``cfg.pairs`` pairs from the sources into ``out/study.json`` (a new directory)."""
    if cfg.pairs < 0:
        raise UserError(f"--pairs must be 0 (every pair) or positive, got {cfg.pairs}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out} exists and is not an empty directory")
    from storyspace.train.pairs import template_for

    found: list[dict[str, Any]] = []
    templates: dict[tuple[str, str], Any] = {}
    evals = []
    for src in sources:
        if (src / RunDir.RUN).is_file():
            saved = load_run(src)
            found += sibling_pairs(saved, cfg.min_margin, template_for(saved.config, templates), cfg.pairing,
                                   random.Random(f"{cfg.seed}:{src}"))
        elif (eval_source(src)[0] / "stories.jsonl").is_file():
            evals.append(src)
        else:
            raise UserError(f"--from {src}: neither an explore run (run.json) nor an eval (stories.jsonl)")
    if (cfg.systems or cfg.focus or cfg.comparisons) and not evals:
        raise UserError("--systems, --focus and --comparisons pick an eval's systems: give eval directories with --from")
    if evals:
        found += system_pairs(evals, cfg)
    if not found:
        raise UserError("the sources hold no pair to compare (siblings whose values differ, or two systems' stories)")
    rng = random.Random(cfg.seed)
    chosen = rng.sample(found, min(cfg.pairs or len(found), len(found)))
    pairs = [{"id": f"p{i + 1:03d}", **p} for i, p in enumerate(chosen)]
    study = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seed": cfg.seed,
             "both_orders": cfg.both_orders, "sources": [str(s) for s in sources], "available": len(found),
             "pairs": pairs}
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
    if not isinstance(study.get("both_orders", False), bool):
        raise UserError(f"{study_dir / STUDY} is damaged: both_orders must be true or false")
    if not isinstance(study.get("seed", 0), int):
        raise UserError(f"{study_dir / STUDY} is damaged: seed must be a whole number")
    return study
