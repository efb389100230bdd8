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


def test_a_sentence_repeated_word_for_word_is_penalised() -> None:
    from storyspace.value.penalties import repeated_sentences

    so_far = "A premise.\nThe air was thick with the scent of leather. A door opened."
    again = "The air was thick with the scent of leather! As I walked in, a figure emerged."
    assert repeated_sentences(again, so_far, 4) == 1
    assert repeated_sentences("A door opened. A door opened. Rain fell on the roof.", "", 4) == 0  # 3 words
    assert repeated_sentences("She ran to the sea. Then she ran to the sea.", "", 4) == 0  # not word for word
    cfg = PenaltyConfig()
    got = penalties(again, so_far, cut_off=False, cfg=cfg)
    assert got["repeated_sentences"] == 1.0
    assert got["penalty"] == pytest.approx(max(0.0, 1 - cfg.copy_weight * got["copying"]) * cfg.sentence_copy_factor, abs=1e-3)


def test_meta_talk_earlier_in_the_story_taints_the_steps_after_it() -> None:
    cfg = PenaltyConfig()
    prose = "A gull screamed over the grey water below her."
    story = "Let's try to make this into a captivating opening scene."
    tainted = penalties(prose, "A premise.\n" + story, cut_off=False, cfg=cfg, story_text=story)
    assert tainted["meta"] == 0.0 and tainted["meta_before"] == 1.0 and tainted["penalty"] == cfg.meta_factor
    # the premise is not the story: a premise that names "the reader" taints nothing
    clean = penalties(prose, "The reader finds a letter.\n", cut_off=False, cfg=cfg, story_text="")
    assert clean["penalty"] == 1.0
    off = penalties(prose, "x\n" + story, cut_off=False, cfg=PenaltyConfig(meta_taints=False), story_text=story)
    assert off["penalty"] == 1.0


def test_mined_meta_talk_is_caught_and_human_stories_are_not() -> None:
    from storyspace.corpus import human_stories
    from storyspace.value.penalties import META_PATTERNS, MINED_PATTERNS, meta_talk

    mined = META_PATTERNS[-MINED_PATTERNS:]
    for text in ("What a fascinating world you have here. In this land of the old earth, nothing differs.",
                 "What a haunting and beautiful end. In the heart of a world shrouded in darkness...",
                 "The story opens with a legend that has been passed down through the ages.",
                 "It's a story about what happens when you're inspired by inspiration.",
                 "The plot revolves around a top-secret experiment."):
        assert meta_talk(text, mined) > 0, text
    for text in ("What a night it had been.", "The storm opens with a roar over the bay.",
                 "She told a story about her father, and the plot of land he left her."):
        assert meta_talk(text, mined) == 0, text
    assert not [h["prompt"] for h in human_stories() if meta_talk(h["human_story"], mined)]


def test_one_content_word_over_and_over_is_penalised_and_human_stories_are_not() -> None:
    from storyspace.corpus import human_stories
    from storyspace.story import split_steps
    from storyspace.value.penalties import word_loop

    looped = "I opened my backpack and collected a tiny, tiny amount of tiny, tiny water that looked tiny, tiny."
    assert word_loop(looped)[:2] == ("tiny", 6)
    cfg = PenaltyConfig()
    got = penalties(looped, "", cut_off=False, cfg=cfg)
    assert got["word_loop"] == 1.0 and got["repetition"] == 0.0  # the n-gram share misses it
    assert got["penalty"] == pytest.approx(cfg.word_loop_factor)
    # function words and short words do not count; a word said 5 times in a long passage is not a loop
    assert word_loop("It was the end of it and the end of the day, the end of all of it.")[0] == "end"
    prose = ("The fire had burned all night in the harbour, and by morning the fishermen stood in a line along "
             "the wall to watch it. Nobody spoke of the fire. Old Marta said a fire like that was a sign of more fire, and "
             "her grandson laughed at her, but he did not laugh when the bells began to ring across the water "
             "and the last boat came in empty, its nets cut, its lamps still lit, smoke from the fire on its sails.")
    word, count, share = word_loop(prose)
    assert (word, count) == ("fire", 5) and share < 0.11
    assert penalties(prose, "", cut_off=False, cfg=cfg)["word_loop"] == 0.0  # under a tenth of its words
    # none of the shipped HANNA human stories' steps trips it
    count = lambda text: len(text.split())  # noqa: E731
    steps = [p for h in human_stories() for p in split_steps(h["human_story"], 40, count)]  # shorter than 64 tokens
    assert len(steps) > 300
    assert not [p for p in steps if penalties(p, "", cut_off=False, cfg=cfg)["word_loop"]]


def test_refusals_are_meta_talk_and_dialogue_is_not() -> None:
    from storyspace.corpus import human_stories
    from storyspace.value.penalties import META_PATTERNS, meta_talk

    refusals = META_PATTERNS[7:9]
    assert all("sorry" in p or "assist" in p for p in refusals)
    for text in ("I'm sorry, but I can't assist with that request.", "I am sorry, but I cannot write that.",
                 "Unfortunately I cannot help with this particular request."):
        assert meta_talk(text, refusals) > 0, text
        assert penalties(text, "", cut_off=False, cfg=PenaltyConfig())["penalty"] == PenaltyConfig().meta_factor
    for text in ('"I\'m sorry, but you must leave," the keeper said.', "I can't help but smile at the sea.",
                 "She could not help with the nets that night."):
        assert meta_talk(text, refusals) == 0, text
    assert not [h["prompt"] for h in human_stories() if meta_talk(h["human_story"], refusals)]
