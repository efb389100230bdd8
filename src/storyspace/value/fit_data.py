"""The readings ``fit-value`` learns from, and the training pairs made of them.

Reading is the slow part (the reference reader over every story, corruption and step case);
features and pairs are pure functions of the readings, so a fit can be re-run with other
features or settings from a saved ``readings.jsonl`` without the reader.

Sibling labels (``study.labels``: a reader's choices between two passages the policy wrote after
the same story so far) add ``passage`` items: one reading per distinct (premise, story so far,
passage), keyed by a hash of the three, read once and kept in the same file beside the HANNA
items; the labels themselves are read fresh from their studies on every fit.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from storyspace.errors import UserError
from storyspace import contrast
from storyspace.story import Step, Story, ends_sentence, split_steps
from storyspace.value.features import Reading, step_features
from storyspace.value.fit import FitConfig, Pair, fit, fold_of, story_value
from storyspace.value.learned import HUMAN_QUANTILES
from storyspace.value.config import ValueConfig
from storyspace.value.model import Calibration, ValueModel


def read_items(vm: ValueModel, stories: Sequence[dict[str, Any]], step_tokens: int, contrast_words: int, seed: int,
               on_item: Callable[[int, int], None] | None = None, done: Sequence[dict[str, Any]] = (),
               on_read: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """One item per text the fit uses: each whole human story (``hanna``, with its ratings),
    each story's opening and its corruptions (``story``), and each step case (``step``: the
    true next step and its corruptions, read after the same story so far).

    ``done``: the first items of an interrupted reading of the same stories and settings (the
    order of the texts is fixed), not read again; ``on_read`` gets each new item as it is read."""
    count = vm.reader.count_tokens
    short = contrast.shortened(stories, contrast_words)
    jobs: list[tuple[str, Any]] = [("hanna", s) for s in stories]
    jobs += [("story", r) for r in contrast.story_rows(short, seed)]
    jobs += [("step", c) for c in contrast.step_cases(short, step_tokens, count, seed)]
    if len(done) > len(jobs) or any((it.get("kind"), it.get("id")) != (k, j["id"]) for it, (k, j) in zip(done, jobs)):
        raise UserError("the readings begun earlier are not of these stories (start again without them)")
    items = list(done)
    for i, (kind, job) in enumerate(jobs):
        if i < len(done):
            continue
        if on_item is not None:
            on_item(i, len(jobs))
        if kind == "step":
            story = Story(job["prompt"], tuple(Step(p) for p in job["so_far"]))
            passages = [job["true"], *(job["corrupted"][k] for k in contrast.CORRUPTIONS)]
            readings = vm.read(story, passages, [not ends_sentence(p) for p in passages])
            item = {"kind": "step", "id": job["id"],
                    "versions": ["original", *contrast.CORRUPTIONS], "readings": [asdict(r) for r in readings]}
        else:
            text = job["human_story"] if kind == "hanna" else job["story"]
            steps = split_steps(text, step_tokens, count)
            readings = vm.read_story(job["prompt"].strip(), steps, [not ends_sentence(p) for p in steps])
            item = {"kind": kind, "id": job["id"], "version": job.get("version", "original"),
                    "readings": [asdict(r) for r in readings]}
            if kind == "hanna":
                item["ratings"] = {k: v for k, v in job.items() if k.startswith("human_") and k != "human_story"}
        items.append(item)
        if on_read is not None:
            on_read(item)
    if on_item is not None:
        on_item(len(jobs), len(jobs))
    return items


def premise_of(reading: dict[str, Any]) -> str:
    """The premise a saved reading was read under (``so_far`` is premise, newline, story so far;
    readings saved before ``story`` was kept split at the first newline)."""
    so_far, story = reading["so_far"], reading.get("story")
    if story is None:
        return so_far.split("\n", 1)[0]
    return so_far[: len(so_far) - len(story) - 1] if story else so_far[:-1]


def add_similarities(items: Sequence[dict[str, Any]], embedder: Any,
                     on_step: Callable[[int, int], None] | None = None, batch: int = 64) -> int:
    """Fill in ``premise_sim`` (MiniLM cosine of passage and premise) where a saved reading lacks
    it, in place; each distinct text is embedded once. Returns how many readings were filled."""
    todo = [r for it in items for r in it["readings"] if r.get("premise_sim") is None]
    texts = sorted({t for r in todo for t in (r["passage"], premise_of(r))})
    vectors: dict[str, Any] = {}
    for i in range(0, len(texts), batch):
        if on_step is not None:
            on_step(i, len(texts))
        chunk = texts[i : i + batch]
        vectors.update(zip(chunk, embedder.embed(chunk)))
    for r in todo:
        r["premise_sim"] = round(float(vectors[r["passage"]] @ vectors[premise_of(r)]), 6)
    if on_step is not None:
        on_step(len(texts), len(texts))
    return len(todo)


def add_recalls(items: Sequence[dict[str, Any]], reader: Any, prompts: Any,
                on_item: Callable[[int, int], None] | None = None) -> int:
    """Fill in ``premise_recall`` (``value/recall.py``) where a saved reading lacks it, in place:
    a story item along its steps, a step item after its shared story so far (kept in the reading
    as one text). Returns how many readings were filled."""
    from storyspace.value.model import premise_recalls

    todo = [it for it in items if any(r.get("premise_recall") is None for r in it["readings"])]
    baselines: dict[str, float] = {}
    filled = 0
    for i, it in enumerate(todo):
        if on_item is not None:
            on_item(i, len(todo))
        rs = it["readings"]
        premise = premise_of(rs[0])
        passages = [r["passage"] for r in rs]
        if it["kind"] in ("step", "passage"):
            so_far = Story(premise, (Step(rs[0]["story"]),) if rs[0].get("story") else ())
            got = premise_recalls(reader, prompts, premise, passages, False, so_far, baselines)
        else:
            got = premise_recalls(reader, prompts, premise, passages, True, None, baselines)
        for r, x in zip(rs, got):
            r["premise_recall"] = x
        filled += len(rs)
    if on_item is not None:
        on_item(len(todo), len(todo))
    return filled


@dataclass(frozen=True)
class FeatureSettings:
    """What turns readings into features without a reader: a ``ValueModel`` has both too."""

    calibration: Calibration
    cfg: ValueConfig


def features_of(readings: Sequence[dict[str, Any]], vm_like: Any) -> list[dict[str, float]]:
    """Step features of saved readings (``vm_like``: a ``FeatureSettings`` or a ``ValueModel``)."""
    cal = vm_like.calibration
    return [step_features(Reading(**r), cal.curiosity, cal.pmi, vm_like.cfg.penalties) for r in readings]


def human_quantiles(items: Sequence[dict[str, Any]], vm_like: Any,
                    features: Sequence[str]) -> dict[str, tuple[float, ...]]:
    """Each feature's values at ``learned.HUMAN_QUANTILES`` over the steps of the human HANNA
    stories among the items (finite values only): the range the reward cap keeps a value in."""
    import numpy as np

    rows = [f for it in items if it["kind"] == "hanna" for f in features_of(it["readings"], vm_like)]
    out = {}
    for name in features:
        xs = np.array([float(r[name]) for r in rows if name in r and math.isfinite(float(r[name]))])
        if not xs.size:
            raise UserError(f"no human story step has a finite {name}: cannot record its human range")
        out[name] = tuple(round(float(v), 6) for v in np.quantile(xs, HUMAN_QUANTILES))
    return out


def make_pairs(items: Sequence[dict[str, Any]], vm_like: Any, cfg: FitConfig) -> list[Pair]:
    """Contrast story pairs, contrast step pairs, and HANNA rating pairs (see ``fit``)."""
    pairs: list[Pair] = []
    stories: dict[tuple[str, str], list[dict[str, float]]] = {}
    hanna = []
    for it in items:
        if it["kind"] == "step":
            feats = features_of(it["readings"], vm_like)
            for version, f in zip(it["versions"][1:], feats[1:]):
                pairs.append(Pair((str(it["id"]),), "step", version, [feats[0]], [f]))
        elif it["kind"] == "story":
            stories[(str(it["id"]), it["version"])] = features_of(it["readings"], vm_like)
        elif it["kind"] == "hanna":
            hanna.append(it)
    for (sid, version), feats in stories.items():
        if version != "original" and (sid, "original") in stories:
            pairs.append(Pair((sid,), "story", version, stories[(sid, "original")], feats))
    criteria = [c.strip() for c in cfg.criteria.split(",") if c.strip()]
    rated = [(str(it["id"]), sum(it["ratings"][c] for c in criteria) / len(criteria),
              features_of(it["readings"], vm_like)) for it in hanna]
    for (ia, ra, fa), (ib, rb, fb) in itertools.combinations(rated, 2):
        if abs(ra - rb) >= cfg.min_gap:
            better, worse = ((fa, fb) if ra > rb else (fb, fa))
            pairs.append(Pair((ia, ib), "hanna", "rating", better, worse, cfg.hanna_weight))
    return pairs


def passage_key(premise: str, context: Sequence[str], passage: str) -> str:
    """The id of a ``passage`` item: which passage, after which story so far, of which premise."""
    return "s" + hashlib.sha256(json.dumps([premise.strip(), list(context), passage]).encode()).hexdigest()[:16]


def read_passages(vm: ValueModel, labels: Sequence[dict[str, Any]], have: set[str],
                  on_item: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """``passage`` items for the labels' passages not in ``have`` (item ids): the passages of one
    story state are read in one call, as the search reads a node's children."""
    states: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for lab in labels:
        for text in (lab["a"], lab["b"]):
            key = passage_key(lab["premise"], lab["context"], text)
            if key not in have:
                have.add(key)
                states.setdefault((lab["premise"].strip(), tuple(lab["context"])), []).append(text)
    items = []
    for i, ((premise, context), texts) in enumerate(states.items()):
        if on_item is not None:
            on_item(i, len(states))
        story = Story(premise, tuple(Step(p) for p in context))
        readings = vm.read(story, texts, [not ends_sentence(t) for t in texts])
        items += [{"kind": "passage", "id": passage_key(premise, context, t), "readings": [asdict(r)]}
                  for t, r in zip(texts, readings)]
    if on_item is not None:
        on_item(len(states), len(states))
    return items


