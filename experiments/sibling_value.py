"""Issue #44, item 2: which value orders the policy's own sibling passages as a strong reader does?
A measurement on the committed labels, not yet part of the value model.

    .venv/bin/python experiments/sibling_value.py read STUDY_DIR... --out siblings.npz   # the reader's pass
    .venv/bin/python experiments/sibling_value.py fit siblings.npz > results/value/siblings-q15/variants.md

Labels: the rated sibling pairs of the studies (``storyspace.study.labels``: two passages the
policy wrote after the same story so far, read blind in both orders); a pair whose two readings
disagree is dropped (the fit's rule, ``fit_data.sibling_fit_pairs``).

Features of each passage:
- ``today``: the step value the search computed (the tree's ``breakdown``: the shipped learned
  value on SmolLM2 readings, with the run's reward cap) - no fitting: the baseline;
- ``features``: the value's interpretable features as the search recorded them (surprisal,
  curiosity, PMI, coherence, ..., premise similarity, the penalty);
- ``hidden Lk``: the reader's (SmolLM2-135M) hidden states at layer k, mean-pooled over the
  passage's tokens, read after the premise and the story so far (``hidden_head.Reader.read_after``).

Models: a linear score s(x) = w . x on standardised features (PCA of the hidden states first),
P(a above b) = sigmoid(s(a) - s(b)), L2-penalised logistic regression on feature differences; 5
folds grouped by premise (a premise's pairs never straddle train and test). Reported: held-out
agreement pooled over folds, its SD over folds, and the pairs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

FEATURES = ("surprisal_z", "curiosity", "pmi", "coherence", "surprisal_sd", "predictable", "log_words",
            "repetition", "copying", "premise_sim", "penalty")


def node_of(source: str, trees: dict) -> dict:
    run, _, node = source.rpartition(" node ")
    if run not in trees:
        trees[run] = json.loads((Path(run) / "tree.json").read_text())["nodes"]
    return trees[run][int(node)]


def read_main(studies: list[Path], out: Path) -> None:
    from hidden_head import Reader

    from storyspace.study.create import load_study
    from storyspace.study.labels import sibling_labels
    from storyspace.story import PASSAGE_SEPARATOR

    reader = Reader("embedded")
    trees: dict = {}
    passages: dict[tuple[str, int], dict] = {}  # (run, node) -> what is known of it
    groups: dict[tuple[str, int], list[int]] = {}  # (run, parent) -> nodes to read after it
    pairs = []
    for d in studies:
        by_id = {p["id"]: p for p in load_study(d)["pairs"]}
        for lab in sibling_labels(d):
            pair = by_id[lab["id"].rsplit(":", 1)[1]]
            keys = []
            for side in "ab":
                run, _, node = pair[side]["source"].rpartition(" node ")
                n = node_of(pair[side]["source"], trees)
                key = (run, int(node))
                keys.append(key)
                if key not in passages:
                    passages[key] = {"premise": pair["premise"], "context": pair["context"], "text": n["step"]["passage"],
                                     "breakdown": n["breakdown"]}
                    groups.setdefault((run, n["parent"]), []).append(int(node))
            pairs.append({"a": keys[0], "b": keys[1], "votes": lab["votes"], "premise": lab["premise"]})
    order = list(passages)
    index = {k: i for i, k in enumerate(order)}
    hidden = np.zeros((len(order), len(reader.layers), reader.width), dtype=np.float16)
    for g, ((run, _parent), nodes) in enumerate(groups.items()):
        first = passages[(run, nodes[0])]
        ctx = reader.head(first["premise"])
        if first["context"]:
            ctx = ctx + reader.lm.encode_continuation(PASSAGE_SEPARATOR.join(first["context"])) + reader.sep
        got = reader.read_after(ctx, [passages[(run, n)]["text"] for n in nodes])
        for n, r in zip(nodes, got):
            if r["hidden"] is not None:
                hidden[index[(run, n)]] = r["hidden"]
        print(f"read {g + 1}/{len(groups)} groups", file=sys.stderr, flush=True)
    feats = np.array([[float(passages[k]["breakdown"].get(f, math.nan)) for f in FEATURES] for k in order])
    today = np.array([float(passages[k]["breakdown"]["value"]) for k in order])
    meta = {"layers": list(reader.layers), "features": list(FEATURES), "studies": [str(d) for d in studies],
            "passages": [f"{r} node {n}" for r, n in order],
            "pairs": [{"a": index[p["a"]], "b": index[p["b"]], "votes": p["votes"], "premise": p["premise"]} for p in pairs]}
    np.savez_compressed(out, hidden=hidden, features=feats, today=today, meta=json.dumps(meta))
    print(f"{len(order)} passages, {len(pairs)} labelled pairs -> {out}", file=sys.stderr)


def logistic(x: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    """Weights of P(y=1) = sigmoid(x . w), no intercept (a pair's two orders are the same pair)."""
    import torch

    xt, yt = torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=0.5, max_iter=300, line_search_fn="strong_wolfe")

    def closure():  # noqa: ANN202
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(xt @ w, yt) + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy()


