"""A study's sibling choices as labels a value can be fitted on (``fit-value --study``).

A label is one sibling pair (two passages the policy wrote after the same story so far) and the
votes its raters cast for each side, counted over every showing (a both-orders study shows each
pair to a rater twice, sides swapped). Pairs nobody rated are left out; what a split vote means
is the fit's choice (``value.fit_data.sibling_fit_pairs`` drops a tie and weighs the rest by
their margin), so a label keeps both counts.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from storyspace.errors import UserError
from storyspace.study.create import load_study
from storyspace.study.ratings import read_ratings


def sibling_labels(study_dir: Path, raters: frozenset[str] | set[str] = frozenset()) -> list[dict[str, Any]]:
    """The rated sibling pairs of a study: ``premise``, ``context`` (the story so far, a passage
    a step), ``a`` and ``b`` (texts), ``votes`` ``[for a, for b]``, ``nodes`` and ``source`` (where
    the two passages came from) and ``id`` (``study_dir:pair``). ``raters``: only these (all when
    empty)."""
    study = load_study(study_dir)
    votes: dict[str, Counter] = {}
    for r in read_ratings(study_dir):
        if raters and r["rater"] not in raters:
            continue
        votes.setdefault(r["pair"], Counter())[r["choice"]] += 1
    out = []
    for pair in study["pairs"]:
        got = votes.get(pair["id"])
        if pair.get("kind") != "siblings" or not got:
            continue
        context = pair.get("context", [])
        if not isinstance(context, list) or not all(isinstance(x, str) for x in context):
            raise UserError(f"{study_dir}: pair {pair['id']} has no story so far (context) to read the passages after")
        out.append({"id": f"{study_dir}:{pair['id']}", "premise": pair["premise"], "context": context,
                    "a": pair["a"]["text"], "b": pair["b"]["text"], "votes": [got["a"], got["b"]],
                    "nodes": [pair["a"].get("node"), pair["b"].get("node")],
                    "source": str(pair["a"].get("source", "")).rsplit(" node ", 1)[0]})
    if not out:
        raise UserError(f"{study_dir} holds no rated sibling pair (rate it first, or give a study of explore runs)")
    return out
