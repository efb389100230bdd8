"""Premise, steps and stories; the policy's prompts; passage clean-up.

Knows nothing of the search. Prompts are plain templates (``PromptConfig``) so they can be edited
from a TOML config file.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from storyspace.errors import UserError
from storyspace.flags import flag
from storyspace.models.base import Segments

#: between two passages of a story, in its text and wherever the reader reads it
PASSAGE_SEPARATOR = "\n\n"

#: Unicode categories never kept in a premise, a passage or anything we print: control codes
#: (escape sequences), format characters (bidi overrides, zero-width spaces), lone surrogates
_UNPRINTABLE = ("Cc", "Cf", "Cs")


def printable(text: str) -> str:
    """``text`` without control codes, bidi overrides, zero-width characters and lone surrogates
    (newlines and tabs stay), so that nothing a user or a model wrote can steer a terminal, hide
    text in a page or break a UTF-8 file."""
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in _UNPRINTABLE)


@dataclass(frozen=True)
class Step:
    """One plot expansion: an optional plan (the policy's thought) and the passage added."""

    passage: str
    plan: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"plan": self.plan, "passage": self.passage}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Step":
        return cls(passage=str(data.get("passage", "")), plan=str(data.get("plan", "") or ""))


@dataclass(frozen=True)
class Story:
    premise: str
    steps: tuple[Step, ...] = ()

    def text(self) -> str:
        """The story's prose: passages only, one paragraph each."""
        return PASSAGE_SEPARATOR.join(s.passage for s in self.steps if s.passage)

    def extend(self, step: Step) -> "Story":
        return Story(self.premise, (*self.steps, step))

    def markdown(self, title: str = "Story") -> str:
        body = printable(self.text()) or "_(no passages yet)_"
        return f"# {title}\n\n**Premise.** {printable(self.premise)}\n\n{body}\n"

    @classmethod
    def from_steps(cls, premise: str, steps: Sequence[Mapping[str, Any]]) -> "Story":
        """The story of a path of step payloads (as the search keeps them): the one way a path
        of a tree, a beam or a single pass becomes a story."""
        return cls(premise, tuple(Step.from_dict(s) for s in steps))


#: how the policy is asked for the next passage (``PromptConfig.style``)
PROMPT_STYLES = ("prefill", "chat")


@dataclass(frozen=True)
class PromptConfig:
    """Templates of the policy's chat messages and of the reference reader's plain text.

    ``style``: ``prefill`` (default) asks once for a story (``prefill_user``) and writes the story
    so far as the start of the assistant's answer, which the policy continues; ``chat`` puts the
    story so far in the user message and asks for the next passage (``passage``). Measured on 72
    passages each (``results/prompts/``): the chat prompt made the 135M policy copy the story so
    far in 12 of 36 second steps and talk about the story (read and labelled) in 17 of 72
    passages; prefill copied none and talked about the story in 10 of 72, and the independent
    reader valued its passages higher (0.299 vs 0.173).

    Placeholders: {premise}, {story}, {plan}, {plan_line}, {sentences}.
    """

    style: str = field(default="prefill", metadata=flag("--prompt-style", "how the policy is asked for a passage",
                                                       choices=PROMPT_STYLES))
    system: str = "You are a skilled fiction writer. You write vivid, surprising, coherent stories."
    #: ``prefill``: the user's one request; the story so far follows as the assistant's own text
    prefill_user: str = "Write a short story for this premise.\n\nPremise: {premise}{plan_line}"
    #: ``prefill`` with plans: the plan of the next passage, added to the request
    prefill_plan_line: str = "\n\nWhat happens next: {plan}"
    #: user message that asks for the next passage (``{plan_line}`` is empty without a plan)
    passage: str = (
        "Story premise: {premise}\n\n"
        "Story so far:\n{story}\n\n"
        "{plan_line}"
        "Write the next passage of the story ({sentences} sentences). Write only the story text."
    )
    #: user message that asks for a one-line plan of the next passage
    plan: str = (
        "Story premise: {premise}\n\n"
        "Story so far:\n{story}\n\n"
        "In one sentence, what should happen next in the story? Answer with that sentence only."
    )
    plan_line: str = "What happens next: {plan}\n\n"
    empty_story: str = "(nothing yet: write the opening)"
    sentences: str = "two to four"
    #: how the reference reader sees a story (plain text, no chat template)
    reader_header: str = "Writing prompt: {premise}\n\nStory:\n"
    #: the reader's neutral context (no premise, no story), for contextual PMI
    reader_neutral: str = "Story:\n"
    #: after the story read without its premise, the tail before the premise (premise recall)
    reader_recall_tail: str = "\n\nWriting prompt: "


