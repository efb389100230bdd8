"""transformers backend: batched sampling with per-token log-probs and prefix-cached scoring.

Runs on CPU (float32) or GPU (bfloat16); this is also the model class the training path uses.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import torch

from storyspace.errors import UserError
from storyspace.models.base import Sample, Segments, Usage, cut_at_stop, encode_segments


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class HFModel:
    """A causal LM loaded with transformers (``hf:DIR``, a converted GGUF, or ``embedded``)."""

    def __init__(self, spec: str, model, tokenizer, device: torch.device) -> None:  # noqa: ANN001
        self.spec = spec
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.device = device
        self.usage = Usage()
        eos = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
        gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        if isinstance(gen_eos, int):
            eos.add(gen_eos)
        elif isinstance(gen_eos, (list, tuple)):
            eos.update(gen_eos)
        self._eos = sorted(eos)
        self._pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (self._eos or [0])[0]
        self._adds_bos = _tokenizer_adds_bos(tokenizer)

    # -- loading -----------------------------------------------------------------------------
    @classmethod
    def from_dir(cls, spec: str, path: Path, device: str = "auto", dtype: str = "auto") -> "HFModel":
        from transformers import AutoModelForCausalLM, AutoTokenizer

        dev = pick_device(device)
        torch_dtype = _pick_dtype(dtype, dev)
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot load model from {path}: {_first_line(exc)}") from exc
        return cls(spec, model, tokenizer, dev)

    # -- protocol ----------------------------------------------------------------------------
    @property
    def context_length(self) -> int:
        cfg = self.model.config
        return int(getattr(cfg, "max_position_embeddings", None) or 2048)

    def count_tokens(self, text: str) -> int:
        return len(self.encode_prefix(text))

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                list(messages), tokenize=False, add_generation_prompt=True
            )
        # A base model: plain text, one paragraph per message, then the answer.
        return "\n\n".join(m["content"] for m in messages) + "\n\n"

    def encode_prefix(self, text: str) -> list[int]:
        """Token ids of a text that starts a sequence (BOS added when the tokenizer uses one);
        ``Segments`` part by part."""
        if isinstance(text, Segments):
            return encode_segments(text, self.encode_prefix, self.encode_continuation)
        ids = self.tokenizer(text, add_special_tokens=False).input_ids
        bos = self.tokenizer.bos_token_id
        if self._adds_bos and bos is not None and (not ids or ids[0] != bos):
            ids = [bos, *ids]
        return ids

    def encode_continuation(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids

    @torch.inference_mode()
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
        encoded = [self.encode_prefix(p) for p in prompts]
        ids, mask = _left_pad(encoded, self._pad, self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1
        )
        cache = out.past_key_values
        logits = out.logits[:, -1, :].float()
        if n > 1:  # share the prompt's KV cache among its n samples
            cache.batch_repeat_interleave(n)
            logits = logits.repeat_interleave(n, dim=0)
            mask = mask.repeat_interleave(n, dim=0)
            positions = positions.repeat_interleave(n, dim=0)
        rows = len(prompts) * n
        generators = []
        for i in range(len(prompts)):
            for j in range(n):
                g = torch.Generator(device="cpu")
                g.manual_seed((int(seeds[i]) * 1_000_003 + j) % (2**63 - 1))
                generators.append(g)
        tokens: list[list[int]] = [[] for _ in range(rows)]
        token_lps: list[list[float]] = [[] for _ in range(rows)]
        done = [False] * rows
        ended = [False] * rows
        eos = torch.tensor(self._eos, dtype=torch.long, device=self.device) if self._eos else None
        next_pos = positions[:, -1:] + 1
        for _step in range(max_tokens):
            chosen, chosen_lp = self._choose(logits, temperature, top_p, generators)
            for r in range(rows):
                if done[r]:
                    continue
                t = int(chosen[r])
                if eos is not None and t in self._eos:
                    done[r] = ended[r] = True
                    continue
                tokens[r].append(t)
                token_lps[r].append(float(chosen_lp[r]))
                if stop and _hits_stop(self.tokenizer.decode(tokens[r][-12:]), stop):
                    done[r] = ended[r] = True
            if all(done):
                break
            step_ids = chosen.view(rows, 1).to(self.device)
            mask = torch.cat([mask, torch.ones((rows, 1), dtype=mask.dtype, device=self.device)], dim=1)
            out = self.model(
                input_ids=step_ids,
                attention_mask=mask,
                position_ids=next_pos,
                past_key_values=cache,
                use_cache=True,
            )
            cache = out.past_key_values
            logits = out.logits[:, -1, :].float()
            next_pos = next_pos + 1
        results: list[list[Sample]] = []
        for i in range(len(prompts)):
            group = []
            for j in range(n):
                r = i * n + j
                toks, lps = tokens[r], token_lps[r]
                text = self.tokenizer.decode(toks, skip_special_tokens=True)
                if stop:
                    text, toks, lps = cut_at_stop(
                        text, toks, lps, stop, lambda t: self.tokenizer.decode(t, skip_special_tokens=True)
                    )
                group.append(Sample(text=text, token_ids=tuple(toks), logprobs=tuple(lps), finished=ended[r]))
                self.usage.generated_tokens += len(toks)
            results.append(group)
        self.usage.sample_seconds += time.perf_counter() - start
        self.usage.calls += 1
        return results

    @torch.inference_mode()
    def logprobs(self, context: str, continuations: Sequence[str]) -> list[list[float]]:
        if not continuations:
            return []
        start = time.perf_counter()
        conts = [self.encode_continuation(c) for c in continuations]
        result = self._score_rows(self.encode_prefix(context), conts)
        self.usage.scored_tokens += sum(len(c) for c in conts)
        self.usage.score_seconds += time.perf_counter() - start
        self.usage.calls += 1
        return result

    @torch.inference_mode()
    def tail_logprobs(self, context: str, heads: Sequence[str], tail: str, target: str) -> list[list[float]]:
        """Per head: the log-probs of ``target`` after ``context + head + tail``, in one batched
        pass over the shared context (each part encoded on its own, as ``Segments``)."""
        if not heads:
            return []
        start = time.perf_counter()
        goal = self.encode_continuation(target)
        after = self.encode_continuation(tail) + goal
        n = len(goal)
        rows = [self.encode_continuation(h) + after for h in heads]
        result = [r[len(r) - n :] for r in self._score_rows(self.encode_prefix(context), rows)]
        self.usage.scored_tokens += sum(len(r) for r in rows)
        self.usage.score_seconds += time.perf_counter() - start
        self.usage.calls += 1
        return result

    @torch.inference_mode()
    def _score_rows(self, ctx: list[int], conts: list[list[int]]) -> list[list[float]]:
        """Per-token log-probs of each row of token ids after the context's ids (its KV cache
        computed once and shared by the rows)."""
        ctx_ids = torch.tensor([ctx], dtype=torch.long, device=self.device)
        out = self.model(input_ids=ctx_ids, use_cache=True, logits_to_keep=1)
        first = torch.log_softmax(out.logits[0, -1, :].float(), dim=-1)
        cache = out.past_key_values
        b = len(conts)
        longest = max(1, max(len(c) for c in conts))
        cont_ids = torch.full((b, longest), self._pad, dtype=torch.long, device=self.device)
        cont_mask = torch.zeros((b, longest), dtype=torch.long, device=self.device)
        for r, c in enumerate(conts):
            if c:
                cont_ids[r, : len(c)] = torch.tensor(c, dtype=torch.long)
                cont_mask[r, : len(c)] = 1
        if b > 1:
            cache.batch_repeat_interleave(b)
        mask = torch.cat([torch.ones((b, len(ctx)), dtype=torch.long, device=self.device), cont_mask], dim=1)
        positions = torch.arange(len(ctx), len(ctx) + longest, device=self.device).expand(b, -1)
        out2 = self.model(
            input_ids=cont_ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=False
        )
        logp = torch.log_softmax(out2.logits.float(), dim=-1)
        result = []
        for r, c in enumerate(conts):
            if not c:
                result.append([])
                continue
            lps = [float(first[c[0]])]
            if len(c) > 1:
                idx = torch.tensor(c[1:], dtype=torch.long, device=self.device)
                lps += logp[r, : len(c) - 1].gather(-1, idx[:, None]).squeeze(-1).tolist()
            result.append(lps)
        return result

    @torch.inference_mode()
    def chain_logprobs(self, context: str, passages: Sequence[str], separator: str) -> list[list[float]]:
        """Per-token log-probs of each passage after the context and the passages before it
        (joined by ``separator``), read from one forward pass over the whole text: the linear-time
        form of calling ``logprobs(context + sep.join(passages[:k]) + sep, [passages[k]])`` for
        every k. Tokens are the same as there: the context as a prefix, each passage and each
        separator encoded on their own."""
        if not passages:
            return []
        start = time.perf_counter()
        ids, spans = self._encode_chain(context, passages, separator)
        if len(ids) > self.context_length:
            raise UserError(f"text of {len(ids)} tokens does not fit the reader's context ({self.context_length})")
        x = torch.tensor([ids], dtype=torch.long, device=self.device)
        logits = self.model(input_ids=x, use_cache=False).logits[0].float()
        logp = torch.log_softmax(logits, dim=-1)
        target = torch.tensor(ids[1:], dtype=torch.long, device=self.device)
        per_token = logp[:-1].gather(-1, target[:, None]).squeeze(-1).tolist()  # per_token[i]: token i + 1
        out = [per_token[a - 1 : b - 1] for a, b in spans]
        self.usage.scored_tokens += sum(b - a for a, b in spans)
        self.usage.score_seconds += time.perf_counter() - start
        self.usage.calls += 1
        return out

    def _encode_chain(self, context: str, passages: Sequence[str],
                      separator: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids of the context (as a prefix) and the passages joined by the separator (each
        encoded on its own), with each passage's span of positions."""
        ids = self.encode_prefix(context)
        if not ids:
            raise ValueError("a chain needs a non-empty context")
        sep = self.encode_continuation(separator)
        spans = []
        for k, passage in enumerate(passages):
            if k:
                ids += sep
            toks = self.encode_continuation(passage)
            spans.append((len(ids), len(ids) + len(toks)))
            ids += toks
        return ids, spans

    @torch.inference_mode()
    def chain_tail_logprobs(self, context: str, passages: Sequence[str], separator: str, tail: str,
                            target: str) -> list[list[float]]:
        """Per step k: the log-probs of ``target`` after ``context + separator.join(passages[:k+1])
        + tail``, in time linear in the story: one pass over the whole text, then every step's
        ``tail + target`` as one batched row that sees the text only up to the end of its step
        (attention mask) at the positions that follow that step."""
        if not passages:
            return []
        start = time.perf_counter()
        ids, spans = self._encode_chain(context, passages, separator)
        ends = [b for _, b in spans]
        goal = self.encode_continuation(target)
        row = self.encode_continuation(tail) + goal
        n = len(goal)
        if len(ids) + len(row) > self.context_length:
            raise UserError(f"text of {len(ids) + len(row)} tokens does not fit the reader's context "
                            f"({self.context_length})")
        out = self.model(input_ids=torch.tensor([ids], dtype=torch.long, device=self.device), use_cache=True,
                         logits_to_keep=1)
        cache = out.past_key_values
        b, width = len(ends), len(row)
        if b > 1:
            cache.batch_repeat_interleave(b)
        mask = torch.zeros((b, len(ids) + width), dtype=torch.long, device=self.device)
        for r, end in enumerate(ends):
            mask[r, :end] = 1
        mask[:, len(ids):] = 1
        positions = torch.tensor([[end + i for i in range(width)] for end in ends], dtype=torch.long,
                                 device=self.device)
        rows = torch.tensor([row] * b, dtype=torch.long, device=self.device)
        logits = self.model(input_ids=rows, attention_mask=mask, position_ids=positions, past_key_values=cache,
                            use_cache=False).logits.float()
        logp = torch.log_softmax(logits[:, width - n - 1 : width - 1], dim=-1)
        idx = torch.tensor(row[width - n :], dtype=torch.long, device=self.device)
        result = logp.gather(-1, idx.expand(b, -1)[..., None]).squeeze(-1).tolist()
        self.usage.scored_tokens += b * width
        self.usage.score_seconds += time.perf_counter() - start
        self.usage.calls += 1
        return result

    # -- helpers -----------------------------------------------------------------------------
    def _choose(
        self, logits: torch.Tensor, temperature: float, top_p: float, generators: list[torch.Generator]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Next token per row (Gumbel-max with a per-row generator) and its temperature-1 log-prob."""
        logp = torch.log_softmax(logits, dim=-1)
        if temperature <= 0:
            chosen = logits.argmax(dim=-1)
        else:
            scaled = torch.log_softmax(logits / temperature, dim=-1)
            if top_p < 1.0:
                scaled = _top_p_mask(scaled, top_p)
            noise = torch.stack(
                [torch.rand(logits.shape[-1], generator=g).clamp_(1e-20, 1.0) for g in generators]
            ).to(logits.device)
            chosen = (scaled - torch.log(-torch.log(noise))).argmax(dim=-1)
        chosen_lp = logp.gather(-1, chosen[:, None]).squeeze(-1)
        return chosen.cpu(), chosen_lp.cpu()


def _hits_stop(tail: str, stop: Sequence[str]) -> bool:
    return any(s and s in tail for s in stop)


def _top_p_mask(logp: torch.Tensor, top_p: float, candidates: int = 1024) -> torch.Tensor:
    """Mask tokens outside the nucleus (smallest set of most likely tokens with mass >= top_p).

    Exact, but fast: the nucleus is looked for among the ``candidates`` most likely tokens (a
    top-k, not a full-vocabulary sort) and the full sort is used only for rows where those
    candidates hold less than ``top_p`` of the mass.
    """
    k = min(candidates, logp.shape[-1])
    top_lp, top_idx = logp.topk(k, dim=-1)
    probs = top_lp.exp()
    if bool((probs.sum(-1) < top_p).any()):
        top_lp, top_idx = logp.sort(dim=-1, descending=True)
        probs = top_lp.exp()
    keep_sorted = probs.cumsum(dim=-1) - probs <= top_p  # keep the token that crosses top_p
    keep = torch.zeros_like(logp, dtype=torch.bool).scatter(-1, top_idx, keep_sorted)
    return logp.masked_fill(~keep, float("-inf"))


def _left_pad(seqs: list[list[int]], pad: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), longest), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), longest), dtype=torch.long)
    for r, s in enumerate(seqs):
        if s:
            ids[r, longest - len(s) :] = torch.tensor(s, dtype=torch.long)
            mask[r, longest - len(s) :] = 1
    return ids.to(device), mask.to(device)


def _tokenizer_adds_bos(tokenizer) -> bool:  # noqa: ANN001
    bos = tokenizer.bos_token_id
    if bos is None:
        return False
    ids = tokenizer("a").input_ids
    return bool(ids) and ids[0] == bos


def _pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    try:
        return getattr(torch, dtype)
    except AttributeError as exc:
        raise UserError(f"unknown dtype {dtype!r}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
