"""The studio's Markdown export on a small tree made by hand (no model): the premise as an escaped
title, passages that end on a whole sentence, one branch, the whole tree, clean file names. The
Markdown is rendered by markdown-it-py (CommonMark, raw HTML on, as a preview that renders HTML)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from storyspace.errors import UserError
from storyspace.runs import RunDir, SavedRun
from storyspace.search.tree import Tree
from storyspace.studio import export

PREMISE = "A lighthouse keeper finds a letter addressed to her from the future."
MARKUP = '<script>window.x = 1</script><img src=x onerror="alert(1)"> & the keeper\'s #1 *night* #'
WHOLE = "The lamp went out at midnight. She climbed the stairs in the dark."
CUT = "A letter lay on the sill. It was dated 2071 and began with her"  # ended by the token limit
NOTHING_WHOLE = "and the tide kept rising with no end in"
HUMAN = "She folded the letter away, unread"  # a person's passage: theirs as written


def small_tree() -> Tree:
    """0 -> 1 -> {3 (cut off), 4 (no whole sentence)}; 0 -> 2 -> 5 (a person's). Node 3 has the
    most visits: the best path is 0, 1, 3."""
    tree = Tree.new(2)
    for parent, passage, author in ((0, WHOLE, "policy"), (0, "# Not a heading. - Nor a list.", "policy"),
                                    (1, CUT, "policy"), (1, NOTHING_WHOLE, "policy"), (2, HUMAN, "human")):
        tree.add_child(parent, {"plan": "", "passage": passage, "author": author}, 0.0, 0.5, {})
    for n, visits in ((1, 3), (2, 1), (3, 2), (4, 1), (5, 1)):
        tree.nodes[n].visits = visits
    return tree


def saved(tmp_path: Path, premise: str = PREMISE, pinned: int | None = None) -> SavedRun:
    tree = small_tree()
    return SavedRun(run=RunDir(tmp_path), meta={"pinned": pinned} if pinned else {}, config=None,
                    premise=premise, tree=tree)


def render(md: str) -> str:
    return MarkdownIt("commonmark").render(md)


def test_the_title_is_the_premise_escaped_so_markup_stays_text(tmp_path: Path) -> None:
    got = export.export_run(saved(tmp_path, premise=MARKUP + "\n\nsecond line")).text
    html = render(got)
    assert "<script" not in html and "<img" not in html  # nothing of it runs in a preview
    first = html.splitlines()[0]
    assert first.startswith("<h1>") and first.endswith("</h1>")
    shown = re.sub(r"<[^>]+>", "", first).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    assert shown.replace("&amp;", "&") == MARKUP.replace("*night*", "night") + " second line"
    assert got.startswith("# &lt;script&gt;") and "Best story" not in got and "Chosen story" not in got
    plain = export.export_run(saved(tmp_path)).text
    assert plain.startswith(f"# {PREMISE}\n\n")
    for premise in ("# A heading", "- a list", "1. a list"):  # a leading marker shows as written
        assert render(f"# {export.title(premise)}\n") == f"<h1>{premise}</h1>\n"


def test_a_cut_off_passage_ends_on_its_last_whole_sentence(tmp_path: Path) -> None:
    run = saved(tmp_path)
    got = export.export_run(run).text  # the chosen story: the best path 0, 1, 3
    assert got == f"# {PREMISE}\n\n{WHOLE}\n\nA letter lay on the sill.\n"
    assert run.tree.nodes[3].step["passage"] == CUT  # the run's text is left as it was
    assert export.whole('She said, "Go." He') == 'She said, "Go."'


def test_a_passage_with_no_whole_sentence_is_kept_with_an_ellipsis(tmp_path: Path) -> None:
    got = export.export_run(saved(tmp_path), node=4).text
    assert got.endswith(f"\n\n{NOTHING_WHOLE}…\n")
    assert export.whole("the sea was grey, ") == "the sea was grey…"
    human = export.export_run(saved(tmp_path), node=5).text
    assert human.endswith(f"\n\n{HUMAN}\n")  # a person's passage as they wrote it


def test_any_branch_exports_the_path_to_its_node(tmp_path: Path) -> None:
    run = saved(tmp_path, pinned=4)
    branch = export.export_run(run, node=2)
    html = render(branch.text)
    assert "<h1>" in html and html.count("<h1>") == 1 and "<ul>" not in html  # no heading or list in a passage
    assert "<p># Not a heading. - Nor a list.</p>" in html
    assert branch.name == "a-lighthouse-keeper-finds-a-letter-addressed-to-her-from-the-node-2.md"
    assert export.export_run(run).text.endswith(f"{NOTHING_WHOLE}…\n")  # the default: the pinned story
    with pytest.raises(UserError, match="no node 9 in this run"):
        export.export_run(run, node=9)
    with pytest.raises(UserError, match="no node -1 in this run"):
        export.export_run(run, node=-1)
    with pytest.raises(UserError, match="premise"):
        export.export_run(run, node=0)
    with pytest.raises(UserError, match="not both"):
        export.export_run(run, node=2, whole_tree=True)


def test_the_whole_tree_has_a_heading_per_branch_and_each_passage_once(tmp_path: Path) -> None:
    got = export.export_run(saved(tmp_path), whole_tree=True)
    assert got.name == "a-lighthouse-keeper-finds-a-letter-addressed-to-her-from-the-tree.md"
    assert got.text == "\n\n".join([
        f"# {PREMISE}",
        "_Every branch of the tree: 3 in all._",
        "## Branch 1 (node 3, the chosen story)", WHOLE, "A letter lay on the sill.",
        "## Branch 2 (node 4)", "_The story of branch 1 up to its passage 1, then:_", NOTHING_WHOLE + "…",
        "## Branch 3 (node 5)", "\\# Not a heading. - Nor a list.", HUMAN,
    ]) + "\n"
    html = render(got.text)
    assert html.count("<h2>") == 3 and html.count(WHOLE) == 1
    alone = SavedRun(run=RunDir(tmp_path), meta={}, config=None, premise=PREMISE, tree=Tree.new(2))
    assert export.export_run(alone, whole_tree=True).text == f"# {PREMISE}\n\n{export.NO_PASSAGES}\n"


@pytest.mark.parametrize("premise, name", [
    (PREMISE, "a-lighthouse-keeper-finds-a-letter-addressed-to-her-from-the.md"),  # cut between words
    ("The keeper's café: <b>Ärger</b> / über alles?!", "the-keepers-cafe-b-arger-b-uber-alles.md"),
    ("灯台守", "story.md"),  # no ASCII letter left
    ("x" * 100 + " tail", "x" * export.NAME_CHARS + ".md"),  # one word over the limit is cut
    ("../../etc/passwd\n\"quoted\"", "etc-passwd-quoted.md"),
])
def test_file_names_are_whole_words_of_safe_characters(premise: str, name: str) -> None:
    got = export.file_name(premise)
    assert got == name
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*\.md", got) and len(got) <= export.NAME_CHARS + 3
