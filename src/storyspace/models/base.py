"""The LanguageModel protocol every backend implements, and its small value types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence, runtime_checkable


class ChatPrompt(str):
    """A prompt rendered from chat messages that keeps the messages, so that a backend with a
    chat API (``openai:``) can send them as they are and let the server apply its template.
    Everywhere else it is the plain string it renders to."""

    messages: tuple[dict[str, str], ...]

    def __new__(cls, text: str, messages: Sequence[dict[str, str]]) -> "ChatPrompt":
        obj = super().__new__(cls, text)
        obj.messages = tuple(dict(m) for m in messages)
        return obj


class Segments(str):
    """A text made of parts that a local backend tokenizes one by one (the first as a prefix,
    the others as continuations) and joins, so that a story read in one pass
    (``chain_logprobs``) and read up to a step (``logprobs`` after its context) see the same
    tokens at every boundary. Everywhere else it is the plain string it joins to."""

    parts: tuple[str, ...]

    def __new__(cls, parts: Sequence[str]) -> "Segments":
        obj = super().__new__(cls, "".join(parts))
        obj.parts = tuple(p for p in parts if p)
        return obj


def encode_segments(text: str, prefix: Callable[[str], list[int]], continuation: Callable[[str], list[int]]) -> list[int]:
    """Token ids of ``text``: ``Segments`` part by part, any other string as one prefix."""
    if not isinstance(text, Segments) or not text.parts:
        return prefix(str(text))
    parts = text.parts
    ids = prefix(parts[0])
    for part in parts[1:]:
        ids += continuation(part)
    return ids


@dataclass(frozen=True)
class Sample:
    """One sampled continuation.

    ``logprobs`` are the log-probabilities of the sampled tokens under the model itself
    (temperature 1, no truncation), whatever temperature was used to draw them: they are the
    policy's own belief in the text, used for PUCT priors and preference training.
    """

    text: str
    token_ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    finished: bool  # True when the model ended it (EOS or a stop string), False at max_tokens

    @property
    def mean_logprob(self) -> float:
        """Length-normalised log-probability (0.0 for an empty sample)."""
        return sum(self.logprobs) / len(self.logprobs) if self.logprobs else 0.0


@dataclass
class Usage:
    """Counters a backend keeps of the work it did (for budgets and benchmarks)."""

    generated_tokens: int = 0
    scored_tokens: int = 0
    sample_seconds: float = 0.0
    score_seconds: float = 0.0
    calls: int = 0

    @property
    def seconds(self) -> float:
        return self.sample_seconds + self.score_seconds

    def as_dict(self) -> dict[str, float]:
        return {
            "generated_tokens": self.generated_tokens,
            "scored_tokens": self.scored_tokens,
            "sample_seconds": round(self.sample_seconds, 3),
            "score_seconds": round(self.score_seconds, 3),
            "calls": self.calls,
        }


@runtime_checkable
class LanguageModel(Protocol):
    """What storyspace needs of a language model.

    - ``sample``: for each prompt, ``n`` continuations drawn in one batched call, each with the
      per-token log-probs of its tokens; ``seeds`` has one seed per prompt and sample ``j`` of
      prompt ``i`` depends only on ``seeds[i]`` and ``j`` (not on the rest of the batch).
    - ``logprobs``: per-token log-probs of each continuation after one shared context (the
      context is encoded once and its KV cache re-used for all continuations).
    """

    spec: str
    usage: Usage

    @property
    def context_length(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> str: ...

    def sample(
        self,
        prompts: Sequence[str],
        n: int,
        max_tokens: int,
        temperature: float,
        seeds: Sequence[int],
        top_p: float = 1.0,
        stop: Sequence[str] = (),
    ) -> list[list[Sample]]: ...

    def logprobs(self, context: str, continuations: Sequence[str]) -> list[list[float]]: ...


def cut_at_stop(
    text: str, toks: list[int], lps: list[float], stop: Sequence[str], decode: Callable[[list[int]], str]
) -> tuple[str, list[int], list[float]]:
    """Cut a sample before its first stop string, keeping the tokens whose text lies inside it."""
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    if cut < 0:
        return text, toks, lps
    keep = len(toks)
    while keep > 0 and len(decode(toks[:keep])) > cut:
        keep -= 1
    return text[:cut], toks[:keep], lps[:keep]
