"""The ``storyspace`` console script. The only module that prints.

Bad input ends with one line on stderr (``storyspace: error: ...``) and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import sys
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn, Sequence

from storyspace import __version__
from storyspace.errors import BackendError, Interrupted, UserError

EXIT_USAGE = 2
EXIT_BACKEND = 1  # a model server failed; the work saved so far resumes
EXIT_INTERRUPTED = 130


def _plain(message: str) -> str:
    """A message as one printable line (a path or a premise may hold newlines or escapes)."""
    from storyspace.story import printable

    return " ".join(printable(message).split())


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors in one line (no usage dump) with exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UserError(message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="storyspace", description="Explore story space with curiosity-guided MCTS.")
    parser.add_argument("--version", action="version", version=f"storyspace {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ex = sub.add_parser("explore", help="search a story for a premise")
    ex.add_argument("premise", nargs="?", help="the story prompt (default: a shipped HANNA premise)")
    ex.add_argument("--premise-file", type=Path, help="premises, one per line or JSON lines with 'prompt'")
    ex.add_argument("--premise-index", type=_non_negative_int, default=0, help="which premise of the file/set (0)")
    ex.add_argument("--config", type=Path, help="TOML config file (see storyspace.config)")
    ex.add_argument("--simulations", type=_positive_int, help="MCTS simulations (search budget)")
    ex.add_argument("--depth", type=_positive_int, help="steps per story")
    ex.add_argument("--children", type=_positive_int, help="steps proposed per expansion (k)")
    ex.add_argument("--step-tokens", type=_positive_int, help="tokens sampled per passage")
    ex.add_argument("--temperature", type=_float, help="policy sampling temperature")
    ex.add_argument("--c-explore", type=_float, help="exploration constant")
    ex.add_argument("--selection", choices=["uct", "puct"], help="selection rule")
    ex.add_argument("--parallel-leaves", type=_positive_int, help="leaves expanded per batched round")
    ex.add_argument("--rollout-depth", type=_non_negative_int, help="policy rollout steps per new node (0)")
    ex.add_argument("--plan", action=argparse.BooleanOptionalAction, default=None, help="plan before each passage")
    ex.add_argument("--coherence", choices=["pmi", "cosine", "judge"], help="coherence signal")
    ex.add_argument("--calibration", help="calibration JSON (default: shipped, for the embedded reader)")
    ex.add_argument("--seed", type=int, help="run seed")
    ex.add_argument("--model", help="policy model spec: embedded | hf:DIR | gguf:FILE")
    ex.add_argument("--reference", help="frozen reference reader spec (surprisal)")
    ex.add_argument("--judge", help="judge model spec (coherence 'judge')")
    ex.add_argument("--device", help="auto | cpu | cuda")
    ex.add_argument("--backend", choices=["hf", "llamacpp"], help="what runs the embedded model (hf)")
    ex.add_argument("--out", type=Path, help="run directory (default: runs/<time>-<premise>)")
    ex.add_argument("--resume", type=Path, metavar="DIR", help="continue a run directory")
    ex.add_argument("--quiet", action="store_true", help="no progress bar")

    cal = sub.add_parser("calibrate", help="fit curiosity on human stories; compare coherence signals")
    cal.add_argument("--reference", default="embedded", help="reader model spec (embedded)")
    cal.add_argument("--judge", default="embedded", help="judge model spec (embedded)")
    cal.add_argument("--no-judge", action="store_true", help="skip the judge signal")
    cal.add_argument("--n-stories", type=_positive_int, default=96)
    cal.add_argument("--out", type=Path, help="calibration JSON to write")
    cal.add_argument("--device", default="auto")

    pa = sub.add_parser("pairs", help="preference pairs from explore runs (TRL format)")
    pa.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    pa.add_argument("--out", type=Path, required=True, help="pairs JSONL to write")
    pa.add_argument("--force", action="store_true", help="replace --out if it exists")
    pa.add_argument("--min-margin", type=_float, default=None, help="least Q margin chosen - rejected (0.02)")
    pa.add_argument("--max-similarity", type=_float, default=None, help="drop pairs at least this similar (0.9)")

    tr = sub.add_parser("train", help="ORPO + LoRA on preference pairs")
    tr.add_argument("pairs", type=Path)
    tr.add_argument("--out", type=Path, required=True, help="model directory to write (hf:DIR loads it)")
    tr.add_argument("--model", default="embedded", help="policy to start from")
    _train_args(tr)

    lo = sub.add_parser("loop", help="iterate search -> pairs -> ORPO; evaluate on held-out premises")
    lo.add_argument("--premises", type=Path, help="premise file (default: the shipped HANNA prompts)")
    lo.add_argument("--iterations", type=_positive_int, default=None)
    lo.add_argument("--train-premises", type=_positive_int, default=None)
    lo.add_argument("--heldout-premises", type=_positive_int, default=None)
    lo.add_argument("--simulations", type=_positive_int)
    lo.add_argument("--depth", type=_positive_int)
    lo.add_argument("--children", type=_positive_int)
    lo.add_argument("--step-tokens", type=_positive_int)
    lo.add_argument("--model", help="base policy (embedded)")
    lo.add_argument("--seed", type=int)
    lo.add_argument("--min-margin", type=_float, default=None)
    lo.add_argument("--out", type=Path, required=True, help="loop directory (resumes when it holds a loop)")
    _train_args(lo)

    eg = sub.add_parser("export-gguf", help="convert a trained (hf) model directory to GGUF for llama.cpp")
    eg.add_argument("model_dir", type=Path, metavar="MODEL_DIR")
    eg.add_argument("--out", type=Path, help="GGUF file to write (default: MODEL_DIR/model.<outtype>.gguf)")
    eg.add_argument("--outtype", default="q8_0", choices=["f32", "f16", "bf16", "q8_0"])
    eg.add_argument("--lora", action="store_true", help="export the LoRA adapter (MODEL_DIR/adapter) instead")
    eg.add_argument("--base", type=Path, help="base model directory of the adapter (default: from adapter_config)")

    ev = sub.add_parser("eval", help="compare systems at equal policy-token budgets, judged three ways")
    ev.add_argument("--premises", type=Path, help="premise file (default: the shipped HANNA prompts)")
    ev.add_argument("--n-premises", type=_positive_int, help="how many premises (8)")
    ev.add_argument("--systems", help="single,best-of-n,beam,mcts (any @MODEL_SPEC: mcts@hf:DIR)")
    ev.add_argument("--budget-tokens", type=_positive_int, help="policy tokens per story (default: 8 stories' worth)")
    ev.add_argument("--curve", help="budgets of the value-vs-budget curve, in units of one story (1,2,4,8)")
    ev.add_argument("--beam-k", type=_positive_int, help="expansions per beam (2)")
    ev.add_argument("--reader", help="judge (b) reader spec, or none (llamacpp:gemma3-270m)")
    ev.add_argument("--reader-calibration", help="calibration JSON of the judge (b) reader (auto)")
    ev.add_argument("--llm-judge", help="judge (c) model spec, e.g. openai:http://host:8000/v1#model")
    ev.add_argument("--judge-prompts", type=Path, help="directory with system.txt / rubric.txt / pairwise.txt")
    ev.add_argument("--config", type=Path, help="TOML config of the explore settings (search, policy, models...)")
    ev.add_argument("--depth", type=_positive_int, help="steps per story")
    ev.add_argument("--children", type=_positive_int, help="MCTS children per expansion")
    ev.add_argument("--parallel-leaves", type=_positive_int, help="MCTS leaves per round")
    ev.add_argument("--step-tokens", type=_positive_int, help="tokens per passage")
    ev.add_argument("--model", help="policy model spec (embedded)")
    ev.add_argument("--reference", help="value model reader spec (embedded)")
    ev.add_argument("--backend", choices=["hf", "llamacpp"], help="what runs the embedded policy (hf)")
    ev.add_argument("--seed", type=int)
    ev.add_argument("--device", help="auto | cpu | cuda")
    ev.add_argument("--out", type=Path, required=True, help="eval directory (re-run the same command to resume)")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")

    sc = sub.add_parser("score", help="score stories (JSON lines with prompt and story)")
    sc.add_argument("stories", type=Path, metavar="STORIES.jsonl")
    sc.add_argument("--out", type=Path, required=True, help="scored JSONL (continues after rows already there)")
    _score_args(sc)
    sc.add_argument("--llm-judge", help="judge (c) model spec, e.g. openai:http://host:8000/v1#model")
    sc.add_argument("--judge-prompts", type=Path, help="directory with system.txt / rubric.txt / pairwise.txt")

    vv = sub.add_parser("validate-value", help="value components vs HANNA human Surprise and Coherence")
    vv.add_argument("--n-stories", type=_positive_int, default=96)
    vv.add_argument("--min-gap", type=_float, default=1.0, help="least human rating gap of a compared pair (1)")
    vv.add_argument("--out", type=Path, required=True, help="directory for scored.jsonl and validate.md (resumes)")
    _score_args(vv)

    pr = sub.add_parser("premises", help="list the shipped premises")
    pr.add_argument("--limit", type=_positive_int, default=96)
    return parser


def _score_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--step-tokens", type=_positive_int, default=64, help="tokens per scored step (64)")
    p.add_argument("--reference", default="embedded", help="value model reader, judge (a) (embedded)")
    p.add_argument("--calibration", default="auto", help="calibration JSON of the reader (auto)")
    p.add_argument("--reader", default="llamacpp:gemma3-270m", help="judge (b) reader spec, or none")
    p.add_argument("--reader-calibration", default="auto", help="calibration JSON of the judge (b) reader")
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-steps", type=int, default=None, help="ORPO steps (overrides epochs when > 0)")
    p.add_argument("--epochs", type=_float, default=None)
    p.add_argument("--learning-rate", type=_float, default=None)
    p.add_argument("--beta", type=_float, default=None, help="ORPO lambda")
    p.add_argument("--batch-size", type=_positive_int, default=None)
    p.add_argument("--device", default="auto")


def _train_config(args: argparse.Namespace, base=None):  # noqa: ANN001, ANN202
    from dataclasses import replace

    from storyspace.train.orpo import TrainConfig

    cfg = base or TrainConfig()
    changes = {k: v for k, v in (("max_steps", args.max_steps), ("epochs", args.epochs),
                                 ("learning_rate", args.learning_rate), ("beta", args.beta),
                                 ("batch_size", args.batch_size)) if v is not None}
    cfg = replace(cfg, **changes)
    if cfg.learning_rate <= 0 or cfg.beta < 0 or cfg.epochs <= 0:
        raise UserError("--learning-rate and --epochs must be positive, --beta >= 0")
    return cfg


# -- explore -----------------------------------------------------------------------------------
def _explore_overrides(args: argparse.Namespace) -> dict[str, Any]:
    pairs = {
        ("search", "simulations"): args.simulations,
        ("search", "depth"): args.depth,
        ("search", "children"): args.children,
        ("search", "c_explore"): args.c_explore,
        ("search", "selection"): args.selection,
        ("search", "parallel_leaves"): args.parallel_leaves,
        ("search", "rollout_depth"): args.rollout_depth,
        ("policy", "step_tokens"): args.step_tokens,
        ("policy", "temperature"): args.temperature,
        ("policy", "plan"): args.plan,
        ("value", "coherence"): args.coherence,
        ("value", "calibration"): args.calibration,
        ("models", "policy"): args.model,
        ("models", "reference"): args.reference,
        ("models", "judge"): args.judge,
        ("models", "device"): args.device,
        ("models", "backend"): args.backend,
    }
    out: dict[str, Any] = {}
    for (section, key), value in pairs.items():
        if value is not None:
            out.setdefault(section, {})[key] = value
    if args.seed is not None:
        out["seed"] = args.seed
    return out


def _pick_premise(args: argparse.Namespace) -> str:
    from storyspace.corpus import read_premises, shipped_premises
    from storyspace.story import printable

    if args.premise is not None and args.premise_file is not None:
        raise UserError("give a premise or --premise-file, not both")
    if args.premise is not None:
        if not printable(args.premise).strip():
            raise UserError("the premise is empty (nothing printable in it)")
        return printable(args.premise).strip()
    premises = read_premises(args.premise_file) if args.premise_file else shipped_premises()
    if args.premise_index >= len(premises):
        raise UserError(f"--premise-index {args.premise_index} is out of range (there are {len(premises)})")
    return premises[args.premise_index]


def _default_out(premise: str) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", premise.lower())[:40].strip("-") or "story"
    return Path("runs") / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{slug}"


def cmd_explore(args: argparse.Namespace) -> int:
    from rich.console import Console

    from storyspace.config import build_config, read_toml
    from storyspace.explore import Explorer

    console = Console(stderr=True, quiet=args.quiet)
    if args.resume is not None:
        given = set(_explore_overrides(args))  # any setting given, whatever its value
        if args.premise or args.premise_file or args.config or given or args.out:
            raise UserError("--resume takes no other settings: the run continues with its saved config")
        from storyspace.explore import saved_config
        from storyspace.models.registry import ModelPool

        explorer = Explorer(ModelPool(options=saved_config(args.resume).models.options()), None)
        with _progress(console, resumed=True) as bar, _saved_on_interrupt(args.resume):
            explorer.on_progress = bar
            result = explorer.resume(args.resume)
    else:
        file_data = read_toml(args.config) if args.config else None
        cfg = build_config(file_data, _explore_overrides(args))
        premise = _pick_premise(args)
        out = args.out or _default_out(premise)
        from storyspace.models.registry import ModelPool

        pool = ModelPool(options=cfg.models.options())
        explorer = Explorer(pool, None)
        with _progress(console) as bar, _saved_on_interrupt(out):
            explorer.on_progress = bar
            result = explorer.start(premise, cfg, out)
    budget = result.meta["budget"]
    print(result.story.markdown("Best story"))
    console.print(
        f"[dim]{budget['simulations']} simulations, {budget['nodes']} nodes, {budget['policy_tokens']} policy tokens,"
        f" {budget['scored_tokens']} scored tokens, {result.meta['timings']['wall_s']} s.[/dim]"
    )
    console.print(f"Run saved in [bold]{_escape(str(result.run.path))}[/bold] (tree.html to browse the tree)")
    return 0


@contextlib.contextmanager
def _saved_on_interrupt(run_dir: Path):  # noqa: ANN202
    """Turn Ctrl-C into a message that names the run directory (when it holds a saved run)."""
    try:
        yield
    except KeyboardInterrupt:
        from storyspace.runs import RunDir

        if (run_dir / RunDir.RUN).is_file():
            raise Interrupted(f"interrupted: the run so far is saved in {run_dir} (tree.html to browse it);"
                              f" continue it with: storyspace explore --resume {run_dir}") from None
        raise Interrupted("interrupted before the run was saved: nothing was written") from None


class _progress:
    """A rich progress bar fed by ``explore.Progress`` updates."""

    def __init__(self, console, resumed: bool = False) -> None:  # noqa: ANN001
        self.console = console
        self.resumed = resumed
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]simulations"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("best v {task.fields[best]:.3f} · {task.fields[tps]:.1f} tok/s"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task = None

    def __enter__(self) -> "_progress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, p) -> None:  # noqa: ANN001
        if self.task is None:  # first update: the run passed all checks and is saved
            verb = "Resuming" if self.resumed else "Premise"
            self.console.print(f"[bold]{verb}:[/bold] {_escape(p.premise)}")
            self.task = self.progress.add_task("explore", total=p.target, best=0.0, tps=0.0)
        self.progress.update(self.task, completed=p.simulations, best=p.best_value, tps=p.tokens_per_s)


def _escape(text: str) -> str:
    """Printable text with rich's markup escaped."""
    from rich.markup import escape

    from storyspace.story import printable

    return escape(printable(text))


