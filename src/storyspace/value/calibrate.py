"""Calibrate the value model on human stories, and compare coherence signals.

Curiosity: mean and SD of the reference reader's step surprisal on HANNA human stories define
"moderate". Coherence: at one position per story, the true next passage, a passage of another
story and the true passage with its words shuffled are scored by each signal; we report means,
AUCs (probability that the true passage scores higher) and pick the best-separating signal.
AUCs are rank statistics, so fitting the PMI logistic on the same data does not change them.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Callable, Sequence

from storyspace.corpus import N_STORIES
from storyspace.flags import flag
from storyspace.models.base import LanguageModel
from storyspace.story import PromptConfig, Step, Story, reader_context, split_steps
from storyspace.value.coherence import MiniLMEmbedder, judge_yes_probability, pmi_coherence, PMIParams
from storyspace.value.curiosity import CuriosityParams, curiosity
from storyspace.value.model import step_value
from storyspace.value.surprisal import mean_surprisal

CONDITIONS = ("true", "other", "shuffled")


@dataclass(frozen=True)
class CalibrateConfig:
    """- ``step_tokens``: a step is whole sentences adding up to at least this many tokens of the
      reader (``story.split_steps``; ~32 words, like the DESIGN probe); ``positions``: steps per story used for curiosity;
      ``compare_position``: which step is the contrast's "next passage" (after ~80 tokens);
      ``judge``: include the judge signal (one prompt per passage); ``seed``: shuffling."""

    n_stories: int = field(default=96, metadata=N_STORIES)
    step_tokens: int = field(default=40, metadata=flag("--step-tokens", "reader tokens per human step"))
    positions: int = field(default=4, metadata=flag("--positions", "steps per story used for curiosity"))
    compare_position: int = field(default=2, metadata=flag("--compare-position", "step of the coherence contrast"))
    judge: bool = field(default=True, metadata=flag("--judge-signal", "compare the judge's coherence signal too"))
    seed: int = field(default=0, metadata=flag("--seed", "seed of the shuffled passages"))


def auc(pos: Sequence[float], neg: Sequence[float]) -> float:
    """P(pos > neg) + 0.5 P(tie) over all pairs (Mann-Whitney)."""
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def _mean_sd(xs: Sequence[float]) -> list[float]:
    xs = [x for x in xs if math.isfinite(x)]
    if not xs:
        return [float("nan"), float("nan")]
    return [round(statistics.fmean(xs), 4), round(statistics.pstdev(xs), 4)]


def calibrate(
    reader: LanguageModel,
    reader_spec: str,
    stories: Sequence[dict],
    cfg: CalibrateConfig,
    prompts: PromptConfig,
    judge: LanguageModel | None = None,
    embedder: MiniLMEmbedder | None = None,
    cosine_cap: float = 0.6,
    on_story: Callable[[int], None] | None = None,
) -> dict:
    rng = random.Random(cfg.seed)
    rows = [
        (r["prompt"].strip(), split_steps(r["human_story"], cfg.step_tokens, reader.count_tokens))
        for r in list(stories)[: cfg.n_stories]
    ]
    rows = [(p, s) for p, s in rows if len(s) > cfg.compare_position]
    embedder = embedder or MiniLMEmbedder()
    cur_surprisal: list[float] = []
    signals: dict[str, dict[str, list[float]]] = {c: {} for c in CONDITIONS}

    def add(cond: str, name: str, value: float) -> None:
        signals[cond].setdefault(name, []).append(value)

    for i, (premise, steps) in enumerate(rows):
        for j in range(min(cfg.positions, len(steps))):
            story = Story(premise, tuple(Step(s) for s in steps[:j]))
            cur_surprisal += mean_surprisal(reader, reader_context(story, prompts), [steps[j]])
        j = cfg.compare_position
        story = Story(premise, tuple(Step(s) for s in steps[:j]))
        other_steps = rows[(i + 1) % len(rows)][1]
        true = steps[j]
        other = other_steps[min(j, len(other_steps) - 1)]
        tokens = true.split()
        rng.shuffle(tokens)
        passages = {"true": true, "other": other, "shuffled": " ".join(tokens)}
        texts = [passages[c] for c in CONDITIONS]
        s_ctx = mean_surprisal(reader, reader_context(story, prompts), texts)
        s_neu = mean_surprisal(reader, reader_context(story, prompts, with_story=False), texts)
        cos = embedder.cosines(story.text() or premise, texts)
        yes = judge_yes_probability(judge, story, texts) if (cfg.judge and judge is not None) else None
        for k, cond in enumerate(CONDITIONS):
            add(cond, "surprisal", s_ctx[k])
            add(cond, "pmi", s_neu[k] - s_ctx[k])
            add(cond, "cosine", cos[k])
            if yes is not None:
                add(cond, "judge", yes[k])
        if on_story is not None:
            on_story(i)

    mu = statistics.fmean(cur_surprisal)
    sigma = statistics.pstdev(cur_surprisal)
    cur_params = CuriosityParams(mu=mu, sigma=sigma)
    pt, po = signals["true"]["pmi"], signals["other"]["pmi"]
    pmi_params = PMIParams(
        center=(statistics.fmean(pt) + statistics.fmean(po)) / 2.0,
        scale=max(0.05, (statistics.pstdev(pt) + statistics.pstdev(po)) / 4.0),
    )
    names = [n for n in ("pmi", "cosine", "judge") if n in signals["true"]]
    coherence_of = {
        "pmi": lambda x: pmi_coherence(x, pmi_params),
        "cosine": lambda x: max(0.0, min(x, cosine_cap)) / cosine_cap,
        "judge": lambda x: x,
    }
    auc_table, value_auc = {}, {}
    for name in names:
        t, o, s = (signals[c][name] for c in CONDITIONS)
        a_other, a_shuf = auc(t, o), auc(t, s)
        auc_table[name] = {"other": round(a_other, 4), "shuffled": round(a_shuf, 4), "mean": round((a_other + a_shuf) / 2, 4)}
        vals = {
            c: [
                step_value(curiosity(sur, cur_params), coherence_of[name](x))
                for sur, x in zip(signals[c]["surprisal"], signals[c][name])
            ]
            for c in CONDITIONS
        }
        va, vs = auc(vals["true"], vals["other"]), auc(vals["true"], vals["shuffled"])
        value_auc[name] = {"other": round(va, 4), "shuffled": round(vs, 4), "mean": round((va + vs) / 2, 4)}
    best = max(names, key=lambda n: auc_table[n]["mean"])
    paired = {
        name: {
            c: round(
                statistics.fmean(t > x for t, x in zip(signals["true"][name], signals[c][name])), 4
            )
            for c in ("other", "shuffled")
        }
        for name in names
    }
    return {
        "name": f"{reader_spec}-hanna",
        "reader": reader_spec,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "corpus": f"HANNA human stories ({len(rows)} used)",
        "config": {**asdict(cfg), "cosine_cap": cosine_cap},
        "curiosity": {"mu": round(mu, 4), "sigma": round(sigma, 4), "z0": 0.0, "width": 1.0, "n_steps": len(cur_surprisal)},
        "coherence": {"pmi": {"center": round(pmi_params.center, 4), "scale": round(pmi_params.scale, 4)}, "cosine": {"cap": cosine_cap}},
        "comparison": {
            "n_stories": len(rows),
            "by_condition": {c: {n: _mean_sd(v) for n, v in signals[c].items()} for c in CONDITIONS},
            "signal_auc": auc_table,
            "signal_paired_win_rate": paired,
            "value_auc": value_auc,
            "best_signal": best,
        },
    }


def comparison_markdown(result: dict) -> str:
    comp = result["comparison"]
    lines = [
        f"Reader {result['reader']}, {comp['n_stories']} HANNA stories. Curiosity: mu = "
        f"{result['curiosity']['mu']:.3f}, sigma = {result['curiosity']['sigma']:.3f} nats/token "
        f"({result['curiosity']['n_steps']} human steps).",
        "",
        "| signal | true (mean ± SD) | other story | shuffled | AUC true>other | AUC true>shuffled | value AUC other / shuffled |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ["surprisal", *comp["signal_auc"].keys()]:
        by = comp["by_condition"]
        cells = [f"{by[c][name][0]:.3f} ± {by[c][name][1]:.3f}" for c in CONDITIONS]
        if name in comp["signal_auc"]:
            a, v = comp["signal_auc"][name], comp["value_auc"][name]
            extra = [f"{a['other']:.3f}", f"{a['shuffled']:.3f}", f"{v['other']:.3f} / {v['shuffled']:.3f}"]
        else:
            extra = ["", "", ""]
        lines.append(f"| {name} | " + " | ".join(cells + extra) + " |")
    lines += ["", f"Best coherence signal (mean AUC over both contrasts): **{comp['best_signal']}**"]
    return "\n".join(lines)
