"""Issue #16, item 2: a fine-tuned reward model -- the embedded reader (SmolLM2-135M) with LoRA and a
scalar head, trained with TRL's ``RewardTrainer`` on the contrast and HANNA pairs, 5-fold CV by
prompt. A measurement, not part of the value model.

    .venv/bin/python experiments/reward_model.py data --out rm_pairs.json       # the pairs (seconds)
    .venv/bin/python experiments/reward_model.py speed rm_pairs.json            # steps/s before sizing
    .venv/bin/python experiments/reward_model.py cv rm_pairs.json --out rm_cv.json --train-pairs 256
    .venv/bin/python experiments/reward_model.py table rm_cv.json > results/value/reward_model.md

Issue #44 (sibling passages read blind): the same model on the policy's own sibling pairs instead,

    .venv/bin/python experiments/reward_model.py siblings STUDY_DIR... --out rm_siblings.json
    .venv/bin/python experiments/reward_model.py cv rm_siblings.json --out rm_siblings_cv.json --train-pairs 512
    .venv/bin/python experiments/reward_model.py table rm_siblings_cv.json

where a text is the premise and the story so far (``prompt``) and one passage (``completion``), a
pair is two siblings whose two blind readings agree (the one both chose is ``better``), and the
folds go by premise; the table then gives the held-out agreement of the reward model beside the
value the search used on the same pairs.

Data (``experiments/hidden_head.py``'s, so the figures compare): the 96 HANNA human stories and, of
``../shared/data/hanna``'s LLM stories, the first ``--llm-prompts`` prompts' stories of
``--generators`` of the six generators. Texts are ``Writing prompt: P\\n\\nStory:\\n`` + the text:
- ``story`` pairs: each story's opening (160 words) against its 8 contrast corruptions;
- ``step`` pairs: the story so far (two steps of ~64 reader tokens) + the true third step against
  + each corrupted third step (the premise and the last passages: a short context);
- ``hanna`` pairs: two human stories (the first ``--max-length`` tokens) whose mean HANNA Coherence +
  Surprise rating differs by >= 1 point.

Model: the embedded reader's checkpoint as ``AutoModelForSequenceClassification`` (num_labels 1; the
score head new), LoRA (r 16, alpha 32) on every attention and MLP projection of the top
``--lora-layers`` layers (the lower layers get no gradient, so the backward pass stops there),
trained by ``trl.RewardTrainer`` (Bradley-Terry, ``center_rewards_coefficient`` 0.01) on
``--train-pairs`` pairs a fold, sampled in equal thirds from the fold's story, step and HANNA pairs.
Each fold's model scores every text of its test prompts; a pair counts when the better text
scores higher (ties half), as ``hidden_head.py`` and ``validate-value`` count. Also reported: the
score times the fixed degeneration penalty (``sigmoid(r) x mean step penalty``), as every other
variant is combined.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from hidden_head import CONTRAST_WORDS, POSITION, SEED, STEP_TOKENS, folds_of, penalty, sources  # noqa: E402

HEADER = "Writing prompt: {premise}\n\nStory:\n"
CRITERIA = ("relevance", "coherence", "empathy", "surprise", "engagement", "complexity")


# -- data ------------------------------------------------------------------------------------------
def build(generators: int, llm_prompts: int) -> dict:
    """``texts`` (id -> prompt, completion, source, group, story penalty) and ``pairs`` over them."""
    from storyspace import contrast
    from storyspace.models.registry import model_dir, parse_spec
    from storyspace.story import split_steps
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir(parse_spec("embedded")))

    def count(text: str) -> int:
        return len(tok(text, add_special_tokens=False)["input_ids"])

    texts: dict[str, dict] = {}
    pairs: list[dict] = []

    def text(key: str, premise: str, so_far: list[str], completion: str, source: str, group: int) -> str:
        if key not in texts:
            steps = split_steps(completion, STEP_TOKENS, count) or [completion]
            before = list(so_far)
            pens = []
            for s in steps:
                story_text = "\n\n".join(before)
                pens.append(penalty(s, premise.strip() + "\n" + story_text, story_text))
                before.append(s)
            prompt = HEADER.format(premise=premise.strip()) + "".join(p + "\n\n" for p in so_far)
            texts[key] = {"prompt": prompt, "completion": completion, "source": source, "group": group,
                          "penalty": statistics.fmean(pens)}
        return key

    srcs = sources()
    kept = [("human", srcs[0][1])] + [(name, [s for s in stories if s["id"] < llm_prompts])
                                      for name, stories in srcs[1: 1 + generators]]
    for source, stories in kept:
        short = contrast.shortened(stories, CONTRAST_WORDS)
        rows = contrast.story_rows(short, SEED)
        originals = {r["id"]: r for r in rows if r["version"] == "original"}
        for r in rows:
            if r["version"] == "original":
                continue
            o = originals[r["id"]]
            better = text(f"story/{source}/{r['id']}/original", r["prompt"], [], o["story"], source, r["id"])
            worse = text(f"story/{source}/{r['id']}/{r['version']}", r["prompt"], [], r["story"], source, r["id"])
            pairs.append({"kind": "story", "type": r["version"], "source": source, "groups": [r["id"]],
                          "better": better, "worse": worse})
        for case in contrast.step_cases(short, STEP_TOKENS, count, SEED, POSITION):
            so_far = list(case["so_far"])
            better = text(f"step/{source}/{case['id']}/original", case["prompt"], so_far, case["true"], source,
                          case["id"])
            for kind in contrast.CORRUPTIONS:
                worse = text(f"step/{source}/{case['id']}/{kind}", case["prompt"], so_far, case["corrupted"][kind],
                             source, case["id"])
                pairs.append({"kind": "step", "type": kind, "source": source, "groups": [case["id"]],
                              "better": better, "worse": worse})
    human = srcs[0][1]
    ratings = {}
    for s in human:
        text(f"hanna/{s['id']}", s["prompt"], [], s["human_story"], "human", s["id"])
        ratings[f"hanna/{s['id']}"] = {c: s[f"human_{c}"] for c in CRITERIA}
    for a, b in itertools.combinations(human, 2):
        ra = (a["human_coherence"] + a["human_surprise"]) / 2
        rb = (b["human_coherence"] + b["human_surprise"]) / 2
        if abs(ra - rb) >= 1.0:
            hi, lo = (a, b) if ra > rb else (b, a)
            pairs.append({"kind": "hanna", "type": "rating", "source": "human", "groups": [a["id"], b["id"]],
                          "better": f"hanna/{hi['id']}", "worse": f"hanna/{lo['id']}"})
    return {"texts": texts, "pairs": pairs, "ratings": ratings,
            "settings": {"generators": [name for name, _ in kept], "llm_prompts": llm_prompts}}


def data_main(out: Path, generators: int, llm_prompts: int) -> None:
    t0 = time.time()
    data = build(generators, llm_prompts)
    out.write_text(json.dumps(data))
    kinds: dict[str, int] = {}
    for p in data["pairs"]:
        kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
    print(f"{len(data['texts'])} texts, pairs {kinds}, sources {data['settings']['generators']} "
          f"({time.time() - t0:.0f} s) -> {out}", file=sys.stderr)


def siblings_main(studies: list[Path], out: Path) -> None:
    """The rated sibling pairs of ``studies`` as this script's data: texts keyed by their tree node,
    a pair where both blind readings agree, grouped by premise."""
    from storyspace.study.labels import sibling_labels

    trees: dict[str, list] = {}
    texts: dict[str, dict] = {}
    pairs: list[dict] = []
    premises: dict[str, int] = {}
    split = 0
    for d in studies:
        by_id = {p["id"]: p for p in json.loads((d / "study.json").read_text())["pairs"]}
        for lab in sibling_labels(d):
            if min(lab["votes"]) != 0:
                split += 1
                continue
            pair = by_id[lab["id"].rsplit(":", 1)[1]]
            group = premises.setdefault(lab["premise"].strip(), len(premises))
            keys = []
            for side in "ab":
                source = pair[side]["source"]
                run, _, node = source.rpartition(" node ")
                if run not in trees:
                    trees[run] = json.loads((Path(run) / "tree.json").read_text())["nodes"]
                n = trees[run][int(node)]
                if source not in texts:
                    prompt = HEADER.format(premise=lab["premise"].strip()) + "".join(c + "\n\n" for c in lab["context"])
                    texts[source] = {"prompt": prompt, "completion": n["step"]["passage"], "source": "writer",
                                     "group": group, "penalty": float(n["breakdown"].get("penalty", 1.0)),
                                     "value": float(n["breakdown"]["value"])}
                keys.append(source)
            better, worse = keys if lab["votes"][0] > lab["votes"][1] else keys[::-1]
            pairs.append({"kind": "siblings", "type": "reader", "source": "writer", "groups": [group],
                          "better": better, "worse": worse})
    out.write_text(json.dumps({"texts": texts, "pairs": pairs, "ratings": {},
                               "settings": {"studies": [str(d) for d in studies], "split": split}}))
    print(f"{len(texts)} passages, {len(pairs)} pairs whose two readings agree ({split} split, left out), "
          f"{len(premises)} premises -> {out}", file=sys.stderr)


def siblings_table(path: Path, done: dict, data: dict) -> None:
    texts, pairs = data["texts"], data["pairs"]
    fold = folds_of([g for p in pairs for g in p["groups"]], 5)
    raw: dict[str, float] = {}
    for info in done["folds"].values():
        raw.update(info["scores"])
    variants = {
        "the value the search used (no fit)": {k: t["value"] for k, t in texts.items()},
        "reward model": raw,
        "reward model x penalty": {k: texts[k]["penalty"] / (1.0 + math.exp(-max(-60.0, min(60.0, v))))
                                   for k, v in raw.items()},
    }
    folds = sorted(done["folds"], key=int)
    tr = [done["folds"][f] for f in folds]
    args = done["args"]
    print("# Issue #44, item 2: a LoRA reward model on the policy's own sibling pairs (cross-validated)\n")
    print(f"Commands: `.venv/bin/python experiments/reward_model.py siblings {' '.join(data['settings']['studies'])} "
          f"--out {args['data']}`, then `cv {args['data']} --out {path.name} --train-pairs {args['train_pairs']} "
          f"--batch-size {args['batch_size']} --epochs {args['epochs']} --learning-rate {args['learning_rate']} "
          f"--lora-layers {args['lora_layers']} --max-length {args['max_length']} --threads {args['threads']}`, "
          f"then `table {path.name}`.\n")
    print(f"{len(texts)} passages, {len(pairs)} pairs whose two blind readings agree "
          f"({data['settings']['split']} split pairs left out); folds done: {len(folds)} of 5 (by premise). "
          f"Per fold: {tr[0]['train_pairs']} training pairs, {statistics.fmean(t['train_s'] for t in tr) / 60:.1f} min "
          f"training, {statistics.fmean(t['score_s'] for t in tr) / 60:.1f} min scoring; final training loss "
          + ", ".join(f"{t['loss']:.3f}" for t in tr) + ".\n")
    print("| variant | held-out agreement with the reader | per fold |\n|---|---|---|")
    for name, values in variants.items():
        per = []
        for f in folds:
            test = [p for p in pairs if str(fold[p["groups"][0]]) == f]
            per.append(agreement(values, test)["siblings"])
        total = sum(a * n for a, n in per) / sum(n for _, n in per)
        print(f"| {name} | {total:.3f} ({sum(n for _, n in per)} pairs) | " + ", ".join(f"{a:.3f}" for a, _ in per) + " |")


# -- model -----------------------------------------------------------------------------------------
def encode(tok, item: dict, max_length: int) -> list[int]:  # noqa: ANN001
    """The prompt kept whole (its start cut if it alone would fill the window), the completion cut
    at the end: a step's context keeps the premise and the last passages, a long story its opening."""
    prompt = tok(item["prompt"], add_special_tokens=False)["input_ids"]
    completion = tok(item["completion"], add_special_tokens=False)["input_ids"]
    room = max_length - min(len(completion), max_length // 3)
    if len(prompt) > room:
        head = tok(item["prompt"].split("\n\nStory:\n")[0] + "\n\nStory:\n", add_special_tokens=False)["input_ids"]
        prompt = head + prompt[len(prompt) - max(0, room - len(head)):]
    return (prompt + completion)[:max_length]


def load(lora_layers: int, seed: int):  # noqa: ANN201
    import torch
    from peft import LoraConfig, get_peft_model
    from storyspace.models.registry import model_dir, parse_spec
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(seed)
    path = model_dir(parse_spec("embedded"))
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, dtype=torch.float32)
    model.config.pad_token_id = tok.pad_token_id
    n = model.config.num_hidden_layers
    config = LoraConfig(task_type="SEQ_CLS", r=16, lora_alpha=32, lora_dropout=0.0,
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                        layers_to_transform=list(range(n - lora_layers, n)))
    return tok, get_peft_model(model, config)


