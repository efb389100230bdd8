"""``storyspace validate-judges``: every judge ``eval`` can use, side by side, on the same data.

A *judge* reads a finished story and gives it numbers:

- ``value``: (a), the search's own value model (story value ``value_mean``);
- ``reader:SPEC``: (b), DESIGN.md's value formula read by the model SPEC with its shipped
  calibration, as ``eval``'s independent reader (``value_mean``);
- ``llm:SPEC``: (c), the model SPEC as LLM judge: rubric ratings read G-Eval style from its
  token probabilities (``overall``, and ``interest``, ``originality``, ``coherence``);
- ``pair:SPEC``: the model SPEC as *pairwise* judge, not a rating of one story: shown two stories,
  which is better, P(A) read from its probabilities in both orders (``x_score``, the eval's
  pairwise comparison). It reads pairs, not stories: a sample of ``pairs`` HANNA story pairs
  (each story under its own prompt), each contrast original against each of its corruptions, and
  on ``--retest`` the two ``pair_systems`` of each premise in each seed;
- ``length``: no model, the story's word count: the floor every judge must clear (longer
  HANNA stories are rated higher on several criteria);
- ``file:PATH``: ratings made elsewhere (a blind reading by a large LLM, a person), read from a
  JSON-lines file: ``{"suite": "hanna", "id": ..., "scores": {"overall": ..., ...}}`` per story
  (``version`` for a contrast or retest story; or the story's ``key`` as the readings files
  hold it). Its main score is ``overall``; stories the file does not hold are left out.

Each judge reads three sets: the HANNA human stories (agreement with the human ratings, the
``validate-value`` rules: pairs whose mean ratings differ by >= ``min_gap``, ties half), the
contrast suite's stories (how often an original opening beats each corrupted version), and,
when two eval outputs of the same premises and systems made with different seeds are given
(``--retest A B``), the judge's *noise*: the Spearman correlation of its readings of the two
seeds' stories, matched by premise and system, over all of them and within each premise.

A pair judge agrees with people on a HANNA pair when P(x better) is on the side of the human
gap (0.5 counts half), beats a corruption when P(original better) > 0.5, and its noise is the
Spearman rho of P(system 1 better) on the same premises in the two seeds.

Readings are kept per judge in ``<out>/<judge>.jsonl`` (one line per story, written as it goes,
so a stopped run resumes); this module holds the arithmetic (pure functions) on them.
"""

from __future__ import annotations

import json
import math
import random
import re
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from storyspace.contrast import CORRUPTIONS, agreement
from storyspace.corpus import N_STORIES
from storyspace.errors import UserError
from storyspace.eval import stats
from storyspace.eval.scoring import check_story, read_afresh, story_steps, summarize_breakdowns
from storyspace.eval.validate import CONTRAST_STORIES, CONTRAST_WORDS, CORRUPTION_SEED, HUMAN, MIN_GAP
from storyspace.flags import flag
from storyspace.judges.llm import LLMJudge
from storyspace.judges.scorers import SCORE_SKIP, ScoreConfig
from storyspace.story import split_steps

if TYPE_CHECKING:
    from storyspace.models.registry import ModelPool
    from storyspace.value.model import ValueModel

KINDS = ("value", "reader", "llm", "pair", "length", "file")
#: the kinds that name no model
MODEL_FREE = ("value", "length")
#: each kind's story score: what the contrast suite, the noise and the summary read
MAIN_KEY = {"value": "value_mean", "reader": "value_mean", "llm": "overall", "pair": "x_score", "length": "words",
            "file": "overall"}
#: the human criteria a pair judge's HANNA pairs are drawn for (#17's targets); every criterion is reported
PAIR_CRITERIA = ("Coherence", "Surprise")
#: the default judges: length (the floor), (a), the shipped reader (b), and Qwen2.5-Coder-0.5B read both ways
DEFAULT_JUDGES = "length,value,reader:llamacpp:gemma3-270m,reader:llamacpp:qwen2.5-coder-0.5b,llm:llamacpp:qwen2.5-coder-0.5b"


