"""The story world: turns the search's expand() into policy sampling and value-model scoring.

This is the only place where the search meets prompts and models (llm-reasoners' "world
model + search config" split): paths of step payloads become Stories, the policy proposes k
passages per story in one batched call (optionally after k one-line plans), and the value model
scores them against the frozen reference reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from storyspace.flags import flag
from storyspace.models.base import LanguageModel
from storyspace.search.mcts import BatchExpand, Expansion
from storyspace.seeding import derive_seed
from storyspace.story import PromptConfig, Step, Story, clean_passage, clean_plan, plan_messages, policy_prompt
from storyspace.value.model import ValueModel


@dataclass(frozen=True)
class PolicyConfig:
    """How the policy writes a step.

    - ``step_tokens``: tokens sampled per passage (then cut back to the last full sentence).
    - ``temperature``, ``top_p``: sampling of passages (and plans).
    - ``plan``: first sample a one-line plan, then the passage that follows it (two calls).
    - ``plan_tokens``: tokens sampled per plan.
    """

    step_tokens: int = field(default=64, metadata=flag("--step-tokens", "tokens sampled per passage"))
    temperature: float = field(default=0.9, metadata=flag("--temperature", "policy sampling temperature"))
    top_p: float = field(default=0.95, metadata=flag("--top-p", "policy nucleus (top-p)"))
    plan: bool = field(default=False, metadata=flag("--plan", "sample a one-line plan before each passage"))
    plan_tokens: int = field(default=32, metadata=flag("--plan-tokens", "tokens sampled per plan"))

    @property
    def passage_cost(self) -> int:
        """Upper bound of policy tokens per step (the passage, and its plan with plans)."""
        return self.step_tokens + (self.plan_tokens if self.plan else 0)


@dataclass(frozen=True)
class Proposal:
    """A step the policy proposed: its mean token log-prob, whether it was cut off mid-sentence,
    and the policy tokens it cost (plan and passage)."""

    step: Step
    logprob: float
    cut_off: bool
    tokens: int


class StoryWorld:
    """Implements ``search.StepModel`` for one premise."""

    def __init__(
        self,
        premise: str,
        policy: LanguageModel,
        value_model: ValueModel,
        cfg: PolicyConfig,
        prompts: PromptConfig,
    ) -> None:
        self.premise = premise
        self.policy = policy
        self.value_model = value_model
        self.cfg = cfg
        self.prompts = prompts

    def story(self, path: Sequence[dict[str, Any]]) -> Story:
        return Story.from_steps(self.premise, path)

    def policy_prompt(self, story: Story, plan: str = "") -> str:
        """The exact text the policy is conditioned on for the next passage of ``story``."""
        return policy_prompt(story, self.prompts, self.policy.chat_prompt, plan)

    def propose(self, stories: Sequence[Story], k: int, seeds: Sequence[int], instruction: str = "") -> list[list[Proposal]]:
        """k proposals per story; all stories in one batched call. ``instruction``: what should
        happen next, said by a person (the studio): it takes the place of a plan in every prompt
        (no plan is sampled) and is kept as the step's plan."""
        cfg = self.cfg
        if instruction or not cfg.plan:
            prompts = [self.policy_prompt(s, instruction) for s in stories]
            samples = self.policy.sample(prompts, k, cfg.step_tokens, cfg.temperature, seeds, cfg.top_p)
            out = []
            for group in samples:
                row = []
                for smp in group:
                    clean = clean_passage(smp.text)
                    row.append(Proposal(Step(passage=clean.text, plan=instruction), smp.mean_logprob, clean.cut_off,
                                        len(smp.logprobs)))
                out.append(row)
            return out
        plan_prompts = [self.policy.chat_prompt(plan_messages(s, self.prompts)) for s in stories]
        plans = self.policy.sample(
            plan_prompts, k, cfg.plan_tokens, cfg.temperature, [derive_seed(x, "plan") for x in seeds], cfg.top_p, ["\n"]
        )
        flat_plans = [clean_plan(p.text) for group in plans for p in group]
        flat_stories = [s for s in stories for _ in range(k)]
        prompts = [self.policy_prompt(s, p) for s, p in zip(flat_stories, flat_plans)]
        flat_seeds = [derive_seed(x, "passage", j) for x in seeds for j in range(k)]
        passages = self.policy.sample(prompts, 1, cfg.step_tokens, cfg.temperature, flat_seeds, cfg.top_p)
        out = []
        for i in range(len(stories)):
            row = []
            for j in range(k):
                smp = passages[i * k + j][0]
                plan_lp = plans[i][j].mean_logprob
                clean = clean_passage(smp.text)
                lp = (plan_lp + smp.mean_logprob) / 2.0
                tokens = len(plans[i][j].logprobs) + len(smp.logprobs)
                row.append(Proposal(Step(passage=clean.text, plan=flat_plans[i * k + j]), lp, clean.cut_off, tokens))
            out.append(row)
        return out

    def expand(self, paths: Sequence[Sequence[dict[str, Any]]], k: int, seeds: Sequence[int],
               instruction: str = "") -> list[list[Expansion]]:
        return self.expand_stories([self.story(p) for p in paths], k, seeds, instruction)

    def expand_stories(self, stories: Sequence[Story], k: int, seeds: Sequence[int],
                       instruction: str = "") -> list[list[Expansion]]:
        """k valued next steps for each story (stories may have different premises), following a
        person's ``instruction`` when one is given (``propose``)."""
        proposals = self.propose(stories, k, seeds, instruction)
        out = []
        for story, row in zip(stories, proposals):
            breakdowns = self.value_model.evaluate(story, [p.step.passage for p in row], [p.cut_off for p in row])
            out.append(
                [
                    Expansion(step=p.step.as_dict(), logprob=round(p.logprob, 6), value=float(b["value"]), breakdown=b,
                              tokens=p.tokens)
                    for p, b in zip(row, breakdowns)
                ]
            )
        return out


def batch_expander(worlds: Sequence[StoryWorld]) -> BatchExpand:
    """``search_trees``'s batch call for several premises: the leaves of every tree go to the
    policy in one ``sample`` call. The worlds must share one policy, value model and settings."""
    first = worlds[0]
    for w in worlds[1:]:
        if w.policy is not first.policy or w.value_model is not first.value_model or (w.cfg, w.prompts) != (
            first.cfg, first.prompts
        ):
            raise ValueError("batched worlds must share the policy, the value model and the settings")

    def batch(requests: Sequence[tuple[int, Sequence[Sequence[dict[str, Any]]], Sequence[int]]], k: int):  # noqa: ANN202
        stories, seeds, sizes = [], [], []
        for i, paths, s in requests:
            stories += [worlds[i].story(p) for p in paths]
            seeds += list(s)
            sizes.append(len(paths))
        flat = first.expand_stories(stories, k, seeds)
        out, at = [], 0
        for n in sizes:
            out.append(flat[at : at + n])
            at += n
        return out

    return batch