def train(model, tok, rows: list[dict], args: argparse.Namespace, out_dir: Path) -> dict:  # noqa: ANN001
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    config = RewardConfig(output_dir=str(out_dir), per_device_train_batch_size=args.batch_size,
                          num_train_epochs=args.epochs, learning_rate=args.learning_rate, lr_scheduler_type="linear",
                          warmup_steps=0, logging_steps=max(1, len(rows) // args.batch_size // 8), save_strategy="no",
                          report_to="none", use_cpu=True, max_length=None, center_rewards_coefficient=0.01,
                          seed=args.seed, dataloader_num_workers=0, disable_tqdm=True)
    trainer = RewardTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tok)
    t0 = time.time()
    result = trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    return {"train_s": time.time() - t0, "steps": result.global_step, "loss": result.training_loss,
            "log": [{k: h[k] for k in ("step", "loss", "accuracy") if k in h} for h in logs]}


def score(model, tok, seqs: list[list[int]], batch: int = 16) -> list[float]:  # noqa: ANN001
    import torch

    model.eval()
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out = [0.0] * len(seqs)
    with torch.inference_mode():
        for k in range(0, len(order), batch):
            idx = order[k: k + batch]
            longest = max(len(seqs[i]) for i in idx)
            x = torch.full((len(idx), longest), tok.pad_token_id, dtype=torch.long)
            m = torch.zeros((len(idx), longest), dtype=torch.long)
            for r, i in enumerate(idx):
                x[r, : len(seqs[i])] = torch.tensor(seqs[i])
                m[r, : len(seqs[i])] = 1
            logits = model(input_ids=x, attention_mask=m).logits[:, 0].tolist()
            for i, v in zip(idx, logits):
                out[i] = float(v)
    return out