# -- calibrate ---------------------------------------------------------------------------------
def cmd_calibrate(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from storyspace.corpus import human_stories
    from storyspace.models.registry import ModelPool, cache_dir, parse_spec
    from storyspace.runs import atomic_write
    from storyspace.story import PromptConfig
    from storyspace.value.calibrate import CalibrateConfig, calibrate, comparison_markdown

    from storyspace.models.registry import check_device
    from storyspace.runs import check_output_file

    check_device(args.device)
    ref = parse_spec(args.reference)
    judge_spec = None if args.no_judge else parse_spec(args.judge)
    out = args.out or cache_dir() / "calibration" / (re.sub(r"[^A-Za-z0-9.]+", "_", str(ref)) + ".json")
    check_output_file(Path(out), force=True)
    console = Console(stderr=True)
    pool = ModelPool(device=args.device)
    reader = pool.get(ref)
    judge = pool.get(judge_spec) if judge_spec else None
    cfg = CalibrateConfig(n_stories=args.n_stories, judge=judge is not None)
    stories = human_stories()[: args.n_stories]
    with Progress(console=console) as progress:
        task = progress.add_task("calibrating", total=len(stories))
        result = calibrate(
            reader, str(ref), stories, cfg, PromptConfig(), judge=judge, on_story=lambda i: progress.update(task, completed=i + 1)
        )
    atomic_write(Path(out), json.dumps(result, indent=1) + "\n")
    print(comparison_markdown(result))
    console.print(f"Calibration written to [bold]{_escape(str(out))}[/bold]")
    return 0


def cmd_pairs(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from storyspace.train.pairs import PairConfig, run_pairs, write_pairs

    from storyspace.runs import check_output_file

    check_output_file(args.out, force=args.force)
    cfg = PairConfig()
    if args.min_margin is not None:
        cfg = replace(cfg, min_margin=args.min_margin)
    if args.max_similarity is not None:
        cfg = replace(cfg, max_similarity=args.max_similarity)
    rows = []
    for run in args.runs:
        got = run_pairs(run, cfg)
        print(f"{run}: {len(got)} pairs", file=sys.stderr)
        rows += got
    n = write_pairs(rows, args.out)
    print(f"{n} pairs written to {args.out}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from storyspace.models.registry import parse_spec
    from storyspace.train.orpo import check_out_free, train_orpo
    from storyspace.train.pairs import read_pairs

    from storyspace.models.registry import check_device

    cfg = _train_config(args)
    check_device(args.device)
    check_out_free(args.out)
    parse_spec(args.model)
    pairs = read_pairs(args.pairs)
    summary = train_orpo(pairs, args.model, args.out, cfg, device=args.device,
                         on_log=lambda row: print(json.dumps(row), file=sys.stderr))
    print(f"trained {summary['steps']} steps on {summary['pairs']} pairs in {summary['train_seconds']} s;"
          f" model in {args.out} (use --model hf:{args.out})")
    return 0


def cmd_loop(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from storyspace.config import validate
    from storyspace.corpus import read_premises, shipped_premises
    from storyspace.models.registry import ModelPool, parse_spec
    from storyspace.train.loop import Loop, LoopConfig

    cfg = LoopConfig()
    ex = cfg.explore
    search = {k: v for k, v in (("simulations", args.simulations), ("depth", args.depth),
                                ("children", args.children)) if v is not None}
    ex = replace(ex, search=replace(ex.search, **search))
    if args.step_tokens is not None:
        ex = replace(ex, policy=replace(ex.policy, step_tokens=args.step_tokens))
    if args.model is not None:
        parse_spec(args.model)
        ex = replace(ex, models=replace(ex.models, policy=args.model))
    if args.seed is not None:
        ex = replace(ex, seed=args.seed)
    ex = replace(ex, models=replace(ex.models, device=args.device))
    validate(ex)
    sizes = {k: v for k, v in (("iterations", args.iterations), ("train_premises", args.train_premises),
                               ("heldout_premises", args.heldout_premises)) if v is not None}
    cfg = replace(cfg, explore=ex, train=_train_config(args, cfg.train), **sizes)
    if args.min_margin is not None:
        cfg = replace(cfg, pairs=replace(cfg.pairs, min_margin=args.min_margin))
    premises = read_premises(args.premises) if args.premises else shipped_premises()
    loop = Loop(args.out, premises, cfg, ModelPool(device=args.device),
                say=lambda msg: print(f"[loop] {msg}", file=sys.stderr, flush=True))
    loop.run()
    print((args.out / "iterations.md").read_text())
    return 0


def cmd_export_gguf(args: argparse.Namespace) -> int:
    from storyspace.models.export import export_gguf

    kind = "lora" if args.lora else "model"
    out = args.out or args.model_dir / f"{kind}.{args.outtype}.gguf"
    info = export_gguf(args.model_dir, out, args.outtype, lora=args.lora, base=args.base)
    use = f"--model llamacpp:{out}" if not args.lora else "a llama.cpp LoRA (llama-cpp-python lora_path)"
    print(f"wrote {out} ({info['megabytes']} MB, {info['seconds']} s); use it as {use}")
    return 0


def _bar(quiet: bool):  # noqa: ANN202
    """A rich progress display on stderr (or a no-op) and an update callback (stage, done, total)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=Console(stderr=True), disable=quiet)
    tasks: dict[str, int] = {}

    def update(stage: str, done: int, total: int, note: str = "") -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        progress.update(tasks[stage], completed=done, total=total,
                        description=f"{stage}" + (f" [dim]{_escape(note)}[/dim]" if note else ""))

    return progress, update


def _none(spec: str | None) -> str:
    return "" if spec is None or spec.strip().lower() in ("", "none", "off") else spec.strip()


def cmd_eval(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from storyspace.config import ExploreConfig, build_config, read_toml
    from storyspace.corpus import read_premises, shipped_premises
    from storyspace.eval.judge import JudgeConfig
    from storyspace.eval.run import EvalConfig, Evaluation

    file_data = read_toml(args.config) if args.config else None
    overrides: dict[str, Any] = {}
    for (section, key), value in {
        ("search", "depth"): args.depth,
        ("search", "children"): args.children,
        ("search", "parallel_leaves"): args.parallel_leaves,
        ("policy", "step_tokens"): args.step_tokens,
        ("models", "policy"): args.model,
        ("models", "reference"): args.reference,
        ("models", "backend"): args.backend,
        ("models", "device"): args.device,
    }.items():
        if value is not None:
            overrides.setdefault(section, {})[key] = value
    if args.seed is not None:
        overrides["seed"] = args.seed
    explore: ExploreConfig = build_config(file_data, overrides)
    cfg = EvalConfig(explore=explore)
    changes: dict[str, Any] = {}
    if args.systems is not None:
        changes["systems"] = tuple(x.strip() for x in args.systems.split(",") if x.strip())
    if args.curve is not None:
        try:
            changes["curve"] = tuple(int(x) for x in args.curve.split(",") if x.strip())
        except ValueError as exc:
            raise UserError(f"--curve takes whole numbers separated by commas, got {args.curve!r}") from exc
    for name in ("n_premises", "budget_tokens", "beam_k"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.reader is not None:
        changes["reader"] = _none(args.reader)
    if args.reader_calibration is not None:
        changes["reader_calibration"] = args.reader_calibration
    if args.llm_judge is not None:
        changes["llm_judge"] = _none(args.llm_judge)
    if args.judge_prompts is not None:
        changes["judge"] = JudgeConfig(prompts_dir=str(args.judge_prompts))
    cfg = replace(cfg, **changes)
    premises = read_premises(args.premises) if args.premises else shipped_premises()
    progress, update = _bar(args.quiet)
    with progress:
        evaluation = Evaluation(cfg, premises, args.out,
                                on_progress=lambda p: update(p.stage, p.done, p.total, p.note))
        report = evaluation.run()
    print(report.read_text())
    return 0


def _score_judges(args: argparse.Namespace, llm: str = "", prompts: Path | None = None):  # noqa: ANN202
    from dataclasses import replace

    from storyspace.eval.judge import JudgeConfig, LLMJudge
    from storyspace.eval.score_file import Judges
    from storyspace.models.registry import ModelPool, parse_spec
    from storyspace.story import PromptConfig
    from storyspace.assemble import independent_reader, value_model
    from storyspace.value.model import ValueConfig, load_calibration

    from storyspace.models.registry import check_device

    check_device(args.device)
    ref = str(parse_spec(args.reference))
    reader_spec = _none(args.reader)
    reader = str(parse_spec(reader_spec)) if reader_spec else ""
    llm = _none(llm)
    if llm:
        parse_spec(llm)
    load_calibration(args.calibration, ref)  # fail before any model loads
    if reader:
        load_calibration(args.reader_calibration, reader)
    pool = ModelPool(device=args.device)
    vcfg = ValueConfig(calibration=args.calibration)
    judges = Judges(value=value_model(pool, ref, vcfg, PromptConfig()))
    if reader:
        judges.reader = independent_reader(pool, reader, args.reader_calibration, vcfg, PromptConfig())
    if llm:
        judges.llm = LLMJudge(pool.get(llm), JudgeConfig(prompts_dir=str(prompts) if prompts else ""))
    return judges


def cmd_score(args: argparse.Namespace) -> int:
    from storyspace.eval.score_file import read_rows, score_file
    from storyspace.models.registry import check_device

    check_device(args.device)
    rows = read_rows(args.stories)
    if args.out.is_dir():
        raise UserError(f"--out {args.out} is a directory: give a file name")
    judges = _score_judges(args, args.llm_judge or "", args.judge_prompts)
    progress, update = _bar(args.quiet)
    with progress:
        done = score_file(args.stories, args.out, judges, args.step_tokens,
                          on_row=lambda i, n: update("scoring", i, n), rows=rows)
    errors = sum(1 for r in done if "error" in r)
    print(f"scored {len(done) - errors} of {len(done)} stories into {args.out}" + (f" ({errors} with an error field)" if errors else ""))
    return 0


def cmd_validate_value(args: argparse.Namespace) -> int:
    from storyspace.corpus import human_stories
    from storyspace.eval.score_file import score_file
    from storyspace.eval.validate import hanna_rows, validation_markdown, validation_table
    from storyspace.runs import atomic_write

    rows = hanna_rows(human_stories()[: args.n_stories])
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"output path {args.out} is a file, not a directory")
    judges = _score_judges(args)
    progress, update = _bar(args.quiet)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot use {args.out} as the output directory: {exc.strerror or exc}") from exc
    with progress:
        done = score_file(args.out / "stories.jsonl", args.out / "scored.jsonl", judges, args.step_tokens,
                          on_row=lambda i, n: update("scoring HANNA human stories", i, n), rows=rows)
    table = validation_table(done, args.min_gap)
    info = f"Reader of judge (a) `{args.reference}`, judge (b) `{_none(args.reader) or 'off'}`, steps of {args.step_tokens} tokens."
    text = validation_markdown(table, done, args.min_gap, info)
    atomic_write(args.out / "validate.md", text)
    atomic_write(args.out / "validate.json", json.dumps(table, indent=1) + "\n")
    print(text)
    return 0


def cmd_premises(args: argparse.Namespace) -> int:
    from storyspace.corpus import shipped_premises

    for i, premise in enumerate(shipped_premises()[: args.limit]):
        print(f"{i}\t{premise}")
    return 0


COMMANDS = {
    "explore": cmd_explore,
    "calibrate": cmd_calibrate,
    "pairs": cmd_pairs,
    "train": cmd_train,
    "loop": cmd_loop,
    "premises": cmd_premises,
    "export-gguf": cmd_export_gguf,
    "eval": cmd_eval,
    "score": cmd_score,
    "validate-value": cmd_validate_value,
}


def _quiet_libraries() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        _quiet_libraries()
        return COMMANDS[args.command](args)
    except BackendError as exc:
        print(f"storyspace: error: {_plain(str(exc))}", file=sys.stderr)
        return EXIT_BACKEND
    except UserError as exc:
        print(f"storyspace: error: {_plain(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted as exc:
        print(f"storyspace: {_plain(str(exc))}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("storyspace: interrupted (what was finished is saved; re-run the command or --resume to go on)",
              file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
