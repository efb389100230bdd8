import pytest

from storyspace.value.penalties import PenaltyConfig, copying, penalties, repetition


def test_repetition_counts_repeated_trigrams() -> None:
    assert repetition("the cat sat on the mat", 3) == 0.0
    # "a b c a b c": 4 trigrams, 3 distinct
    assert repetition("a b c a b c", 3) == pytest.approx(0.25)


def test_copying_counts_ngrams_seen_in_the_story() -> None:
    story = "The keeper climbed the stairs of the old lighthouse at dawn."
    assert copying("climbed the stairs of the old lighthouse at dawn.", story, 4) == pytest.approx(1.0)
    assert copying("She climbed the stairs of the old lighthouse at dawn.", story, 4) == pytest.approx(6 / 7)
    assert copying("A gull screamed over the grey water below her.", story, 4) == 0.0


def test_penalty_factors_multiply() -> None:
    cfg = PenaltyConfig()
    clean = penalties("A gull screamed over the grey water below her.", "", cut_off=False, cfg=cfg)
    assert clean["penalty"] == 1.0
    cut = penalties("A gull screamed over the grey water below", "", cut_off=True, cfg=cfg)
    assert cut["penalty"] == pytest.approx(cfg.cut_off_factor)
    short = penalties("Yes.", "", cut_off=False, cfg=cfg)
    assert short["penalty"] == 0.0 and short["too_short"] == 1.0
    copied = penalties("the old lighthouse at dawn", "by the old lighthouse at dawn", cut_off=False, cfg=cfg)
    assert copied["penalty"] == 0.0


def test_meta_talk_about_the_story_is_penalised_but_prose_is_not() -> None:
    cfg = PenaltyConfig()
    advice = "Let's try to make this into a captivating opening scene. You could introduce the idea of dying."
    assert penalties(advice, "", cut_off=False, cfg=cfg)["penalty"] == pytest.approx(cfg.meta_factor)
    for prose in (
        "She told the story of the drowned bells to anyone who would listen.",
        '"You could stay," he said, but the lantern was already out.',
        "Let them come, she thought, and bolted the door.",
    ):
        out = penalties(prose, "", cut_off=False, cfg=cfg)
        assert out["meta"] == 0.0 and out["penalty"] == 1.0
