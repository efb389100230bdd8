"""One place that assembles a search's parts from a config: policy, reader, value model, world.

Every command (explore, eval, loop, score, validate-value) and the benches build their parts
here, so spec parsing, calibration lookup and the value model's wiring are written once.
Vocabulary: the *reader* is the frozen LM whose surprisal the value model reads; a *judge* is an
evaluator (the coherence judge of ``value.coherence = "judge"``, the LLM judge of ``eval``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from storyspace.config import ExploreConfig
from storyspace.errors import UserError
from storyspace.models.base import LanguageModel
from storyspace.models.registry import ModelPool, parse_spec
from storyspace.story import PromptConfig
from storyspace.value.learned import load_weights
from storyspace.value.config import ValueConfig
from storyspace.value.model import ValueModel, load_calibration
from storyspace.world import StoryWorld

if TYPE_CHECKING:
    from storyspace.judges.scorers import ScoreConfig, Scorers


def check_specs(cfg: ExploreConfig, policy: str | None = None, value: bool = True) -> None:
    """Fail fast, before any model loads, on unknown specs, missing files or a missing calibration
    (``value``: check the value model's reader, judge and calibration too)."""
    parse_spec(policy or cfg.models.policy_spec)
    if not value:
        return
    reader = str(parse_spec(cfg.models.reference))
    if cfg.value.coherence == "judge":
        parse_spec(cfg.models.judge)
    load_calibration(cfg.value.calibration, reader)
    check_weights(cfg.value, reader)


def check_weights(cfg: ValueConfig, reader_spec: str) -> None:
    """The learned weights load (``combine = "learned"``): one-line error before any model loads."""
    if cfg.combine == "learned":
        load_weights(cfg.weights, reader_spec)


def value_model(
    pool: ModelPool,
    reader_spec: str,
    cfg: ValueConfig,
    prompts: PromptConfig,
    judge_spec: str | None = None,
) -> ValueModel:
    """The value model read by ``reader_spec`` (its calibration: ``cfg.calibration``, ``auto`` =
    the shipped one of that reader); the coherence judge is loaded only when it is used."""
    spec = str(parse_spec(reader_spec))
    calibration = load_calibration(cfg.calibration, spec)
    judge = pool.get(judge_spec) if cfg.coherence == "judge" and judge_spec else None
    return ValueModel(pool.get(spec), cfg, calibration, prompts, judge=judge)


def independent_reader(
    pool: ModelPool, reader_spec: str, calibration: str, cfg: ValueConfig, prompts: PromptConfig
) -> ValueModel:
    """The independent reader (b) of ``eval`` and ``score``: DESIGN.md's value formula (``product``:
    curiosity x PMI coherence x penalties) read by another model with its own calibration. It
    never uses the learned weights, which were fitted on the value model's reader and on the
    pairs (a) is measured by: (b) stays a judge the value model was not tuned to."""
    return value_model(pool, reader_spec, replace(cfg, coherence="pmi", calibration=calibration, combine="product"),
                       prompts)


@dataclass
class Parts:
    """A search's assembled parts; ``world(premise)`` is the step model of one premise."""

    cfg: ExploreConfig
    policy: LanguageModel
    value_model: ValueModel
    notes: list[str] = field(default_factory=list)

    def world(self, premise: str) -> StoryWorld:
        return StoryWorld(premise, self.policy, self.value_model, self.cfg.policy, self.cfg.prompts)

    def models(self) -> list[LanguageModel]:
        """Each distinct loaded model once (policy, reader, judge)."""
        found = [self.policy, self.value_model.reader, self.value_model.judge]
        return list({id(m): m for m in found if m is not None}.values())


def prompt_style(pool: ModelPool, cfg: ExploreConfig, policy: str | None = None) -> tuple[ExploreConfig, str]:
    """The config with the prompt style the policy's server can take, and a one-line note of the
    choice ("" when nothing was chosen). A ``prefill`` prompt continues the policy's own answer: on
    an OpenAI-compatible server it goes to ``/completions`` as plain text (the request, then the
    story so far); a server that offers chat only gets ``chat`` prompts instead."""
    spec = parse_spec(policy or cfg.models.policy_spec)
    if spec.kind != "openai" or cfg.prompts.style != "prefill" or not cfg.models.openai.chat:
        return cfg, ""
    model = pool.get(policy or cfg.models.policy_spec)
    if getattr(model, "has_completions", lambda: True)():
        return cfg, (f"policy {spec}: prefill prompts (the request, then the story so far) go to its /completions"
                     " endpoint as plain text")
    return (replace(cfg, prompts=replace(cfg.prompts, style="chat")),
            f"policy {spec}: the server offers no /completions endpoint, so the policy gets chat prompts"
            " (--prompt-style chat) instead of prefill")


def assemble(pool: ModelPool, cfg: ExploreConfig, policy: str | None = None, vm: ValueModel | None = None) -> Parts:
    """Policy (``policy`` or the config's, with ``models.backend`` applied) and value model
    (``vm``, or the one the config describes) from ``pool``; the prompt style as the policy's
    server can take it (:func:`prompt_style`, its note in ``Parts.notes``)."""
    check_specs(cfg, policy, value=vm is None)
    cfg, note = prompt_style(pool, cfg, policy)
    if vm is None:
        vm = value_model(pool, cfg.models.reference, cfg.value, cfg.prompts, cfg.models.judge)
    return Parts(cfg=cfg, policy=pool.get(policy or cfg.models.policy_spec), value_model=vm,
                 notes=[note] if note else [])


def check_scorers(cfg: "ScoreConfig") -> None:
    """Fail fast, before any model loads, on a bad scoring setting, spec or calibration."""
    from storyspace.config import validate_models, validate_value

    if cfg.step_tokens < 1:
        raise UserError(f"--step-tokens must be positive, got {cfg.step_tokens}")
    validate_models(cfg.models)
    validate_value(cfg.value)
    load_calibration(cfg.value.calibration, str(parse_spec(cfg.models.reference)))
    check_weights(cfg.value, str(parse_spec(cfg.models.reference)))
    if cfg.value.coherence == "judge":
        parse_spec(cfg.models.judge)
    if cfg.reader:
        load_calibration(cfg.reader_calibration, str(parse_spec(cfg.reader)))
    if cfg.llm_judge:
        parse_spec(cfg.llm_judge)


def scorers(pool: ModelPool, cfg: "ScoreConfig") -> "Scorers":
    """The value model (a), the independent reader (b) and the LLM judge (c) of ``cfg``."""
    from storyspace.judges.llm import LLMJudge
    from storyspace.judges.scorers import Scorers

    check_scorers(cfg)
    prompts = PromptConfig()
    out = Scorers(value=value_model(pool, cfg.models.reference, cfg.value, prompts, cfg.models.judge))
    if cfg.reader:
        out.reader = independent_reader(pool, cfg.reader, cfg.reader_calibration, cfg.value, prompts)
    if cfg.llm_judge:
        out.llm = LLMJudge(pool.get(cfg.llm_judge), cfg.judge)
    return out
