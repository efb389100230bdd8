"""(c) The LLM judge: any chat model as a judge (an ``openai:`` endpoint in practice).

Rubric ratings (1-10 on interest, originality, coherence, overall) of each story, and pairwise
A-vs-B preferences asked in both orders so that position bias cancels. The prompts are plain
text files (``system.txt``, ``rubric.txt``, ``pairwise.txt``; ``pairwise_premises.txt`` for two
stories written for different premises) shipped in ``storyspace.data.judge``;
a directory given as ``prompts_dir`` overrides any of them. A reply that cannot be parsed is kept
(``raw``) and counted, never guessed.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from storyspace.errors import UserError
from storyspace.flags import flag
from storyspace.models.base import ChatPrompt, LanguageModel

#: Gemma 3 270M, shipped on PyPI: the default independent reader, a model the search never saw
GEMMA_READER = "llamacpp:gemma3-270m"
#: flags shared by ``eval``, ``score`` and ``validate-value`` (declared once, here)
READER = flag("--reader", "independent reader (b): the value function read by another model, or none",
              none_word=True, metavar="SPEC|none")
READER_CALIBRATION = flag("--reader-calibration", "calibration JSON of the independent reader", metavar="FILE|auto")
LLM_JUDGE = flag("--llm-judge", "LLM judge (c), e.g. openai:http://host:8000/v1#model, or none", none_word=True,
                 metavar="SPEC|none")

CRITERIA = ("interest", "originality", "coherence", "overall")
PROMPT_FILES = ("system.txt", "rubric.txt", "pairwise.txt", "pairwise_premises.txt")
_PLACEHOLDERS = {"rubric.txt": ("{premise}", "{story}"), "pairwise.txt": ("{premise}", "{story_a}", "{story_b}"),
                 "pairwise_premises.txt": ("{premise_a}", "{story_a}", "{premise_b}", "{story_b}")}


@dataclass(frozen=True)
class JudgeConfig:
    """- ``method``: ``probabilities`` reads each verdict from the judge's own log-probs after an
      answer prefix (``Interest:`` then " 1".." 10"; ``Answer: Story`` then " A" / " B"): an
      expected rating and P(A), as G-Eval (Liu et al., 2023) does, so every verdict parses and a
      small judge's format slips do not matter; ``reply`` parses a greedy free reply; ``auto``:
      probabilities where the backend renders the chat itself (transformers, llama.cpp, an
      ``openai:`` server with ``chat = false``), replies on a chat endpoint (no prefix possible).
    - ``temperature``: 0 = greedy replies (a judge should not roll dice); ``max_tokens``: reply
      length; ``prompts_dir``: a directory whose ``system.txt`` / ``rubric.txt`` / ``pairwise.txt``
      (and ``pairwise_premises.txt``) replace the shipped prompts; ``seed``: for servers that sample anyway."""

    method: str = "auto"
    temperature: float = 0.0
    max_tokens: int = 48
    prompts_dir: str = field(default="", metadata=flag(
        "--judge-prompts", "directory with system.txt / rubric.txt / pairwise.txt", metavar="DIR"))
    seed: int = 0


@dataclass(frozen=True)
class JudgePrompts:
    system: str
    rubric: str
    pairwise: str
    #: two stories for different premises (HANNA's human stories are one per prompt)
    pairwise_premises: str = ""


def load_prompts(prompts_dir: str = "") -> JudgePrompts:
    texts = {}
    for name in PROMPT_FILES:
        text = resources.files("storyspace.data.judge").joinpath(name).read_text()
        if prompts_dir:
            custom = Path(prompts_dir).expanduser() / name
            if custom.is_file():
                try:
                    text = custom.read_text()
                except (OSError, UnicodeDecodeError) as exc:
                    raise UserError(f"cannot read judge prompt {custom}: {exc}") from exc
        for ph in _PLACEHOLDERS.get(name, ()):
            if ph not in text:
                raise UserError(f"judge prompt {name} lacks the placeholder {ph}")
        texts[name] = text.strip()
    if prompts_dir and not Path(prompts_dir).expanduser().is_dir():
        raise UserError(f"judge prompts directory not found: {prompts_dir}")
    return JudgePrompts(system=texts["system.txt"], rubric=texts["rubric.txt"], pairwise=texts["pairwise.txt"],
                        pairwise_premises=texts["pairwise_premises.txt"])


_RATING = re.compile(r"\b(" + "|".join(CRITERIA) + r")\b\W{0,6}(\d{1,2}(?:\.\d+)?)", re.IGNORECASE)
_CHOICE_START = re.compile(r"^\W*(?:[Ss]tory\s+)?([AB])\b")
_CHOICE_NAMED = re.compile(r"(?i:\b(?:answer|story|choice|prefer|better)\W{0,3}(?:is\W{0,3})?(?:story\s+)?)([AB])\b")


def parse_ratings(text: str) -> dict[str, float]:
    """The criteria found in a reply (first mention of each; only values in 1..10 count)."""
    out: dict[str, float] = {}
    for name, value in _RATING.findall(text):
        key = name.lower()
        v = float(value)
        if key not in out and 1 <= v <= 10:
            out[key] = v
    return out


def parse_choice(text: str) -> str | None:
    """``A`` or ``B``: the letter the reply starts with, or else the first one it names as its
    answer ("Answer: B", "Story A", "I prefer B"); None when it gives neither."""
    head = text.strip()[:300]
    m = _CHOICE_START.match(head) or _CHOICE_NAMED.search(head)
    if m is None:
        return None
    return m.group(1).upper()


#: what the judge's answer is read from in ``probabilities`` mode
RATINGS = tuple(range(1, 11))
CHOICE_PREFIX = "Answer: Story"


def expected_rating(logprobs: list[float]) -> float:
    """Mean rating under the judge's distribution over 1..10 (log-probs of each whole answer)."""
    top = max(logprobs)
    weights = [math.exp(x - top) for x in logprobs]
    return sum(k * w for k, w in zip(RATINGS, weights)) / sum(weights)