def fit_main(path: Path, l2: float, folds: int, pca: int) -> None:
    data = np.load(path)
    meta = json.loads(str(data["meta"]))
    pairs = [p for p in meta["pairs"] if p["votes"][0] != p["votes"][1]]
    ties = len(meta["pairs"]) - len(pairs)
    a = np.array([p["a"] for p in pairs])
    b = np.array([p["b"] for p in pairs])
    y = np.array([1.0 if p["votes"][0] > p["votes"][1] else 0.0 for p in pairs])
    premises = sorted({p["premise"] for p in pairs})
    folds = min(folds, len(premises))
    rng = np.random.default_rng(0)
    order = list(rng.permutation(len(premises)))
    fold_of = {premises[i]: k % folds for k, i in enumerate(order)}
    fold = np.array([fold_of[p["premise"]] for p in pairs])
    feats = np.nan_to_num(data["features"].astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    hidden = data["hidden"].astype(np.float64)

    def today() -> tuple[float, list[float]]:
        s = data["today"]
        wins = (np.sign(s[a] - s[b]) == np.where(y > 0, 1, -1)).astype(float) + 0.5 * (s[a] == s[b])
        return float(wins.mean()), [float(wins[fold == k].mean()) for k in range(folds)]

    def cv(*parts: tuple[np.ndarray, int]) -> tuple[float, list[float]]:
        """Held-out agreement of a linear score on the parts side by side, each standardised on
        the training fold (and reduced to its first k principal components where k > 0)."""
        wins, per = [], []
        for k in range(folds):
            tr, te = fold != k, fold == k
            used = np.unique(np.concatenate([a[tr], b[tr]]))
            z = np.concatenate([standardised(x, used, keep) for x, keep in parts], 1)
            w = logistic(z[a[tr]] - z[b[tr]], y[tr], l2)
            s = z @ w
            got = ((s[a[te]] - s[b[te]] > 0) == (y[te] > 0)).astype(float)
            wins += list(got)
            per.append(float(got.mean()))
        return float(np.mean(wins)), per

    rows = [("today's value (the search's own, no fit)", today())]
    rows.append(("today's features, refitted", cv((feats, 0))))
    for i, layer in enumerate(meta["layers"]):
        rows.append((f"reader hidden L{layer} (PCA {pca})", cv((hidden[:, i], pca))))
    best = max(range(len(meta["layers"])), key=lambda i: rows[2 + i][1][0])
    rows.append((f"today's features + hidden L{meta['layers'][best]} (PCA {pca})",
                 cv((feats, 0), (hidden[:, best], pca))))
    value = data["today"].astype(np.float64)[:, None]
    rows.append((f"today's value + features + hidden L{meta['layers'][best]} (PCA {pca})",
                 cv((value, 0), (feats, 0), (hidden[:, best], pca))))
    rows.append((f"today's features + hidden of every layer (PCA {pca} each)",
                 cv((feats, 0), *[(hidden[:, i], pca) for i in range(len(meta["layers"]))])))
    unanimous = sum(1 for p in pairs if min(p["votes"]) == 0)
    print(f"# Sibling pairs: which value orders them as the blind reader does\n")
    print(f"{len(meta['pairs'])} labelled pairs over {len(premises)} premises ({len(set(a) | set(b))} passages); "
          f"{ties} tied between the two orders (dropped), {len(pairs)} kept ({unanimous} read the same way by "
          f"every showing); {folds} folds by premise, L2 {l2}. Studies: {', '.join(meta['studies'])}.\n")
    print("| value | held-out agreement | SD over folds |\n|---|---|---|")
    for name, (mean, per) in rows:
        print(f"| {name} | {mean:.3f} | {statistics.stdev(per):.3f} |")


def standardised(x: np.ndarray, used: np.ndarray, keep: int = 0) -> np.ndarray:
    """``x`` standardised on the rows ``used`` (a training fold), then its first ``keep``
    principal components over those rows, standardised again (all of it when ``keep`` is 0)."""
    z = (x - x[used].mean(0)) / (x[used].std(0) + 1e-6)
    if keep:
        _, _, vt = np.linalg.svd(z[used], full_matrices=False)
        z = z @ vt[:keep].T
        z /= z[used].std(0) + 1e-6
    return z


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("read")
    r.add_argument("studies", nargs="+", type=Path)
    r.add_argument("--out", type=Path, required=True)
    f = sub.add_parser("fit")
    f.add_argument("data", type=Path)
    f.add_argument("--l2", type=float, default=0.01)
    f.add_argument("--folds", type=int, default=5)
    f.add_argument("--pca", type=int, default=32)
    args = ap.parse_args()
    if args.cmd == "read":
        read_main(args.studies, args.out)
    else:
        fit_main(args.data, args.l2, args.folds, args.pca)


if __name__ == "__main__":
    main()
