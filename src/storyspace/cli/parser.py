"""The commands' parsers, built from the flags declared on the config fields (``storyspace.flags``).

Each command lists its *sources*: the configs whose flags it takes. Only arguments that are not
settings (positional inputs, ``--out``, ``--config``, ``--resume``, ``--quiet``...) are written
here. ``synopsis()`` renders every command's flags; the README's synopsis is tested against it.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from storyspace import __version__
from storyspace.config import ExploreConfig, ModelsConfig
from storyspace.distributed.config import RayConfig
from storyspace.errors import UserError
from storyspace.eval.run import EvalConfig
from storyspace.judges.scorers import SCORE_SKIP, ScoreConfig
from storyspace.eval.judges import JUDGES_SKIP, JudgesConfig
from storyspace.eval.validate import VALIDATE_SKIP, ValidateConfig
from storyspace.flags import Flag, add_flags, config_flags, non_negative_int, overrides, positive_int
from storyspace.train.loop import LoopConfig
from storyspace.train.orpo import TrainConfig
from storyspace.study.create import StudyConfig
from storyspace.train.pairs import PairConfig
from storyspace.value.calibrate import CalibrateConfig
from storyspace.value.fit import FitConfig
from storyspace.value.config import ValueConfig


class Parser(argparse.ArgumentParser):
    """argparse that reports errors in one line (no usage dump) with exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UserError(message)


@dataclass(frozen=True)
class Source:
    """The flags a command takes from one config: ``config`` is an instance (its values are the
    defaults shown in help); the parsed values land under ``key``."""

    key: str
    config: Any
    skip: tuple[str, ...] = ()
    only: tuple[str, ...] | None = None

    def flags(self) -> list[Flag]:
        return [dataclasses.replace(f, path=(self.key, *f.path))
                for f in config_flags(self.config, skip=self.skip, only=self.only)]


#: the settings each command takes, by config
SOURCES: dict[str, tuple[Source, ...]] = {
    "explore": (Source("explore", ExploreConfig()), Source("ray", RayConfig())),
    "calibrate": (Source("calibrate", CalibrateConfig()),
                  Source("models", ModelsConfig(), only=("reference", "judge", "device", "dtype"))),
    "pairs": (Source("pairs", PairConfig()),),
    "train": (Source("train", TrainConfig()), Source("models", ModelsConfig(), only=("policy", "device"))),
    "loop": (Source("loop", LoopConfig()), Source("ray", RayConfig())),
    "eval": (Source("eval", EvalConfig(), skip=("explore.search.simulations", "explore.search.complete_best_path")),
             Source("ray", RayConfig())),
    "score": (Source("score", ScoreConfig(), skip=SCORE_SKIP),),
    "validate-value": (Source("validate", ValidateConfig(), skip=VALIDATE_SKIP),),
    "validate-judges": (Source("judges", JudgesConfig(), skip=JUDGES_SKIP),),
    "study": (Source("study", StudyConfig()),),
    "fit-value": (Source("fit", FitConfig()), Source("value", ValueConfig(), only=("calibration",)),
                  Source("models", ModelsConfig(), only=("reference", "device", "dtype"))),
}

HELP = {
    "explore": "search a story for a premise",
    "calibrate": "fit curiosity on human stories; compare coherence signals",
    "pairs": "preference pairs from explore runs (TRL format)",
    "train": "ORPO (or DPO) + LoRA on preference pairs",
    "loop": "iterate search -> pairs -> ORPO; evaluate on held-out premises",
    "sweep": "ORPO and pair settings on a loop's pairs, each measured on its held-out premises",
    "export-gguf": "convert a trained (hf) model directory to GGUF for llama.cpp",
    "eval": "compare systems at equal policy-token budgets, judged three ways",
    "score": "score stories (JSON lines with prompt and story)",
    "validate-value": "value components vs the HANNA human ratings",
    "validate-judges": "the eval's judges side by side: HANNA ratings, contrast suite, two-seed noise",
    "fit-value": "fit the learned value on HANNA and contrast pairs (cross-validated by prompt)",
    "premises": "list the shipped premises",
    "studio": "the studio: explore, steer and rate story trees in the browser",
    "study": "blind A/B studies: create one from runs or evals, rate it (people, files, a model), report",
}


def command_flags(command: str) -> list[Flag]:
    return [f for source in SOURCES.get(command, ()) for f in source.flags()]


