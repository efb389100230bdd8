"""Issue #16, item 1: does a value head on the reader's hidden states order stories better than the
value's hand-made features? A measurement, not yet part of the value model.

    .venv/bin/python experiments/hidden_head.py read --out hidden.npz     # the reader's pass (~15 min here)
    .venv/bin/python experiments/hidden_head.py fit hidden.npz > results/value/hidden_head.md

Data (all texts cut into steps of whole sentences of ~64 reader tokens, ``story.split_steps``):
- sources: the 96 HANNA human stories (shipped) and the 576 LLM stories of ``../shared/data/hanna``
  (6 generators x 96 prompts), 672 stories;
- ``story`` pairs: each story's opening (160 words) against its 8 contrast corruptions
  (``storyspace.contrast``, committed before any fitting; the "other" story of a splice or an
  off-prompt corruption is the next story of the same source), 5,376 pairs;
- ``step`` pairs: each story's true third step (after two steps) against the 8 corruptions of it,
  read after the same story so far;
- ``hanna`` pairs: two human stories (whole) whose mean HANNA Coherence + Surprise rating differs by
  >= 1 point (as ``fit-value``).

One forward pass of the reader (SmolLM2-135M, float32, transformers) over ``Writing prompt: P\\n\\nStory:\\n``
and the steps; per step: the mean of its tokens' hidden states at a few layers, and the step's
mean surprisal, surprisal SD and share of predictable tokens (the one-pass subset of the value's
features), and the fixed degeneration penalty (``value.penalties``).

Models, all ``V(story) = mean over steps of sigmoid(w . x + b) x penalty`` and Bradley-Terry on
``V`` differences (temperature 10), L2-penalised, 5 folds grouped by prompt (a prompt's human and
LLM stories, corruptions and steps never straddle train and test; a HANNA pair is tested only
when both prompts are in the test fold). ``x``: the one-pass features; the hidden mean of layer L
(standardised; ``--pca`` components); both.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hanna"
STEP_TOKENS, CONTRAST_WORDS, SEED = 64, 160, 0
LAYERS = (8, 16, 24, 30)  # SmolLM2-135M has 30 layers; 30 is the last
POSITION = 2  # step pairs: the true step after two steps


def sources() -> list[tuple[str, list[dict]]]:
    """(source, stories with id, prompt, human_story); LLM stories get the id of their prompt."""
    from storyspace.corpus import human_stories

    human = human_stories()
    by_prompt = {s["prompt"].strip(): s["id"] for s in human}
    out = [("human", human)]
    rows = [json.loads(x) for x in (SHARED / "llm_stories.jsonl").read_text().splitlines() if x.strip()]
    for model in sorted({r["model"] for r in rows}):
        mine = [{"id": by_prompt[r["prompt"].strip()], "prompt": r["prompt"], "human_story": r["story"]}
                for r in rows if r["model"] == model and r["prompt"].strip() in by_prompt]
        out.append((model, sorted(mine, key=lambda s: s["id"])))
    return out


def layers_of(spec: str, depth: int) -> tuple[int, ...]:
    """SmolLM2's read layers, or a quarter, half, three quarters and all of another reader's depth."""
    return LAYERS if spec == "embedded" else tuple(round(depth * k / 4) for k in (1, 2, 3, 4))


class Reader:
    def __init__(self, spec: str = "embedded") -> None:
        import torch

        from storyspace.models.registry import ModelPool
        from storyspace.story import PASSAGE_SEPARATOR, PromptConfig

        torch.set_num_threads(len(os.sched_getaffinity(0)))
        self.torch = torch
        self.pool = ModelPool(device="cpu")
        self.lm = self.pool.get(spec)
        config = self.lm.model.config
        self.layers = layers_of(spec, config.num_hidden_layers)
        self.width = config.hidden_size
        self.prompts = PromptConfig()
        self.sep = self.lm.encode_continuation(PASSAGE_SEPARATOR)
        self.sep_text = PASSAGE_SEPARATOR

    def head(self, premise: str) -> list[int]:
        return self.lm.encode_prefix(self.prompts.reader_header.format(premise=premise.strip()))

    def rows(self, heads: list[list[int]], steps: list[list[str]]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        out = []
        for ids, passages in zip(heads, steps):
            ids, spans = list(ids), []
            for k, p in enumerate(passages):
                if k:
                    ids += self.sep
                toks = self.lm.encode_continuation(p)
                spans.append((len(ids), len(ids) + len(toks)))
                ids += toks
            out.append((ids, spans))
        return out

    def read(self, rows: list[tuple[list[int], list[tuple[int, int]]]], first: int = 0) -> list[list[dict]]:
        """Per row, per span from ``first`` on: pooled hidden states and surprisal statistics."""
        torch = self.torch
        longest = max(len(ids) for ids, _ in rows)
        pad = self.lm.tokenizer.pad_token_id if self.lm.tokenizer.pad_token_id is not None else 0
        x = torch.full((len(rows), longest), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), longest), dtype=torch.long)
        for r, (ids, _) in enumerate(rows):
            x[r, : len(ids)] = torch.tensor(ids)
            mask[r, : len(ids)] = 1
        with torch.inference_mode():  # the body alone; the LM head only where a step's tokens are predicted
            out = self.lm.model.model(input_ids=x, attention_mask=mask, output_hidden_states=True, use_cache=False)
            hs = out.hidden_states
            head = self.lm.model.lm_head
            result = []
            for r, (ids, spans) in enumerate(rows):
                got = []
                for a, b in spans[first:]:
                    if b <= a:
                        got.append({"hidden": None, "lps": []})
                        continue
                    target = torch.tensor(ids[a:b])
                    logp = torch.log_softmax(head(out.last_hidden_state[r, a - 1 : b - 1]).float(), dim=-1)
                    lps = logp.gather(-1, target[:, None]).squeeze(-1).tolist()
                    pooled = np.stack([hs[L][r, a:b].mean(0).numpy() for L in self.layers]).astype(np.float16)
                    got.append({"hidden": pooled, "lps": lps})
                result.append(got)
        return result


    def read_after(self, ctx: list[int], passages: list[str]) -> list[dict]:
        """Each passage after one shared context (its KV cache computed once): pooled hidden states
        and surprisal statistics, as ``read`` gives for a span."""
        torch = self.torch
        conts = [self.lm.encode_continuation(p) for p in passages]
        b, longest = len(conts), max(1, max(len(c) for c in conts))
        pad = self.lm.tokenizer.pad_token_id if self.lm.tokenizer.pad_token_id is not None else 0
        ids = torch.full((b, longest), pad, dtype=torch.long)
        cmask = torch.zeros((b, longest), dtype=torch.long)
        for r, c in enumerate(conts):
            if c:
                ids[r, : len(c)] = torch.tensor(c)
                cmask[r, : len(c)] = 1
        body, head = self.lm.model.model, self.lm.model.lm_head
        with torch.inference_mode():
            first = body(input_ids=torch.tensor([ctx]), use_cache=True)
            cache = first.past_key_values
            first_logp = torch.log_softmax(head(first.last_hidden_state[0, -1]).float(), dim=-1)
            if b > 1:
                cache.batch_repeat_interleave(b)
            mask = torch.cat([torch.ones((b, len(ctx)), dtype=torch.long), cmask], dim=1)
            pos = torch.arange(len(ctx), len(ctx) + longest).expand(b, -1)
            out = body(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache,
                       output_hidden_states=True, use_cache=False)
            got = []
            for r, c in enumerate(conts):
                if not c:
                    got.append({"hidden": None, "lps": []})
                    continue
                lps = [float(first_logp[c[0]])]
                if len(c) > 1:
                    logp = torch.log_softmax(head(out.last_hidden_state[r, : len(c) - 1]).float(), dim=-1)
                    lps += logp.gather(-1, torch.tensor(c[1:])[:, None]).squeeze(-1).tolist()
                pooled = np.stack([out.hidden_states[L][r, : len(c)].mean(0).numpy() for L in self.layers])
                got.append({"hidden": pooled.astype(np.float16), "lps": lps})
        return got


def one_pass_features(lps: list[float], passage: str) -> list[float]:
    from storyspace.story import words
    from storyspace.value.features import predictable_share

    if not lps:
        return [math.nan] * 4
    nll = [-x for x in lps]
    return [statistics.fmean(nll), statistics.pstdev(nll) if len(nll) > 1 else 0.0, predictable_share(lps),
            math.log1p(len(words(passage)))]


def penalty(passage: str, so_far: str, story_text: str) -> float:
    from storyspace.story import ends_sentence
    from storyspace.value.penalties import PenaltyConfig, penalties

    return float(penalties(passage, so_far, not ends_sentence(passage), PenaltyConfig(), story_text)["penalty"])


def read_main(out: Path, limit: int, every: int, spec: str = "embedded", human: int = 96) -> None:
    from storyspace import contrast
    from storyspace.story import split_steps

    reader = Reader(spec)
    count = reader.pool.get("embedded").count_tokens  # every reader reads the same steps
    texts: list[dict] = []  # one per read text: meta + its steps
    hidden: list[np.ndarray] = []
    feats: list[list[float]] = []
    pens: list[float] = []

    def keep(meta: dict, premise: str, passages: list[str], got: list[dict], so_far_steps: list[str]) -> None:
        idx = []
        for k, (p, g) in enumerate(zip(passages, got)):
            before = [*so_far_steps, *passages[:k]] if not meta["kind"] == "step" else so_far_steps
            story_text = "\n\n".join(before)
            empty = np.zeros((len(reader.layers), reader.width), np.float16)
            hidden.append(g["hidden"] if g["hidden"] is not None else empty)
            feats.append(one_pass_features(g["lps"], p))
            pens.append(penalty(p, premise.strip() + "\n" + story_text, story_text) if g["lps"] else 0.0)
            idx.append(len(hidden) - 1)
        texts.append({**meta, "steps": idx})

    start = time.time()
    srcs = sources()
    total = sum(len(s[:human]) if src == "human" else len(s[::every][:limit]) for src, s in srcs)
    done = 0
    for source, stories in srcs:
        stories = stories[:human] if source == "human" else stories[::every][:limit]
        short = contrast.shortened(stories, CONTRAST_WORDS)
        rows = contrast.story_rows(short, SEED)
        by_id: dict[int, list[dict]] = {}
        for r in rows:
            by_id.setdefault(r["id"], []).append(r)
        cases = {c["id"]: c for c in contrast.step_cases(short, STEP_TOKENS, count, SEED, POSITION)}
        for s in stories:
            versions = by_id[s["id"]]
            steps = [split_steps(v["story"], STEP_TOKENS, count) for v in versions]
            ok = [i for i, st in enumerate(steps) if st]
            heads = [reader.head(s["prompt"])] * len(ok)
            got = reader.read(reader.rows(heads, [steps[i] for i in ok]))
            for i, g in zip(ok, got):
                keep({"kind": "story", "source": source, "id": s["id"], "version": versions[i]["version"]},
                     s["prompt"], steps[i], g, [])
            case = cases.get(s["id"])
            if case is not None:
                passages = [case["true"], *(case["corrupted"][k] for k in contrast.CORRUPTIONS)]
                ctx_ids, _ = reader.rows([reader.head(s["prompt"])], [list(case["so_far"])])[0]
                got = reader.read_after(ctx_ids + reader.sep, passages)
                for version, p, g in zip(["original", *contrast.CORRUPTIONS], passages, got):
                    keep({"kind": "step", "source": source, "id": s["id"], "version": version},
                         s["prompt"], [p], [g], list(case["so_far"]))
            if source == "human":  # the whole story, for the rating pairs
                steps = split_steps(s["human_story"], STEP_TOKENS, count)
                got = reader.read(reader.rows([reader.head(s["prompt"])], [steps]))[0]
                ratings = {k: v for k, v in s.items() if k.startswith("human_") and k != "human_story"}
                keep({"kind": "hanna", "source": source, "id": s["id"], "version": "original", "ratings": ratings},
                     s["prompt"], steps, got, [])
            done += 1
            if done % 8 == 0:
                rate = done / (time.time() - start)
                print(f"{done}/{total} stories, {rate * 60:.1f}/min, ~{(total - done) / rate / 60:.1f} min left",
                      file=sys.stderr, flush=True)
    np.savez_compressed(out, hidden=np.stack(hidden), feats=np.array(feats, dtype=np.float64),
                        penalty=np.array(pens), texts=np.array(json.dumps(texts)),
                        layers=np.array(reader.layers), reader=np.array(spec))
    print(f"read {len(texts)} texts, {len(hidden)} steps in {(time.time() - start) / 60:.1f} min -> {out}",
          file=sys.stderr)


def premise_main(out: Path, spec: str = "embedded") -> None:
    """Each prompt's premise read alone (``Writing prompt: P\n\nStory:\n``; a causal reader gives
    these states inside every story of the prompt too): per layer, the mean over the premise's
    tokens and the state of the last token."""
    from storyspace.corpus import human_stories

    reader = Reader(spec)
    torch = reader.torch
    ids, mean, last = [], [], []
    for s in human_stories():
        toks = reader.head(s["prompt"])
        with torch.inference_mode():
            hs = reader.lm.model.model(input_ids=torch.tensor([toks]), output_hidden_states=True).hidden_states
        ids.append(s["id"])
        mean.append(np.stack([hs[L][0].mean(0).numpy() for L in reader.layers]))
        last.append(np.stack([hs[L][0, -1].numpy() for L in reader.layers]))
    np.savez_compressed(out, ids=np.array(ids), mean=np.stack(mean), last=np.stack(last),
                        layers=np.array(reader.layers))
    print(f"{len(ids)} premises -> {out}", file=sys.stderr)


# -- fitting ---------------------------------------------------------------------------------------
def make_pairs(texts: list[dict], min_gap: float = 1.0) -> list[dict]:
    pairs = []
    key = {(t["kind"], t["source"], t["id"], t["version"]): t for t in texts}
    for t in texts:
        if t["kind"] in ("story", "step") and t["version"] != "original":
            orig = key.get((t["kind"], t["source"], t["id"], "original"))
            if orig is not None:
                pairs.append({"kind": t["kind"], "type": t["version"], "source": t["source"], "groups": (t["id"],),
                              "better": orig["steps"], "worse": t["steps"], "weight": 1.0})
    hanna = [t for t in texts if t["kind"] == "hanna"]
    for a, b in itertools.combinations(hanna, 2):
        ra = (a["ratings"]["human_coherence"] + a["ratings"]["human_surprise"]) / 2
        rb = (b["ratings"]["human_coherence"] + b["ratings"]["human_surprise"]) / 2
        if abs(ra - rb) >= min_gap:
            hi, lo = (a, b) if ra > rb else (b, a)
            pairs.append({"kind": "hanna", "type": "rating", "source": "human", "groups": (a["id"], b["id"]),
                          "better": hi["steps"], "worse": lo["steps"], "weight": 1.0})
    return pairs


def design(X: np.ndarray, pairs: list[dict]):  # noqa: ANN201
    """Padded step indices of each side: (n_pairs, longest) index arrays and masks."""
    def side(name: str):  # noqa: ANN202
        longest = max(len(p[name]) for p in pairs)
        idx = np.zeros((len(pairs), longest), dtype=np.int64)
        mask = np.zeros((len(pairs), longest))
        for i, p in enumerate(pairs):
            idx[i, : len(p[name])] = p[name]
            mask[i, : len(p[name])] = 1.0
        return idx, mask
    return side("better"), side("worse")


def fit(X: np.ndarray, pen: np.ndarray, pairs: list[dict], l2: float, temperature: float = 10.0):  # noqa: ANN201
    import torch

    steps = sorted({i for p in pairs for s in (p["better"], p["worse"]) for i in s})
    mu, sd = X[steps].mean(0), X[steps].std(0) + 1e-6
    Z = torch.tensor((X - mu) / sd, dtype=torch.float64)
    P = torch.tensor(pen, dtype=torch.float64)
    (ib, mb), (iw, mw) = design(X, pairs)
    ib, iw = torch.tensor(ib), torch.tensor(iw)
    mb, mw = torch.tensor(mb), torch.tensor(mw)
    w = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)

    Zs = Z[steps]  # only the steps the pairs use; idx re-mapped onto them
    where = torch.full((len(X),), -1, dtype=torch.long)
    where[torch.tensor(steps)] = torch.arange(len(steps))
    ib, iw = where[ib], where[iw]
    Ps = P[steps]

    def value(v_all, idx, mask):  # noqa: ANN001, ANN202
        v = v_all[idx.clamp(min=0)] * mask
        return v.sum(1) / mask.sum(1).clamp(min=1.0)

    opt = torch.optim.LBFGS([w, b], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure():  # noqa: ANN202
        opt.zero_grad()
        v_all = torch.sigmoid(Zs @ w + b) * Ps
        d = temperature * (value(v_all, ib, mb) - value(v_all, iw, mw))
        loss = torch.nn.functional.softplus(-d).mean() + l2 * (w**2).sum()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    wn, bn = w.detach().numpy(), float(b.detach())

    def predict(step_ids: list[int]) -> float:
        if not step_ids:
            return 0.0
        z = ((X[step_ids] - mu) / sd) @ wn + bn
        return float(np.mean(1.0 / (1.0 + np.exp(-np.clip(z, -60, 60))) * pen[step_ids]))

    return predict


def folds_of(ids: list[int], k: int = 5, seed: int = 0) -> dict[int, int]:
    import random

    order = sorted(set(ids))
    random.Random(seed).shuffle(order)
    return {g: i % k for i, g in enumerate(order)}


def cross_validate(X: np.ndarray, pen: np.ndarray, pairs: list[dict], texts: list[dict], l2: float,
                   train_kinds: tuple[str, ...], k: int = 5) -> dict:
    fold = folds_of([g for p in pairs for g in p["groups"]], k)
    wins: dict[str, list[float]] = {}
    hanna_value: dict[int, float] = {}
    hanna = [t for t in texts if t["kind"] == "hanna"]
    for f in range(k):
        train = [p for p in pairs if p["kind"] in train_kinds and all(fold[g] != f for g in p["groups"])]
        test = [p for p in pairs if all(fold[g] == f for g in p["groups"])]
        predict = fit(X, pen, train, l2)
        for p in test:
            a, b = predict(p["better"]), predict(p["worse"])
            w = 1.0 if a > b else 0.5 if a == b else 0.0
            for key in (p["kind"], f"{p['kind']}:{p['type']}", f"{p['kind']}@{p['source']}",
                        f"{p['kind']}:{p['type']}@{'human' if p['source'] == 'human' else 'llm'}"):
                wins.setdefault(key, []).append(w)
        hanna_value.update({t["id"]: predict(t["steps"]) for t in hanna if fold[t["id"]] == f})
    out = {key: (statistics.fmean(v), len(v)) for key, v in wins.items()}
    out.setdefault("hanna", (math.nan, 0))
    for crit in ("human_relevance", "human_coherence", "human_empathy", "human_surprise", "human_engagement",
                 "human_complexity"):
        ws = []
        for a, b in itertools.combinations(hanna, 2):
            ra, rb = a["ratings"][crit], b["ratings"][crit]
            if abs(ra - rb) >= 1.0:
                hi, lo = (a, b) if ra > rb else (b, a)
                va, vb = hanna_value[hi["id"]], hanna_value[lo["id"]]
                ws.append(1.0 if va > vb else 0.5 if va == vb else 0.0)
        out[f"HANNA {crit.removeprefix('human_')}"] = (statistics.fmean(ws) if ws else math.nan, len(ws))
    return out


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-9)


def fit_main(path: Path, l2s: list[float], pca: int, premises: Path | None = None) -> None:
    data = np.load(path)
    texts = json.loads(str(data["texts"]))
    hidden = data["hidden"].astype(np.float32)
    feats, pen = data["feats"], data["penalty"]
    layers = list(data["layers"])
    feats = np.where(np.isfinite(feats), feats, 0.0)
    pairs = make_pairs(texts)
    variants: dict[str, np.ndarray] = {"penalty alone": np.zeros((len(pen), 1)), "one-pass features": feats}
    if premises is not None:  # the step against its premise: cosines, and the elementwise product
        prem = np.load(premises)
        row = {int(i): k for k, i in enumerate(prem["ids"])}
        of_step = np.zeros(len(pen), dtype=np.int64)
        for t in texts:
            of_step[t["steps"]] = row[int(t["id"])]
        cos = np.stack([cosine_rows(hidden[:, li, :], prem[kind][of_step, li, :])
                        for kind in ("mean", "last") for li in range(len(layers))], axis=1)
        variants["one-pass features + premise cosines"] = np.hstack([feats, cos])
        mid = (len(layers) - 1) // 2  # half depth: SmolLM2's L16, the Qwen 0.5B's L12
        H = hidden[:, mid, :].astype(np.float64)
        variants[f"hidden L{layers[mid]} + features + premise cosines"] = np.hstack([H, feats, cos])
        P = prem["mean"][of_step, mid, :].astype(np.float64)
        variants[f"hidden L{layers[mid]} + (hidden x premise) L{layers[mid]} + features + cosines"] = np.hstack(
            [H, H * P / np.sqrt((P ** 2).mean()), feats, cos])
    for li, L in enumerate(layers):
        H = hidden[:, li, :].astype(np.float64)
        if pca:
            H = H - H.mean(0)
            _, _, vt = np.linalg.svd(H[:: max(1, len(H) // 4000)], full_matrices=False)
            H = H @ vt[:pca].T
        variants[f"hidden L{L}" + (f" (PCA {pca})" if pca else "")] = H
        if L == layers[-2]:
            variants[f"hidden L{L} + features"] = np.hstack([H, feats])
    print("# Issue #16: a value head on the reader's hidden states (cross-validated)\n")
    print(f"Command: `.venv/bin/python experiments/hidden_head.py fit {path.name} --l2 {','.join(map(str, l2s))}"
          + (f" --pca {pca}" if pca else "") + (f" --premises {premises.name}" if premises else "") + "`\n")
    counts: dict[str, int] = {}
    for p in pairs:
        counts[p["kind"]] = counts.get(p["kind"], 0) + 1
    reader = str(data["reader"]) if "reader" in data else "embedded"
    print(f"Reader: `{reader}`, layers {', '.join(map(str, layers))}. "
          f"{len(texts)} texts, {len(pen)} steps; pairs: {counts}. 5 folds by prompt. "
          "Every variant: V = mean over steps of sigmoid(w.x+b) x penalty; Bradley-Terry, temperature 10.\n")
    rows = []
    for name, X in variants.items():
        for l2 in (l2s if X.shape[1] > 1 else [l2s[0]]):
            for kinds in (("story", "step", "hanna"),):
                t0 = time.time()
                cv = cross_validate(X, pen, pairs, texts, l2, kinds)
                rows.append((f"{name}, L2 {l2}", cv))
                print(f"{name} l2={l2}: {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    types = ["shuffled", "loop", "copy", "splice", "off_prompt", "meta", "cut_off", "filler"]
    print("## Story level (opening vs its corruption), all sources pooled; then human / LLM stories alone\n")
    print("| variant | story | " + " | ".join(types) + " | human: story | LLM: story |")
    print("|---|---|" + "---|" * len(types) + "---|---|")
    for name, cv in rows:
        llm = [cv[k] for k in cv if k.startswith("story@") and k != "story@human"]
        llm_mean = sum(a * n for a, n in llm) / sum(n for _, n in llm) if llm else math.nan  # --limit 0: none
        print(f"| {name} | {cv['story'][0]:.3f} | " + " | ".join(f"{cv[f'story:{t}'][0]:.3f}" for t in types)
              + f" | {cv['story@human'][0]:.3f} | {llm_mean:.3f} |")
    print("\n## Story level, human stories alone per type (comparable with results/value/README.md)\n")
    print("| variant | " + " | ".join(types) + " |")
    print("|---|" + "---|" * len(types))
    for name, cv in rows:
        print(f"| {name} | " + " | ".join(f"{cv[f'story:{t}@human'][0]:.3f}" for t in types) + " |")
    print("\n## Within one source: story pairs of one generator (its stories against their own corruptions)\n")
    srcs = sorted({k.split("@")[1] for k in rows[0][1] if k.startswith("story@")})
    print("| variant | " + " | ".join(srcs) + " |")
    print("|---|" + "---|" * len(srcs))
    for name, cv in rows:
        print(f"| {name} | " + " | ".join(f"{cv[f'story@{s}'][0]:.3f}" for s in srcs) + " |")
    print("\n## Step level (true next step vs its corruption), all sources\n")
    print("| variant | step | " + " | ".join(types) + " |")
    print("|---|---|" + "---|" * len(types))
    for name, cv in rows:
        print(f"| {name} | {cv['step'][0]:.3f} | " + " | ".join(f"{cv[f'step:{t}'][0]:.3f}" for t in types) + " |")
    crits = ["relevance", "coherence", "empathy", "surprise", "engagement", "complexity"]
    print("\n## HANNA human stories (each valued by the fold model that never saw its prompt; gap >= 1)\n")
    print("| variant | HANNA pairs | " + " | ".join(crits) + " |")
    print("|---|---|" + "---|" * len(crits))
    for name, cv in rows:
        print(f"| {name} | {cv['hanna'][0]:.3f} | " + " | ".join(f"{cv[f'HANNA {c}'][0]:.3f}" for c in crits) + " |")
    n = {k: v[1] for k, v in rows[0][1].items()}
    print(f"\nPairs tested: story {n['story']}, step {n['step']}, HANNA pairs {n['hanna']}, "
          f"HANNA coherence {n['HANNA coherence']}, surprise {n['HANNA surprise']}.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("read")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--limit", type=int, default=96, help="LLM stories per generator")
    r.add_argument("--every", type=int, default=1, help="every n-th prompt's LLM stories (all human stories)")
    r.add_argument("--human", type=int, default=96, help="the first n human stories")
    r.add_argument("--reader", default="embedded", help="the reader's model spec (a transformers model: "
                   "embedded, hf:DIR or gguf:FILE)")
    f = sub.add_parser("fit")
    f.add_argument("data", type=Path)
    f.add_argument("--l2", default="0.001,0.01")
    f.add_argument("--pca", type=int, default=0)
    f.add_argument("--premises", type=Path, default=None, help="premise states (the premises subcommand)")
    pr = sub.add_parser("premises")
    pr.add_argument("--out", type=Path, required=True)
    pr.add_argument("--reader", default="embedded", help="as read's --reader")
    args = ap.parse_args()
    if args.cmd == "read":
        read_main(args.out, args.limit, args.every, args.reader, args.human)
    elif args.cmd == "premises":
        premise_main(args.out, args.reader)
    else:
        fit_main(args.data, [float(x) for x in args.l2.split(",")], args.pca, args.premises)


if __name__ == "__main__":
    main()