def passage_messages(story: Story, prompts: PromptConfig, plan: str = "") -> list[dict[str, str]]:
    """The policy's chat for the next passage of ``story`` (the exact prompt of that state)."""
    plan_line = prompts.plan_line.format(plan=plan) if plan else ""
    user = prompts.passage.format(
        premise=story.premise,
        story=story.text() or prompts.empty_story,
        plan_line=plan_line,
        sentences=prompts.sentences,
    )
    return [{"role": "system", "content": prompts.system}, {"role": "user", "content": user}]


def policy_prompt(story: Story, prompts: PromptConfig, chat_prompt: Callable[[list[dict[str, str]]], str],
                  plan: str = "") -> str:
    """The exact text the policy continues for the next passage of ``story`` (``chat_prompt``:
    the policy's chat template). ``prefill``: the request, then the story so far as the start of
    the answer (no trailing space: the passage's first token brings its own)."""
    if prompts.style == "chat":
        return chat_prompt(passage_messages(story, prompts, plan))
    # an OpenAI-compatible server's ChatPrompt is its messages' plain text: continued through the
    # server's /completions endpoint as plain text (assemble.prompt_style chose that, and says so)
    head = str(chat_prompt(prefill_messages(story, prompts, plan)))
    return head + story.text()


def prefill_messages(story: Story, prompts: PromptConfig, plan: str = "") -> list[dict[str, str]]:
    """The ``prefill`` style's chat before the answer: system and the one request."""
    plan_line = prompts.prefill_plan_line.format(plan=plan) if plan else ""
    user = prompts.prefill_user.format(premise=story.premise, plan_line=plan_line)
    return [{"role": "system", "content": prompts.system}, {"role": "user", "content": user}]


def preference_prompt(story: Story, prompts: PromptConfig,
                      chat_prompt: Callable[[list[dict[str, str]]], str] | None) -> tuple[Any, str]:
    """An ORPO pair's prompt for the state ``story`` and the text that goes before its passages:
    ``chat``: the chat messages (TRL's conversational format) and nothing; ``prefill``: the exact
    prompt text (TRL's standard format, rendered with ``chat_prompt``) and a space after a story
    so far, so that prompt + passage reads as the policy wrote it."""
    if prompts.style == "chat":
        return passage_messages(story, prompts), ""
    if chat_prompt is None:
        raise UserError("preference pairs of a prefill-style run need the policy's chat template")
    return policy_prompt(story, prompts, chat_prompt), (" " if story.text() else "")


def plan_messages(story: Story, prompts: PromptConfig) -> list[dict[str, str]]:
    user = prompts.plan.format(premise=story.premise, story=story.text() or prompts.empty_story)
    return [{"role": "system", "content": prompts.system}, {"role": "user", "content": user}]