def premise_groups() -> dict[str, str]:
    """A shipped premise's text -> its HANNA id, the fold group of its HANNA story, contrast pairs
    and sibling labels alike (a premise is never split between training and test)."""
    from storyspace.corpus import human_stories

    return {row["prompt"].strip(): str(row["id"]) for row in human_stories()}


def sibling_fit_pairs(items: Sequence[dict[str, Any]], labels: Sequence[dict[str, Any]], vm_like: Any,
                      weight: float = 1.0) -> tuple[list[Pair], dict[str, int]]:
    """Bradley-Terry pairs of the labels (kind ``siblings``, corruption ``reader``): the side with
    more votes above the other, weighted ``weight`` x |margin| / votes (a pair read the same way
    in both orders weighs ``weight``; a tied one is dropped). Returns the pairs and the counts
    ``labelled``, ``unanimous``, ``split`` (tied, dropped)."""
    feats = {it["id"]: features_of(it["readings"], vm_like)[0] for it in items if it["kind"] == "passage"}
    groups = premise_groups()
    pairs, counts = [], {"labelled": 0, "unanimous": 0, "split": 0}
    for lab in labels:
        na, nb = (int(x) for x in lab["votes"])
        counts["labelled"] += 1
        if na == nb:
            counts["split"] += 1
            continue
        counts["unanimous"] += int(min(na, nb) == 0)
        win, lose = (lab["a"], lab["b"]) if na > nb else (lab["b"], lab["a"])
        fa, fb = (feats.get(passage_key(lab["premise"], lab["context"], t)) for t in (win, lose))
        if fa is None or fb is None:
            raise UserError(f"no reading of label {lab['id']}'s passages: read them first (read_passages)")
        group = groups.get(lab["premise"].strip(), lab["premise"].strip())
        pairs.append(Pair((group,), "siblings", "reader", [fa], [fb], weight * abs(na - nb) / (na + nb)))
    return pairs, counts


