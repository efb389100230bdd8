"""Configuration: dataclasses with documented defaults, a TOML file, then CLI overrides.

A TOML file mirrors the dataclasses::

    seed = 7
    [search]
    simulations = 24
    selection = "puct"
    final = "visits"
    [policy]
    step_tokens = 48
    [value]
    coherence = "pmi"
    [value.penalties]
    cut_off_factor = 0.5
    [models]
    policy = "embedded"
    [prompts]
    system = "You write ghost stories."
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from storyspace.errors import UserError
from storyspace.flags import flag
from storyspace.models.llamacpp import LlamaCppConfig
from storyspace.models.openai import OpenAIConfig
from storyspace.models.registry import BackendOptions, check_device
from storyspace.search.mcts import SearchConfig
from storyspace.story import PromptConfig
from storyspace.value.coherence import SIGNALS
from storyspace.value.learned import check_cap
from storyspace.value.config import ValueConfig
from storyspace.world import PolicyConfig


#: ``--device``, declared once for every command that loads a model
DEVICE = flag("--device", "where transformers runs", metavar="auto|cpu|cuda|cuda:N")


@dataclass(frozen=True)
class ModelsConfig:
    """Model specs (see ``storyspace.models.registry``).

    - ``policy``: proposes steps (the one that ORPO tunes).
    - ``reference``: the frozen reader that measures surprisal; keep it the base model.
    - ``judge``: answers the coherence question when ``value.coherence = "judge"``.
    - ``device``: auto (cuda if available), cpu or cuda; ``dtype``: auto (float32 on CPU,
      bfloat16 on GPU), float32, bfloat16 or float16 (transformers backend).
    - ``backend``: what runs an ``embedded`` policy: ``hf`` (transformers) or ``llamacpp``.
    - ``llamacpp``, ``openai``: settings of those backends (``llamacpp:`` and ``openai:`` specs).
    """

    policy: str = field(default="embedded", metadata=flag("--model", "policy model spec", metavar="SPEC"))
    reference: str = field(default="embedded", metadata=flag("--reference", "the value model's frozen reader (surprisal)",
                                                             metavar="SPEC"))
    judge: str = field(default="embedded", metadata=flag("--judge", "coherence judge spec (coherence 'judge')",
                                                         metavar="SPEC"))
    device: str = field(default="auto", metadata=DEVICE)
    dtype: str = field(default="auto", metadata=flag("--dtype", "transformers dtype",
                                                     choices=("auto", "float32", "bfloat16", "float16")))
    backend: str = field(default="hf", metadata=flag("--backend", "what runs an embedded policy",
                                                     choices=("hf", "llamacpp")))
    llamacpp: LlamaCppConfig = field(default_factory=LlamaCppConfig)
    openai: OpenAIConfig = field(default_factory=OpenAIConfig)

    @property
    def policy_spec(self) -> str:
        """The policy spec with ``backend`` applied (``embedded`` -> ``llamacpp:embedded``).
        The reference reader and the judge keep their specs: the shipped calibration was
        measured with the transformers reader."""
        if self.backend == "llamacpp" and self.policy.strip() == "embedded":
            return "llamacpp:embedded"
        return self.policy

    def options(self) -> BackendOptions:
        return BackendOptions(device=self.device, dtype=self.dtype, llamacpp=self.llamacpp, openai=self.openai)


@dataclass(frozen=True)
class ExploreConfig:
    """Everything one ``storyspace explore`` run needs besides the premise.

    The defaults finish in about 3 minutes on a 2-core CPU with the embedded model.
    """

    seed: int = field(default=0, metadata=flag("--seed", "run seed"))
    search: SearchConfig = field(default_factory=SearchConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    value: ValueConfig = field(default_factory=ValueConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    prompts: PromptConfig = field(default_factory=PromptConfig)


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def from_dict(cls: type, data: dict[str, Any], where: str = "config") -> Any:
    """Build a (nested) config dataclass from plain data, with one-line errors for bad keys/types."""
    if not isinstance(data, dict):
        raise UserError(f"{where} must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    data = {k: v for k, v in data.items() if k not in getattr(cls, "RETIRED", ())}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(f"unknown setting {unknown[0]!r} in [{where}]")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}.{name}")
    cfg = cls(**kwargs)
    return cfg


def _coerce(kind: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(kind):
        return from_dict(kind, value, where)
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise UserError(f"{where} must be a finite number, got {value!r}")
            return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    elif typing.get_origin(kind) is tuple:
        item = (typing.get_args(kind) or (str,))[0]
        if isinstance(value, (list, tuple)) and all(isinstance(v, item) and not isinstance(v, bool) for v in value):
            return tuple(value)
        raise UserError(f"{where} must be a list of {'whole numbers' if item is int else 'strings'}, got {value!r}")
    else:
        return value
    raise UserError(f"{where} must be of type {kind.__name__}, got {value!r}")


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overrides`` into a copy of ``base``."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _preset_files() -> Any:
    return resources.files("storyspace.data.presets")


def presets() -> list[str]:
    """The names of the shipped settings files (``--config NAME``): ``data/presets/NAME.toml``."""
    return sorted(f.name[: -len(".toml")] for f in _preset_files().iterdir() if f.name.endswith(".toml"))


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML settings file; a name without a file of that name is a shipped preset (``writer``)."""
    if not Path(path).exists() and str(path) in presets():
        return tomllib.loads(_preset_files().joinpath(f"{path}.toml").read_text(encoding="utf-8"))
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise UserError(f"config file not found: {path} (shipped presets: {', '.join(presets())})") from exc
    except IsADirectoryError as exc:
        raise UserError(f"config path is a directory: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read config file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"invalid TOML in {path}: {exc}") from exc


def build(base: Any, file_data: dict[str, Any] | None, overrides: dict[str, Any]) -> Any:
    """A config of ``base``'s type: ``base``'s values < TOML file < CLI overrides (not validated)."""
    data = merge(to_dict(base), file_data or {})
    return from_dict(type(base), merge(data, overrides))


def build_config(file_data: dict[str, Any] | None, overrides: dict[str, Any]) -> ExploreConfig:
    """Defaults < TOML file < CLI overrides; then validated."""
    cfg = build(ExploreConfig(), file_data, overrides)
    validate(cfg)
    return cfg


def validate(cfg: ExploreConfig) -> None:
    """One-line ``UserError`` for any setting an explore run cannot use."""
    validate_search(cfg.search)
    validate_policy(cfg.policy)
    validate_prompts(cfg.prompts)
    validate_value(cfg.value)
    validate_models(cfg.models)


def validate_search(s: SearchConfig) -> None:
    positive = {
        "search.simulations": s.simulations,
        "search.depth": s.depth,
        "search.children": s.children,
        "search.parallel_leaves": s.parallel_leaves,
    }
    for name, value in positive.items():
        if value <= 0:
            raise UserError(f"{name} must be positive, got {value}")
    if s.backup not in ("path_mean", "leaf"):
        raise UserError(f"search.backup must be path_mean or leaf, got {s.backup!r}")
    if s.rollout_depth < 0:
        raise UserError(f"search.rollout_depth must be >= 0, got {s.rollout_depth}")
    if s.retries < 0:
        raise UserError(f"search.retries must be >= 0, got {s.retries}")
    if s.selection not in ("uct", "puct"):
        raise UserError(f"search.selection must be uct or puct, got {s.selection!r}")
    if s.final not in ("visits", "story"):
        raise UserError(f"search.final must be visits or story, got {s.final!r}")
    if s.c_explore < 0 or s.virtual_loss < 0 or s.prior_temperature <= 0:
        raise UserError("search.c_explore and search.virtual_loss must be >= 0, prior_temperature > 0")


def validate_prompts(p: PromptConfig) -> None:
    from storyspace.story import PROMPT_STYLES

    if p.style not in PROMPT_STYLES:
        raise UserError(f"prompts.style must be one of {', '.join(PROMPT_STYLES)}, got {p.style!r}")


def validate_policy(p: PolicyConfig) -> None:
    for name, value in (("policy.step_tokens", p.step_tokens), ("policy.plan_tokens", p.plan_tokens)):
        if value <= 0:
            raise UserError(f"{name} must be positive, got {value}")
    if p.temperature < 0 or not 0 < p.top_p <= 1:
        raise UserError("policy.temperature must be >= 0 and policy.top_p in (0, 1]")


def validate_value(v: ValueConfig) -> None:
    if v.coherence not in SIGNALS:
        raise UserError(f"value.coherence must be one of {', '.join(SIGNALS)}, got {v.coherence!r}")
    if v.cosine_cap <= 0 or v.alpha < 0 or v.beta < 0:
        raise UserError("value.cosine_cap must be > 0 and value.alpha, value.beta >= 0")
    check_cap(v.reward_cap)
    pen = v.penalties
    if not (0 <= pen.cut_off_factor <= 1 and 0 <= pen.meta_factor <= 1 and 0 <= pen.sentence_copy_factor <= 1):
        raise UserError("value.penalties.cut_off_factor, meta_factor and sentence_copy_factor must lie in [0, 1]")
    if pen.sentence_min_words < 1:
        raise UserError("value.penalties.sentence_min_words must be >= 1")
    if pen.repeat_ngram < 1 or pen.copy_ngram < 1 or pen.repeat_weight < 0 or pen.copy_weight < 0:
        raise UserError("value.penalties: n-gram sizes must be >= 1 and weights >= 0")
    for i, pattern in enumerate(v.penalties.meta_patterns):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise UserError(f"value.penalties.meta_patterns[{i}] is not a valid regular expression: {exc}") from exc


def validate_models(m: ModelsConfig) -> None:
    if m.backend not in ("hf", "llamacpp"):
        raise UserError(f"models.backend must be hf or llamacpp, got {m.backend!r}")
    lc, oa = m.llamacpp, m.openai
    if lc.max_rows < 1 or lc.banks < 2 or lc.n_ctx < 1 or lc.n_batch < 1 or lc.n_ubatch < 0 or lc.n_threads < 0:
        raise UserError("models.llamacpp: max_rows, n_ctx, n_batch >= 1, n_ubatch >= 0 (0: by prefix_cache), banks >= 2, n_threads >= 0")
    if oa.concurrency < 1 or oa.retries < 0 or oa.timeout_s <= 0:
        raise UserError("models.openai: concurrency >= 1, retries >= 0, timeout_s > 0")
    if oa.context_length < 1:
        raise UserError("models.openai.context_length must be positive")
    if m.dtype not in ("auto", "float32", "bfloat16", "float16"):
        raise UserError(f"models.dtype must be auto, float32, bfloat16 or float16, got {m.dtype!r}")
    check_device(m.device, "models.device")
