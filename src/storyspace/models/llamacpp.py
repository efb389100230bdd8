"""llama.cpp backend (``llamacpp:FILE.gguf``, ``llamacpp:embedded``) through llama-cpp-python.

One llama.cpp context holds many sequences (a unified KV cache), so a call decodes all its rows
together: the prompts' new tokens in one batch, then one token per live row per step. Logits
are read at the positions we ask for (never ``echo``/``logits_all``), tokens are drawn in numpy
(``models/sampling.py``: exact nucleus, one uniform per token by inverse CDF; the transformers
backend draws with torch, so the same seed gives different samples on the two backends), and
scoring asks for the logits of the continuation positions only.

Prefix reuse by KV-cache truncation: sequence ids come in banks of ``max_rows``; a call writes
into the oldest bank, first copying into each of its rows the longest cached prefix of its
prompt from the banks of the previous calls (``llama_memory_seq_cp`` of positions [0, l)), so
only the new suffix is evaluated. Keeping the last ``banks - 1`` calls lets a policy call and a
reader call alternate on one model without evicting each other.

llama-cpp-python is pinned (0.3.36): its low-level API (``llama_cpp.llama_*``) moves between
releases.
"""

from __future__ import annotations

import ctypes
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from storyspace.errors import UserError
from storyspace.models.base import Sample, Segments, Usage, cut_at_stop, encode_segments
from storyspace.models.sampling import choose, log_softmax, row_rng


@dataclass(frozen=True)
class LlamaCppConfig:
    """- ``n_ctx``: KV-cache cells shared by every sequence of the context (unified cache).
    - ``max_rows``: sequences decoded together in one call (larger calls are split).
    - ``banks``: how many calls' caches are kept for prefix reuse (>= 2).
    - ``n_batch``: most tokens per ``llama_decode``.
    - ``n_ubatch``: most tokens llama.cpp computes at once inside a ``llama_decode`` (its
      micro-batch); 0 (the default) picks by ``prefix_cache``. With the prefix cache on it is 32:
      with micro-batches of 64 tokens or more llama.cpp's CPU backend changes matrix kernels, and
      a prefix's logits then depended on how it was computed (one prefill, a cached prefix plus a
      suffix, one token at a time; total variation 0.02-0.04, results/bench/llamacpp_paths.txt),
      so what the cache held changed the tree. Without the prefix cache every call computes its
      prompts from nothing, the same way each time, and the micro-batch is 128: prompts
      prefill ~1.4x faster on 2 cores (Qwen2.5-Coder-1.5B, results/bench/writer_speed.md),
      and a call is still a function of its inputs.
    - ``n_threads``: 0 = the cores this process may use.
    - ``prefix_cache``: keep the KV of earlier calls and re-use their longest common prefix.
      Off (the default), every call starts from an empty cache. With it on, where a call's new
      tokens land among the cache's cells depends on every call before it, and the attention
      sums over those cells in cell order: a resumed explore, which starts with an empty cache,
      then reads a little differently from the uninterrupted one (a kill -9 at 4 or at 13 of 31
      nodes: 25 of 31 nodes alike, issue #43). Off, each call is a function of its inputs alone,
      and a resumed run ends with the uninterrupted run's tree wherever it was killed."""

    n_ctx: int = 16384
    max_rows: int = 16
    banks: int = 3
    n_batch: int = 1024
    n_ubatch: int = 0
    n_threads: int = 0
    prefix_cache: bool = False

    @property
    def micro_batch(self) -> int:
        """``n_ubatch`` as used: the setting, or by ``prefix_cache`` where it is 0."""
        if self.n_ubatch:
            return self.n_ubatch
        return 32 if self.prefix_cache else 128


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _import():
    try:
        import llama_cpp
        from llama_cpp import _internals
    except ImportError as exc:
        raise UserError(
            "the llama.cpp backend needs llama-cpp-python (make install-llamacpp, or"
            " pip install llama-cpp-python==0.3.36)"
        ) from exc
    return llama_cpp, _internals