#: HANNA's six criteria, in its order
HANNA_CRITERIA = ("human_relevance", "human_coherence", "human_empathy", "human_surprise", "human_engagement",
                  "human_complexity")


def hanna_cross_validated(items: Sequence[dict[str, Any]], vm_like: Any, pairs: Sequence[Pair],
                          cfg: FitConfig) -> dict[str, dict[str, Any]]:
    """Per HANNA criterion: agreement of story values with the human ratings, each story valued by
    the fold model that never saw its prompt (the folds of ``fit.cross_validate``), over pairs of
    stories whose rating differs by at least ``min_gap`` (ties half): pooled over all such pairs,
    and mean ± SD over the folds of the pairs whose two stories share a fold."""
    import statistics

    hanna = [(str(it["id"]), it["ratings"], features_of(it["readings"], vm_like)) for it in items
             if it["kind"] == "hanna"]
    fold = fold_of([g for p in pairs for g in p.groups], cfg.folds, cfg.seed)
    value: dict[str, float] = {}
    for k in range(cfg.folds):
        model = fit([p for p in pairs if all(fold[g] != k for g in p.groups)], cfg)
        value.update({sid: story_value(model, feats) for sid, _, feats in hanna if fold.get(sid) == k})
    out: dict[str, dict[str, Any]] = {}
    for crit in HANNA_CRITERIA:
        rows: list[tuple[float, int | None]] = []  # (win, the fold both stories share, else None)
        for (ia, ra, _), (ib, rb, _) in itertools.combinations(hanna, 2):
            if ia not in value or ib not in value or crit not in ra or crit not in rb:
                continue
            if abs(ra[crit] - rb[crit]) < cfg.min_gap:
                continue
            hi, lo = (ia, ib) if ra[crit] > rb[crit] else (ib, ia)
            win = 1.0 if value[hi] > value[lo] else 0.5 if value[hi] == value[lo] else 0.0
            rows.append((win, fold[ia] if fold[ia] == fold[ib] else None))
        if not rows:
            continue
        within = [statistics.fmean(w for w, f in rows if f == k) for k in range(cfg.folds) if any(f == k for _, f in rows)]
        out[crit] = {"pooled": statistics.fmean(w for w, _ in rows), "pairs": len(rows),
                     "mean": statistics.fmean(within) if within else float("nan"),
                     "sd": statistics.stdev(within) if len(within) > 1 else 0.0}
    return out