def settings(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The settings given on the command line, by source key (``{"explore": {"search": {...}}}``)."""
    return overrides(args, command_flags(args.command))


def _extras(command: str, p: argparse.ArgumentParser) -> None:
    """The arguments of a command that are not settings."""
    quiet = {"help": "no progress bars", "action": "store_true"}
    if command == "explore":
        p.add_argument("premise", nargs="?", help="the story prompt (default: a shipped HANNA premise)")
        p.add_argument("--premise-file", type=Path, metavar="FILE",
                       help="premises, one per line or JSON lines with 'prompt' (with --ray: all of them)")
        p.add_argument("--premise-index", type=non_negative_int, default=0, metavar="N", help="which premise of the file/set (0)")
        p.add_argument("--config", type=Path, metavar="FILE.toml", help="TOML settings (see storyspace.config)")
        p.add_argument("--out", type=Path, metavar="DIR", help="run directory (default: runs/<time>-<premise>)")
        p.add_argument("--resume", type=Path, metavar="DIR", help="continue a run directory")
        p.add_argument("--quiet", **quiet)
    elif command == "calibrate":
        p.add_argument("--no-judge", action="store_true", help="skip the judge signal (same as --no-judge-signal)")
        p.add_argument("--out", type=Path, metavar="FILE", help="calibration JSON to write (default: in the cache)")
        p.add_argument("--quiet", **quiet)
    elif command == "pairs":
        p.add_argument("runs", nargs="*", type=Path, metavar="RUN_DIR", help="explore run directories")
        p.add_argument("--from-study", type=Path, nargs="+", metavar="STUDY_DIR",
                       help="the raters' majority choices of one or more studies instead")
        p.add_argument("--prompt-for", metavar="SPEC",
                       help="with --from-study: write each sibling pair's prompt for this policy (its chat template, "
                            "the default prompts), e.g. embedded to train SmolLM2 on another writer's choices")
        p.add_argument("--out", type=Path, required=True, metavar="FILE", help="pairs JSONL to write")
        p.add_argument("--force", action="store_true", help="replace --out if it exists")
    elif command == "train":
        p.add_argument("pairs", type=Path, metavar="PAIRS.jsonl", help="preference pairs (storyspace pairs)")
        p.add_argument("--out", type=Path, required=True, metavar="DIR", help="model directory (hf:DIR loads it)")
    elif command == "loop":
        p.add_argument("--premises", type=Path, metavar="FILE", help="premise file (default: the shipped prompts)")
        p.add_argument("--config", type=Path, metavar="FILE.toml", help="TOML explore settings of the loop's searches")
        p.add_argument("--out", type=Path, required=True, metavar="DIR",
                       help="loop directory (resumes when it holds a loop)")
    elif command == "sweep":
        p.add_argument("loop_dir", type=Path, metavar="LOOP_DIR", help="a loop directory (storyspace loop --out)")
        p.add_argument("--variants", type=Path, metavar="FILE",
                       help="JSON list of {name, train: {...}, pairs: {...}} (default: one loop setting at a time)")
        p.add_argument("--only", metavar="NAMES", help="comma-separated variant names to run (default: all)")
        p.add_argument("--seeds", type=positive_int, metavar="N",
                       help="single-pass stories per held-out premise (default: the loop's)")
    elif command == "export-gguf":
        p.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="a trained model directory")
        p.add_argument("--out", type=Path, metavar="FILE.gguf", help="GGUF to write (default: in MODEL_DIR)")
        p.add_argument("--outtype", default="q8_0", choices=["f32", "f16", "bf16", "q8_0"], help="tensor type (q8_0)")
        p.add_argument("--lora", action="store_true", help="export the LoRA adapter (MODEL_DIR/adapter) instead")
        p.add_argument("--base", type=Path, metavar="DIR", help="base model of the adapter (default: adapter_config)")
    elif command == "eval":
        p.add_argument("--premises", type=Path, metavar="FILE", help="premise file (default: the shipped prompts)")
        p.add_argument("--config", type=Path, metavar="FILE.toml", help="TOML explore settings (search, policy, models)")
        p.add_argument("--out", type=Path, required=True, metavar="DIR",
                       help="eval directory (re-run the same command to resume)")
        p.add_argument("--quiet", **quiet)
    elif command == "score":
        p.add_argument("stories", type=Path, metavar="STORIES.jsonl", help="JSON lines with prompt and story")
        p.add_argument("--out", type=Path, required=True, metavar="FILE",
                       help="scored JSONL (continues after rows already there)")
        p.add_argument("--quiet", **quiet)
    elif command == "validate-value":
        p.add_argument("--out", type=Path, required=True, metavar="DIR",
                       help="directory for scored.jsonl and validate.md (resumes)")
        p.add_argument("--quiet", **quiet)
    elif command == "validate-judges":
        p.add_argument("--out", type=Path, required=True, metavar="DIR",
                       help="directory for each judge's readings and judges.md (resumes)")
        p.add_argument("--retest", nargs=2, type=Path, metavar=("A.jsonl", "B.jsonl"),
                       help="two eval stories.jsonl of the same premises and systems, other seeds (judge noise)")
        p.add_argument("--quiet", **quiet)
    elif command == "fit-value":
        p.add_argument("--out", type=Path, required=True, metavar="FILE", help="weights JSON to write (--value-weights)")
        p.add_argument("--readings", type=Path, metavar="FILE",
                       help="the reader's readings: used when the file exists, written when not")
        p.add_argument("--study", type=Path, nargs="+", default=[], metavar="STUDY_DIR",
                       help="also fit on these studies' rated sibling pairs (study create --pairing random|all)")
        p.add_argument("--force", action="store_true", help="replace --out if it exists")
        p.add_argument("--quiet", **quiet)
    elif command == "studio":
        p.add_argument("runs_dir", nargs="?", type=Path, default=Path("runs"), metavar="RUNS_DIR",
                       help="the folder of runs and studies (runs)")
        p.add_argument("--port", type=positive_int, default=8765, metavar="N", help="port (8765)")
        p.add_argument("--host", default="127.0.0.1", metavar="H", help="address (127.0.0.1; others with a warning)")
        p.add_argument("--no-browser", action="store_true", help="do not open a browser")
        p.add_argument("--config", type=Path, metavar="FILE.toml", help="TOML settings of the runs started there")
    elif command == "study":
        p.add_argument("action", choices=["create", "report", "export", "import", "rate"],
                       metavar="create|report|export|import|rate",
                       help="create a study, report its ratings, export a rater's blind items, import verdicts,"
                            " or rate every item with a model")
        p.add_argument("study_dir", nargs="?", type=Path, metavar="STUDY_DIR", help="the study (all but create)")
        p.add_argument("verdicts", nargs="?", type=Path, metavar="FILE", help="the verdicts to import (import)")
        p.add_argument("--from", dest="sources", nargs="+", type=Path, metavar="DIR",
                       help="explore run directories, or eval directories (DIR@TAG renames their systems) (create)")
        p.add_argument("--out", type=Path, metavar="PATH",
                       help="the new study's directory (create), the items file (export)")
        p.add_argument("--rater", metavar="NAME",
                       help="who rates (export, import); rate: the model, openai:URL#MODEL")
        p.add_argument("--kind", choices=["person", "llm"], default="person",
                       help="what the rater is (import; rate records llm)")
        p.add_argument("--parts", type=positive_int, default=1, metavar="N",
                       help="export into N files; a pair's two orders land in different files (1)")
    elif command == "premises":
        p.add_argument("--limit", type=positive_int, default=96, help="how many (96)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="storyspace", description="Explore story space with curiosity-guided MCTS.")
    parser.add_argument("--version", action="version", version=f"storyspace {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command, text in HELP.items():
        p = sub.add_parser(command, help=text, description=text)
        _extras(command, p)
        add_flags(p, command_flags(command))
    return parser


def _actions(command: str) -> list[argparse.Action]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    return [a for a in sub.choices[command]._actions if "-h" not in a.option_strings]  # noqa: SLF001


def options_of(command: str) -> list[str]:
    """Every option string a command takes (help excluded), in parser order."""
    return [o for a in _actions(command) for o in a.option_strings]


def synopsis(width: int = 100) -> str:
    """Every command with all its options, wrapped, as the README shows them (``--no-X`` of an
    on/off flag is implied by ``--X``)."""
    import textwrap

    blocks = []
    for command in HELP:
        words = []
        for a in _actions(command):
            if not a.option_strings:
                name = a.metavar or a.dest.upper()
                words.append(f"[{name}]" if a.nargs == "?" else f"{name}..." if a.nargs == "+" else name)
                continue
            opt = a.option_strings[0]
            if isinstance(a, argparse.BooleanOptionalAction):
                shown = f"--[no-]{opt[2:]}"
            elif a.nargs == 0:
                shown = opt
            else:
                value = "|".join(a.choices) if a.choices else a.metavar or a.dest.upper()
                value = " ".join(value) if isinstance(value, tuple) else value  # nargs=2: two names
                shown = f"{opt} {value}"
            words.append((shown if a.required else f"[{shown}]").replace(" ", "\u00a0"))
        head = f"storyspace {command} "
        text = textwrap.fill(" ".join(words), width=width, initial_indent=head, subsequent_indent=" " * len(head),
                             break_on_hyphens=False, break_long_words=False)
        blocks.append(text.replace("\u00a0", " "))
    return "\n".join(blocks)