@dataclass(frozen=True)
class JudgesConfig:
    """- ``judges``: comma-separated ``value`` / ``reader:SPEC`` / ``llm:SPEC`` / ``length`` (see the module).
    - ``n_stories``: HANNA human stories read (of 96); ``contrast_stories``: HANNA stories the
      contrast suite corrupts (each read as the original and 8 corrupted openings of
      ``contrast_words`` words); ``min_gap``, ``seed``: as ``validate-value``.
    - ``pairs``: HANNA story pairs a ``pair:`` judge reads (drawn with ``seed`` among the pairs over
      ``min_gap`` on Coherence or Surprise; each pair is two prompts' stories, about 75 s a pair
      for the 1.5B judge here); ``pair_systems``: the two eval systems it compares on each
      ``--retest`` premise (its noise).
    - ``score``: the value model (a) and its models, and the LLM judge's prompts (``--judge-prompts``)."""

    judges: str = field(default=DEFAULT_JUDGES, metadata=flag(
        "--judges", "comma-separated judges: value, reader:SPEC, llm:SPEC, pair:SPEC, file:PATH, length", metavar="LIST"))
    n_stories: int = field(default=96, metadata=N_STORIES)
    contrast_stories: int = field(default=12, metadata=CONTRAST_STORIES)
    contrast_words: int = field(default=160, metadata=CONTRAST_WORDS)
    min_gap: float = field(default=1.0, metadata=MIN_GAP)
    seed: int = field(default=0, metadata=CORRUPTION_SEED)
    pairs: int = field(default=96, metadata=flag("--pairs", "HANNA story pairs a pair: judge reads"))
    pair_systems: str = field(default="mcts,best-of-n", metadata=flag(
        "--pair-systems", "the two eval systems a pair: judge compares on each --retest premise", metavar="A,B"))
    score: ScoreConfig = field(default_factory=lambda: ScoreConfig(reader=""))


#: settings that do not apply (the judges are named by ``--judges``)
JUDGES_SKIP = tuple(f"score.{p}" for p in (*SCORE_SKIP, "reader", "reader_calibration", "llm_judge"))


@dataclass(frozen=True)
class Judge:
    kind: str  # one of KINDS
    spec: str  # the model spec ("" for value)

    @property
    def name(self) -> str:
        return self.kind if self.kind in MODEL_FREE else f"{self.kind}:{self.spec}"

    @property
    def slug(self) -> str:
        """The judge's name as a file name."""
        return re.sub(r"[^A-Za-z0-9.-]+", "_", self.name).strip("_")

    @property
    def main_key(self) -> str:
        return MAIN_KEY[self.kind]


def parse_judges(text: str) -> list[Judge]:
    """``value,reader:SPEC,llm:SPEC,length`` -> judges (each at most once); one-line errors."""
    out: list[Judge] = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        kind, _, spec = item.partition(":")
        if kind not in KINDS:
            raise UserError(f"--judges: {item!r} is not value, reader:SPEC, llm:SPEC, pair:SPEC, file:PATH or length")
        if (kind in MODEL_FREE) != (not spec):
            raise UserError(f"--judges: {item!r}: " + (f"{kind} takes no model" if spec else f"{kind} needs a " + ("path" if kind == "file" else "model spec")))
        judge = Judge(kind, spec)
        if judge in out:
            raise UserError(f"--judges: {item!r} given twice")
        out.append(judge)
    if not out:
        raise UserError("--judges: no judge given")
    return out


def story_key(row: dict[str, Any]) -> str:
    """Which story a reading belongs to (stable across runs: what a resume matches on)."""
    return "/".join(str(row.get(k, "")) for k in ("suite", "id", "version"))


