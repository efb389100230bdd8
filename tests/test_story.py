from storyspace.story import (PromptConfig, Step, Story, clean_passage, clean_plan, passage_messages, reader_context,
                              whole_sentences)


def test_clean_passage_cuts_at_last_full_sentence_and_drops_artefacts() -> None:
    c = clean_passage("<|im_start|>assistant\nPassage: The door creaked.  She froze, listening. Then the")
    assert c.text == "The door creaked. She froze, listening."
    assert not c.cut_off and c.trimmed_chars == len(" Then the")


def test_clean_passage_keeps_closing_quotes_and_flags_cut_off() -> None:
    assert clean_passage('"Run!" she said. "Now."').text == '"Run!" she said. "Now."'
    c = clean_passage("and then the sea rose without")
    assert c.cut_off and c.text == "and then the sea rose without"
    assert clean_passage("   ").text == "" and not clean_passage("").cut_off


def test_whole_sentences_drops_the_cut_off_tail_only() -> None:
    assert whole_sentences('She froze. "Run!" he said. Then the') == 'She froze. "Run!" he said.'
    assert whole_sentences("The sea rose (again.) ") == "The sea rose (again.)"
    assert whole_sentences("and then the sea rose without") == ""


def test_clean_plan_is_one_line() -> None:
    assert clean_plan("Plan: She opens the bottle.\nMore text") == "She opens the bottle."


def test_prompts_contain_premise_story_and_plan() -> None:
    prompts = PromptConfig()
    story = Story("A premise.").extend(Step("First passage."))
    user = passage_messages(story, prompts, plan="She runs.")[-1]["content"]
    assert "A premise." in user and "First passage." in user and "She runs." in user
    empty = passage_messages(Story("A premise."), prompts)[-1]["content"]
    assert prompts.empty_story in empty and "What happens next" not in empty
    ctx = reader_context(story, prompts)
    assert ctx.startswith("Writing prompt: A premise.") and ctx.endswith("First passage.\n\n")
    assert reader_context(story, prompts, with_story=False) == prompts.reader_neutral


def test_story_text_and_markdown() -> None:
    story = Story("P.", (Step("One."), Step("Two.", plan="x")))
    assert story.text() == "One.\n\nTwo."
    assert "**Premise.** P." in story.markdown()
