"""The search -> pairs -> DPO (or ORPO) loop, with held-out evaluation after every iteration.

Iteration i searches every training premise with policy i and builds pairs from those trees;
policy i+1 is then trained (``LoopConfig.train_from``) either from the base, policy 0, on the pairs
of iterations 0..i (the default: a new LoRA on the base, merged, so that DPO's reference stays the
base and the drift from it is that of one training run), or from policy i on iteration i's pairs
alone. The reference reader stays the frozen base model. Held-out premises are scored for policy
0 and after every iteration: the step values of a single-pass story (no search: one sample per
step) and of the MCTS story at the same budget as iteration 0. Every finished piece (a search
run, a pairs file, a model, an evaluation) is on disk before the next starts, so a killed loop
continues from the last finished premise.

With ``--ray`` the searches and single-pass stories of an iteration run on Ray actors (each
holding its own models; the loop directory must be readable by the workers, where policy i > 0
lives) and training runs as one Ray task that takes a GPU when the cluster has one; this process
alone writes the loop directory. A premise whose search fails on every try is listed in
``failed.json`` and ``iterations.md`` and left out (of the pairs, or of the held-out means).

Layout of the loop directory::

    loop.json                 settings and base model
    iter0/search/p00/ ...     explore runs of policy 0 on the training premises
    iter0/pairs.jsonl
    iter1/model/              policy 1 (hf directory)
    eval/policy0/single/p00.json, eval/policy0/mcts/p00/ ...
    iterations.json, iterations.md, iterations.png
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from storyspace.assemble import assemble
from storyspace.config import ExploreConfig, from_dict, to_dict
from storyspace.distributed.config import RayConfig
from storyspace.distributed.pool import LocalPool, RayPool, Task, make_pool
from storyspace.errors import UserError
from storyspace.judges.llm import GEMMA_READER, READER, READER_CALIBRATION
from storyspace.flags import flag
from storyspace.explore import Explorer
from storyspace.models.registry import ModelPool
from storyspace.runs import RunDir, load_run
from storyspace.files import atomic_write, check_output_dir, read_json_object
from storyspace.search.mcts import SearchConfig
from storyspace.seeding import derive_seed
from storyspace.search.baselines import single_pass
from storyspace.search.budget import Budget
from storyspace.story import Story
from storyspace.train import heldout as ho
from storyspace.train.orpo import TrainConfig, train_orpo
from storyspace.train.pairs import PairConfig, read_pairs, run_pairs, select_pairs, write_pairs
from storyspace.value.config import ValueConfig


#: ``LoopConfig.train_from`` values
TRAIN_FROM = ("base", "previous")
#: the value that a setting added later had in effect before it existed (read into an older loop.json)
BEFORE = {"train_from": "previous"}


@dataclass(frozen=True)
class LoopConfig:
    """Sizes of the loop.

    The explore settings are smaller than ``storyspace explore``'s defaults (12 simulations of
    3 steps of 48 tokens) so that 8 training premises fit an iteration. Each policy is measured on
    ``heldout_premises`` x ``heldout_seeds`` single-pass stories, judged by the value model (a)
    and by ``reader`` (b, "" = off), and the first ``heldout_mcts`` held-out premises are also
    searched by MCTS with it (0 = off).

    Training defaults (chosen by ``storyspace sweep`` on the capped loop's pairs, issue #14,
    session 13; ``results/loop/README.md``): DPO, not the paper's ORPO, at lr 5e-4 for 30 steps
    of 4 pairs, and the value's reward cap 0.05 for the search. ORPO's NLL term on the policy's own
    samples made it more predictable to the independent reader (b) at any learning rate that
    moved it (beta 0, the NLL alone, did the same), while DPO moved both judges up; the cap
    keeps the pairs from preferring text past the human range of surprise. ``--loss orpo
    --learning-rate 5e-5 --max-steps 12 --reward-cap 0 --train-from previous`` restores the
    earlier defaults.

    ``train_from`` (issue #14, session 14): ``base`` trains policy i+1 from policy 0 on the pairs of
    every iteration so far (as STaR restarts from the base model in every outer iteration), with
    DPO's reference the base; ``previous`` trains it from policy i on iteration i's pairs, DPO's
    reference then being policy i. With ``previous`` the drift from the base added up: the default
    loop's policy 2 read human stories 14 % worse than policy 0 (policy 1: +2.9 %).

    ``pairs_from`` (issue #45): a pairs file (``storyspace pairs --from-study STUDY... --prompt-for
    POLICY``: a blind reader's choices between sibling passages) that replaces the first
    iteration's search and value-ranked pairs; the file is copied to ``iter0/pairs.jsonl``. It holds
    the choices on one writer's passages, so such a loop has one iteration (a second would need the
    reader's choices on policy 1's own trees: a new study, then a new loop).
    """

    iterations: int = field(default=2, metadata=flag("--iterations", "search -> pairs -> training iterations"))
    train_premises: int = field(default=8, metadata=flag("--train-premises", "premises searched per iteration"))
    heldout_premises: int = field(default=16, metadata=flag("--heldout-premises", "premises held out for evaluation"))
    heldout_seeds: int = field(default=2, metadata=flag("--heldout-seeds", "single-pass stories per held-out premise"))
    heldout_mcts: int = field(default=4, metadata=flag(
        "--heldout-mcts", "held-out premises (the first) also searched by MCTS with each policy"))
    reader: str = field(default=GEMMA_READER, metadata=READER)
    reader_calibration: str = field(default="auto", metadata=READER_CALIBRATION)
    explore: ExploreConfig = field(
        default_factory=lambda: ExploreConfig(
            search=SearchConfig(simulations=12, depth=3, children=3, parallel_leaves=4),
            value=ValueConfig(reward_cap=0.05),
        )
    )
    #: 30 DPO steps of 4 pairs (~1.5 epochs of ~80 pairs): one step costs ~19 s on 2 CPU cores
    train: TrainConfig = field(default_factory=lambda: TrainConfig(loss="dpo", learning_rate=5e-4, max_steps=30))
    pairs: PairConfig = field(default_factory=PairConfig)
    train_from: str = field(default="base", metadata=flag(
        "--train-from", "policy i+1 is trained from the base on every iteration's pairs, or from policy i on its own",
        choices=TRAIN_FROM))
    pairs_from: str = field(default="", metadata=flag(
        "--pairs-from", "a pairs file (storyspace pairs --from-study) instead of the first iteration's search "
        "and value-ranked pairs (one iteration)"))


def loop_config(data: Any, where: str = "loop.json config") -> LoopConfig:
    """The ``LoopConfig`` of a loop.json's ``config``: a setting missing there counts at the value
    it had in effect when the loop was written (``BEFORE``, else its default then, the class's)."""
    if isinstance(data, dict):
        data = {**BEFORE, **data}
    return from_dict(LoopConfig, data, where)


def validate_loop(cfg: LoopConfig) -> None:
    """One-line ``UserError`` for loop settings that cannot run."""
    from storyspace.config import validate
    from storyspace.train.orpo import validate_train
    from storyspace.train.pairs import validate_pairs

    for name, value in (("iterations", cfg.iterations), ("train_premises", cfg.train_premises),
                        ("heldout_premises", cfg.heldout_premises), ("heldout_seeds", cfg.heldout_seeds)):
        if value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be positive, got {value}")
    if cfg.heldout_mcts < 0:
        raise UserError(f"--heldout-mcts must be >= 0, got {cfg.heldout_mcts}")
    if cfg.train_from not in TRAIN_FROM:
        raise UserError(f"--train-from must be one of {', '.join(TRAIN_FROM)}, not {cfg.train_from!r}")
    validate(cfg.explore)
    if cfg.reader:  # fail now, not after the first hour of searching
        from storyspace.models.registry import check_independent, parse_spec
        from storyspace.value.model import load_calibration

        check_independent(cfg.reader, cfg.explore.models.reference)
        load_calibration(cfg.reader_calibration, str(parse_spec(cfg.reader)))
    validate_train(cfg.train)
    validate_pairs(cfg.pairs)
    if cfg.pairs_from:
        if cfg.iterations != 1:
            raise UserError("--pairs-from gives the pairs of one iteration (a reader's choices on one writer's "
                            f"passages): run --iterations 1, not {cfg.iterations}")
        read_pairs(Path(cfg.pairs_from))  # fail now on a missing or damaged file


def split_premises(premises: list[str], n_train: int, n_heldout: int) -> tuple[list[str], list[str]]:
    """Held-out premises are the last ``n_heldout``; training premises the first ``n_train``."""
    if n_train + n_heldout > len(premises):
        raise UserError(f"need {n_train + n_heldout} premises, have {len(premises)}")
    return premises[:n_train], premises[len(premises) - n_heldout :]


def _values(record: dict[str, Any], path: Path) -> list[float]:
    values = record.get("values")
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise UserError(f"{path} is damaged: 'values' must be a list of numbers (delete it to redo it)")
    return [float(v) for v in values]


def _mean_sd(xs: list[float]) -> dict[str, float]:
    return {
        "mean": round(statistics.fmean(xs), 4) if xs else float("nan"),
        "sd": round(statistics.pstdev(xs), 4) if len(xs) > 1 else 0.0,
        "n": len(xs),
    }


class Loop:
    def __init__(
        self,
        out: Path,
        premises: list[str],
        cfg: LoopConfig,
        pool: ModelPool,
        say: Callable[[str], None] = lambda _: None,
        ray: RayConfig | None = None,
        command: str = "",
    ) -> None:
        self.out = out
        self.command = command
        self.cfg = cfg
        self.pool = pool
        self.say = say
        self.premises = premises
        self.train_set, self.heldout = split_premises(premises, cfg.train_premises, cfg.heldout_premises)
        self.base = cfg.explore.models.policy
        self.ray = ray
        self.failed: list[dict[str, Any]] = []
        self._workers: LocalPool | RayPool | None = None
        self._reader: Any = None

    @property
    def distributed(self) -> bool:
        return self.ray is not None and self.ray.enabled

    def workers(self) -> LocalPool | RayPool:
        """Ray actors each holding a ``Loop`` of the same settings (``loop_worker``)."""
        if self._workers is None:
            self._workers = make_pool(self.ray, lambda: self, loop_worker,
                                      {"out": self.out, "premises": self.premises, "cfg": self.cfg})
        return self._workers

    # -- state on disk ---------------------------------------------------------------------------
    def prepare(self) -> None:
        """Write loop.json, or check that an existing one has the same settings (resume)."""
        meta = {
            "config": asdict(self.cfg),
            "base": self.base,
            "train_premises": self.train_set,
            "heldout_premises": self.heldout,
        }
        path = self.out / "loop.json"
        check_output_dir(self.out)
        if path.exists():
            old = read_json_object(path, "loop.json")
            new = json.loads(json.dumps(meta))
            try:  # settings added since the loop was written count at their value then (loop_config)
                then = loop_config(old.get("config", {}), "loop.json")
                old["config"] = json.loads(json.dumps(asdict(then)))
            except UserError:
                pass  # a damaged config differs from any, below
            # the number of iterations may change on resume (extend a finished loop); nothing else
            old_iterations = old.get("config", {}).pop("iterations", None)
            new["config"].pop("iterations")
            if old != new:
                raise UserError(f"{self.out} holds a loop with other settings; use another --out")
            if old_iterations != self.cfg.iterations:
                self.say(f"loop in {self.out}: {old_iterations} -> {self.cfg.iterations} iterations")
                atomic_write(path, json.dumps(meta, indent=1) + "\n")
            self.say(f"resuming the loop in {self.out}")
            return
        if self.out.exists() and any(self.out.iterdir()):
            raise UserError(f"--out {self.out} is not empty and holds no loop")
        atomic_write(path, json.dumps(meta, indent=1) + "\n")

    def policy_spec(self, i: int) -> str:
        # absolute: a Ray worker (or the ORPO task) may run in another directory
        return self.base if i == 0 else f"hf:{(self.out / f'iter{i}' / 'model').absolute()}"

    # -- pieces ------------------------------------------------------------------------------------
    def _explore_cfg(self, policy: str, seed: int) -> ExploreConfig:
        data = to_dict(self.cfg.explore)
        data["models"]["policy"] = policy
        data["seed"] = seed
        return from_dict(ExploreConfig, data)

    def _explore(self, premise: str, policy: str, run: Path, seed: int) -> Path:
        """One explore run, finished, resumed, or started."""
        if (run / RunDir.RUN).exists():
            if load_run(run).meta.get("status") == "finished":
                return run
            Explorer(self.pool).resume(run)
            return run
        if run.exists():  # created but nothing saved yet
            for p in run.iterdir():
                p.unlink()
        Explorer(self.pool).start(premise, self._explore_cfg(policy, seed), run)
        return run

    def explore_files(self, premise: str, policy: str, seed: int, name: str) -> dict[str, Any]:
        """(On a worker.) One whole explore run's files, for the driver to write."""
        from storyspace.distributed.explore_many import explore_files

        return explore_files(Explorer(self.pool), premise, self._explore_cfg(policy, seed), name)

    def _explore_all(self, jobs: list[tuple[str, str, Path, int]], what: str) -> list[Path]:
        """Explore runs (premise, policy, run dir, seed), here one after the other or on the
        workers; returns the run directories that are finished (failures are recorded)."""
        from storyspace.distributed.explore_many import finished, write_run

        if not self.distributed:
            for j, (premise, policy, run, seed) in enumerate(jobs):
                self.say(f"{what} {j + 1}/{len(jobs)}")
                self._explore(premise, policy, run, seed)
            return [run for _, _, run, _ in jobs]
        tasks = [Task(str(run.relative_to(self.out)), "explore_files",
                      {"premise": premise, "policy": policy, "seed": seed, "name": run.name})
                 for premise, policy, run, seed in jobs if not finished(run)]
        self.say(f"{what}: {len(tasks)} of {len(jobs)} on Ray")
        for outcome in self.workers().map(tasks):
            if outcome.ok:
                write_run(self.out / outcome.task.key, outcome.result["files"])
            else:
                self._fail(outcome)
        return [run for _, _, run, _ in jobs if finished(run)]

    def _fail(self, outcome: Any) -> None:
        self.failed.append({"task": outcome.task.key, "error": outcome.error, "attempts": outcome.attempts})
        self.say(f"failed after {outcome.attempts} tries: {outcome.task.key}: {outcome.error}")
        atomic_write(self.out / "failed.json", json.dumps(self.failed, indent=1) + "\n")

    def search_and_pairs(self, i: int) -> Path:
        pairs_path = self.out / f"iter{i}" / "pairs.jsonl"
        if pairs_path.exists():
            return pairs_path
        if self.cfg.pairs_from:
            if i != 0:
                raise UserError(f"--pairs-from gives the pairs of one iteration, not of iteration {i}")
            rows = read_pairs(Path(self.cfg.pairs_from))
            self.say(f"iteration 0: {len(rows)} pairs from {self.cfg.pairs_from} (no search)")
            write_pairs(rows, pairs_path)
            return pairs_path
        jobs = [(premise, self.policy_spec(i), self.out / f"iter{i}" / "search" / f"p{j:02d}",
                 derive_seed(self.cfg.explore.seed, "train", i, j)) for j, premise in enumerate(self.train_set)]
        runs = self._explore_all(jobs, f"iteration {i}: searching training premise")
        write_pairs(self.pairs_of(runs, i, self.cfg.pairs), pairs_path)
        return pairs_path

    def pairs_of(self, runs: list[Path], i: int, pair_cfg: PairConfig) -> list[dict[str, Any]]:
        """The pairs of policy i's search runs (a prefill prompt is rendered with its chat template)."""
        template = None if self.cfg.explore.prompts.style == "chat" else self.pool.get(self.policy_spec(i)).chat_prompt
        return [row for run in runs for row in run_pairs(run, pair_cfg, template)]

    def start_of(self, i: int) -> int:
        """The policy that policy i+1 is trained from (``train_from``)."""
        return 0 if self.cfg.train_from == "base" else i

    def training_pairs(self, i: int) -> list[dict[str, Any]]:
        """The pairs policy i+1 trains on: those selected from iterations start_of(i)..i."""
        return [row for k in range(self.start_of(i), i + 1)
                for row in select_pairs(read_pairs(self.out / f"iter{k}" / "pairs.jsonl"), self.cfg.pairs)]

    def train(self, i: int) -> Path:
        model = self.out / f"iter{i + 1}" / "model"
        if (model / "train.json").exists():
            return model
        pairs, start = self.training_pairs(i), self.policy_spec(self.start_of(i))
        self.say(f"iteration {i}: {self.cfg.train.loss.upper()} on {len(pairs)} pairs from policy "
                 f"{self.start_of(i)} -> policy {i + 1}")
        if model.exists():  # a half-written directory cannot exist (atomic rename), an empty one can
            model.rmdir()
        if self.distributed:
            from storyspace.distributed.pool import run_task

            if self._workers is not None:
                # the actors hold their CPUs (and the old policy): the training task could never be placed
                # on a cluster they fill; the next measurement starts fresh ones with the new policy
                self._workers.close()
                self._workers = None
            files = run_task(self.ray, train_files, {"pairs": pairs, "policy": start,  # type: ignore[arg-type]
                                                     "cfg": self.cfg.train, "device": self.cfg.explore.models.device})
            write_tree(model, files)
            return model
        train_orpo(pairs, start, model, self.cfg.train, device=self.cfg.explore.models.device)
        return model

    def single_pass(self, policy: str, premise: str, seed: int) -> dict[str, Any]:
        """One sample per step, no search (``search.baselines.single_pass``); each step valued by
        the frozen reference reader."""
        cfg = self.cfg.explore
        world = assemble(self.pool, cfg, policy=policy).world(premise)
        cost = cfg.policy.passage_cost
        run = single_pass(world, Budget(tokens=cfg.search.depth * cost, depth=cfg.search.depth, passage_cost=cost), seed)
        story = Story.from_steps(premise, [e.step for e in run.expansions])
        return {"premise": premise, "policy": policy, "seed": seed, "values": [e.value for e in run.expansions],
                "passages": [e.step["passage"] for e in run.expansions], "story": story.text(),
                "policy_tokens": run.policy_tokens}

    def read_story(self, premise: str, passages: list[str]) -> dict[str, Any]:
        """(b), the independent reader, of one story (as ``storyspace eval``'s judge b)."""
        from storyspace.assemble import independent_reader
        from storyspace.eval.scoring import read_afresh, summarize_breakdowns

        if self._reader is None:
            e = self.cfg.explore
            self._reader = independent_reader(self.pool, self.cfg.reader, self.cfg.reader_calibration, e.value, e.prompts)
        breakdowns = read_afresh(self._reader, premise, passages)
        return {"reader": self.cfg.reader, "summary": summarize_breakdowns(breakdowns), "breakdowns": breakdowns}

    def hanna_perplexity(self, policy: str) -> dict[str, Any]:
        """The policy's perplexity of the human HANNA story openings of the held-out premises
        (the first ``heldout.HANNA_WORDS`` words, after the policy's own prompt for the premise);
        held-out premises without a shipped human story use the last shipped ones instead."""
        from storyspace.corpus import human_stories
        from storyspace.story import policy_prompt

        rows, heldout = human_stories(), set(self.heldout)
        mine = [r for r in rows if r["prompt"].strip() in heldout] or rows[-len(self.heldout):]
        model = self.pool.get(policy)
        logprobs = []
        for r in mine:
            context = policy_prompt(Story(r["prompt"].strip(), ()), self.cfg.explore.prompts, model.chat_prompt)
            logprobs += model.logprobs(context, [ho.opening(r["human_story"])])
        return {"policy": policy, "stories": len(mine), "tokens": sum(len(x) for x in logprobs),
                "perplexity": round(ho.perplexity(logprobs), 4)}

    def heldout_seed(self, j: int, k: int) -> int:
        """Seed of held-out premise j's k-th single-pass story (k = 0: the seed of its MCTS run)."""
        return derive_seed(self.cfg.explore.seed, "heldout", j) if k == 0 else derive_seed(
            self.cfg.explore.seed, "heldout", j, k)

    def _done(self, tasks: list[Task], what: str) -> None:
        """Run tasks here or on the workers; each result is written to ``out / task.key`` as it ends."""
        if not tasks:
            return
        self.say(f"{what}: {len(tasks)}")
        for outcome in (self.workers() if self.distributed else LocalPool(self)).map(tasks):
            if outcome.ok:
                atomic_write(self.out / outcome.task.key, json.dumps(outcome.result, indent=1) + "\n")
            else:
                self._fail(outcome)

    def evaluate(self, i: int) -> dict[str, Any]:
        """Held-out measurement of policy i (``measure``) in ``eval/policy{i}``."""
        row = self.measure(self.policy_spec(i), self.out / "eval" / f"policy{i}", self.cfg.heldout_mcts, f"policy {i}")
        return {"iteration": i, **row}

    def measure(self, policy: str, root: Path, mcts_premises: int, label: str) -> dict[str, Any]:
        """Held-out measurement of a policy in ``root`` (inside the loop directory), each piece
        saved as it ends: single-pass stories (``heldout_seeds`` per premise) valued by the value
        model (a) and the independent reader (b), the guards of ``heldout.py``, the perplexity of
        human stories, and MCTS stories on the first ``mcts_premises`` held-out premises."""
        # a story's key (p03.s1) names the same story slot under every policy, and its files
        key = {(j, k): f"p{j:02d}" if k == 0 else f"p{j:02d}.s{k}"
               for j in range(len(self.heldout)) for k in range(self.cfg.heldout_seeds)}
        names = {jk: f"{name}.json" for jk, name in key.items()}

        def saved(path: Path, key: str) -> dict[str, Any] | None:
            if not path.exists():
                return None
            rec = read_json_object(path, "held-out record")
            return rec if key in rec else None  # a record of an older loop lacks it: redone

        single_paths = {jk: root / "single" / n for jk, n in names.items()}
        self._done([Task(str(p.relative_to(self.out)), "single_pass", {"policy": policy, "premise": self.heldout[j],
                                                                      "seed": self.heldout_seed(j, k)})
                    for (j, k), p in single_paths.items() if saved(p, "passages") is None],
                   f"{label}: single-pass stories on held-out premises")
        records = {jk: rec for jk, p in single_paths.items() if (rec := saved(p, "passages")) is not None}
        for jk, rec in records.items():
            _values(rec, single_paths[jk])
        single = [float(v) for rec in records.values() for v in rec["values"]]
        stories: dict[str, dict[str, float]] = {
            "a": {key[jk]: statistics.fmean(rec["values"]) for jk, rec in records.items() if rec["values"]}}
        if self.cfg.reader:
            reader_paths = {jk: root / "reader" / names[jk] for jk in records}
            self._done([Task(str(p.relative_to(self.out)), "read_story", {"premise": records[jk]["premise"],
                                                                         "passages": records[jk]["passages"]})
                        for jk, p in reader_paths.items() if saved(p, "summary") is None],
                       f"{label}: independent reader (b) of the single-pass stories")
            readings = {jk: rec for jk, p in reader_paths.items() if (rec := saved(p, "summary")) is not None}
            stories["b"] = {key[jk]: float(r["summary"]["value_mean"]) for jk, r in readings.items()
                            if "value_mean" in r["summary"]}
        hanna = root / "hanna.json"
        self._done([] if saved(hanna, "perplexity") else [Task(str(hanna.relative_to(self.out)), "hanna_perplexity",
                                                              {"policy": policy})],
                   f"{label}: perplexity of human stories")
        ppl = saved(hanna, "perplexity")
        jobs = [(premise, policy, root / "mcts" / f"p{j:02d}", self.heldout_seed(j, 0))
                for j, premise in enumerate(self.heldout[:mcts_premises])]
        mcts = []
        for run in self._explore_all(jobs, f"{label}: MCTS story for held-out premise") if jobs else []:
            tree = load_run(run).tree
            mcts += [tree.nodes[n].value for n in tree.best_path()[1:]]
        return {"policy": policy, "single": _mean_sd(single), "mcts": _mean_sd(mcts),
                **{f"judge_{j}": _mean_sd(list(stories.get(j, {}).values())) for j in ("a", "b")},
                "hanna_perplexity": ppl["perplexity"] if ppl else float("nan"),
                "guards": ho.guards([rec["passages"] for rec in records.values()], self.cfg.explore.value.penalties),
                "stories": stories}

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> list[dict[str, Any]]:
        if self.distributed:
            self.workers()  # connect first: a cluster that is not there is a one-line error at once
        self.prepare()
        try:
            rows = [self.evaluate(0)]
            self._report(rows)
            for i in range(self.cfg.iterations):
                self.search_and_pairs(i)
                model = self.train(i)
                row = self.evaluate(i + 1)
                row["pairs"] = len(self.training_pairs(i))
                trained = read_json_object(model / "train.json", "train.json")
                row["orpo"] = trained.get("final", {})
                row["train_seconds"] = trained.get("train_seconds")
                rows.append(row)
                self._report(rows)
        finally:
            if self._workers is not None:
                self._workers.close()
                self._workers = None
        return rows

    def _report(self, rows: list[dict[str, Any]]) -> None:
        from storyspace.viz.plots import plot_iterations

        atomic_write(self.out / "iterations.json", json.dumps(rows, indent=1) + "\n")
        text = iterations_markdown(rows, self.cfg)
        if self.failed:
            text += "\nFailed on every try (left out; re-run the command to try again):\n\n" + "".join(
                f"- {f['task']} ({f['attempts']} tries): {f['error']}\n" for f in self.failed)
        atomic_write(self.out / "iterations.md", text)
        plot_iterations(rows, self.out / "iterations.png")
        if len(rows) > 1:
            summary = ho.summary(rows, self.command, len(self.heldout))
            atomic_write(self.out / "summary.json", json.dumps(summary, indent=1) + "\n")


def loop_worker(out: Path, premises: list[str], cfg: LoopConfig) -> Loop:
    """What a Ray actor holds: a ``Loop`` of the same settings with its own models (it never writes)."""
    return Loop(out, premises, cfg, ModelPool(options=cfg.explore.models.options()))


def train_files(pairs: list[dict[str, Any]], policy: str, cfg: TrainConfig, device: str) -> dict[str, bytes]:
    """(A Ray task.) ORPO into a private temporary directory; the model directory's files
    (relative path -> bytes), for the driver to write."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="storyspace-orpo-") as tmp:
        model = Path(tmp) / "model"
        train_orpo(pairs, policy, model, cfg, device=device)
        return {str(p.relative_to(model)): p.read_bytes() for p in sorted(model.rglob("*")) if p.is_file()}


def write_tree(path: Path, files: dict[str, bytes]) -> None:
    """A directory of files made whole in a temporary sibling, then renamed into place."""
    import shutil
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    try:
        for rel, data in files.items():
            target = work / rel
            if not target.resolve().is_relative_to(work.resolve()):
                raise UserError(f"refusing to write {rel} outside {path}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        work.rename(path)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def iterations_markdown(rows: list[dict[str, Any]], cfg: LoopConfig) -> str:
    e = cfg.explore
    lines = [
        f"# Search -> {cfg.train.loss.upper()} iterations",
        "",
        f"{cfg.train_premises} training premises; {cfg.heldout_premises} held-out premises x {cfg.heldout_seeds} "
        f"single-pass stories, the first {cfg.heldout_mcts} also by MCTS; explore: "
        f"{e.search.simulations} simulations, depth {e.search.depth}, {e.search.children} children, "
        f"{e.policy.step_tokens} tokens/step; {cfg.train.loss.upper()}: lr {cfg.train.learning_rate}, "
        f"beta {cfg.train.beta}, "
        f"epochs {cfg.train.epochs}, max_steps {cfg.train.max_steps}, LoRA r {cfg.train.lora_r}; "
        f"pairs: {'from ' + cfg.pairs_from + ' (no search)' if cfg.pairs_from else f'min margin {cfg.pairs.min_margin}'}"
        f"; policy i+1 trained "
        f"{'from policy 0 on the pairs of iterations 0..i' if cfg.train_from == 'base' else 'from policy i on its pairs'}"
        f". Judge (a): the value model (reference reader = frozen base), "
        f"story value = mean step value; judge (b): {cfg.reader or 'off'}, the same field of its reading.",
        "",
        "| policy | single-pass story, judge a (mean ± SD, n) | judge b | single-pass step value | MCTS step value "
        "| pairs | train loss | NLL | log-odds ratio | reward acc. | reward margin |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def ms(x: dict[str, Any] | None) -> str:
        return f"{x['mean']:.3f} ± {x['sd']:.3f} ({x['n']})" if x and x.get("n") else ""

    for r in rows:
        o = r.get("orpo", {})

        def f(key: str) -> str:
            return f"{o[key]:.3f}" if key in o else ""

        lines.append(
            f"| {r['iteration']} | {ms(r.get('judge_a'))} | {ms(r.get('judge_b'))} | {ms(r['single'])} | {ms(r['mcts'])} "
            f"| {r.get('pairs', '')} | {f('loss')} | {f('nll_loss')} | {f('log_odds_ratio')} "
            f"| {f('rewards/accuracies')} | {f('rewards/margins')} |"
        )
    return "\n".join(lines) + "\n" + ho.comparison_markdown(rows)
