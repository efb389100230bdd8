"""Judge (c): an LLM judge through any chat model (an ``openai:`` endpoint in practice).

Rubric ratings (1-10 on interest, originality, coherence, overall) of each story, and pairwise
A-vs-B preferences asked in both orders so that position bias cancels. The prompts are plain
text files (``system.txt``, ``rubric.txt``, ``pairwise.txt``) shipped in ``storyspace.data.judge``;
a directory given as ``prompts_dir`` overrides any of them. A reply that cannot be parsed is kept
(``raw``) and counted, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from storyspace.errors import UserError
from storyspace.flags import flag
from storyspace.models.base import LanguageModel

#: Gemma 3 270M, shipped on PyPI: the default independent reader, a model the search never saw
GEMMA_READER = "llamacpp:gemma3-270m"
#: flags shared by ``eval``, ``score`` and ``validate-value`` (declared once, here)
READER = flag("--reader", "independent reader (b): the value function read by another model, or none",
              none_word=True, metavar="SPEC|none")
READER_CALIBRATION = flag("--reader-calibration", "calibration JSON of the independent reader", metavar="FILE|auto")
LLM_JUDGE = flag("--llm-judge", "LLM judge (c), e.g. openai:http://host:8000/v1#model, or none", none_word=True,
                 metavar="SPEC|none")

CRITERIA = ("interest", "originality", "coherence", "overall")
PROMPT_FILES = ("system.txt", "rubric.txt", "pairwise.txt")
_PLACEHOLDERS = {"rubric.txt": ("{premise}", "{story}"), "pairwise.txt": ("{premise}", "{story_a}", "{story_b}")}


@dataclass(frozen=True)
class JudgeConfig:
    """- ``temperature``: 0 = greedy replies (a judge should not roll dice); ``max_tokens``: reply
    length; ``prompts_dir``: a directory whose ``system.txt`` / ``rubric.txt`` / ``pairwise.txt``
    replace the shipped prompts; ``seed``: for servers that sample anyway."""

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
    return JudgePrompts(system=texts["system.txt"], rubric=texts["rubric.txt"], pairwise=texts["pairwise.txt"])


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


class LLMJudge:
    def __init__(self, model: LanguageModel, cfg: JudgeConfig = JudgeConfig()) -> None:
        self.model = model
        self.cfg = cfg
        self.prompts = load_prompts(cfg.prompts_dir)

    def _ask(self, user: str) -> str:
        prompt = self.model.chat_prompt([{"role": "system", "content": self.prompts.system},
                                         {"role": "user", "content": user}])
        sample = self.model.sample([prompt], 1, self.cfg.max_tokens, self.cfg.temperature, [self.cfg.seed])[0][0]
        return sample.text

    def rate(self, premise: str, story: str) -> dict[str, Any]:
        """{criterion: rating} for the criteria parsed, ``parsed`` (all four found), ``raw``."""
        raw = self._ask(self.prompts.rubric.format(premise=premise, story=story))
        ratings = parse_ratings(raw)
        return {**ratings, "parsed": all(c in ratings for c in CRITERIA), "raw": raw}

    def compare(self, premise: str, story_x: str, story_y: str) -> dict[str, Any]:
        """x against y in both orders: ``x_score`` = share of the parsed orders that preferred x
        (None when neither order parsed), the choices, and the raw replies."""
        first = self._ask(self.prompts.pairwise.format(premise=premise, story_a=story_x, story_b=story_y))
        second = self._ask(self.prompts.pairwise.format(premise=premise, story_a=story_y, story_b=story_x))
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
        }
