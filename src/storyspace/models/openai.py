"""Any OpenAI-compatible server (``openai:URL#MODEL``): vLLM, SGLang, llama.cpp's server,
llama-cpp-python's server, Ollama, OpenAI.

- Sampling: one request per sample (``n`` is not supported everywhere), ``concurrency`` of them
  in flight; chat prompts (``ChatPrompt``, from ``chat_prompt``) go to ``/chat/completions`` so
  that the server applies its own template, plain prompts to ``/completions``. Per-token
  log-probs come from the server's ``logprobs`` (servers report them at temperature 1 before
  truncation, as our ``Sample`` expects; llama-cpp-python's needs ``--logits_all true``).
- Scoring: ``/completions`` with ``echo`` and ``logprobs`` (prompt log-probs of context +
  continuation; the continuation's tokens are those from its first character on). Servers that do
  not return prompt log-probs (OpenAI's chat models) get a clear error.
- Requests go through the official ``openai`` client (pinned): its timeout per request, its
  retries with exponential backoff and jitter (0.5 s doubling to 8 s, honouring Retry-After) on
  408, 409, 429, 5xx and connection errors, then a ``BackendError`` (one line; the run saved so
  far resumes). The API key is read from the environment variable ``api_key_env`` and only ever
  sent in the Authorization header.
- Token counts: the server's tokenizer when it exposes one (llama-cpp-python's
  ``/extras/tokenize``, vLLM's ``/tokenize``), else an upper estimate of one token per 3 bytes.
"""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Sequence
from urllib.parse import urlsplit, urlunsplit

from storyspace.errors import BackendError, UserError
from storyspace.models.base import ChatPrompt, Sample, Usage

#: statuses the openai client retries (the rest fail at once)
RETRY_STATUS = (408, 409, 429, 500, 502, 503, 504)
#: a key the client is given for servers that need none (it refuses to start without one)
NO_KEY = "no-key"


@dataclass(frozen=True)
class OpenAIConfig:
    """- ``timeout_s``: per request; ``retries``: tries after the first one fails (the openai
      client's ``max_retries``, with its own backoff);
    - ``concurrency``: requests in flight at once;
    - ``api_key_env``: environment variable holding the key (none needed for local servers);
    - ``context_length``: what the server's model reads (servers do not say; set it);
    - ``chat``: send chat prompts to /chat/completions (False: render them as plain text);
    - ``score_prefix``: text put before every scored prompt. llama-cpp-python's server (0.3.x)
      pairs each echoed prompt token with the log-probs of the *next* position unless the prompt
      starts with the model's BOS token; for a model whose tokenizer adds none (SmolLM2), set it
      to the BOS text (``<|im_start|>``) to get correct scores. vLLM needs nothing."""

    #: settings of earlier versions that files may still hold; read and ignored
    RETIRED = ("backoff_s", "max_backoff_s")

    timeout_s: float = 120.0
    retries: int = 4
    concurrency: int = 4
    api_key_env: str = "OPENAI_API_KEY"
    context_length: int = 8192
    chat: bool = True
    score_prefix: str = ""


def split_target(target: str) -> tuple[str, str]:
    """``URL#MODEL`` -> (base URL without a trailing slash, model name)."""
    url, sep, model = target.partition("#")
    parts = urlsplit(url)
    if not sep or not model or parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(f"openai spec must be openai:http(s)://HOST[:PORT]/v1#MODEL, got openai:{target!r}")
    return url.rstrip("/"), model


