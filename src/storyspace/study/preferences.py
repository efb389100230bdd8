"""``storyspace pairs --from-study``: people's choices as ORPO preference pairs (TRL format).

A pair becomes a preference when its raters' majority chose one side (tied votes are left out):
prompt = the policy prompt the study kept for it (chat messages, or a prefill-style run's exact
text), chosen = the side people preferred.

``render`` (``pairs --from-study --prompt-for SPEC``) writes each sibling pair's prompt afresh for
another policy: from the pair's premise and story so far with that policy's chat template, as the
loop writes its own pairs, so that choices made between one writer's passages can train another.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Callable

from storyspace.errors import UserError
from storyspace.study.create import load_study
from storyspace.study.ratings import read_ratings


#: (premise, story so far as passages) -> (prompt, lead), as ``story.preference_prompt`` gives them
Render = Callable[[str, list[str]], tuple[Any, str]]


def study_preferences(study_dir: Path, render: Render | None = None) -> list[dict[str, Any]]:
    study = load_study(study_dir)
    ratings = read_ratings(study_dir)
    out = []
    for pair in study["pairs"]:
        votes = Counter(r["choice"] for r in ratings if r["pair"] == pair["id"])
        if votes["a"] == votes["b"]:
            continue
        win, lose = ("a", "b") if votes["a"] > votes["b"] else ("b", "a")
        prompt, lead = pair.get("prompt"), str(pair.get("lead", ""))
        if render is not None:
            if pair.get("kind") != "siblings" or not isinstance(pair.get("context"), list):
                raise UserError(f"{study_dir}: pair {pair['id']} is not of sibling passages: its prompt cannot be "
                                "written for another policy")
            prompt, lead = render(str(pair.get("premise", "")), [str(p) for p in pair["context"]])
        if isinstance(prompt, str) and prompt:  # a prefill-style prompt: the exact text, passages follow it
            sides = {"chosen": lead + pair[win]["text"], "rejected": lead + pair[lose]["text"]}
        elif isinstance(prompt, list) and prompt:
            sides = {"chosen": [{"role": "assistant", "content": pair[win]["text"]}],
                     "rejected": [{"role": "assistant", "content": pair[lose]["text"]}]}
        else:
            raise UserError(f"{study_dir}: pair {pair['id']} keeps no policy prompt")
        out.append({"prompt": prompt, **sides,
                    "study": str(study_dir), "pair": pair["id"], "kind": pair.get("kind", ""),
                    "premise": pair.get("premise", ""),
                    "votes": f"{votes[win]}-{votes[lose]}"})
    return out