def retest_rows(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stories of two eval outputs (``stories.jsonl``: ``premise``, ``system``, ``story``)
    that match by premise and system, as rows of the ``retest`` suite (``version`` ``a``/``b``)."""

    def keyed(rows: Sequence[dict[str, Any]], label: str) -> dict[tuple[str, str], dict[str, Any]]:
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for r in rows:
            premise = r.get("premise", r.get("prompt"))
            if not isinstance(premise, str) or not isinstance(r.get("story"), str):
                raise UserError(f"--retest {label}: every line needs text fields 'premise' (or 'prompt') and 'story'")
            key = (premise.strip(), str(r.get("system", r.get("name", ""))))
            if key in out:
                raise UserError(f"--retest {label}: premise and system {key[1]!r} appear twice")
            out[key] = r
        return out

    ka, kb = keyed(a, "A"), keyed(b, "B")
    both = [k for k in ka if k in kb]
    if not both:
        raise UserError("--retest: the two files share no (premise, system)")
    premises = {p: i for i, p in enumerate(dict.fromkeys(p for p, _ in both))}
    rows = []
    for premise, system in both:
        for version, src in (("a", ka), ("b", kb)):
            row = {"suite": "retest", "id": f"{premises[premise]}:{system}", "premise_index": premises[premise],
                   "system": system, "version": version, "prompt": premise, "story": src[(premise, system)]["story"]}
            steps = story_steps(src[(premise, system)])
            if steps is not None:
                row["passages"] = steps  # read in the steps the eval read
            rows.append(row)
    return rows


def judge_rows(cfg: JudgesConfig, retest: Sequence[Path] = ()) -> list[dict[str, Any]]:
    """What every judge reads: the HANNA human stories (with their ratings), the contrast suite's
    original and corrupted openings, and the matched stories of two ``--retest`` files."""
    from storyspace import contrast
    from storyspace.corpus import human_stories
    from storyspace.eval.validate import hanna_rows
    from storyspace.files import read_jsonl

    stories = human_stories()
    rows = [{**r, "suite": "hanna", "version": ""} for r in hanna_rows(stories[: cfg.n_stories])]
    short = contrast.shortened(stories[: cfg.contrast_stories], cfg.contrast_words)
    rows += [{**r, "suite": "contrast"} for r in contrast.story_rows(short, cfg.seed)]
    if retest:
        a, b = ([row for _, row in read_jsonl(p, "retest file")] for p in retest)
        if not all(isinstance(r, dict) for r in (*a, *b)):
            raise UserError("--retest: every line must be a JSON object")
        rows += retest_rows(a, b)
    return rows


def pair_systems(cfg: JudgesConfig) -> tuple[str, str]:
    """``--pair-systems`` as two different system names (one-line errors)."""
    names = tuple(x.strip() for x in cfg.pair_systems.split(","))
    if len(names) != 2 or not all(names) or names[0] == names[1]:
        raise UserError(f"--pair-systems: two different system names, as mcts,best-of-n; got {cfg.pair_systems!r}")
    return names[0], names[1]


def pair_rows(rows: Sequence[dict[str, Any]], cfg: JudgesConfig) -> list[dict[str, Any]]:
    """What a ``pair:`` judge reads, from the story rows of :func:`judge_rows`: ``cfg.pairs`` HANNA
    pairs (drawn with ``cfg.seed`` among those whose human ratings differ by >= ``min_gap`` on a
    :data:`PAIR_CRITERIA` criterion, which story is ``x`` drawn too), each contrast original (``x``)
    against each corrupted version, and each retest premise's two ``pair_systems`` in each seed.
    Each row carries its two story rows as ``x`` and ``y``."""
    first, second = pair_systems(cfg)
    rng = random.Random(cfg.seed)
    hanna = [r for r in rows if r.get("suite") == "hanna"]
    targets = [k for k, name in HUMAN if name in PAIR_CRITERIA]

    def apart(a: dict[str, Any], b: dict[str, Any]) -> bool:
        return any(k in a and k in b and abs(float(a[k]) - float(b[k])) >= cfg.min_gap - 1e-9 for k in targets)

    candidates = [(i, j) for i in range(len(hanna)) for j in range(i + 1, len(hanna)) if apart(hanna[i], hanna[j])]
    hanna_pairs = []
    for i, j in sorted(rng.sample(candidates, min(cfg.pairs, len(candidates)))):
        x, y = (hanna[i], hanna[j]) if rng.random() < 0.5 else (hanna[j], hanna[i])
        hanna_pairs.append({"suite": "hanna", "id": f"{x['id']}|{y['id']}", "version": "pair", "x": x, "y": y})
    # the short pairs first (contrast openings, eval stories): a stopped run has read them
    originals = {r["id"]: r for r in rows if r.get("suite") == "contrast" and r.get("version") == "original"}
    out = [{"suite": "contrast", "id": r["id"], "version": r["version"], "x": originals[r["id"]], "y": r}
           for r in rows if r.get("suite") == "contrast" and r.get("version") != "original" and r["id"] in originals]
    retest = {(r["premise_index"], r["system"], r["version"]): r for r in rows if r.get("suite") == "retest"}
    for (index, system, version), x in sorted(retest.items()):
        y = retest.get((index, second, version))
        if system == first and y is not None:
            out.append({"suite": "retest", "id": f"{index}:{first}|{second}", "premise_index": index,
                        "version": version, "x": x, "y": y})
    return out + hanna_pairs


def check_judges_config(cfg: JudgesConfig) -> list[Judge]:
    """The judges, after the numbers are checked (one-line errors)."""
    if cfg.n_stories < 1 or cfg.contrast_stories < 1 or cfg.contrast_words < 1 or cfg.pairs < 1:
        raise UserError("--n-stories, --contrast-stories, --contrast-words and --pairs must be positive")
    pair_systems(cfg)
    if not (cfg.min_gap > 0 and math.isfinite(cfg.min_gap)):
        raise UserError(f"--min-gap must be a positive number, got {cfg.min_gap}")
    return parse_judges(cfg.judges)


def hanna_agreement(rows: Sequence[dict[str, Any]], readings: dict[str, dict[str, Any]],
                    min_gap: float) -> dict[str, dict[str, dict[str, float]]]:
    """``{score key: {human criterion: {"agreement", "pairs", "rho"}}}`` over the HANNA rows the
    judge read (every numeric key of its readings)."""
    have = [(r, readings[story_key(r)]["scores"]) for r in rows
            if r.get("suite") == "hanna" and "scores" in readings.get(story_key(r), {})]
    keys = sorted({k for _, s in have for k, v in s.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    out: dict[str, dict[str, dict[str, float]]] = {}
    for key in keys:
        pts = [(r, float(s[key])) for r, s in have if isinstance(s.get(key), (int, float)) and math.isfinite(s[key])]
        if len(pts) < 3:
            continue
        for human_key, human_name in HUMAN:
            xs = [(v, float(r[human_key])) for r, v in pts if human_key in r]
            if len(xs) < 3:
                continue
            comp, hum = [x for x, _ in xs], [h for _, h in xs]
            agree, pairs = stats.pairwise_agreement(comp, hum, min_gap)
            rho = stats.spearman(comp, hum)
            out.setdefault(key, {})[human_name] = {"agreement": agree, "pairs": pairs, "rho": rho, "n": len(xs)}
    return out


def contrast_agreement(rows: Sequence[dict[str, Any]], readings: dict[str, dict[str, Any]],
                       key: str) -> dict[str, dict[str, float]]:
    """``{corruption: {"agreement", "pairs"}}``: how often the original opening scored above each
    corrupted version (ties half), by the judge's ``key``."""

    def score(r: dict[str, Any]) -> float | None:
        v = readings.get(story_key(r), {}).get("scores", {}).get(key)
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None

    originals = {r["id"]: score(r) for r in rows if r.get("suite") == "contrast" and r.get("version") == "original"}
    out = {}
    for kind in CORRUPTIONS:
        pairs = [(originals.get(r["id"]), score(r)) for r in rows
                 if r.get("suite") == "contrast" and r.get("version") == kind]
        pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
        out[kind] = agreement([a for a, _ in pairs], [b for _, b in pairs]).as_dict()
    return out


def retest_noise(rows: Sequence[dict[str, Any]], readings: dict[str, dict[str, Any]], key: str) -> dict[str, float]:
    """The judge's readings of seed A's stories against seed B's, matched by premise and system:
    ``rho`` (Spearman over all matched stories), ``rho_within`` (each reading less its premise's
    mean over systems and its seed: does the judge order one premise's systems alike twice),
    ``n`` (matched stories)."""
    by: dict[str, dict[str, tuple[int, float]]] = {}
    for r in rows:
        if r.get("suite") != "retest":
            continue
        v = readings.get(story_key(r), {}).get("scores", {}).get(key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            by.setdefault(r["id"], {})[r["version"]] = (int(r["premise_index"]), float(v))
    ids = [i for i, d in by.items() if "a" in d and "b" in d]
    if len(ids) < 3:
        return {"rho": math.nan, "rho_within": math.nan, "n": len(ids)}
    a = [by[i]["a"][1] for i in ids]
    b = [by[i]["b"][1] for i in ids]
    premise = [by[i]["a"][0] for i in ids]

    def centred(xs: list[float]) -> list[float]:
        means = {p: statistics.fmean(x for x, q in zip(xs, premise) if q == p) for p in set(premise)}
        return [x - means[p] for x, p in zip(xs, premise)]

    within = math.nan
    if len(set(premise)) < len(ids):  # some premise has two systems or more
        keep = [k for k, p in enumerate(premise) if premise.count(p) > 1]
        ca, cb = centred(a), centred(b)
        within = stats.spearman([ca[k] for k in keep], [cb[k] for k in keep])
    return {"rho": stats.spearman(a, b), "rho_within": within, "n": len(ids)}


def _x_score(row: dict[str, Any], readings: dict[str, dict[str, Any]]) -> float | None:
    v = readings.get(story_key(row), {}).get("scores", {}).get("x_score")
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def pair_hanna_agreement(rows: Sequence[dict[str, Any]], readings: dict[str, dict[str, Any]],
                         min_gap: float) -> dict[str, dict[str, dict[str, float]]]:
    """``{"x_score": {human criterion: {"agreement", "pairs", "rho", "n"}}}`` over the HANNA pairs a
    pair judge read: ``pairs`` those whose human ratings differ by >= ``min_gap``, agreement when
    P(x better) is on the side of the human gap (0.5 half); ``rho`` of P(x better) against the
    human gap over all ``n`` read pairs."""
    have = [(r, x) for r in rows if r.get("suite") == "hanna" and "x" in r
            for x in [_x_score(r, readings)] if x is not None]
    out: dict[str, dict[str, float]] = {}
    for human_key, human_name in HUMAN:
        pts = [(x, float(r["x"][human_key]) - float(r["y"][human_key])) for r, x in have
               if human_key in r["x"] and human_key in r["y"]]
        if len(pts) < 3:
            continue
        over = [(x, gap) for x, gap in pts if abs(gap) >= min_gap - 1e-9]
        agree = sum(0.5 if x == 0.5 else float((x > 0.5) == (gap > 0)) for x, gap in over)
        out[human_name] = {"agreement": agree / len(over) if over else math.nan, "pairs": len(over),
                           "rho": stats.spearman([x for x, _ in pts], [g for _, g in pts]), "n": len(pts)}
    return {"x_score": out} if out else {}


def pair_contrast_agreement(rows: Sequence[dict[str, Any]], readings: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """``{corruption: {"agreement", "pairs"}}``: how often a pair judge preferred the original
    (P(original better) > 0.5; 0.5 half)."""
    out = {}
    for kind in CORRUPTIONS:
        xs = [_x_score(r, readings) for r in rows if r.get("suite") == "contrast" and r.get("version") == kind and "x" in r]
        xs = [x for x in xs if x is not None]
        out[kind] = agreement(xs, [0.5] * len(xs)).as_dict()
    return out


def pair_retest_noise(rows: Sequence[dict[str, Any]], readings: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Spearman rho of a pair judge's P(first system better) on each premise in seed A against seed
    B (``rho``; ``rho_within`` does not apply: one comparison a premise), ``n`` premises."""
    by: dict[str, dict[str, float]] = {}
    for r in rows:
        x = _x_score(r, readings) if r.get("suite") == "retest" and "x" in r else None
        if x is not None:
            by.setdefault(r["id"], {})[r["version"]] = x
    both = [d for d in by.values() if "a" in d and "b" in d]
    rho = stats.spearman([d["a"] for d in both], [d["b"] for d in both]) if len(both) >= 3 else math.nan
    return {"rho": rho, "rho_within": math.nan, "n": len(both)}


def judge_summary(judge: Judge, rows: Sequence[dict[str, Any]], readings: dict[str, dict[str, Any]],
                  min_gap: float) -> dict[str, Any]:
    """Everything the table shows of one judge (see the module); a pair judge's ``rows`` are its
    pairs (:func:`pair_rows`), and ``position_bias`` counts the pairs it answered with the same
    letter in both orders."""
    read = [readings[story_key(r)] for r in rows if story_key(r) in readings]
    seconds = [float(x["seconds"]) for x in read if "scores" in x and isinstance(x.get("seconds"), (int, float))]
    unparsed = sum(1 for x in read if "scores" in x and x["scores"].get("parsed") is False)
    out = {
        "judge": judge.name,
        "key": judge.main_key,
        "read": sum(1 for x in read if "scores" in x),
        "errors": sum(1 for x in read if "error" in x),
        "unparsed": unparsed,
        "seconds_per_story": statistics.fmean(seconds) if seconds else math.nan,
    }
    if judge.kind == "pair":
        return {**out, "position_bias": sum(1 for x in read if x.get("scores", {}).get("position_bias") is True),
                "hanna": pair_hanna_agreement(rows, readings, min_gap),
                "contrast": pair_contrast_agreement(rows, readings), "retest": pair_retest_noise(rows, readings)}
    return {**out, "hanna": hanna_agreement(rows, readings, min_gap),
            "contrast": contrast_agreement(rows, readings, judge.main_key),
            "retest": retest_noise(rows, readings, judge.main_key)}


def _f(x: float, fmt: str = ".3f") -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def judges_markdown(summaries: Sequence[dict[str, Any]], min_gap: float, info: str = "") -> str:
    """The side-by-side table (``judges.md``)."""
    crits = [name for _, name in HUMAN]
    lines = ["# The judges side by side", "", (info + " " if info else "") +
             f"HANNA: share of human-story pairs whose mean rating differs by >= {min_gap:g} that the judge's story"
             " score orders as people did (ties half). Contrast: share of original openings scored above each"
             " corrupted version (story level). Noise: Spearman rho of the judge's readings of two seeds' stories"
             " (matched by premise and system), over all and within a premise.", "",
             "## Story score against people, corruptions and itself", "",
             "| judge (score) | " + " | ".join(f"HANNA {c}" for c in crits) + " | contrast min | retest rho / within (n) "
             "| s / story | read (errors, unparsed) |",
             "|---" * (len(crits) + 5) + "|"]
    for s in summaries:
        h = s["hanna"].get(s["key"], {})
        cmin = min((v["agreement"] for v in s["contrast"].values() if v["pairs"]), default=math.nan)
        r = s["retest"]
        lines.append(f"| {s['judge']} ({s['key']}) | " + " | ".join(_f(h.get(c, {}).get("agreement", math.nan)) for c in crits)
                     + f" | {_f(cmin)} | {_f(r['rho'], '+.3f')} / {_f(r['rho_within'], '+.3f')} ({r['n']})"
                     f" | {_f(s['seconds_per_story'], '.1f')} | {s['read']} ({s['errors']}, {s['unparsed']}) |")
    lines += ["", "## Contrast suite, story level, by corruption", "",
              "| judge | " + " | ".join(CORRUPTIONS) + " |", "|---" * (len(CORRUPTIONS) + 1) + "|"]
    for s in summaries:
        lines.append(f"| {s['judge']} | " + " | ".join(
            f"{_f(s['contrast'][k]['agreement'])} ({s['contrast'][k]['pairs']})" for k in CORRUPTIONS) + " |")
    lines += ["", "## Every score of each judge against the HANNA ratings (agreement; Spearman rho)", "",
              "| judge.score | " + " | ".join(crits) + " |", "|---" * (len(crits) + 1) + "|"]
    for s in summaries:
        for key, per in s["hanna"].items():
            lines.append(f"| {s['judge']}.{key} | " + " | ".join(
                f"{_f(per[c]['agreement'])}; {_f(per[c]['rho'], '+.2f')}" if c in per else "–" for c in crits) + " |")
    pairs = {c: p["pairs"] for s in summaries if not s["judge"].startswith("pair:")
             for per in s["hanna"].values() for c, p in per.items()}
    if pairs:
        lines += ["", "HANNA pairs per criterion: " + ", ".join(f"{c} {n}" for c, n in pairs.items()) + "."]
    for s in summaries:
        if s["judge"].startswith("pair:"):
            per = s["hanna"].get("x_score", {})
            lines += ["", f"{s['judge']} reads pairs, not stories: its score is P(x better), both orders averaged;"
                      " its HANNA pairs per criterion: " + ", ".join(f"{c} {p['pairs']}" for c, p in per.items())
                      + f"; its seconds are per pair; the same letter in both orders on {s['position_bias']} of"
                      f" {s['read']} pairs; its noise is P(first system better) per premise, seed A against B."]
    return "\n".join(lines) + "\n"


def read_readings(path: Path) -> dict[str, dict[str, Any]]:
    """A judge's readings so far, by story key (a torn last line is dropped: it is read again)."""
    if not path.is_file():
        return {}
    out = {}
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from exc
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("key"), str):
            out[row["key"]] = row
    return out


def file_readings(path: Path) -> dict[str, dict[str, Any]]:
    """A ``file:`` judge's ratings by story key (one-line errors for a bad file)."""
    from storyspace.files import read_jsonl

    out: dict[str, dict[str, Any]] = {}
    for n, row in read_jsonl(path, "ratings file"):
        scores = row.get("scores") if isinstance(row, dict) else None
        if not isinstance(scores, dict) or not scores:
            raise UserError(f"{path}:{n}: a rating needs a scores object (and suite and id, or key)")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in scores.values()):
            raise UserError(f"{path}:{n}: every score must be a number")
        key = row["key"] if isinstance(row.get("key"), str) else story_key({"suite": row.get("suite", "hanna"), **row})
        if key in out:
            raise UserError(f"{path}:{n}: story {key} rated twice")
        out[key] = {"key": key, "scores": {k: float(v) for k, v in scores.items()}}
    if not out:
        raise UserError(f"{path} holds no rating")
    return out


def check_judge_specs(judges: Sequence[Judge]) -> None:
    """Each judge's model spec, and a reader's shipped calibration (one-line errors, no loading);
    a ``file:`` judge's file is read."""
    from storyspace.models.registry import parse_spec
    from storyspace.value.model import load_calibration

    for j in judges:
        if j.kind == "file":
            file_readings(Path(j.spec))
        elif j.spec:
            parse_spec(j.spec)
        if j.kind == "reader":
            load_calibration("auto", str(parse_spec(j.spec)))


def build_scorer(judge: Judge, pool: "ModelPool", cfg: ScoreConfig) -> "ValueModel | LLMJudge | None":
    """What reads for ``judge``: the value model (a) of ``cfg``, the independent reader formula
    read by the judge's model with its shipped calibration, an LLM judge read from its
    probabilities, or None (``length``)."""
    from storyspace.assemble import independent_reader, value_model
    from storyspace.story import PromptConfig

    if judge.kind == "length":
        return None
    if judge.kind == "value":
        return value_model(pool, cfg.models.reference, cfg.value, PromptConfig(), cfg.models.judge)
    if judge.kind == "reader":
        return independent_reader(pool, judge.spec, "auto", cfg.value, PromptConfig())
    return LLMJudge(pool.get(judge.spec), replace(cfg.judge, method="probabilities"))  # llm and pair


def value_reading(vm: "ValueModel", prompt: str, story: str, step_tokens: int,
                  passages: Sequence[str] | None = None) -> dict[str, float]:
    """A value model's story scores (``storyspace score``'s ``value`` block), read afresh: the
    reading does not depend on the stories read before it. The steps are ``passages`` when given
    (an eval story's own), else the story cut into steps of about ``step_tokens`` tokens."""
    check_story(prompt, story, vm)
    steps = list(passages) if passages else split_steps(story, step_tokens, vm.reader.count_tokens)
    return summarize_breakdowns(read_afresh(vm, prompt.strip(), steps))


def read_story(scorer: "ValueModel | LLMJudge | None", row: dict[str, Any], step_tokens: int) -> dict[str, Any]:
    """One judge's reading of one row: ``{"key", "scores", "seconds"}``, or ``{"key", "error"}``
    when the story cannot be read (too long, empty); no scorer = the ``length`` judge; a row of
    :func:`pair_rows` (``x``, ``y``) is read by a pair judge's :meth:`LLMJudge.compare`."""
    start = time.perf_counter()
    try:
        if "x" in row:
            if not isinstance(scorer, LLMJudge):
                raise TypeError("a pair is read by an LLM judge")
            x, y = row["x"], row["y"]
            got = scorer.compare(x["prompt"].strip(), x["story"].strip(), y["story"].strip(), y["prompt"].strip())
            scores = {"x_score": got["x_score"], "position_bias": got["position_bias"], "raw": got["raw"]}
        elif scorer is None:
            scores = {"words": len(row["story"].split())}
        elif isinstance(scorer, LLMJudge):
            scores = {k: v for k, v in scorer.rate(row["prompt"].strip(), row["story"].strip()).items() if k != "raw"}
        else:
            scores = value_reading(scorer, row["prompt"], row["story"], step_tokens, row.get("passages"))
    except UserError as exc:
        return {"key": story_key(row), "error": str(exc)}
    return {"key": story_key(row), "scores": scores, "seconds": round(time.perf_counter() - start, 3)}


def read_all(make_scorer: Callable[[], "ValueModel | LLMJudge | None"], rows: Sequence[dict[str, Any]], path: Path,
             step_tokens: int, on_row: Callable[[int, int], None] | None = None) -> dict[str, dict[str, Any]]:
    """Every row read by one judge into ``path`` (JSON lines, appended as they come; rows already
    there are not read again). The judge's model is made (``make_scorer``) only when a row is
    left to read, so re-making the table from kept readings loads no model. Returns the
    readings by story key."""
    done = read_readings(path)
    todo = [r for r in rows if story_key(r) not in done]
    scorer = make_scorer() if todo else None
    try:
        fh = open(path, "a")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from exc
    with fh:
        for i, row in enumerate(todo):
            if on_row is not None:
                on_row(i, len(todo))
            reading = read_story(scorer, row, step_tokens)
            fh.write(json.dumps(reading) + "\n")
            fh.flush()
            done[reading["key"]] = reading
    if on_row is not None:
        on_row(len(todo), len(todo))
    return done
