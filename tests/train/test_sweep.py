"""The ORPO sweep's variants, choice and report (pure parts; the end-to-end sweep runs in
``test_loop.py`` on the loop it builds)."""

from __future__ import annotations

import json

import pytest

from storyspace.errors import UserError
from storyspace.train.orpo import TrainConfig
from storyspace.train.pairs import PairConfig
from storyspace.train.sweep import DEFAULT_VARIANTS, Variant, check_variant, choose, read_variants, slug, sweep_markdown


def test_variant_flags_are_the_loops_own_flags() -> None:
    v = Variant("x", {"beta": 1.0, "learning_rate": 0.0005}, {"max_pairs": 24})
    assert v.flags() == "--beta 1.0 --learning-rate 0.0005 --max-pairs 24"
    assert Variant("loop").flags() == ""
    assert len({slug(v.name) for v in DEFAULT_VARIANTS}) == len(DEFAULT_VARIANTS)
    assert not any("," in v.name for v in DEFAULT_VARIANTS)
    for v in DEFAULT_VARIANTS:
        check_variant(v, TrainConfig(max_steps=12), PairConfig())


def test_check_variant_applies_on_top_of_the_loops_settings() -> None:
    t, p = check_variant(Variant("b", {"beta": 1.0}, {"min_margin": 0.1}), TrainConfig(max_steps=12), PairConfig())
    assert t.beta == 1.0 and t.max_steps == 12 and p.min_margin == 0.1
    with pytest.raises(UserError, match="unknown setting 'betta'"):
        check_variant(Variant("b", {"betta": 1.0}), TrainConfig(), PairConfig())
    with pytest.raises(UserError, match="learning-rate"):
        check_variant(Variant("b", {"learning_rate": -1.0}), TrainConfig(), PairConfig())
    with pytest.raises(UserError, match="max-pairs"):
        check_variant(Variant("b", pairs={"max_pairs": -2}), TrainConfig(), PairConfig())


def test_read_variants_one_line_errors(tmp_path) -> None:  # noqa: ANN001
    f = tmp_path / "v.json"
    f.write_text(json.dumps([{"name": "beta 1", "train": {"beta": 1.0}}, {"name": "few", "pairs": {"max_pairs": 8}}]))
    got = read_variants(f)
    assert [v.name for v in got] == ["beta 1", "few"] and got[1].pairs == {"max_pairs": 8}
    for text, message in (("{}", "JSON list"), ("[", "not JSON"), ("[]", "names no variant"),
                          ('[{"train": {}}]', "needs a name"), ('[{"name": "a", "lr": 1}]', "unknown key 'lr'"),
                          ('[{"name": "a"}, {"name": "A"}]', "share a name"), ('[{"name": "a, b"}]', "comma"),
                          ('[{"name": "a", "train": {"beta": "x"}}]', "beta")):
        f.write_text(text)
        with pytest.raises(UserError, match=message):
            read_variants(f)
    with pytest.raises(UserError):
        read_variants(tmp_path / "missing.json")


def _row(name: str, a: float, b: float, ppl: float | None) -> dict:
    return {"variant": name, "flags": "", "pairs": 10,
            "judge_a": {"effect_sd": a, "p_welch": 0.5, "p_perm": 0.5, "p_paired_t": 0.04},
            "judge_b": {"effect_sd": b, "p_welch": 0.5, "p_perm": 0.5, "p_paired_t": 0.3}, "perplexity_change": ppl,
            "guards": {"distinct_2": 0.9, "meta_share": 0.1}, "orpo": {"rewards/accuracies": 0.5}}


def test_choose_takes_the_best_smaller_effect_within_the_perplexity_guard() -> None:
    rows = [_row("both small", 0.2, 0.1, 0.0), _row("a only", 0.9, -0.1, 0.0), _row("both", 0.4, 0.3, 0.05),
            _row("collapsed", 1.0, 1.0, 0.5)]
    assert choose(rows)["variant"] == "both"
    assert choose([_row("collapsed", 1.0, 1.0, 0.5)]) is None
    md = sweep_markdown(rows, {"heldout_premises": 16, "seeds": 2, "hanna_perplexity": 20.0}, "storyspace sweep L")
    assert "| both | (the loop's own) | 10 | +0.40 (0.5, 0.5, 0.04) | +0.30 (0.5, 0.5, 0.3) | +5.0% |" in md
    assert "**both** (`storyspace loop`)" in md and "`storyspace sweep L`" in md
