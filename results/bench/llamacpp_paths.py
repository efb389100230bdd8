"""Does a llama.cpp reading depend on how its prefix was computed? (issues #15 and #19)

    .venv/bin/python results/bench/llamacpp_paths.py > results/bench/llamacpp_ubatch.txt

(``llamacpp_paths.txt`` beside it is what this script printed at commit 6bad1de, before #19: the
full next-token distributions, read through the private ``_decode``.)

The llama.cpp backend re-uses cached prefixes (``models/llamacpp.py``): a prompt whose first
tokens are cached is finished by decoding only its suffix, and sampled tokens are decoded one per
row per step. llama.cpp computes micro-batches of 64 tokens or more with another CPU kernel than
smaller ones, so with large micro-batches the KV entries of the same text differ with the path
that computed them. For the embedded policy (SmolLM2-135M GGUF) this reads the log-probs of a
fixed continuation after the first L tokens of a text, through the backend's public calls only,
with the context computed (i) fresh, in one prefill (``reset_cache``, then ``logprobs``), against
(ii) a cached prefix of L/2 tokens and the rest as a suffix, and (iii) a cached prefix whose last
16 tokens were sampled (greedy, one token a step) and the same continuation read after it; for
``n_ubatch`` 512 (llama.cpp's default, the backend's before #19) and 32 (the default since).
Printed: the largest difference in a continuation token's log-prob.
"""

from __future__ import annotations

from dataclasses import replace

from storyspace.models.llamacpp import LlamaCppConfig, LlamaCppModel
from storyspace.models.registry import embedded_gguf_path

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
CONT = " In the summer a knight rode in from the capital with a sword and a list of complaints."


def prefix_text(m: LlamaCppModel, n: int) -> str:
    """The text of the first ``n`` tokens of TEXT (decoded, then read again as a prefix)."""
    return m.decode(m.encode_prefix(TEXT)[:n])


def paths(m: LlamaCppModel, n: int) -> dict[str, float]:
    text = prefix_text(m, n)
    m.reset_cache()
    fresh = m.logprobs(text, [CONT])[0]
    m.reset_cache()
    m.logprobs(prefix_text(m, n // 2), [" and"])
    cached = m.logprobs(text, [CONT])[0]
    m.reset_cache()
    head = prefix_text(m, n - 16)
    sampled = head + m.sample([head], 1, 16, 0.0, [0])[0][0].text
    m.logprobs(sampled, [" and"])  # ... whose own tokens were decoded one at a time
    after_sample = m.logprobs(sampled, [CONT])[0]
    m.reset_cache()
    again = m.logprobs(sampled, [CONT])[0]
    return {"cached prefix + suffix": max(abs(a - b) for a, b in zip(cached, fresh)),
            "sampled tokens in the cache": max(abs(a - b) for a, b in zip(after_sample, again))}


def main() -> None:
    print("| n_ubatch | L | path against a fresh prefill | largest log-prob difference |")
    print("|---|---|---|---|")
    for ub in (512, 32):
        m = LlamaCppModel("llamacpp:embedded", embedded_gguf_path(), replace(LlamaCppConfig(), n_ubatch=ub))
        for n in (48, 96, 160):
            for name, d in paths(m, n).items():
                print(f"| {ub} | {n} | {name} | {d:.4f} |")
        m.close()


if __name__ == "__main__":
    main()