KINDS = ("story", "step", "hanna", "siblings")


def sample(pairs: list[dict], n: int, seed: int) -> list[dict]:
    """``n`` pairs in equal shares from the kinds present (story, step and HANNA pairs; or sibling
    pairs), the rest from the others when a kind has fewer."""
    rng = random.Random(seed)
    kinds = [k for k in KINDS if any(p["kind"] == k for p in pairs)]
    by_kind = {k: [p for p in pairs if p["kind"] == k] for k in kinds}
    for v in by_kind.values():
        rng.shuffle(v)
    share = {k: min(len(v), n // len(kinds)) for k, v in by_kind.items()}
    left = n - sum(share.values())
    for k in kinds:
        extra = min(left, len(by_kind[k]) - share[k])
        share[k] += extra
        left -= extra
    chosen = [p for k, v in by_kind.items() for p in v[: share[k]]]
    rng.shuffle(chosen)
    return chosen


def speed_main(path: Path, args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    data = json.loads(path.read_text())
    tok, model = load(args.lora_layers, args.seed)
    chosen = sample(data["pairs"], args.batch_size * args.steps, args.seed)
    rows = [{"chosen_ids": encode(tok, data["texts"][p["better"]], args.max_length),
             "rejected_ids": encode(tok, data["texts"][p["worse"]], args.max_length)} for p in chosen]
    got = train(model, tok, rows, args, Path("/tmp/rm_speed"))
    toks = sum(len(r["chosen_ids"]) + len(r["rejected_ids"]) for r in rows)
    seqs = [r["chosen_ids"] for r in rows]
    t0 = time.time()
    score(model, tok, seqs)
    s = time.time() - t0
    print(json.dumps({"pairs": len(rows), "train_s": round(got["train_s"], 1),
                      "pairs_per_s": round(len(rows) / got["train_s"], 3),
                      "train_tokens_per_s": round(toks / got["train_s"], 1),
                      "score_texts_per_s": round(len(seqs) / s, 2), "threads": args.threads,
                      "lora_layers": args.lora_layers, "max_length": args.max_length}))


def cv_main(path: Path, out: Path, args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    data = json.loads(path.read_text())
    texts, pairs = data["texts"], data["pairs"]
    fold = folds_of([g for p in pairs for g in p["groups"]], 5)
    done = json.loads(out.read_text()) if out.exists() else {"args": vars(args) | {"data": path.name}, "folds": {}}
    for f in range(5):
        if str(f) in done["folds"]:
            continue
        t0 = time.time()
        train_pairs = [p for p in pairs if all(fold[g] != f for g in p["groups"])]
        test_keys = sorted({k for k, t in texts.items() if fold[t["group"]] == f})
        tok, model = load(args.lora_layers, args.seed + f)
        chosen = sample(train_pairs, args.train_pairs, args.seed + f)
        rows = [{"chosen_ids": encode(tok, texts[p["better"]], args.max_length),
                 "rejected_ids": encode(tok, texts[p["worse"]], args.max_length)} for p in chosen]
        info = train(model, tok, rows, args, Path(f"/tmp/rm_fold{f}"))
        t1 = time.time()
        scores = score(model, tok, [encode(tok, texts[k], args.max_length) for k in test_keys])
        info["score_s"] = time.time() - t1
        info["scores"] = dict(zip(test_keys, scores))
        info["train_pairs"] = {k: sum(p["kind"] == k for p in chosen) for k in KINDS if any(p["kind"] == k for p in chosen)}
        done["folds"][str(f)] = info
        out.write_text(json.dumps(done, default=str))
        print(f"fold {f}: {len(rows)} pairs trained in {info['train_s']:.0f} s, {len(test_keys)} texts scored in "
              f"{info['score_s']:.0f} s ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)


# -- table -----------------------------------------------------------------------------------------
def agreement(values: dict[str, float], pairs: list[dict]) -> dict[str, tuple[float, int]]:
    wins: dict[str, list[float]] = {}
    for p in pairs:
        if p["better"] not in values or p["worse"] not in values:
            continue
        a, b = values[p["better"]], values[p["worse"]]
        w = 1.0 if a > b else 0.5 if a == b else 0.0
        src = "human" if p["source"] == "human" else "llm"
        for key in (p["kind"], f"{p['kind']}:{p['type']}", f"{p['kind']}@{p['source']}",
                    f"{p['kind']}:{p['type']}@{src}"):
            wins.setdefault(key, []).append(w)
    return {k: (statistics.fmean(v), len(v)) for k, v in wins.items()}


def hanna_criteria(values: dict[str, float], ratings: dict[str, dict]) -> dict[str, tuple[float, int]]:
    keys = [k for k in ratings if k in values]
    out = {}
    for c in CRITERIA:
        ws = []
        for a, b in itertools.combinations(keys, 2):
            ra, rb = ratings[a][c], ratings[b][c]
            if abs(ra - rb) >= 1.0:
                hi, lo = (a, b) if ra > rb else (b, a)
                ws.append(1.0 if values[hi] > values[lo] else 0.5 if values[hi] == values[lo] else 0.0)
        out[c] = (statistics.fmean(ws) if ws else math.nan, len(ws))
    return out


def table_main(path: Path) -> None:
    done = json.loads(path.read_text())
    args = done["args"]
    data = json.loads((path.parent / args["data"]).read_text()) if (path.parent / args["data"]).exists() else \
        json.loads(Path(args["data"]).read_text())
    if data["pairs"] and all(p["kind"] == "siblings" for p in data["pairs"]):
        siblings_table(path, done, data)
        return
    texts, pairs = data["texts"], data["pairs"]
    fold = folds_of([g for p in pairs for g in p["groups"]], 5)
    raw: dict[str, float] = {}
    for f, info in done["folds"].items():
        raw.update(info["scores"])
    test_pairs = [p for p in pairs if len({fold[g] for g in p["groups"]}) == 1 and str(fold[p["groups"][0]]) in done["folds"]]
    variants = {
        "penalty alone": {k: texts[k]["penalty"] for k in raw},
        "reward model": raw,
        "reward model x penalty": {k: texts[k]["penalty"] / (1.0 + math.exp(-max(-60.0, min(60.0, v))))
                                   for k, v in raw.items()},
    }
    types = ["shuffled", "loop", "copy", "splice", "off_prompt", "meta", "cut_off", "filler"]
    rows = [(name, agreement(v, test_pairs), hanna_criteria(v, data["ratings"])) for name, v in variants.items()]
    folds = sorted(done["folds"], key=int)
    tr = [done["folds"][f] for f in folds]
    print("# Issue #16, item 2: a LoRA reward model on the embedded reader (cross-validated)\n")
    print(f"Commands: `.venv/bin/python experiments/reward_model.py data --out {args['data']} --generators "
          f"{len(data['settings']['generators']) - 1} --llm-prompts {data['settings']['llm_prompts']}`, then "
          f"`cv {args['data']} --out {path.name} --train-pairs {args['train_pairs']} --batch-size {args['batch_size']} "
          f"--epochs {args['epochs']} --learning-rate {args['learning_rate']} --lora-layers {args['lora_layers']} "
          f"--max-length {args['max_length']} --threads {args['threads']}`, then `table {path.name}`.\n")
    print(f"Sources: {', '.join(data['settings']['generators'])} (LLM stories of prompts < "
          f"{data['settings']['llm_prompts']}); {len(texts)} texts, {len(pairs)} pairs; folds done: {len(folds)} of 5 "
          f"(by prompt). Per fold: {tr[0]['train_pairs']} training pairs, "
          f"{statistics.fmean(t['train_s'] for t in tr) / 60:.1f} min training, "
          f"{statistics.fmean(t['score_s'] for t in tr) / 60:.1f} min scoring the fold's "
          f"{statistics.fmean(len(t['scores']) for t in tr):.0f} texts; final training loss "
          + ", ".join(f"{t['loss']:.3f}" for t in tr) + ".\n")
    print("## Story level (opening vs its corruption), test folds pooled\n")
    print("| variant | story | " + " | ".join(types) + " | human | LLM |")
    print("|---|---|" + "---|" * len(types) + "---|---|")
    for name, cv, _ in rows:
        llm = [cv[k] for k in cv if k.startswith("story@") and k != "story@human"]
        llm_mean = sum(a * n for a, n in llm) / max(1, sum(n for _, n in llm))
        print(f"| {name} | {cv['story'][0]:.3f} | " + " | ".join(f"{cv.get(f'story:{t}', (math.nan,))[0]:.3f}" for t in types)
              + f" | {cv['story@human'][0]:.3f} | {llm_mean:.3f} |")
    print("\n## Within one source (a generator's stories against their own corruptions)\n")
    srcs = sorted({k.split("@")[1] for k in rows[0][1] if k.startswith("story@")})
    print("| variant | " + " | ".join(srcs) + " |")
    print("|---|" + "---|" * len(srcs))
    for name, cv, _ in rows:
        print(f"| {name} | " + " | ".join(f"{cv[f'story@{s}'][0]:.3f}" for s in srcs) + " |")
    print("\n## Step level (true next step vs its corruption)\n")
    print("| variant | step | " + " | ".join(types) + " |")
    print("|---|---|" + "---|" * len(types))
    for name, cv, _ in rows:
        print(f"| {name} | {cv['step'][0]:.3f} | " + " | ".join(f"{cv.get(f'step:{t}', (math.nan,))[0]:.3f}" for t in types) + " |")
    print("\n## HANNA human stories (each valued by the fold model that never saw its prompt; gap >= 1)\n")
    print("| variant | HANNA pairs | " + " | ".join(CRITERIA) + " |")
    print("|---|---|" + "---|" * len(CRITERIA))
    for name, cv, crit in rows:
        print(f"| {name} | {cv.get('hanna', (math.nan,))[0]:.3f} | " + " | ".join(f"{crit[c][0]:.3f}" for c in CRITERIA) + " |")
    n = rows[0][1]
    print(f"\nPairs tested: story {n['story'][1]}, step {n['step'][1]}, HANNA pairs {n.get('hanna', (0, 0))[1]}; "
          f"HANNA coherence {rows[0][2]['coherence'][1]}, surprise {rows[0][2]['surprise'][1]}.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data")
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--generators", type=int, default=2, help="LLM generators (of 6, in name order)")
    d.add_argument("--llm-prompts", type=int, default=32, help="LLM stories of the prompts with id below this")
    sb = sub.add_parser("siblings")
    sb.add_argument("studies", nargs="+", type=Path)
    sb.add_argument("--out", type=Path, required=True)
    for name in ("speed", "cv"):
        p = sub.add_parser(name)
        p.add_argument("data", type=Path)
        p.add_argument("--batch-size", type=int, default=8)
        p.add_argument("--epochs", type=float, default=1.0)
        p.add_argument("--learning-rate", type=float, default=2e-4)
        p.add_argument("--lora-layers", type=int, default=10, help="LoRA on the top N of the 30 layers")
        p.add_argument("--max-length", type=int, default=288)
        p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
        p.add_argument("--seed", type=int, default=0)
        if name == "speed":
            p.add_argument("--steps", type=int, default=4)
        else:
            p.add_argument("--out", type=Path, required=True)
            p.add_argument("--train-pairs", type=int, default=256)
    t = sub.add_parser("table")
    t.add_argument("cv", type=Path)
    args = ap.parse_args()
    if args.cmd == "data":
        data_main(args.out, args.generators, args.llm_prompts)
    elif args.cmd == "siblings":
        siblings_main(args.studies, args.out)
    elif args.cmd == "speed":
        speed_main(args.data, args)
    elif args.cmd == "cv":
        cv_main(args.data, args.out, args)
    else:
        table_main(args.cv)


if __name__ == "__main__":
    main()
