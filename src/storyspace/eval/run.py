"""``storyspace eval``: premises x systems at one policy-token budget, judged three ways.

Everything is saved as it is made (one JSON file per story, per judge reading, per LLM
comparison), so that a killed evaluation re-run with the same ``--out`` goes on where it stopped.
Layout of an eval directory::

    eval.json             settings, premises, status
    stories/P.SYSTEM.json one story of one system for premise P, with the value model's reading (a)
    trees/P.mcts.json     the search tree behind an mcts story
    reader/P.SYSTEM.json  (b): the story read by the independent reader
    llm/...               (c) the LLM judge: rubric ratings and pairwise comparisons
    failed.json           (story, reader) tasks that failed on every try on a Ray cluster
    stories.jsonl         every story with all its scores (written at the end; without the
                          wall-clock field, so that it depends on the seeds alone)
    report.md, value_distributions.png, budget_curve.png

With ``--ray`` the stories and the independent reader's readings run on Ray actors, each holding
its own models (``distributed.pool``); this process alone writes the directory, as results arrive.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from storyspace.assemble import assemble, independent_reader, value_model
from storyspace.config import ExploreConfig, to_dict
from storyspace.distributed.config import RayConfig
from storyspace.distributed.pool import LocalPool, RayPool, Task, make_pool
from storyspace.errors import UserError
from storyspace.flags import flag
from storyspace.judges.llm import GEMMA_READER, LLM_JUDGE, READER, READER_CALIBRATION, JudgeConfig, LLMJudge
from storyspace.eval.scoring import read_afresh, summarize_breakdowns
from storyspace.eval.systems import SystemSpec, parse_systems, run_system
from storyspace.explore import check_premise
from storyspace.models.registry import ModelPool, check_independent, parse_spec
from storyspace.runs import package_versions
from storyspace.files import atomic_write, check_output_dir, read_json_object
from storyspace.seeding import derive_seed
from storyspace.search.budget import Budget
from storyspace.story import Story
from storyspace.value.model import ValueModel

EVAL_FILE = "eval.json"
#: what a saved story record must hold to be reused (anything less is redone)
STORY_KEYS = ("premise_id", "premise", "system", "passages", "story", "value", "breakdowns", "policy_tokens", "curve")
#: fields of a story record that depend on the machine, not on the seeds (kept out of stories.jsonl)
VOLATILE_KEYS = ("wall_s",)


@dataclass(frozen=True)
class EvalConfig:
    """Settings of one evaluation (saved in ``eval.json``; a re-run must match them).

    - ``systems``: names from ``eval.systems.SYSTEMS``, each optionally ``@MODEL_SPEC``.
    - ``n_premises``: how many premises (the first of ``--premises FILE``, or of the shipped ones).
    - ``budget_tokens``: policy tokens per story for every system; 0 = 8 units, one unit being a
      whole single-pass story (``depth * step_tokens``, plus plan tokens with plans).
    - ``curve``: budgets, in units, of the "best value vs budget" curve (those within the budget).
    - ``beam_k``: expansions per beam; the width follows from the budget.
    - ``reader``: (b), the independent reader; "" turns it off. ``reader_calibration``:
      ``auto`` = the shipped calibration of that reader, or a ``storyspace calibrate`` JSON.
    - ``llm_judge``: (c), the LLM judge: any model spec (``openai:URL#MODEL``); "" = off.
    - ``explore``: search, policy, value model, models and prompts (as ``storyspace explore``).
    """

    systems: tuple[str, ...] = field(default=("single", "best-of-n", "beam", "mcts"), metadata=flag(
        "--systems", "systems to compare, comma-separated; SYSTEM@SPEC runs one with another policy"))
    n_premises: int = field(default=8, metadata=flag("--n-premises", "how many premises"))
    budget_tokens: int = field(default=0, metadata=flag("--budget-tokens", "policy tokens per story; 0 = 8 units"))
    curve: tuple[int, ...] = field(default=(1, 2, 4, 8), metadata=flag(
        "--curve", "budgets of the value-vs-budget curve, in units of one story"))
    beam_k: int = field(default=2, metadata=flag("--beam-k", "expansions per beam"))
    reader: str = field(default=GEMMA_READER, metadata=READER)
    reader_calibration: str = field(default="auto", metadata=READER_CALIBRATION)
    llm_judge: str = field(default="", metadata=LLM_JUDGE)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    explore: ExploreConfig = field(default_factory=ExploreConfig)

    def budget(self) -> Budget:
        b = Budget(tokens=0, depth=self.explore.search.depth, passage_cost=self.explore.policy.passage_cost)
        return replace(b, tokens=self.budget_tokens or 8 * b.unit)


def validate_eval(cfg: EvalConfig) -> None:
    from storyspace.config import validate

    validate(cfg.explore)
    parse_systems(cfg.systems)
    if cfg.n_premises < 1 or cfg.beam_k < 1:
        raise UserError("n_premises and beam_k must be positive")
    b = cfg.budget()
    if b.tokens < b.unit:
        raise UserError(
            f"--budget-tokens {b.tokens} is less than one whole story ({b.depth} steps x {b.passage_cost} tokens"
            f" = {b.unit})"
        )
    if any(m < 1 for m in cfg.curve):
        raise UserError("curve multiples must be positive")


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", label)


@dataclass
class EvalProgress:
    stage: str
    done: int
    total: int
    note: str = ""


class Evaluation:
    """One eval directory: run what is missing, then write the report."""

    def __init__(
        self,
        cfg: EvalConfig,
        premises: list[str],
        out: Path,
        pool: ModelPool | None = None,
        on_progress: Callable[[EvalProgress], None] | None = None,
        ray: RayConfig | None = None,
        command: str = "",
    ) -> None:
        validate_eval(cfg)
        self.cfg = cfg
        self.command = command  # the command line, for summary.json
        self.premises = premises[: cfg.n_premises]
        self.out = out
        self.systems = parse_systems(cfg.systems)
        self.pool = pool or ModelPool(options=cfg.explore.models.options())
        self.on_progress = on_progress or (lambda p: None)
        self.ray = ray
        self.failed: list[dict[str, Any]] = []
        self._value_model: ValueModel | None = None
        self._workers: LocalPool | RayPool | None = None
        self._reader: ValueModel | None = None

    # -- the directory --------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create the directory, or check that an existing one holds this same evaluation."""
        for spec in [self.cfg.explore.models.policy_spec, self.cfg.explore.models.reference, *(
                s.policy for s in self.systems if s.policy)]:
            parse_spec(spec)
        if self.cfg.reader:
            check_independent(self.cfg.reader, self.cfg.explore.models.reference)
        if self.cfg.llm_judge:
            parse_spec(self.cfg.llm_judge)
        file = self.out / EVAL_FILE
        settings = {"config": to_dict(self.cfg), "premises": self.premises}
        check_output_dir(self.out)
        if file.exists():
            saved = read_json_object(file, EVAL_FILE)
            if {"config": saved.get("config"), "premises": saved.get("premises")} != json.loads(json.dumps(settings)):
                raise UserError(f"{self.out} holds an evaluation with other settings or premises: use another --out")
            return
        if self.out.exists() and any(self.out.iterdir()):
            raise UserError(f"output directory {self.out} is not empty and holds no evaluation")
        if not self.premises:
            raise UserError("no premises to evaluate")
        policy = self.pool.get(self.cfg.explore.models.policy_spec)
        for p in self.premises:
            check_premise(p, self.cfg.explore, policy)
        meta = {**settings, "created": _now(), "packages": package_versions(), "status": "running"}
        atomic_write(file, json.dumps(meta, indent=1) + "\n")

    def _path(self, kind: str, pi: int, label: str) -> Path:
        return self.out / kind / f"p{pi:02d}.{_slug(label)}.json"

    @staticmethod
    def _read(path: Path, keys: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """A saved piece, or None when it is missing or damaged (then it is redone)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # missing, unreadable, not UTF-8, not JSON
            return None
        if not isinstance(data, dict) or not all(k in data for k in keys):
            return None
        return data

    def _write(self, path: Path, data: dict[str, Any]) -> None:
        atomic_write(path, json.dumps(data, indent=1) + "\n")

    # -- models --------------------------------------------------------------------------------
    def value_model(self) -> ValueModel:
        """(a): the search's own value model (frozen reference reader)."""
        if self._value_model is None:
            e = self.cfg.explore
            self._value_model = value_model(self.pool, e.models.reference, e.value, e.prompts, e.models.judge)
        return self._value_model

    def reader_model(self) -> ValueModel:
        """(b): the independent reader, the same value function read by another model (PMI coherence)."""
        e = self.cfg.explore
        return independent_reader(self.pool, self.cfg.reader, self.cfg.reader_calibration, e.value, e.prompts)

    # -- systems -------------------------------------------------------------------------------
    def seed(self, pi: int) -> int:
        return derive_seed(self.cfg.explore.seed, "eval", pi)

    def workers(self) -> LocalPool | RayPool:
        """Where the stories and readings are made: here, or Ray actors each holding an
        ``Evaluation`` of the same settings (started at the first need, closed by ``run``)."""
        if self._workers is None:
            self._workers = make_pool(self.ray, lambda: self, Evaluation,
                                      {"cfg": self.cfg, "premises": self.premises, "out": self.out})
        return self._workers

    def _map(self, stage: str, tasks: list[Task], done: int, total: int) -> Any:
        """Outcomes of ``tasks`` as they arrive, with progress (failures go to ``failed``)."""
        if not tasks:
            return
        workers = self.workers()
        notes = {t.key: t for t in tasks}
        first = tasks[0].key
        self.on_progress(EvalProgress(stage, done, total, workers.status() or first))
        for outcome in workers.map(tasks):
            done += 1
            if outcome.ok:
                yield outcome
            else:
                self.failed.append({"stage": stage, "task": outcome.task.key, "error": outcome.error,
                                    "attempts": outcome.attempts})
            notes.pop(outcome.task.key, None)
            self.on_progress(EvalProgress(stage, done, total, workers.status() or next(iter(notes), "")))

    def make_story(self, pi: int, label: str) -> dict[str, Any]:
        """One system's story for premise ``pi``: ``{"record": ..., "tree": ... or None}`` (no files written)."""
        system = next(s for s in self.systems if s.label == label)
        return self.run_system(pi, system)

    def run_system(self, pi: int, system: SystemSpec) -> dict[str, Any]:
        e = self.cfg.explore
        premise = self.premises[pi]
        policy_spec = system.policy or e.models.policy_spec
        parts = assemble(self.pool, e, policy=policy_spec, vm=self.value_model())
        policy, vm = parts.policy, parts.value_model
        world = parts.world(premise)
        budget = self.cfg.budget()
        multiples = budget.multiples(self.cfg.curve)
        seed = self.seed(pi)
        gen0, scored0 = policy.usage.generated_tokens, vm.reader.usage.scored_tokens
        start = time.perf_counter()
        run = run_system(system.name, world, e.search, budget, seed, multiples, self.cfg.beam_k,
                         root={"premise": premise})
        breakdowns = [x.breakdown for x in run.expansions]
        record = {
            "premise_id": pi,
            "premise": premise,
            "system": system.label,
            "name": system.name,
            "policy": policy_spec,
            "passages": [x.step.get("passage", "") for x in run.expansions],
            "plans": [x.step.get("plan", "") for x in run.expansions],
            "story": Story.from_steps(premise, [x.step for x in run.expansions]).text(),
            "value": summarize_breakdowns(breakdowns),
            "breakdowns": breakdowns,
            "budget_tokens": budget.tokens,
            "policy_tokens": run.policy_tokens,
            "all_policy_tokens": policy.usage.generated_tokens - gen0,
            "scored_tokens": vm.reader.usage.scored_tokens - scored0,
            "wall_s": round(time.perf_counter() - start, 2),
            "settings": run.settings,
            "curve": {str(m): curve_record(v) for m, v in sorted(run.curve.items())},
        }
        return {"record": record, "tree": run.tree.to_json() if run.tree is not None else None}

    def stories(self) -> list[dict[str, Any]]:
        """Every (premise, system) story, made where missing (saved one by one as they arrive;
        a story that failed on every try is left out and listed in ``failed``)."""
        keys = list(itertools.product(range(len(self.premises)), [s.label for s in self.systems]))
        have = {k: self._read(self._path("stories", *k), STORY_KEYS) for k in keys}
        todo = [Task(f"p{pi:02d}.{label}", "make_story", {"pi": pi, "label": label}) for (pi, label), rec in have.items()
                if rec is None]
        for outcome in self._map("stories", todo, len(keys) - len(todo), len(keys)):
            pi, label = outcome.task.kwargs["pi"], outcome.task.kwargs["label"]
            if outcome.result["tree"] is not None:
                self._write(self._path("trees", pi, label), outcome.result["tree"])
            self._write(self._path("stories", pi, label), outcome.result["record"])
            have[(pi, label)] = outcome.result["record"]
        self.on_progress(EvalProgress("stories", len(keys), len(keys)))
        return [rec for rec in have.values() if rec is not None]

    # -- readings ------------------------------------------------------------------------------
    def read_stories(self, records: list[dict[str, Any]]) -> None:
        """(b), the independent reader, for every story (adds ``reader`` to each record) and for
        the story each system returned at the smaller budgets of the curve (adds ``reader``, the
        reading's summary, to each curve point; a point whose story is the record's own shares its
        reading)."""
        if not self.cfg.reader:
            return
        keys = ("reader", "summary", "breakdowns")
        jobs: list[tuple[dict[str, Any], str | None, Path]] = []  # (record, curve point or None, file)
        for rec in records:
            jobs.append((rec, None, self._path("reader", rec["premise_id"], rec["system"])))
            for m, point in rec.get("curve", {}).items():
                if point.get("passages") and point["passages"] != rec["passages"]:
                    jobs.append((rec, m, self._path("reader", rec["premise_id"], f"{rec['system']}.x{m}")))
        todo = []
        for i, (rec, m, path) in enumerate(jobs):
            got = self._read(path, keys)
            if got is None:
                passages = rec["passages"] if m is None else rec["curve"][m]["passages"]
                name = f"p{rec['premise_id']:02d}.{rec['system']}" + ("" if m is None else f" at {m}x")
                todo.append(Task(f"{name} (b)", "read_record",
                                 {"premise": rec["premise"], "passages": passages, "index": i}))
            else:
                _attach_reading(rec, m, got)
        for outcome in self._map("reader", todo, len(jobs) - len(todo), len(jobs)):
            rec, m, path = jobs[outcome.task.kwargs["index"]]
            self._write(path, outcome.result)
            _attach_reading(rec, m, outcome.result)
        for rec in records:
            for point in rec.get("curve", {}).values():
                if "reader" not in point and point.get("passages") == rec["passages"] and "reader" in rec:
                    point["reader"] = rec["reader"]["summary"]
        self.on_progress(EvalProgress("reader", len(jobs), len(jobs)))

    def read_record(self, premise: str, passages: list[str], index: int = 0) -> dict[str, Any]:
        """(b) of one story (no files written); ``index`` only tells the caller which story."""
        if self._reader is None:
            self._reader = self.reader_model()
        breakdowns = read_afresh(self._reader, premise, passages)
        return {"reader": str(parse_spec(self.cfg.reader)), "summary": summarize_breakdowns(breakdowns),
                "breakdowns": breakdowns}

    def llm_judge(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """(c), the LLM judge: rubric ratings of every story and pairwise comparisons of every two systems
        on each premise, both orders (adds ``llm`` to each record; returns the comparisons)."""
        if not self.cfg.llm_judge:
            return []
        judge: LLMJudge | None = None
        by_premise: dict[int, dict[str, dict[str, Any]]] = {}
        for rec in records:
            by_premise.setdefault(rec["premise_id"], {})[rec["system"]] = rec
        pairs = [(pi, a, b) for pi, recs in sorted(by_premise.items())
                 for a, b in itertools.combinations([s.label for s in self.systems if s.label in recs], 2)]
        total = len(records) + len(pairs)
        done = 0
        for rec in records:
            path = self._path("llm", rec["premise_id"], "rate." + rec["system"])
            got = self._read(path)
            if got is None:
                self.on_progress(EvalProgress("llm judge", done, total, f"rating {rec['system']}"))
                judge = judge or LLMJudge(self.pool.get(self.cfg.llm_judge), self.cfg.judge)
                got = judge.rate(rec["premise"], rec["story"])
                self._write(path, got)
            rec["llm"] = got
            done += 1
        comparisons = []
        for pi, a, b in pairs:
            path = self._path("llm", pi, f"pair.{a}.vs.{b}")
            got = self._read(path)
            if got is None:
                self.on_progress(EvalProgress("llm judge", done, total, f"{a} vs {b}"))
                judge = judge or LLMJudge(self.pool.get(self.cfg.llm_judge), self.cfg.judge)
                recs = by_premise[pi]
                got = {"premise_id": pi, "x": a, "y": b,
                       **judge.compare(recs[a]["premise"], recs[a]["story"], recs[b]["story"])}
                self._write(path, got)
            comparisons.append(got)
            done += 1
        self.on_progress(EvalProgress("llm judge", total, total))
        return comparisons

    # -- all -----------------------------------------------------------------------------------
    def run(self) -> Path:
        from storyspace.eval.report import write_report

        if self.ray is not None and self.ray.enabled:
            self.workers()  # connect first: a cluster that is not there is a one-line error at once
        self.prepare()
        try:
            records = self.stories()
            self.read_stories(records)
        finally:
            if self._workers is not None:
                self._workers.close()
                self._workers = None
        records = self._complete_premises(records)
        comparisons = self.llm_judge(records)
        with open(self.out / ".stories.jsonl.tmp", "w") as fh:
            for rec in records:
                fh.write(json.dumps({k: v for k, v in rec.items() if k not in VOLATILE_KEYS}) + "\n")
        (self.out / ".stories.jsonl.tmp").replace(self.out / "stories.jsonl")
        write_report(self.out, records, comparisons, self.cfg, [s.label for s in self.systems], self.failed,
                     self.command)
        if self.failed or (self.out / "failed.json").exists():
            atomic_write(self.out / "failed.json", json.dumps(self.failed, indent=1) + "\n")
        meta = read_json_object(self.out / EVAL_FILE, EVAL_FILE)
        meta.update(status="finished with failures" if self.failed else "finished", updated=_now())
        atomic_write(self.out / EVAL_FILE, json.dumps(meta, indent=1) + "\n")
        return self.out / "report.md"

    def _complete_premises(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The records of premises whose every system has a story (and a reading, when (b) is on):
        the systems are compared on the same premises; the others are reported as failed."""
        want = {s.label for s in self.systems}
        by: dict[int, list[dict[str, Any]]] = {}
        for rec in records:
            by.setdefault(rec["premise_id"], []).append(rec)
        ok = {pi for pi, recs in by.items() if {r["system"] for r in recs} == want
              and (not self.cfg.reader or all("reader" in r for r in recs))}
        return [r for r in records if r["premise_id"] in ok]


def curve_record(point: dict[str, Any]) -> dict[str, Any]:
    """A curve point as an eval record keeps it: value, tokens, and the passages of its story."""
    out = {k: v for k, v in point.items() if k != "steps"}
    if "steps" in point:
        out["passages"] = [step.get("passage", "") for step in point["steps"]]
    return out


def _attach_reading(rec: dict[str, Any], point: str | None, reading: dict[str, Any]) -> None:
    if point is None:
        rec["reader"] = reading
    else:
        rec["curve"][point]["reader"] = reading["summary"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