def reader_context(story: Story, prompts: PromptConfig, with_story: bool = True) -> str:
    """Plain text the reference LM reads before a new passage.

    ``with_story=False`` gives the neutral context (no premise, no story) used for contextual
    PMI: how much the story so far lowers the passage's surprisal. The story is ``Segments``
    (header, passage, separator, ...), tokenized part by part as ``chain_logprobs`` reads it.
    """
    if not with_story:
        return prompts.reader_neutral
    head = prompts.reader_header.format(premise=story.premise)
    parts = [head]
    for passage in (s.passage for s in story.steps if s.passage):
        parts += [passage, PASSAGE_SEPARATOR]
    return Segments(parts)


_SPECIAL_TOKENS = re.compile(r"<\|[^|>]*\|>|</?s>|\[/?INST\]")
_ROLE_LINES = re.compile(r"^\s*(assistant|user|system)\s*:?\s*$", re.IGNORECASE | re.MULTILINE)
_LEAD_INS = re.compile(
    r"^\s*(\*\*)?(passage|next passage|story|continuation|plan|what happens next|here is[^:\n]*)"
    r"\s*(\d+)?\s*(\*\*)?\s*:\s*",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?…](?:[\"'”’)\]]+)?(?=\s|$)")


@dataclass(frozen=True)
class CleanPassage:
    text: str
    cut_off: bool  # no complete sentence: the text ends mid-sentence
    trimmed_chars: int = field(default=0)


def _strip_artefacts(raw: str) -> str:
    return _ROLE_LINES.sub(" ", _SPECIAL_TOKENS.sub("\n", raw))


def clean_passage(raw: str) -> CleanPassage:
    """Drop chat artefacts and lead-ins, join lines into one paragraph, end at a full sentence."""
    text = _strip_artefacts(printable(raw))
    text = _LEAD_INS.sub("", text, count=1)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"^#+\s*", "", text)
    ends = list(_SENTENCE_END.finditer(text))
    if not ends:
        return CleanPassage(text=text, cut_off=bool(text), trimmed_chars=0)
    end = ends[-1].end()
    return CleanPassage(text=text[:end].strip(), cut_off=False, trimmed_chars=len(text) - end)


def ends_sentence(text: str) -> bool:
    """Whether the text ends at a sentence end (a closing quote or bracket may follow it)."""
    ends = list(_SENTENCE_END.finditer(text.rstrip()))
    return bool(ends) and ends[-1].end() == len(text.rstrip())


def whole_sentences(text: str) -> str:
    """``text`` up to the end of its last whole sentence (a closing quote or bracket stays with
    it), the cut-off tail after it dropped; "" when no sentence in it ends."""
    ends = list(_SENTENCE_END.finditer(text))
    return text[:ends[-1].end()].rstrip() if ends else ""


def clean_plan(raw: str) -> str:
    """A plan is one line of text without artefacts."""
    text = _strip_artefacts(printable(raw))
    text = _LEAD_INS.sub("", text, count=1)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return re.sub(r"\s+", " ", first).strip()


def words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


_SENTENCES = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"'”’)\]]))\s+|\n\s*\n")


def sentences(text: str) -> list[str]:
    """A text cut after each sentence end (a closing quote stays with its sentence) and at blank
    lines: the one sentence splitter of the package."""
    return [p.strip() for p in _SENTENCES.split(text.strip()) if p and p.strip()]


def split_steps(text: str, step_tokens: int, count_tokens: Callable[[str], int]) -> list[str]:
    """Whole sentences grouped into steps of at least ``step_tokens`` tokens of the reader that
    counts them (a last short group joins the step before it); a sentence longer than a step is a
    step of its own. The one way a human story is cut into steps (``score``, ``validate-value``,
    ``calibrate``)."""
    parts = sentences(text)
    steps: list[str] = []
    cur: list[str] = []
    for part in parts:
        cur.append(part)
        if count_tokens(" ".join(cur)) >= step_tokens:
            steps.append(" ".join(cur))
            cur = []
    if cur:
        if steps and count_tokens(" ".join(cur)) < step_tokens // 2:
            steps[-1] = steps[-1] + " " + " ".join(cur)
        else:
            steps.append(" ".join(cur))
    return steps
