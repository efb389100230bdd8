"""The loop's held-out measurement (issue #14): is policy N's single-pass story better than
policy 0's, by judges it was not trained on, without gaming them?

Pure functions of what the loop saved: each held-out single-pass story's value by the value model
(judge a: ``value_mean``, the mean step value) and by the independent reader (judge b: the same
field of its reading), the policy's outputs (guards: distinct-n, repetition, meta talk), and its
mean log-prob per token of human HANNA stories (perplexity must not collapse). Story values are keyed by
held-out premise and seed (``p03.s1``). ``compare`` gives the standardised difference, Welch and
permutation p, a bootstrap CI of the difference, and p of the tests paired by that key.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Mapping, Sequence

from storyspace.eval.stats import (
    paired_permutation_p,
    paired_t_p,
    permutation_p,
    standardized_difference,
    welch_p,
)
from storyspace.story import words
from storyspace.value.penalties import PenaltyConfig, meta_talk, repetition

#: words of each human story the policy's perplexity is measured on (its opening)
HANNA_WORDS = 200


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """Distinct n-grams over all n-grams of the texts (words, lower case); 0 without any."""
    grams = [tuple(w.lower() for w in ws[i : i + n]) for t in texts for ws in [words(t)] for i in range(len(ws) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def guards(stories: Sequence[Sequence[str]], pen: PenaltyConfig) -> dict[str, float]:
    """What gaming would show in a policy's outputs (``stories``: each story's passages):
    ``distinct_2`` over all its text, mean ``repetition`` of a passage (repeated n-grams, as the
    penalty counts them), and ``meta_share``, the share of passages with meta talk."""
    passages = [p for s in stories for p in s if p.strip()]
    if not passages:
        return {"distinct_2": 0.0, "repetition": 0.0, "meta_share": 0.0, "passages": 0}
    return {
        "distinct_2": round(distinct_n(passages, 2), 4),
        "repetition": round(statistics.fmean(repetition(p, pen.repeat_ngram) for p in passages), 4),
        "meta_share": round(sum(meta_talk(p, pen.meta_patterns) > 0 for p in passages) / len(passages), 4),
        "passages": len(passages),
    }


def opening(text: str, n_words: int = HANNA_WORDS) -> str:
    """The first ``n_words`` words of a text, on one line."""
    return " ".join(text.split()[:n_words])


def perplexity(logprobs: Sequence[Sequence[float]]) -> float:
    """exp(mean negative log-prob per token) over all tokens of all texts; nan without tokens."""
    flat = [x for lp in logprobs for x in lp]
    return math.exp(-statistics.fmean(flat)) if flat else math.nan


def diff_ci(a: Sequence[float], b: Sequence[float], seed: int = 0, resamples: int = 5000) -> tuple[float, float]:
    """Percentile bootstrap 95 % CI of mean(a) - mean(b), each sample resampled on its own."""
    import numpy as np
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return (math.nan, math.nan)

    def diff(x: Any, y: Any, axis: int = -1) -> Any:
        return np.mean(x, axis=axis) - np.mean(y, axis=axis)

    res = stats.bootstrap((np.asarray(a, float), np.asarray(b, float)), diff, n_resamples=resamples,
                          method="percentile", vectorized=True, rng=np.random.default_rng(seed))
    low, high = res.confidence_interval
    return (float(low), float(high))


def compare(new: Mapping[str, float], old: Mapping[str, float], seed: int = 0) -> dict[str, float]:
    """``new`` against ``old``: story values by story key (held-out premise and seed, e.g.
    ``p03.s1``). Unpaired over all values: difference of means, in pooled SD (``effect_sd``),
    two-sided Welch and permutation p, a bootstrap CI of the difference. Paired over the keys both
    hold (the same premise and seed under either policy): ``n_paired``, ``p_paired_t`` and the
    sign-flip ``p_paired_perm``, which see through the spread between premises."""
    a, b = list(new.values()), list(old.values())
    low, high = diff_ci(a, b, seed)
    diff = statistics.fmean(a) - statistics.fmean(b) if a and b else math.nan
    keys = [k for k in new if k in old]
    pa, pb = [new[k] for k in keys], [old[k] for k in keys]
    return {"n_new": len(a), "n_old": len(b), "diff": _r(diff), "effect_sd": _r(standardized_difference(a, b)),
            "p_welch": _r(welch_p(a, b)), "p_perm": _r(permutation_p(a, b, seed)),
            "ci_low": _r(low), "ci_high": _r(high), "n_paired": len(keys),
            "p_paired_t": _r(paired_t_p(pa, pb)), "p_paired_perm": _r(paired_permutation_p(pa, pb, seed))}


def _r(x: float) -> float:
    return round(x, 4) if math.isfinite(x) else x


def comparison_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Each policy against policy 0 on the held-out single-pass stories: both judges and the guards."""
    if len(rows) < 2 or "stories" not in rows[0]:
        return ""
    base = rows[0]
    lines = ["", "Single-pass stories on the held-out premises, policy i against policy 0 (effect in pooled SD; "
             "Welch and permutation p; bootstrap 95 % CI of the difference; paired by premise and seed: "
             "t-test and sign-flip permutation p):", "",
             "| policy | judge | mean (policy i) | mean (policy 0) | effect (SD) | p Welch | p perm. | CI of difference "
             "| p paired t | p paired perm. | n |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows[1:]:
        for judge in ("a", "b"):
            new, old = r["stories"].get(judge, {}), base["stories"].get(judge, {})
            if len(new) < 2 or len(old) < 2:
                continue
            c = compare(new, old)
            lines.append(f"| {r['iteration']} | {judge} | {statistics.fmean(new.values()):.3f} "
                         f"| {statistics.fmean(old.values()):.3f} | {c['effect_sd']:+.2f} | {c['p_welch']:.3g} "
                         f"| {c['p_perm']:.3g} | [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] | {c['p_paired_t']:.3g} "
                         f"| {c['p_paired_perm']:.3g} | {len(new)} |")
    lines += ["", "Guards (policy outputs on the held-out premises; perplexity of human HANNA story openings "
              "of those premises under the policy's own prompt):", "",
              "| policy | HANNA perplexity | change | distinct-2 | repetition | meta talk (share of passages) |",
              "|---|---|---|---|---|---|"]
    ppl0 = base.get("hanna_perplexity", math.nan)
    for r in rows:
        g, ppl = r.get("guards", {}), r.get("hanna_perplexity", math.nan)
        change = (ppl / ppl0 - 1.0) if ppl0 and math.isfinite(ppl0) else math.nan
        lines.append(f"| {r['iteration']} | {ppl:.2f} | {change:+.1%} | {g.get('distinct_2', math.nan):.3f} "
                     f"| {g.get('repetition', math.nan):.3f} | {g.get('meta_share', math.nan):.3f} |")
    return "\n".join(lines) + "\n"


def summary(rows: Sequence[dict[str, Any]], command: str, heldout: int) -> dict[str, Any]:
    """``results/loop/summary.json``: the last policy against policy 0 (issue #14's fields)."""
    base, last = rows[0], rows[-1]
    out: dict[str, Any] = {"command": command, "heldout_premises": heldout, "policy": last["iteration"],
                           "stories": len(last.get("stories", {}).get("a", {}))}
    for judge in ("a", "b"):
        new, old = last.get("stories", {}).get(judge, {}), base.get("stories", {}).get(judge, {})
        if len(new) >= 2 and len(old) >= 2:
            out[f"judge_{judge}"] = compare(new, old)
    ppl0, ppl = base.get("hanna_perplexity", math.nan), last.get("hanna_perplexity", math.nan)
    out["hanna_perplexity_change"] = _r(ppl / ppl0 - 1.0) if ppl0 and math.isfinite(ppl0) and math.isfinite(ppl) else None
    return out