class LLMJudge:
    METHODS = ("auto", "probabilities", "reply")

    def __init__(self, model: LanguageModel, cfg: JudgeConfig = JudgeConfig()) -> None:
        if cfg.method not in self.METHODS:
            raise UserError(f"judge method must be one of {', '.join(self.METHODS)}, got {cfg.method!r}")
        self.model = model
        self.cfg = cfg
        self.prompts = load_prompts(cfg.prompts_dir)

    def _prompt(self, user: str) -> str:
        return self.model.chat_prompt([{"role": "system", "content": self.prompts.system},
                                       {"role": "user", "content": user}])

    def reads_probabilities(self, prompt: str) -> bool:
        """Whether verdicts come from log-probs: a prefix can follow the prompt (not a chat endpoint)."""
        if self.cfg.method == "auto":
            return not isinstance(prompt, ChatPrompt)
        return self.cfg.method == "probabilities"

    def _reply(self, prompt: str) -> str:
        sample = self.model.sample([prompt], 1, self.cfg.max_tokens, self.cfg.temperature, [self.cfg.seed])[0][0]
        return sample.text

    def rate(self, premise: str, story: str) -> dict[str, Any]:
        """{criterion: rating} for the criteria read, ``parsed`` (all four), ``method`` and ``raw``
        (the reply, or each criterion's probabilities over 1..10)."""
        prompt = self._prompt(self.prompts.rubric.format(premise=premise, story=story))
        if not self.reads_probabilities(prompt):
            raw = self._reply(prompt)
            ratings = parse_ratings(raw)
            return {**ratings, "parsed": all(c in ratings for c in CRITERIA), "method": "reply", "raw": raw}
        out: dict[str, Any] = {}
        dists = {}
        for c in CRITERIA:
            lps = [sum(x) for x in self.model.logprobs(str(prompt) + f"{c.capitalize()}:", [f" {k}\n" for k in RATINGS])]
            out[c] = round(expected_rating(lps), 4)
            top = max(lps)
            total = sum(math.exp(x - top) for x in lps)
            dists[c] = [round(math.exp(x - top) / total, 4) for x in lps]
        return {**out, "parsed": True, "method": "probabilities", "raw": json.dumps(dists)}

    def _p_a(self, prompt: str) -> float:
        """P(the judge answers A) among A and B after the answer prefix."""
        a, b = (sum(x) for x in self.model.logprobs(str(prompt) + CHOICE_PREFIX, [" A", " B"]))
        return 1.0 / (1.0 + math.exp(b - a))

    def _pair_prompt(self, premise_a: str, story_a: str, premise_b: str, story_b: str) -> str:
        if premise_a == premise_b:
            return self._prompt(self.prompts.pairwise.format(premise=premise_a, story_a=story_a, story_b=story_b))
        return self._prompt(self.prompts.pairwise_premises.format(premise_a=premise_a, story_a=story_a,
                                                                  premise_b=premise_b, story_b=story_b))

    def compare(self, premise: str, story_x: str, story_y: str, premise_y: str | None = None) -> dict[str, Any]:
        """x against y in both orders: ``x_score`` = how much the judge preferred x, averaged over
        the orders that gave a verdict (None when neither did), the choices, and the raw replies
        (or P(A) of each order). ``premise_y``: y's own premise when it was written for another
        one (the ``pairwise_premises`` prompt, each story under its premise)."""
        py = premise if premise_y is None else premise_y
        p1 = self._pair_prompt(premise, story_x, py, story_y)
        p2 = self._pair_prompt(py, story_y, premise, story_x)
        if self.reads_probabilities(p1):
            a1, a2 = self._p_a(p1), self._p_a(p2)
            c1, c2 = ("A" if a1 >= 0.5 else "B"), ("A" if a2 >= 0.5 else "B")
            return {"x_score": round((a1 + (1.0 - a2)) / 2.0, 4), "choices": [c1, c2],
                    "raw": [f"P(A) = {a1:.4f}", f"P(A) = {a2:.4f}"], "method": "probabilities",
                    "position_bias": c1 == c2}
        first, second = self._reply(p1), self._reply(p2)
        c1, c2 = parse_choice(first), parse_choice(second)
        votes = []
        if c1 is not None:
            votes.append(1.0 if c1 == "A" else 0.0)
        if c2 is not None:
            votes.append(1.0 if c2 == "B" else 0.0)
        return {
            "x_score": sum(votes) / len(votes) if votes else None,
            "choices": [c1, c2],
            "raw": [first, second],
            "position_bias": c1 is not None and c1 == c2,  # same letter both times: position, not story
            "method": "reply",
        }