class LlamaCppModel:
    """A GGUF model run by llama.cpp; implements ``LanguageModel``."""

    def __init__(self, spec: str, path: Path, cfg: LlamaCppConfig = LlamaCppConfig()) -> None:
        llama_cpp, internals = _import()
        if cfg.banks < 2 or cfg.max_rows < 1:
            raise UserError("llama.cpp backend: banks must be >= 2 and max_rows >= 1")
        self.spec = spec
        self.path = Path(path)
        self.cfg = cfg
        self.usage = Usage()
        self._ll = llama_cpp
        _silence_logs(llama_cpp)
        try:
            self._model = internals.LlamaModel(
                path_model=str(self.path), params=llama_cpp.llama_model_default_params(), verbose=False
            )
        except ValueError as exc:
            raise UserError(f"llama.cpp cannot load {self.path}: {exc}") from exc
        threads = cfg.n_threads or cores()
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = cfg.n_ctx
        params.n_batch = cfg.n_batch
        params.n_ubatch = min(cfg.n_batch, cfg.micro_batch)
        params.n_seq_max = cfg.max_rows * cfg.banks
        params.n_threads = threads
        params.n_threads_batch = threads
        params.kv_unified = True
        params.no_perf = True
        self._ctx = internals.LlamaContext(model=self._model, params=params, verbose=False)
        self._mem = llama_cpp.llama_get_memory(self._ctx.ctx)
        self._batch = llama_cpp.llama_batch_init(cfg.n_batch, 0, 1)
        self._n_vocab = self._model.n_vocab()
        self._vocab = self._model.vocab
        self._bank = 0
        self._cached: dict[int, list[int]] = {}  # seq id -> tokens whose KV it holds
        self._meta = self._model.metadata()
        self._template = self._meta.get("tokenizer.chat_template")
        self._adds_bos = bool(self._model.add_bos_token())
        self.threads = threads

    def close(self) -> None:
        """Free the batch, the context and the model (also done when the object is collected)."""
        if getattr(self, "_batch", None) is not None:
            self._ll.llama_batch_free(self._batch)
            self._batch = None
        if getattr(self, "_ctx", None) is not None:
            self._ctx.close()
        if getattr(self, "_model", None) is not None:
            self._model.close()

    def reset_cache(self) -> None:
        """Forget every cached prefix and clear the KV cache: what the next calls compute depends
        on nothing computed before. (With ``n_ubatch`` >= 64 re-used prefixes were computed by
        another CPU kernel than a fresh prefill, total variation ~0.02-0.04 between the
        next-token distributions, results/bench/llamacpp_paths.txt; a reading that must be a
        function of its text alone, such as eval's independent reader on any number of Ray
        workers, starts with this. With the prefix cache and its micro-batch of 32 it changes no reading.)"""
        self._ll.llama_memory_clear(self._mem, True)
        self._cached.clear()
        self._bank = 0

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to free into
            pass

    # -- protocol ----------------------------------------------------------------------------
    @property
    def context_length(self) -> int:
        return min(self._model.n_ctx_train(), self.cfg.n_ctx)

    def count_tokens(self, text: str) -> int:
        return len(self.encode_prefix(text))

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> str:
        if not self._template:
            return "\n\n".join(m["content"] for m in messages) + "\n\n"
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        eos = self._piece(self._model.token_eos())
        bos = self._piece(self._model.token_bos())
        formatter = Jinja2ChatFormatter(template=self._template, eos_token=eos, bos_token=bos,
                                        add_generation_prompt=True)
        return formatter(messages=list(messages)).prompt

    def encode_prefix(self, text: str) -> list[int]:
        if isinstance(text, Segments):  # part by part, as the transformers backend does
            return encode_segments(text, self.encode_prefix, self.encode_continuation)
        return self._model.tokenize(text.encode("utf-8"), add_bos=self._adds_bos, special=True)

    def encode_continuation(self, text: str) -> list[int]:
        return self._model.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def decode(self, tokens: Sequence[int]) -> str:
        return self._model.detokenize(list(tokens)).decode("utf-8", errors="replace")

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
        per_call = max(1, self.cfg.max_rows // n)
        results: list[list[Sample]] = []
        for lo in range(0, len(prompts), per_call):
            chunk = [self.encode_prefix(p) for p in prompts[lo : lo + per_call]]
            results += self._sample_chunk(chunk, n, max_tokens, temperature, seeds[lo : lo + per_call], top_p, stop)
        self.usage.sample_seconds += time.perf_counter() - start
        self.usage.calls += 1
        return results

    def logprobs(self, context: str, continuations: Sequence[str]) -> list[list[float]]:
        if not continuations:
            return []
        start = time.perf_counter()
        ctx = self.encode_prefix(context)
        conts = [self.encode_continuation(c) for c in continuations]
        out: list[list[float]] = []
        for lo in range(0, len(conts), self.cfg.max_rows):
            out += self._score_chunk(ctx, conts[lo : lo + self.cfg.max_rows])
        self.usage.scored_tokens += sum(len(c) for c in conts)
        self.usage.score_seconds += time.perf_counter() - start
        self.usage.calls += 1
        return out

    # -- the work ----------------------------------------------------------------------------
    def _sample_chunk(
        self, prompts: list[list[int]], n: int, max_tokens: int, temperature: float,
        seeds: Sequence[int], top_p: float, stop: Sequence[str],
    ) -> list[list[Sample]]:
        rows = len(prompts) * n
        last = self._prefill(prompts, n)
        logits = np.stack([last[i // n] for i in range(rows)])
        seqs = [self._row_seq(i // n, i % n, n) for i in range(rows)]
        rngs = [row_rng(seeds[i // n], i % n) for i in range(rows)]
        pos = [len(prompts[i // n]) for i in range(rows)]
        tokens: list[list[int]] = [[] for _ in range(rows)]
        lps: list[list[float]] = [[] for _ in range(rows)]
        ended = [False] * rows
        live = list(range(rows))
        for step in range(max_tokens):
            chosen, chosen_lp = choose(logits, temperature, top_p, [rngs[r] for r in live])
            still = []
            for k, r in enumerate(live):
                t = chosen[k]
                if self._ll.llama_vocab_is_eog(self._vocab, t):
                    ended[r] = True
                    continue
                tokens[r].append(t)
                lps[r].append(chosen_lp[k])
                if stop and any(s in self.decode(tokens[r][-12:]) for s in stop if s):
                    ended[r] = True
                    continue
                still.append(r)
            live = still
            if not live or step == max_tokens - 1:
                break
            entries = [(seqs[r], pos[r], tokens[r][-1], True) for r in live]
            got = self._decode(entries)
            for r in live:
                pos[r] += 1
            logits = np.stack(got)
        for r in range(rows):  # what each row's KV now holds: the prompt and the decoded tokens
            p = prompts[r // n]
            self._cached[seqs[r]] = p + tokens[r][: pos[r] - len(p)]
        out = []
        for i in range(len(prompts)):
            group = []
            for j in range(n):
                r = i * n + j
                toks, lp = tokens[r], lps[r]
                text = self.decode(toks)
                if stop:
                    text, toks, lp = cut_at_stop(text, toks, lp, stop, self.decode)
                self.usage.generated_tokens += len(toks)
                group.append(Sample(text=text, token_ids=tuple(toks), logprobs=tuple(lp), finished=ended[r]))
            out.append(group)
        return out

    def _score_chunk(self, ctx: list[int], conts: list[list[int]]) -> list[list[float]]:
        b = len(conts)
        first = log_softmax(self._prefill([ctx], b)[0])
        entries, where = [], []
        for j, c in enumerate(conts):
            seq = self._row_seq(0, j, b)
            for t, tok in enumerate(c[:-1]):  # the logits after the last token are not needed
                entries.append((seq, len(ctx) + t, tok, True))
                where.append((j, t))
            self._cached[seq] = ctx + c[:-1]
        got = self._decode(entries) if entries else []
        result: list[list[float]] = [[float(first[c[0]])] if c else [] for c in conts]
        if got:
            rows = np.stack(got)
            targets = np.array([conts[j][t + 1] for j, t in where])
            lps = rows[np.arange(len(where)), targets] - _row_logsumexp(rows)
            for (j, _t), lp in zip(where, lps.tolist()):
                result[j].append(lp)
        return result

    def _row_seq(self, prompt: int, j: int, n: int) -> int:
        return self._bank * self.cfg.max_rows + prompt * n + j

    def _prefill(self, prompts: list[list[int]], fanout: int) -> list[np.ndarray]:
        """Put each prompt in rows ``prompt * fanout + j`` of a fresh bank, re-using cached
        prefixes; returns the logits after each prompt's last token."""
        ll, mem = self._ll, self._mem
        if len(prompts) * fanout > self.cfg.max_rows:
            raise ValueError("too many rows for one call")
        if not self.cfg.prefix_cache:
            self.reset_cache()
        bank = (self._bank + 1) % self.cfg.banks
        base = bank * self.cfg.max_rows
        for s in range(base, base + self.cfg.max_rows):  # the oldest bank is overwritten
            ll.llama_memory_seq_rm(mem, s, 0, -1)
            self._cached.pop(s, None)
        self._bank = bank
        entries = []
        for i, toks in enumerate(prompts):
            if len(toks) >= self.context_length:
                raise UserError(f"prompt of {len(toks)} tokens does not fit the context ({self.context_length})")
            lead = base + i * fanout
            src, keep = None, 0
            for s, cached in self._cached.items():
                lcp = _common_prefix(cached, toks)
                if lcp > keep:
                    src, keep = s, lcp
            keep = min(keep, len(toks) - 1)  # evaluate at least the last token (its logits)
            if src is not None and keep > 0:
                ll.llama_memory_seq_cp(mem, src, lead, 0, keep)
            for p in range(keep, len(toks)):
                entries.append((lead, p, toks[p], p == len(toks) - 1))
        got = self._decode(entries)
        for i, toks in enumerate(prompts):
            lead = base + i * fanout
            self._cached[lead] = list(toks)
            for j in range(1, fanout):
                ll.llama_memory_seq_cp(mem, lead, lead + j, 0, -1)
                self._cached[lead + j] = list(toks)
        return got

    def _decode(self, entries: list[tuple[int, int, int, bool]]) -> list[np.ndarray]:
        """Decode (seq, pos, token, want_logits) entries in chunks of n_batch; returns the
        logits of the entries that asked for them, in order."""
        out: list[np.ndarray] = []
        ll, batch = self._ll, self._batch
        for lo in range(0, len(entries), self.cfg.n_batch):
            part = entries[lo : lo + self.cfg.n_batch]
            batch.n_tokens = len(part)
            wanted = []
            for k, (seq, pos, tok, want) in enumerate(part):
                batch.token[k] = tok
                batch.pos[k] = pos
                batch.n_seq_id[k] = 1
                batch.seq_id[k][0] = seq
                batch.logits[k] = want
                if want:
                    wanted.append(k)
            code = ll.llama_decode(self._ctx.ctx, batch)
            if code != 0:
                raise RuntimeError(
                    f"llama_decode returned {code} (KV cache full? raise LlamaCppConfig.n_ctx, now {self.cfg.n_ctx})"
                )
            if wanted:  # the output rows, in batch order, contiguous: one copy
                block = np.ctypeslib.as_array(ll.llama_get_logits(self._ctx.ctx), shape=(len(wanted), self._n_vocab))
                out.extend(block.copy())
        return out

    def _piece(self, token: int) -> str:
        if token < 0:
            return ""
        return self._model.token_get_text(token)


def _row_logsumexp(rows: np.ndarray) -> np.ndarray:
    m = rows.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(rows - m).sum(axis=1, keepdims=True)))[:, 0]


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _silent(level, text, user_data):  # noqa: ANN001, ANN202
    return None


_LOG_CALLBACK: list = []  # llama.cpp keeps the pointer: the callback must live as long as the process


def _silence_logs(llama_cpp) -> None:  # noqa: ANN001
    if not _LOG_CALLBACK:
        _LOG_CALLBACK.append(llama_cpp.llama_log_callback(_silent))
    llama_cpp.llama_log_set(_LOG_CALLBACK[0], ctypes.c_void_p(0))
