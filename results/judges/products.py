"""Fixed products of two judges' kept readings (no fitting, no model): the 1.5B LLM judge's
rating times Gemma reader (b)'s degeneration penalty, and a few more, on the stories both read
(`readings/`). Post hoc: the forms were picked after the per-score table (hanna96.md) was seen.

    .venv/bin/python results/judges/products.py > results/judges/products.md
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from storyspace.contrast import CORRUPTIONS
from storyspace.eval.judges import JudgesConfig, contrast_agreement, hanna_agreement, judge_rows, read_readings

HERE = Path(__file__).parent / "readings"
LLM = read_readings(HERE / "llm_llamacpp_qwen2.5-coder-1.5b.jsonl")
GEMMA = read_readings(HERE / "reader_llamacpp_gemma3-270m.jsonl")

Scores = dict[str, Any]
PRODUCTS: dict[str, Callable[[Scores, Scores], float]] = {
    "1.5B overall (alone)": lambda l, g: l["overall"],
    "Gemma penalty (alone)": lambda l, g: g["penalty"],
    "1.5B coherence x Gemma penalty": lambda l, g: l["coherence"] * g["penalty"],
    "1.5B overall x Gemma penalty": lambda l, g: l["overall"] * g["penalty"],
    "1.5B mean of 4 ratings x Gemma penalty": lambda l, g: (l["interest"] + l["originality"] + l["coherence"] + l["overall"]) / 4 * g["penalty"],
    "1.5B coherence x Gemma penalty x (0.5 + Gemma PMI)": lambda l, g: l["coherence"] * g["penalty"] * (0.5 + g["pmi"]),
    "1.5B coherence x (0.2 + Gemma value_min)": lambda l, g: l["coherence"] * (0.2 + g["value_min"]),
}


def main() -> None:
    rows = judge_rows(JudgesConfig())
    both = [k for k in LLM if "scores" in LLM[k] and "scores" in GEMMA.get(k, {})]
    print("| product | HANNA Coherence | HANNA Surprise | " + " | ".join(CORRUPTIONS) + " |")
    print("|---" * (3 + len(CORRUPTIONS)) + "|")
    for name, f in PRODUCTS.items():
        readings = {k: {"scores": {"x": f(LLM[k]["scores"], GEMMA[k]["scores"])}} for k in both}
        h = hanna_agreement(rows, readings, 1.0)["x"]
        c = contrast_agreement(rows, readings, "x")
        print(f"| {name} | {h['Coherence']['agreement']:.3f} | {h['Surprise']['agreement']:.3f} | "
              + " | ".join(f"{c[t]['agreement']:.2f}" for t in CORRUPTIONS) + " |")
    print(f"\n{len(both)} stories read by both (96 HANNA, 108 contrast, 128 retest); HANNA pairs over a gap of 1, ties half.")


if __name__ == "__main__":
    main()