class OpenAIModel:
    """A model behind an OpenAI-compatible HTTP API; implements ``LanguageModel``."""

    def __init__(self, spec: str, target: str, cfg: OpenAIConfig = OpenAIConfig()) -> None:
        import openai

        self.spec = spec
        self.base, self.model = split_target(target)
        self.cfg = cfg
        self.usage = Usage()
        key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
        self.client = openai.OpenAI(base_url=self.base, api_key=key or NO_KEY, timeout=cfg.timeout_s,
                                    max_retries=cfg.retries)
        self._tokenize_url: str | None | bool = False  # False: not probed yet; None: none offered
        self._completions: bool | None = None  # None: not probed yet

    # -- protocol ----------------------------------------------------------------------------
    @property
    def context_length(self) -> int:
        return self.cfg.context_length

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> str:
        text = "\n\n".join(m["content"] for m in messages) + "\n\n"
        return ChatPrompt(text, messages) if self.cfg.chat else text

    def count_tokens(self, text: str) -> int:
        if self._tokenize_url is False:
            self._tokenize_url = self._probe_tokenize()
        if self._tokenize_url:
            try:
                body = self._post_url(self._tokenize_url, {"input": text, "prompt": text, "model": self.model})
                if not isinstance(body, dict):
                    raise BackendError("tokenizer answer is not an object")
                tokens = body.get("tokens")
                if isinstance(tokens, list):
                    return len(tokens)
                if isinstance(body.get("count"), int):
                    return int(body["count"])
            except BackendError:
                pass
        return len(text.encode("utf-8")) // 3 + 1

    def sample(
        self,
        prompts: Sequence[str],
        n: int,
        max_tokens: int,
        temperature: float,
        seeds: Sequence[int],
        top_p: float = 1.0,
        stop: Sequence[str] = (),
    ) -> list[list[Sample]]:
        if len(seeds) != len(prompts):
            raise ValueError("sample() needs one seed per prompt")
        if not prompts or n <= 0:
            return [[] for _ in prompts]
        start = time.perf_counter()
        jobs = [(i, j) for i in range(len(prompts)) for j in range(n)]

        def one(job: tuple[int, int]) -> Sample:
            i, j = job
            seed = (int(seeds[i]) * 1_000_003 + j) % (2**31 - 1)
            return self._sample_one(prompts[i], max_tokens, temperature, top_p, seed, stop)

        with ThreadPoolExecutor(max_workers=max(1, self.cfg.concurrency)) as pool:
            flat = list(pool.map(one, jobs))
        out = [flat[i * n : (i + 1) * n] for i in range(len(prompts))]
        self.usage.generated_tokens += sum(len(s.logprobs) for s in flat)
        self.usage.sample_seconds += time.perf_counter() - start
        self.usage.calls += 1
        return out

    def logprobs(self, context: str, continuations: Sequence[str]) -> list[list[float]]:
        if not continuations:
            return []
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, self.cfg.concurrency)) as pool:
            out = list(pool.map(lambda c: self._score_one(str(context), c), continuations))
        self.usage.scored_tokens += sum(len(x) for x in out)
        self.usage.score_seconds += time.perf_counter() - start
        self.usage.calls += 1
        return out

    def has_completions(self) -> bool:
        """Whether the server answers plain-text ``/completions`` (probed once, with one token): a
        prefill prompt goes there; a server that refuses it (400, 404, 405, 501) offers chat only."""
        if self._completions is None:
            client = self.client.with_options(max_retries=0)
            try:
                self._call("/completions", lambda: client.completions.create(
                    model=self.model, prompt="Once", max_tokens=1, temperature=0.0), tries=1)
                self._completions = True
            except BackendError as exc:
                if not re.search(r" answered (400|404|405|501):", str(exc)):
                    raise
                self._completions = False
        return self._completions

    # -- requests ------------------------------------------------------------------------------
    def _sample_one(self, prompt: str, max_tokens: int, temperature: float, top_p: float, seed: int,
                    stop: Sequence[str]) -> Sample:
        args: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens, "temperature": temperature,
                                "top_p": top_p, "seed": seed}
        if stop:
            args["stop"] = list(stop)
        if isinstance(prompt, ChatPrompt):
            answer = self._call("/chat/completions", lambda: self.client.chat.completions.create(
                messages=list(prompt.messages), logprobs=True, top_logprobs=1, **args))
            choice = self._choice(answer)
            text = (choice.message.content if choice.message else "") or ""
            content = (choice.logprobs.content if choice.logprobs else None) or []
            lps = [float(t.logprob) for t in content if t.logprob is not None]
        else:
            answer = self._call("/completions", lambda: self.client.completions.create(
                prompt=str(prompt), logprobs=1, **args))
            choice = self._choice(answer)
            text = choice.text or ""
            lps = [float(x) for x in ((choice.logprobs.token_logprobs if choice.logprobs else None) or [])
                   if x is not None]
        finished = choice.finish_reason not in ("length", None)
        return Sample(text=text, token_ids=(), logprobs=tuple(lps), finished=finished)

    def _score_one(self, context: str, continuation: str) -> list[float]:
        if not continuation:
            return []
        prefix = self.cfg.score_prefix
        answer = self._call("/completions", lambda: self.client.completions.create(
            model=self.model, prompt=prefix + context + continuation, max_tokens=1, temperature=0.0, echo=True,
            logprobs=0))
        lp = self._choice(answer).logprobs
        offsets = lp.text_offset if lp else None
        values = lp.token_logprobs if lp else None
        # offsets count from the prompt's start, after the BOS text when the server hides it
        shown = "".join((lp.tokens if lp else None) or [])
        lead = prefix if prefix and shown.startswith(prefix) else ""
        if not offsets or not values or len(offsets) != len(values):
            raise BackendError(
                f"{self.base} returns no prompt log-probs (completions with echo + logprobs): it cannot score"
                " text; use a server that does (vLLM, llama-cpp-python with --logits_all true)"
            )
        start = len(lead) + len(context)
        end = start + len(continuation)
        picked = []
        for k, (off, value) in enumerate(zip(offsets, values)):
            nxt = offsets[k + 1] if k + 1 < len(offsets) else None
            if off >= end:
                break  # the generated token
            # a token that straddles the boundary belongs to the continuation
            if off >= start or (nxt is not None and nxt > start):
                if value is None:
                    raise BackendError(f"{self.base} gave no log-prob for a prompt token; cannot score")
                picked.append(float(value))
        return picked

    @staticmethod
    def _choice(answer: Any) -> Any:
        choices = getattr(answer, "choices", None)
        if not choices:
            raise BackendError(f"server answer without choices: {str(answer)[:200]}")
        return choices[0]

    def _call(self, path: str, request: Any, tries: int | None = None) -> Any:
        """Run one client request; its failures become one-line ``BackendError``s."""
        import openai

        url = self.base + path if path.startswith("/") else path
        tries = self.cfg.retries + 1 if tries is None else tries
        try:
            return request()
        except openai.APIStatusError as exc:
            detail = _detail(exc)
            if exc.status_code in RETRY_STATUS:
                raise BackendError(f"{url} failed {tries} times; last: HTTP {exc.status_code}: {detail}") from None
            raise BackendError(f"{url} answered {exc.status_code}: {detail}") from None
        except openai.APITimeoutError:
            raise BackendError(f"{url} failed {tries} times; last: timed out after {self.cfg.timeout_s} s") from None
        except openai.APIConnectionError as exc:
            raise BackendError(f"{url} failed {tries} times; last: {_root_cause(exc)}") from None
        except openai.OpenAIError as exc:
            raise BackendError(f"{url}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None

    def _post_url(self, url: str, body: dict[str, Any]) -> Any:
        """A POST outside the OpenAI API (a server's tokenizer), tried once."""
        client = self.client.with_options(max_retries=0)
        return self._call(url, lambda: client.post(url, body=body, cast_to=object), tries=1)

    def _probe_tokenize(self) -> str | None:
        parts = urlsplit(self.base)
        root = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        for url in (root + "/extras/tokenize", root + "/tokenize"):
            try:
                body = self._post_url(url, {"input": "a b", "prompt": "a b", "model": self.model})
            except BackendError:
                continue
            if isinstance(body, dict) and (isinstance(body.get("tokens"), list) or isinstance(body.get("count"), int)):
                return url
        return None


def _detail(exc: Any) -> str:
    """The server's own error message, one line."""
    body = getattr(exc, "body", None)
    msg = body.get("message", body.get("detail", body)) if isinstance(body, dict) else body
    text = str(msg) if msg else str(getattr(exc, "message", "") or exc)
    return (text.strip().splitlines() or [""])[0][:200]


def _root_cause(exc: BaseException) -> str:
    """``ConnectionRefusedError: [Errno 111] Connection refused`` from a chain of wrapped errors."""
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
    return f"{type(seen).__name__}: {seen}".splitlines()[0]
