"""What each command does with its parsed arguments (``parser.py`` builds them).

A command reads its settings as configs (defaults < TOML file < flags), checks everything it can
before a model loads, and shows progress through the one ``Display``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shlex
import sys
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from storyspace.cli.parser import settings
from storyspace.cli.progress import Display, shown
from storyspace.errors import Interrupted, UserError
from storyspace.story import printable


def _toml(path: Path | None) -> dict[str, Any] | None:
    from storyspace.config import read_toml

    return read_toml(path) if path is not None else None


def _out(text: str) -> None:
    """Results go to stdout, printable."""
    print(printable(text))


# -- explore -----------------------------------------------------------------------------------
def _pick_premise(args: argparse.Namespace) -> str:
    from storyspace.corpus import read_premises, shipped_premises

    if args.premise is not None and args.premise_file is not None:
        raise UserError("give a premise or --premise-file, not both")
    if args.premise is not None:
        premise = printable(args.premise).strip()
        if not premise:
            raise UserError("the premise is empty (nothing printable in it)")
        return premise
    premises = read_premises(args.premise_file) if args.premise_file else shipped_premises()
    if args.premise_index >= len(premises):
        raise UserError(f"--premise-index {args.premise_index} is out of range (there are {len(premises)})")
    return premises[args.premise_index]


def _default_out(premise: str) -> Path:
    from storyspace.runs import premise_slug

    return Path("runs") / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{premise_slug(premise)}"


@contextlib.contextmanager
def saved_on_interrupt(run_dir: Path) -> Iterator[None]:
    """Turn Ctrl-C into a message that names the run directory (when it holds a saved run)."""
    try:
        yield
    except KeyboardInterrupt:
        from storyspace.runs import RunDir

        if (run_dir / RunDir.RUN).is_file():
            raise Interrupted(f"interrupted: the run so far is saved in {run_dir} (tree.html to browse it);"
                              f" continue it with: storyspace explore --resume {run_dir}") from None
        raise Interrupted("interrupted before the run was saved: nothing was written") from None


def cmd_explore(args: argparse.Namespace) -> int:
    from storyspace.config import ExploreConfig, build, validate
    from storyspace.explore import Explorer, saved_config
    from storyspace.models.registry import ModelPool

    given = settings(args).get("explore", {})
    if args.resume is not None:
        if args.premise or args.premise_file or args.config or given or args.out or settings(args).get("ray"):
            raise UserError("--resume takes no other settings: the run continues with its saved config")
        out, resumed = args.resume, True
        cfg = saved_config(out)
    else:
        file_data = _toml(args.config)
        ray = _ray_config(file_data, args)
        cfg = build(ExploreConfig(), file_data, given)
        validate(cfg)
        if ray.enabled:
            return _explore_many(args, cfg, ray)
        premise = _pick_premise(args)
        out, resumed = args.out or _default_out(premise), False
    explorer = Explorer(ModelPool(options=cfg.models.options()))
    with Display(args.quiet) as display, saved_on_interrupt(out):
        explorer.on_progress = lambda p: display.explore(p, resumed)
        explorer.on_note = display.say
        result = explorer.resume(out) if resumed else explorer.start(premise, cfg, out)
        budget = result.meta["budget"]
        _out(result.story.markdown("Best story"))
        display.console.print(
            f"[dim]{budget['simulations']} simulations, {budget['nodes']} nodes, {budget['policy_tokens']} policy"
            f" tokens, {budget['scored_tokens']} scored tokens, {result.meta['timings']['wall_s']} s.[/dim]"
        )
        display.console.print(f"Run saved in [bold]{shown(str(result.run.path))}[/bold] (tree.html to browse the tree)")
    return 0


def _explore_many(args: argparse.Namespace, cfg: Any, ray: Any) -> int:
    """``explore --ray``: every premise of ``--premise-file`` into ``--out DIR/NNN-slug``."""
    from storyspace.corpus import read_premises
    from storyspace.distributed.explore_many import explore_many

    if args.premise is not None or args.premise_file is None or args.out is None:
        raise UserError("explore --ray explores every premise of --premise-file into --out DIR: give both, "
                        "and no premise argument")
    premises = read_premises(args.premise_file)
    with Display(args.quiet) as display:
        result = explore_many(premises, cfg, args.out, ray,
                              on_progress=lambda done, total, note: display.update("premises", done, total, note))
    lines = ["| run | simulations | nodes | policy tokens |", "|---|---|---|---|"]
    lines += [f"| {r['run']} | {r['budget'].get('simulations', '')} | {r['budget'].get('nodes', '')} |"
              f" {r['budget'].get('policy_tokens', '')} |" for r in result["runs"]]
    lines += [f"failed after {f['attempts']} tries: {f['task']}: {f['error']}" for f in result["failed"]]
    _out("\n".join(lines) + f"\n{len(result['runs'])} of {len(premises)} premises explored in {args.out}")
    return 0


# -- calibrate ---------------------------------------------------------------------------------
def cmd_calibrate(args: argparse.Namespace) -> int:
    from storyspace.config import ModelsConfig, validate_models
    from storyspace.corpus import human_stories
    from storyspace.models.registry import ModelPool, cache_dir, parse_spec
    from storyspace.files import atomic_write, check_output_file
    from storyspace.story import PromptConfig
    from storyspace.value.calibrate import CalibrateConfig, calibrate, comparison_markdown

    cfg = _configured(args, CalibrateConfig(), "calibrate")
    if args.no_judge:
        cfg = replace(cfg, judge=False)
    if cfg.n_stories < 1 or cfg.step_tokens < 1 or cfg.positions < 1 or cfg.compare_position < 0:
        raise UserError("--n-stories, --step-tokens and --positions must be positive, --compare-position >= 0")
    models = _configured(args, ModelsConfig(), "models")
    validate_models(models)
    ref = parse_spec(models.reference)
    judge_spec = parse_spec(models.judge) if cfg.judge else None
    out = args.out or cache_dir() / "calibration" / (re.sub(r"[^A-Za-z0-9.]+", "_", str(ref)) + ".json")
    check_output_file(Path(out), force=True)
    pool = ModelPool(options=models.options())
    reader = pool.get(ref)
    judge = pool.get(judge_spec) if judge_spec else None
    stories = human_stories()[: cfg.n_stories]
    with Display(args.quiet) as display:
        result = calibrate(reader, str(ref), stories, cfg, PromptConfig(), judge=judge,
                           on_story=lambda i: display.update("calibrating", i + 1, len(stories)))
        atomic_write(Path(out), json.dumps(result, indent=1) + "\n")
        _out(comparison_markdown(result))
        display.console.print(f"Calibration written to [bold]{shown(str(out))}[/bold]")
    return 0


# -- self-improvement --------------------------------------------------------------------------
def cmd_pairs(args: argparse.Namespace) -> int:
    from storyspace.files import check_output_file
    from storyspace.train.pairs import PairConfig, select_pairs, validate_pairs, write_pairs

    if args.prompt_for and not args.from_study:
        raise UserError("--prompt-for goes with --from-study (a run's pairs are written for the run's own policy)")
    if bool(args.runs) == bool(args.from_study):
        raise UserError("give explore run directories or --from-study STUDY_DIR (one of them)")
    check_output_file(args.out, force=args.force)
    if args.from_study:
        from storyspace.study.preferences import study_preferences

        render = _prompt_for(args.prompt_for) if args.prompt_for else None
        rows = []
        for study in args.from_study:
            got = study_preferences(study, render)
            print(printable(f"{study}: {len(got)} pairs"), file=sys.stderr)
            rows += got
        if not rows:
            raise UserError(f"no pair of {', '.join(map(str, args.from_study))} has a majority choice yet: nothing to write")
    else:
        from storyspace.runs import load_run
        from storyspace.train.pairs import template_for, tree_pairs

        cfg = _configured(args, PairConfig(), "pairs")
        validate_pairs(cfg)
        rows = []
        templates: dict[tuple[str, str], Any] = {}
        for run in args.runs:
            saved = load_run(run)
            got = tree_pairs(saved.tree, saved.config, saved.premise, str(run), cfg,
                             template_for(saved.config, templates))
            print(printable(f"{run}: {len(got)} pairs"), file=sys.stderr)
            rows += got
        rows = select_pairs(rows, cfg)
    n = write_pairs(rows, args.out)
    _out(f"{n} pairs written to {args.out}")
    return 0


def _prompt_for(spec: str) -> Any:
    """(premise, passages so far) -> (prompt, lead) of a prefill-style pair for the policy ``spec``."""
    from storyspace.models.registry import ModelPool, parse_spec
    from storyspace.story import PromptConfig, Story, preference_prompt

    parse_spec(spec)
    template = ModelPool().get(spec).chat_prompt
    prompts = PromptConfig()
    return lambda premise, passages: preference_prompt(
        Story.from_steps(premise, [{"passage": p} for p in passages]), prompts, template)


def cmd_train(args: argparse.Namespace) -> int:
    from storyspace.config import ModelsConfig
    from storyspace.models.registry import check_device, parse_spec
    from storyspace.train.orpo import TrainConfig, check_out_free, train_orpo, validate_train
    from storyspace.train.pairs import read_pairs

    cfg = _configured(args, TrainConfig(), "train")
    validate_train(cfg)
    models = _configured(args, ModelsConfig(), "models")
    check_device(models.device)
    check_out_free(args.out)
    parse_spec(models.policy)
    pairs = read_pairs(args.pairs)
    with Display(False) as display:
        summary = train_orpo(pairs, models.policy, args.out, cfg, device=models.device, on_log=display.log)
    _out(f"trained {summary['steps']} steps on {summary['pairs']} pairs in {summary['train_seconds']} s;"
         f" model in {args.out} (use --model hf:{args.out})")
    return 0


def cmd_loop(args: argparse.Namespace) -> int:
    from storyspace.config import build
    from storyspace.corpus import read_premises, shipped_premises
    from storyspace.models.registry import ModelPool
    from storyspace.train.loop import Loop, LoopConfig, validate_loop

    file_data = _toml(args.config)
    ray = _ray_config(file_data, args)
    cfg = build(LoopConfig(), {"explore": file_data} if file_data else None, settings(args).get("loop", {}))
    validate_loop(cfg)
    premises = read_premises(args.premises) if args.premises else shipped_premises()
    with Display(False) as display:
        loop = Loop(args.out, premises, cfg, ModelPool(options=cfg.explore.models.options()),
                    say=lambda msg: display.say(f"[loop] {msg}"), ray=ray,
                    command=shlex.join(["storyspace", *sys.argv[1:]]))
        loop.run()
    _out((args.out / "iterations.md").read_text(encoding="utf-8"))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from storyspace.train.sweep import DEFAULT_VARIANTS, Sweep, read_variants, slug

    if not (args.loop_dir / "loop.json").is_file():
        raise UserError(f"{args.loop_dir} holds no loop (storyspace loop --out {args.loop_dir})")
    variants = read_variants(args.variants) if args.variants else list(DEFAULT_VARIANTS)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if slug(n) not in {slug(v.name) for v in variants}]
        if unknown:
            raise UserError(f"no variant named {unknown[0]!r} (have: {', '.join(v.name for v in variants)})")
        variants = [v for v in variants if slug(v.name) in {slug(n) for n in names}]
    with Display(False) as display:
        sweep = Sweep(args.loop_dir, variants, say=lambda msg: display.say(f"[sweep] {msg}"),
                      command=shlex.join(["storyspace", *sys.argv[1:]]), seeds=args.seeds)
        sweep.run()
    _out((sweep.dir / "sweep.md").read_text(encoding="utf-8"))
    return 0


def cmd_export_gguf(args: argparse.Namespace) -> int:
    from storyspace.models.export import export_gguf

    kind = "lora" if args.lora else "model"
    out = args.out or args.model_dir / f"{kind}.{args.outtype}.gguf"
    info = export_gguf(args.model_dir, out, args.outtype, lora=args.lora, base=args.base)
    use = f"--model llamacpp:{out}" if not args.lora else "a llama.cpp LoRA (llama-cpp-python lora_path)"
    _out(f"wrote {out} ({info['megabytes']} MB, {info['seconds']} s); use it as {use}")
    return 0


# -- evaluation --------------------------------------------------------------------------------
def cmd_eval(args: argparse.Namespace) -> int:
    from storyspace.config import build
    from storyspace.corpus import read_premises, shipped_premises
    from storyspace.eval.run import EvalConfig, Evaluation

    file_data = _toml(args.config)
    ray = _ray_config(file_data, args)
    cfg = build(EvalConfig(), {"explore": file_data} if file_data else None, settings(args).get("eval", {}))
    premises = read_premises(args.premises) if args.premises else shipped_premises()
    with Display(args.quiet) as display:
        evaluation = Evaluation(cfg, premises, args.out, ray=ray,
                                on_progress=lambda p: display.update(p.stage, p.done, p.total, p.note),
                                command=shlex.join(["storyspace", *sys.argv[1:]]))
        report = evaluation.run()
    _out(report.read_text(encoding="utf-8"))
    return 0


def _ray_config(file_data: dict[str, Any] | None, args: argparse.Namespace) -> Any:
    """``[ray]`` of the TOML file (taken out of it) < the ``--ray*`` flags; validated."""
    from storyspace.config import build
    from storyspace.distributed.config import RayConfig, validate_ray

    table = file_data.pop("ray", None) if file_data else None
    if table is not None and not isinstance(table, dict):
        raise UserError("[ray] in the config file must be a table")
    cfg = build(RayConfig(), table, settings(args).get("ray", {}))
    validate_ray(cfg)
    return cfg


def _configured(args: argparse.Namespace, base: Any, key: str) -> Any:
    """``base`` with the flags given under ``key`` (a command without a TOML file)."""
    from storyspace.config import build

    return build(base, None, settings(args).get(key, {}))


def cmd_score(args: argparse.Namespace) -> int:
    from storyspace.assemble import check_scorers, scorers
    from storyspace.judges.scorers import ScoreConfig
    from storyspace.eval.score_file import read_rows, score_file
    from storyspace.models.registry import ModelPool

    cfg = _configured(args, ScoreConfig(), "score")
    check_scorers(cfg)
    rows = read_rows(args.stories)
    if args.out.is_dir():
        raise UserError(f"--out {args.out} is a directory: give a file name")
    readers = scorers(ModelPool(options=cfg.models.options()), cfg)
    with Display(args.quiet) as display:
        done = score_file(args.stories, args.out, readers, cfg.step_tokens,
                          on_row=lambda i, n: display.update("scoring", i, n), rows=rows)
    errors = sum(1 for r in done if "error" in r)
    _out(f"scored {len(done) - errors} of {len(done)} stories into {args.out}"
         + (f" ({errors} with an error field)" if errors else ""))
    return 0


def cmd_validate_value(args: argparse.Namespace) -> int:
    from storyspace.assemble import check_scorers, scorers
    from storyspace.corpus import human_stories
    from storyspace import contrast
    from storyspace.judges.scorers import Scorers
    from storyspace.eval.score_file import score_file
    from storyspace.eval.validate import (
        ValidateConfig,
        contrast_markdown,
        hanna_json,
        hanna_rows,
        validation_markdown,
        validation_table,
    )
    from storyspace.models.registry import ModelPool
    from storyspace.files import atomic_write, check_output_dir
    from storyspace.viz.plots import plot_validation

    cfg = _configured(args, ValidateConfig(), "validate")
    if cfg.n_stories < 1 or cfg.contrast_stories < 1 or cfg.contrast_words < 1:
        raise UserError("--n-stories, --contrast-stories and --contrast-words must be positive")
    check_scorers(cfg.score)
    check_output_dir(args.out)
    readers = scorers(ModelPool(options=cfg.score.models.options()), cfg.score)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot use {args.out} as the output directory: {exc.strerror or exc}") from exc
    texts, result = [], {}
    info = (f"Reader of the value model (a) `{cfg.score.models.reference}`, independent reader (b)"
            f" `{cfg.score.reader or 'off'}`, steps of {cfg.score.step_tokens} tokens.")
    step_tokens = cfg.score.step_tokens
    with Display(args.quiet) as display:
        if cfg.suite in ("hanna", "all"):
            reader = readers.value.reader
            rows = hanna_rows(human_stories()[: cfg.n_stories])
            before = reader.usage.scored_tokens
            done = score_file(args.out / "stories.jsonl", args.out / "scored.jsonl", readers, step_tokens,
                              on_row=lambda i, n: display.update("HANNA human stories", i, n), rows=rows)
            story_tokens = sum(reader.count_tokens(r["story"]) for r in rows)
            scored = reader.usage.scored_tokens - before
            cost = (f" The value model's reader scored {scored / story_tokens:.2f} tokens per story token"
                    f" ({scored} for {story_tokens}; 0 when the scores were resumed from the output)." if story_tokens else "")
            table = validation_table(done, cfg.min_gap)
            texts.append(validation_markdown(table, done, cfg.min_gap, info + cost))
            result["hanna"] = hanna_json(table)
        if cfg.suite in ("contrast", "all"):
            stories = contrast.shortened(human_stories()[: cfg.contrast_stories], cfg.contrast_words)
            # the contrast suite measures the value model (a) alone
            scored = score_file(args.out / "contrast_stories.jsonl", args.out / "contrast_scored.jsonl",
                                Scorers(value=readers.value), step_tokens,
                                on_row=lambda i, n: display.update("contrast: stories", i, n),
                                rows=contrast.story_rows(stories, cfg.seed))
            cases = contrast.step_cases(stories, step_tokens, readers.value.reader.count_tokens, cfg.seed)
            steps = []
            for i, case in enumerate(cases):
                display.update("contrast: steps", i, len(cases))
                steps.append(contrast.score_step_case(readers.value, case))
            display.update("contrast: steps", len(cases), len(cases))
            atomic_write(args.out / "contrast_steps.jsonl", "".join(json.dumps(s) + "\n" for s in steps))
            result["contrast"] = contrast.contrast_table(scored, steps)
            texts.append(contrast_markdown(result["contrast"], len(stories), len(steps)))
    text = "\n".join(texts)
    atomic_write(args.out / "validate.md", text)
    atomic_write(args.out / "validate.json", json.dumps(result, indent=1) + "\n")
    plot_validation(result.get("hanna"), result.get("contrast"), args.out / "validate.png")
    _out(text)
    return 0


def cmd_validate_judges(args: argparse.Namespace) -> int:
    from storyspace.assemble import check_scorers
    from storyspace.eval.judges import (
        JudgesConfig,
        build_scorer,
        check_judge_specs,
        check_judges_config,
        judge_rows,
        judge_summary,
        file_readings,
        judges_markdown,
        pair_rows,
        read_all,
        story_key,
    )
    from storyspace.files import atomic_write, check_output_dir
    from storyspace.models.registry import ModelPool
    from storyspace.viz.plots import plot_judges

    cfg = _configured(args, JudgesConfig(), "judges")
    judges = check_judges_config(cfg)
    check_scorers(cfg.score)
    check_judge_specs(judges)  # every spec and calibration before any model loads
    check_output_dir(args.out)
    rows = judge_rows(cfg, args.retest or ())
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot use {args.out} as the output directory: {exc.strerror or exc}") from exc
    pool = ModelPool(options=cfg.score.models.options())
    summaries = []
    pairs = pair_rows(rows, cfg) if any(j.kind == "pair" for j in judges) else []
    with Display(args.quiet) as display:
        for judge in judges:
            read = pairs if judge.kind == "pair" else rows
            if judge.kind == "file":  # read from its file each time, nothing kept beside it
                keys = {story_key(r) for r in read}
                got = {k: v for k, v in file_readings(Path(judge.spec)).items() if k in keys}
                summaries.append(judge_summary(judge, read, got, cfg.min_gap))
                continue
            readings = read_all(lambda judge=judge: build_scorer(judge, pool, cfg.score), read,
                                args.out / f"{judge.slug}.jsonl",
                                cfg.score.step_tokens, on_row=lambda i, n, name=judge.name: display.update(name, i, n))
            summaries.append(judge_summary(judge, read, readings, cfg.min_gap))
    info = (f"{cfg.n_stories} HANNA human stories; contrast suite on {cfg.contrast_stories} stories' openings of"
            f" {cfg.contrast_words} words (seed {cfg.seed}); value model (a) read by `{cfg.score.models.reference}`;"
            f" steps of {cfg.score.step_tokens} tokens.")
    text = judges_markdown(summaries, cfg.min_gap, info)
    atomic_write(args.out / "judges.md", text)
    atomic_write(args.out / "judges.json", json.dumps(summaries, indent=1) + "\n")
    plot_judges(summaries, args.out / "judges.png")
    _out(text)
    return 0


def cmd_fit_value(args: argparse.Namespace) -> int:
    from storyspace.assemble import value_model
    from storyspace.config import ModelsConfig
    from storyspace.corpus import human_stories
    from storyspace.models.registry import ModelPool, parse_spec
    from storyspace.files import atomic_write, check_output_file
    from storyspace.story import PromptConfig
    from storyspace.value import fit as fitting
    from storyspace.value.coherence import MiniLMEmbedder
    from storyspace.value.fit_data import (FeatureSettings, add_recalls, add_similarities, dump_items,
                                           hanna_cross_validated, hanna_markdown, human_quantiles, load_items,
                                           load_partial, make_pairs, partial_path, read_items, read_passages,
                                           sibling_fit_pairs)
    from storyspace.value.learned import EMBEDDED_FEATURES, RECALL_FEATURES, SHIPPED_WEIGHTS, load_weights
    from storyspace.study.labels import sibling_labels
    from storyspace.value.config import ValueConfig
    from storyspace.value.model import load_calibration

    cfg = _configured(args, fitting.FitConfig(), "fit")
    models = _configured(args, ModelsConfig(), "models")
    value = _configured(args, ValueConfig(combine="product"), "value")
    fitting.check_fit(cfg)
    check_output_file(args.out, force=args.force)
    reader = str(parse_spec(models.reference))
    # the readings need no weights (the fit makes them): the product form reads and features alike
    settings_ = FeatureSettings(load_calibration(value.calibration, reader), value)
    labels = [lab for d in args.study for lab in sibling_labels(d)]  # first: a bad study fails before any reading
    saved = args.readings is not None and args.readings.is_file()
    items = load_items(args.readings, reader, cfg) if saved else None
    pool = ModelPool(options=models.options())  # loads a model on first use only
    with Display(args.quiet) as display:
        if items is None:
            stories = human_stories()[: cfg.stories or None]
            done, keep = [], None
            if args.readings is not None:  # readings kept as they are made: a killed fit resumes
                partial = partial_path(args.readings)
                if partial.is_file():
                    done = load_partial(partial, reader, cfg)
                    display.say(f"resuming the readings begun in {partial}: {len(done)} read")
                atomic_write(partial, dump_items(done, reader, cfg))  # a line cut by the kill is gone
                keep = partial.open("a", encoding="utf-8")
            try:
                items = read_items(value_model(pool, models.reference, settings_.cfg, PromptConfig()), stories,
                                   cfg.step_tokens, cfg.contrast_words, cfg.seed,
                                   on_item=lambda i, n: display.update("reading", i, n), done=done,
                                   on_read=None if keep is None else lambda it: (keep.write(json.dumps(it) + "\n"),
                                                                               keep.flush()))
            finally:
                if keep is not None:
                    keep.close()
        filled = 0
        if labels:  # the labelled siblings' passages, each read once after its story so far
            new = read_passages(value_model(pool, models.reference, settings_.cfg, PromptConfig()), labels,
                                {it["id"] for it in items if it["kind"] == "passage"},
                                on_item=lambda i, n: display.update("reading sibling passages", i, n))
            items += new
            filled += len(new)
        missing = any(r.get("premise_sim") is None for it in items for r in it["readings"])
        if missing and (not saved or any(f in EMBEDDED_FEATURES for f in cfg.feature_list)):
            # MiniLM similarities: a cheap second look (~1 min), kept in the readings file once made
            filled = add_similarities(items, MiniLMEmbedder(), on_step=lambda i, n: display.update("embedding", i, n))
        missing = any(r.get("premise_recall") is None for it in items for r in it["readings"])
        if missing and any(f in RECALL_FEATURES for f in cfg.feature_list):
            # premise recall, only when the fit uses it: one more pass of the reader per item
            # (17.6 min for the shipped readings), kept in the readings file once made
            filled += add_recalls(items, pool.get(reader), PromptConfig(),
                                  on_item=lambda i, n: display.update("premise recall", i, n))
        if args.readings is not None and (filled or not saved):
            atomic_write(args.readings, dump_items(items, reader, cfg))
            partial_path(args.readings).unlink(missing_ok=True)
        pairs = make_pairs(items, settings_, cfg)
        siblings, label_counts = sibling_fit_pairs(items, labels, settings_, cfg.study_weight)
        pairs += siblings
        cv = fitting.cross_validate(pairs, cfg, on_fold=lambda i, n: display.update("cross-validation", i, n))
        display.update("cross-validation: HANNA criteria", 0, 1)
        per_criterion = hanna_cross_validated(items, settings_, pairs, cfg)
        model = replace(fitting.fit(pairs, cfg), human=human_quantiles(items, settings_, cfg.feature_list))
    in_sample = fitting.pair_agreement(model, pairs)
    shipped: dict[str, float] = {}
    if siblings and reader in SHIPPED_WEIGHTS:  # today's value on the same pairs: the baseline (never fitted on them)
        today = load_weights("auto", reader)
        for cap in (0.0, 0.05):
            shipped[f"cap {cap:g}"] = round(fitting.pair_agreement(today.with_cap(cap), siblings)["siblings"]["agreement"], 4)
    made = {"command": "storyspace fit-value " + " ".join(sys.argv[2:]), "reader": reader,
            "date": datetime.now().strftime("%Y-%m-%d"), "settings": asdict(cfg), "calibration": value.calibration,
            "pairs": {k: v["pairs"] for k, v in in_sample.items() if ":" not in k},
            "cross_validation": cv, "hanna_criteria_cv": per_criterion, "in_sample": in_sample}
    if labels:
        made["studies"] = {"dirs": [str(d) for d in args.study], "labels": label_counts,
                           "shipped_value_agreement": shipped}
    atomic_write(args.out, json.dumps({**model.as_dict(), "made_by": made}, indent=1) + "\n")
    weights = ", ".join(f"{f} {w:+.3f}" for f, w in zip(model.features, model.weights))
    said = ""
    if labels:
        c = label_counts
        said = (f"\nsibling labels: {c['labelled']} pairs rated, {c['unanimous']} the same way by every showing,"
                f" {c['split']} tied (dropped)" + "".join(f"; the shipped value ({k}) agrees on {v:.3f}"
                                                          for k, v in shipped.items()) + "\n")
    _out(fitting.cv_markdown(cv, in_sample) + "\n" + hanna_markdown(per_criterion) + said
         + f"\nweights (per SD): {weights}; bias {model.bias:+.3f}\nwrote {args.out}")
    return 0


def cmd_premises(args: argparse.Namespace) -> int:
    from storyspace.corpus import shipped_premises

    for i, premise in enumerate(shipped_premises()[: args.limit]):
        _out(f"{i}\t{premise}")
    return 0


# -- studio and studies ------------------------------------------------------------------------
def cmd_studio(args: argparse.Namespace) -> int:
    from storyspace.studio.app import read_base_config
    from storyspace.studio.server import serve

    base = read_base_config(args.config)
    try:
        serve(args.runs_dir, args.host, args.port, not args.no_browser, base, say=_out)
    except KeyboardInterrupt:
        _out("studio stopped")
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from storyspace.study.create import StudyConfig, create_study

    given = {"sources": bool(args.sources), "out": args.out is not None, "rater": args.rater is not None,
             "verdicts": args.verdicts is not None, "parts": args.parts != 1, "kind": args.kind != "person"}
    takes = {"create": {"sources", "out"}, "report": set(), "export": {"out", "rater", "parts"},
             "import": {"rater", "verdicts", "kind"}, "rate": {"rater"}}[args.action]
    usage = {"create": "study create takes --from DIR... and --out STUDY_DIR",
             "report": "study report takes STUDY_DIR only",
             "export": "study export takes STUDY_DIR --rater NAME --out FILE [--parts N]",
             "import": "study import takes STUDY_DIR FILE --rater NAME [--kind person|llm]",
             "rate": "study rate takes STUDY_DIR --rater openai:URL#MODEL"}[args.action]
    needed = {"create": {"sources", "out"}, "report": set(), "export": {"out", "rater"},
              "import": {"rater", "verdicts"}, "rate": {"rater"}}[args.action]
    if (any(v for k, v in given.items() if k not in takes) or any(not given[k] for k in needed)
            or (args.study_dir is None) != (args.action == "create")):
        raise UserError(usage)
    if args.action == "create":
        cfg = _configured(args, StudyConfig(), "study")
        study = create_study(args.sources, args.out, cfg)
        _out(f"{len(study['pairs'])} pairs (of {study['available']} found) in {args.out}/study.json;"
             f" rate them in the studio: storyspace studio {args.out.parent}")
        return 0
    if args.action == "export":
        from storyspace.study.raters import export_items

        got = export_items(args.study_dir, args.rater, args.out, args.parts)
        _out(f"{got['items']} items for {args.rater} in {', '.join(got['files'])} (the key stays in {args.study_dir});"
             f" the instruction: storyspace.data.reader {', '.join(got['kinds']) or '-'}")
        return 0
    if args.action == "import":
        from storyspace.study.raters import import_verdicts

        got = import_verdicts(args.study_dir, args.verdicts, args.rater, args.kind)
        _out(f"{got['imported']} ratings by {args.rater} ({args.kind}) added to {args.study_dir}/ratings.jsonl;"
             f" {got['left']} of their items left to rate")
        return 0
    if args.action == "rate":
        from storyspace.study.rate import rate_study

        with Display(False) as display:
            got = rate_study(args.study_dir, args.rater,
                             progress=lambda done, total: display.update("items", done, total, args.rater))
        _out(f"{got['imported']} ratings by {got['rater']} (llm) added to {args.study_dir}/ratings.jsonl"
             f" ({got['unparsed']} answers unparsed and left unrated)")
        return 0
    from storyspace.study.report import PLOT, REPORT, report_markdown, study_report

    report = study_report(args.study_dir)
    _out(report_markdown(report))
    _out(f"written: {args.study_dir / REPORT}, {args.study_dir / PLOT}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "explore": cmd_explore,
    "calibrate": cmd_calibrate,
    "pairs": cmd_pairs,
    "train": cmd_train,
    "loop": cmd_loop,
    "sweep": cmd_sweep,
    "export-gguf": cmd_export_gguf,
    "eval": cmd_eval,
    "score": cmd_score,
    "validate-value": cmd_validate_value,
    "validate-judges": cmd_validate_judges,
    "fit-value": cmd_fit_value,
    "premises": cmd_premises,
    "studio": cmd_studio,
    "study": cmd_study,
}