def hanna_markdown(cv: dict[str, dict[str, Any]]) -> str:
    """``hanna_cross_validated`` as a table."""
    lines = ["| HANNA criterion | cross-validated agreement, pooled (mean ± SD within folds) | pairs |", "|---|---|---|"]
    for crit, v in cv.items():
        lines.append(f"| {crit.removeprefix('human_')} | {v['pooled']:.3f} ({v['mean']:.3f} ± {v['sd']:.3f}) | {v['pairs']} |")
    return "\n".join(lines) + "\n"


def _header(reader: str, cfg: FitConfig) -> dict[str, Any]:
    head = {"readings_of": reader, "step_tokens": cfg.step_tokens, "contrast_words": cfg.contrast_words,
            "seed": cfg.seed}
    return {**head, "stories": cfg.stories} if cfg.stories else head  # files of all stories name none


def dump_items(items: Sequence[dict[str, Any]], reader: str, cfg: FitConfig) -> str:
    """JSON lines: a header (which reader read what), then one item per line."""
    return "".join(json.dumps(x) + "\n" for x in [_header(reader, cfg), *items])


def partial_path(path: Path) -> Path:
    """Where ``fit-value --readings PATH`` keeps the readings as they are made, until all are."""
    return path.with_name(path.name + ".partial")


def load_partial(path: Path, reader: str, cfg: FitConfig) -> list[dict[str, Any]]:
    """The items of an interrupted reading (``partial_path``); a last line cut by the
    interruption is dropped (it is read again)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines = lines[:-1]
    try:
        got = [json.loads(x) for x in lines if x.strip()]
    except json.JSONDecodeError as exc:
        raise UserError(f"cannot read the readings begun in {path}: {exc} (remove it to start again)") from exc
    if not got or got[0] != _header(reader, cfg):
        raise UserError(f"{path} holds readings begun with other settings or none (remove it to start again)")
    return got[1:]


def load_items(path: Path, reader: str, cfg: FitConfig) -> list[dict[str, Any]]:
    """Saved readings; one-line errors when the file is not readings or was read otherwise."""
    try:
        lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read readings file {path}: {exc}") from exc
    if not lines or not isinstance(lines[0], dict) or "readings_of" not in lines[0]:
        raise UserError(f"{path} is not a readings file (storyspace fit-value --readings)")
    want = _header(reader, cfg)
    if lines[0] != want:
        keys = [*want, *(k for k in lines[0] if k not in want)]
        diff = ", ".join(f"{k} {lines[0].get(k)!r} (now {want.get(k)!r})" for k in keys if lines[0].get(k) != want.get(k))
        raise UserError(f"readings file {path} was read with other settings: {diff}")
    items = lines[1:]
    if not all(isinstance(it, dict) and "kind" in it and "readings" in it for it in items):
        raise UserError(f"readings file {path} holds lines that are not readings")
    return items
