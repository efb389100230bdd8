"""``storyspace validate-value``: do the value components agree with human ratings?

The shipped HANNA human stories are scored like any draft (``score_file``); each component is set
against the human Surprise and Coherence ratings: Spearman rho with a bootstrap 95% CI, and the
pairwise agreement rate over story pairs whose human ratings differ by at least ``min_gap``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from storyspace.corpus import N_STORIES
from storyspace.eval import stats
from storyspace.judges.scorers import SCORE_SKIP, ScoreConfig
from storyspace.flags import flag


SUITES = ("hanna", "contrast", "all")
#: flags shared by ``validate-value`` and ``validate-judges`` (declared once, here)
CONTRAST_STORIES = flag("--contrast-stories", "HANNA stories the contrast suite corrupts (9 versions each)")
CONTRAST_WORDS = flag("--contrast-words",
                      "the contrast suite reads each story's opening: whole sentences up to this many words")
MIN_GAP = flag("--min-gap", "least human rating gap of a compared pair")
CORRUPTION_SEED = flag("--seed", "seed of the corruptions")


@dataclass(frozen=True)
class ValidateConfig:
    """- ``n_stories``: how many of the 96 HANNA human stories; ``min_gap``: least human rating
    gap of a compared pair; ``score``: how each story is read (as ``storyspace score``, but
    without the independent reader unless ``--reader`` names one)."""

    suite: str = field(default="hanna", metadata=flag(
        "--suite", "hanna: human ratings; contrast: originals vs corrupted versions; all: both",
        choices=SUITES))
    n_stories: int = field(default=96, metadata=N_STORIES)
    contrast_stories: int = field(default=36, metadata=CONTRAST_STORIES)
    contrast_words: int = field(default=160, metadata=CONTRAST_WORDS)
    min_gap: float = field(default=1.0, metadata=MIN_GAP)
    seed: int = field(default=0, metadata=CORRUPTION_SEED)
    #: the independent reader (b) is off by default: it validates the value model (a), and (b) on
    #: llama.cpp reads a HANNA story ~5x slower than (a) does (``--reader`` turns it on)
    score: ScoreConfig = field(default_factory=lambda: ScoreConfig(reader=""))


#: settings that do not apply to validate-value (no LLM judge there)
VALIDATE_SKIP = tuple(f"score.{p}" for p in (*SCORE_SKIP, "llm_judge", "judge"))

#: (block, key) of the components compared with the human ratings
COMPONENTS = (
    ("value", "value_mean"),
    ("value", "value_min"),
    ("value", "curiosity"),
    ("value", "coherence"),
    ("value", "surprisal"),
    ("value", "pmi"),
    ("reader", "value_mean"),
    ("reader", "curiosity"),
    ("reader", "coherence"),
    ("reader", "surprisal"),
)
HUMAN = (("human_relevance", "Relevance"), ("human_coherence", "Coherence"), ("human_empathy", "Empathy"),
         ("human_surprise", "Surprise"), ("human_engagement", "Engagement"), ("human_complexity", "Complexity"))


def hanna_rows(stories: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """HANNA records as ``score`` rows (the ratings ride along)."""
    return [
        {"id": s["id"], "prompt": s["prompt"], "story": s["human_story"],
         **{k: s[k] for k in s if k.startswith("human_") and k != "human_story"}}
        for s in stories
    ]


def validation_table(rows: Sequence[dict[str, Any]], min_gap: float = 1.0, seed: int = 0) -> list[dict[str, Any]]:
    """One entry per (component, human rating) with rho, its CI, and the pairwise agreement."""
    ok = [r for r in rows if "error" not in r]
    out = []
    for block, key in COMPONENTS:
        have = [r for r in ok if isinstance(r.get(block), dict) and key in r[block]]
        if len(have) < 3:
            continue
        comp = [float(r[block][key]) for r in have]
        for human_key, human_name in HUMAN:
            if not all(human_key in r for r in have):
                continue
            hum = [float(r[human_key]) for r in have]
            rho, lo, hi = stats.spearman_ci(comp, hum, seed=seed)
            agree, pairs = stats.pairwise_agreement(comp, hum, min_gap)
            out.append({"component": f"{block}.{key}", "human": human_name, "n": len(have), "rho": rho,
                        "ci_low": lo, "ci_high": hi, "agreement": agree, "pairs": pairs})
    return out


def validation_markdown(table: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]], min_gap: float,
                        info: str = "") -> str:
    errors = sum(1 for r in rows if "error" in r)
    lines = [
        "# Value components vs human ratings (HANNA human stories)",
        "",
        (info + " " if info else "") + f"{len(rows) - errors} stories scored ({errors} could not be). "
        f"rho: Spearman, 95% bootstrap CI; agreement: share of story pairs whose human ratings differ by "
        f">= {min_gap:g} point that the component orders as the humans did (ties half). "
        "`value.*` = (a), the search's value model; `reader.*` = (b), the independent reader.",
        "",
        "| component | human rating | n | Spearman rho [95% CI] | pairwise agreement (pairs) |",
        "|---|---|---|---|---|",
    ]
    for t in table:
        lines.append(
            f"| {t['component']} | {t['human']} | {t['n']} | {t['rho']:+.3f} [{t['ci_low']:+.3f}, {t['ci_high']:+.3f}] "
            f"| {t['agreement']:.3f} ({t['pairs']}) |"
        )
    return "\n".join(lines) + "\n"


def hanna_json(table: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{criterion: {component: {"agreement", "rho", "pairs"}}}`` (the story value is
    ``value.value_mean``)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for t in table:
        out.setdefault(t["human"], {})[t["component"]] = {"agreement": t["agreement"], "rho": t["rho"],
                                                          "pairs": t["pairs"]}
    return out


def contrast_markdown(table: dict[str, dict[str, dict]], n_stories: int, n_steps: int) -> str:
    from storyspace.contrast import CORRUPTIONS

    lines = [
        "# The value model vs corrupted stories (contrast suite)",
        "",
        f"{n_stories} HANNA human stories (their openings), each against 8 corrupted versions (story value `value.value_mean`), and"
        f" at {n_steps} story positions the true next step against 8 corrupted steps (step value). Agreement: share"
        " of pairs where the original scored higher (ties half); the target is >= 0.95 for every type.",
        "",
        "| corruption | story level (pairs) | step level (pairs) |",
        "|---|---|---|",
    ]
    for kind in CORRUPTIONS:
        s, t = table["story"].get(kind, {}), table["step"].get(kind, {})
        lines.append(f"| {kind} | {s.get('agreement', float('nan')):.3f} ({s.get('pairs', 0)}) |"
                     f" {t.get('agreement', float('nan')):.3f} ({t.get('pairs', 0)}) |")
    return "\n".join(lines) + "\n"
