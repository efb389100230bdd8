"""How far do llama.cpp's logits move with the way a prefix was computed?

    .venv/bin/python results/bench/llamacpp_paths.py > results/bench/llamacpp_paths.txt

The llama.cpp backend re-uses cached prefixes (``models/llamacpp.py``): a prompt whose first
tokens are cached is finished by decoding only its suffix, and sampled tokens are decoded one
per row per step. So the KV entries of the same tokens can come from one batched prefill, from a
prefill of part of them, or from one-token decodes, and llama.cpp computes batches of different
sizes with different CPU kernels. For the embedded policy (SmolLM2-135M, q8_0 GGUF) and texts
of L tokens, this prints the next-token distribution after the whole text computed (i) in one
prefill of L tokens, against (ii) a prefill of L - 1 tokens and one decode (what a cached prefix
gives) and (iii) one decode per token (what a sampled row's own tokens get): the largest logit
difference, the total variation distance of the two softmax distributions, and whether the most
likely token is the same. Each path starts from an empty cache.
"""

from __future__ import annotations

import numpy as np

from storyspace.models.registry import load_model, parse_spec

TEXT = (
    "Writing prompt: A dragon opens a bakery in a small mountain town.\n\nStory:\n"
    "The dragon had always loved bread. Every morning she rose before the sun, lit the ovens with "
    "one careful breath, and kneaded dough with claws that had once torn the walls of castles. The "
    "villagers were afraid at first. They crossed the street when they saw the smoke, and the "
    "children dared each other to touch the door. But the smell of warm loaves is stronger than "
    "fear, and one cold winter morning the baker's widow came in, shaking, and asked for a loaf of "
    "rye. The dragon wrapped it in paper, bowed her great head, and refused to take a coin. By "
    "spring the line reached the fountain, and nobody in the town could remember why they had "
    "ever been afraid of her at all, or what they had eaten before she came."
)


def path_logits(m, toks: list[int], split: int) -> np.ndarray:  # noqa: ANN001
    """Logits after ``toks``: the first ``split`` tokens in one prefill, the rest one at a time."""
    m.reset_cache()
    entries = [(0, p, toks[p], p == len(toks) - 1) for p in range(split)]
    out = m._decode(entries)
    for p in range(split, len(toks)):
        out = m._decode([(0, p, toks[p], True)])
    return out[-1]


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def main() -> None:
    m = load_model(parse_spec("llamacpp:embedded"))
    toks = m.encode_prefix(TEXT)
    print(f"model {m.spec}, {m.threads} threads; text of {len(toks)} tokens")
    print("| L | path against one prefill | max logit diff | total variation | same top token |")
    print("|---|---|---|---|---|")
    for n in (16, 32, 48, 63, 64, 96, 128):
        t = toks[:n]
        ref = path_logits(m, t, n)
        for name, split in (("prefill L-1 + 1 decode", n - 1), ("one decode per token", 1)):
            got = path_logits(m, t, split)
            tv = 0.5 * float(np.abs(softmax(got) - softmax(ref)).sum())
            print(f"| {n} | {name} | {float(np.abs(got - ref).max()):.3f} | {tv:.4f} | "
                  f"{'yes' if got.argmax() == ref.argmax() else 'no'} |")
    again = path_logits(m, toks[:64], 64)
    twice = float(np.abs(again - path_logits(m, toks[:64], 64)).max())
    print(f"\nthe same path twice (one prefill of 64 tokens): max logit diff {twice:.3f}")


if __name__ == "__main__":
    main()
