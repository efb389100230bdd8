"""The studio's Markdown export of a run: the chosen story, one branch (the path from the root to
a node) or the whole tree, a heading per branch. Read-only: nothing of the run is changed.

A Markdown preview shows the text as it was written: the premise is the title, and the premise
and the passages are escaped (``<``, ``>``, ``&`` and a line's leading Markdown marker), so that
markup in them shows as text and runs nowhere. A passage cut mid-sentence (typically a branch's
last, ended by the token limit) ends on its last whole sentence; one with no whole sentence is
kept and ends with an ellipsis. A person's passage is exported as they wrote it. The file name is
the premise's first words, cut at a word boundary.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from storyspace.errors import UserError
from storyspace.runs import SavedRun
from storyspace.search.tree import Tree
from storyspace.story import ends_sentence, printable, whole_sentences
from storyspace.studio.edits import HUMAN, check_node, chosen_node

#: the longest premise part of an export's file name (characters, whole words)
NAME_CHARS = 60
#: what ends a passage with no whole sentence in it
ELLIPSIS = "…"
#: the body of a branch with no passages
NO_PASSAGES = "_(no passages yet)_"

_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
#: the start of a line that Markdown reads as a block: a heading, a table, a list item, a thematic
#: break or setext underline, a code fence, a link definition (a quote's ">" is an entity by then)
_BLOCK = re.compile(r"^(#|\||[-+*](?=\s|$)|[-*_=](?=[-*_=\s]*$)|```|~~~|\[(?=[^\]]*\]:))", re.MULTILINE)
_ORDERED = re.compile(r"^(\d{1,9})([.)])(?=\s|$)", re.MULTILINE)  # an ordered list's "1." or "1)"
_CLOSING = re.compile(r"(?<!\\)(#+)$")  # a heading's closing sequence, which a preview drops
_APOSTROPHES = re.compile(r"['’]")


@dataclass(frozen=True)
class Export:
    """An export: the download's file name and its Markdown."""

    name: str
    text: str


def escape(text: str) -> str:
    """``text`` as a Markdown preview should show it: ``&``, ``<`` and ``>`` as entities (no HTML
    in it runs, in a preview that renders HTML), each line's leading spaces dropped (no code block)
    and its leading block marker escaped with a backslash (no heading, list or quote). Emphasis
    inside a line is kept: a writer's *italics* stay italics."""
    lines = "\n".join(line.strip() for line in printable(text).translate(_HTML).splitlines())
    return _ORDERED.sub(r"\1\\\2", _BLOCK.sub(r"\\\1", lines))


def title(premise: str) -> str:
    """The premise as a heading's text: one line, escaped, a trailing ``#`` run escaped too."""
    return _CLOSING.sub(r"\\\1", escape(" ".join(printable(premise).split()))) or "Story"


def whole(passage: str, author: str = "policy") -> str:
    """A passage as exported: up to its last whole sentence (the cut-off tail dropped); with no
    whole sentence, the text marked with an ellipsis. A person's passage stays as written."""
    text = passage.strip()
    if author == HUMAN or not text or ends_sentence(text):
        return text
    return whole_sentences(text) or text.rstrip(" ,;:-–—") + ELLIPSIS


def paragraphs(tree: Tree, ids: list[int]) -> list[str]:
    """The passages of these nodes, whole and escaped, one paragraph each (empty ones left out)."""
    out = []
    for i in ids:
        step = tree.nodes[i].step
        text = whole(str(step.get("passage", "")), str(step.get("author", "policy")))
        if text:
            out.append(escape(text))
    return out


def branch_markdown(premise: str, tree: Tree, node: int) -> str:
    """The story of the path from the root to ``node``, under the premise as its title."""
    body = paragraphs(tree, tree.path(node)[1:])
    return "\n\n".join([f"# {title(premise)}", *(body or [NO_PASSAGES])]) + "\n"


def leaves(tree: Tree) -> list[int]:
    """Every node without children, depth first (children in the order they were added)."""
    out, todo = [], [0]
    while todo:
        n = todo.pop()
        kids = tree.nodes[n].children
        if not kids:
            out.append(n)
        todo.extend(reversed(kids))
    return out


def tree_markdown(premise: str, tree: Tree, chosen: int | None = None) -> str:
    """Every branch (the path to a leaf) under its own heading, depth first. A passage is written
    once: a branch that shares its opening with earlier ones names the branch it follows and how
    far, then gives its own passages. ``chosen``: the leaf whose heading says it is the chosen story."""
    ends = leaves(tree)
    if ends == [0]:
        return f"# {title(premise)}\n\n{NO_PASSAGES}\n"
    parts = [f"# {title(premise)}", f"_Every branch of the tree: {len(ends)} in all._"]
    first: dict[int, int] = {}  # node -> the branch that wrote its passage
    for k, leaf in enumerate(ends, 1):
        path = tree.path(leaf)[1:]
        shared = 0
        while shared < len(path) and path[shared] in first:
            shared += 1
        parts.append(f"## Branch {k} (node {leaf}{', the chosen story' if leaf == chosen else ''})")
        if shared:
            said = "passage 1" if shared == 1 else f"passages 1-{shared}"
            parts.append(f"_The story of branch {first[path[shared - 1]]} up to its {said}, then:_")
        for i in path[shared:]:
            first[i] = k
        parts += paragraphs(tree, path[shared:]) or [NO_PASSAGES]
    return "\n\n".join(parts) + "\n"


def file_name(premise: str, suffix: str = "") -> str:
    """A download's file name: the premise's words (accents dropped; ASCII letters and digits
    only, lower case) joined by hyphens and cut at a word boundary to ``NAME_CHARS``, then
    ``suffix`` and ".md"; "story" when no word is left."""
    plain = unicodedata.normalize("NFKD", _APOSTROPHES.sub("", premise)).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", plain.lower())
    stem = ""
    for word in words:
        longer = f"{stem}-{word}" if stem else word
        if len(longer) > NAME_CHARS:
            break
        stem = longer
    if not stem and words:  # a first word longer than the limit
        stem = words[0][:NAME_CHARS]
    return f"{stem or 'story'}{suffix}.md"


def export_run(saved: SavedRun, node: int | None = None, whole_tree: bool = False) -> Export:
    """The run's export: the chosen story (pinned, else the best path) by default, the branch
    ending at ``node``, or with ``whole_tree`` every branch. One-line errors for a node not in the
    tree, the premise itself, or a node given with ``whole_tree``."""
    tree, premise = saved.tree, saved.premise
    if whole_tree:
        if node is not None:
            raise UserError("export one branch (node) or the whole tree (scope=tree), not both")
        return Export(file_name(premise, "-tree"), tree_markdown(premise, tree, chosen_node(saved)))
    if node is None:
        return Export(file_name(premise), branch_markdown(premise, tree, chosen_node(saved)))
    check_node(tree, node, open_only=False)
    if node == 0:
        raise UserError("node 0 is the premise: export a branch from a passage below it")
    return Export(file_name(premise, f"-node-{node}"), branch_markdown(premise, tree, node))
