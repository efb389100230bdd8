"""Nucleus masking, checked against a plain full-sort reference (no model needed)."""

import torch

from storyspace.models.hf import _top_p_mask


def reference_top_p(logp: torch.Tensor, top_p: float) -> torch.Tensor:
    out = torch.full_like(logp, float("-inf"))
    for r in range(logp.shape[0]):
        order = logp[r].argsort(descending=True)
        mass = 0.0
        for i in order.tolist():
            out[r, i] = logp[r, i]
            mass += float(logp[r, i].exp())
            if mass >= top_p:
                break
    return out


def test_top_p_mask_matches_full_sort_reference() -> None:
    g = torch.Generator().manual_seed(0)
    peaked = torch.log_softmax(torch.randn(3, 3000, generator=g) * 4, dim=-1)
    flat = torch.log_softmax(torch.randn(2, 3000, generator=g) * 0.1, dim=-1)  # needs the full sort
    for logp in (peaked, flat):
        for top_p in (0.5, 0.9, 0.95):
            got = _top_p_mask(logp, top_p, candidates=256)
            want = reference_top_p(logp, top_p)
            assert torch.equal(torch.isinf(got), torch.isinf(want))
            assert torch.allclose(got[~torch.isinf(got)], want[~torch.isinf(want)])
