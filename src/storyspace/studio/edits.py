"""Changes to a saved run, made from the studio: expand a node (optionally told what happens
next), search under it, add a passage a person wrote, rewrite a passage (a new sibling; the
original kept), hide a branch from view, pin a path. Each one is a read-modify-write of the run directory as its one writer
(``RunDir.writer``): the run is read again under the lock, changed, and written with the same
atomic writes as ``explore`` (tree.json, story.md, tree.html, then run.json), so that a run changed
from two tabs, or by the studio while ``explore --resume`` runs, is never corrupted. (The export,
which changes nothing, is ``studio.export``.)

The model work goes through a ``StoryWorld`` (``parts.world(premise)``), exactly as in a search.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from storyspace.errors import UserError
from storyspace.explore import write_run_files
from storyspace.runs import RunDir, SavedRun, writing
from storyspace.search.mcts import apply_expansions, backup, choose, expand, select_round
from storyspace.search.tree import Tree
from storyspace.seeding import derive_seed
from storyspace.story import Story, clean_passage, preference_prompt, printable
from storyspace.studio.jobs import Cancelled
from storyspace.world import StoryWorld

#: the step payload's mark of a passage a person wrote
HUMAN = "human"
#: how long an edit waits for another writer of the run before it is refused
WAIT_S = 2.0
#: the longest passage a person may add (characters)
MAX_PASSAGE_CHARS = 4000
#: the longest "what happens next" instruction of an expansion (characters)
MAX_INSTRUCTION_CHARS = 300


@dataclass
class Edit:
    """What an edit did: its kind, the node it was made at, the nodes it added, and the seconds
    spent in model calls (the rest of an edit's time is the studio's own overhead)."""

    kind: str
    node: int
    added: list[int]
    model_s: float = 0.0
    tokens: int = 0


def editing(path: Path, wait_s: float = WAIT_S) -> contextlib.AbstractContextManager[SavedRun]:
    """The run read as its one writer (``runs.writing``), waiting ``wait_s`` for another writer."""
    return writing(path, wait_s)


def check_node(tree: Tree, node: int, open_only: bool = True) -> None:
    """A node of the tree (and, with ``open_only``, not a finished story): one-line error if not."""
    if not 0 <= node < len(tree.nodes):
        raise UserError(f"no node {node} in this run (it has {len(tree.nodes)})")
    if open_only and tree.is_terminal(node):
        raise UserError(f"node {node} is a finished story ({tree.max_depth} steps): nothing can follow it")


def save(saved: SavedRun, tree: Tree, edit: Edit, tokens: int = 0) -> None:
    """Write the changed run as ``explore`` does (its story chosen again by the run's ``final``
    rule), and note the edit in run.json."""
    choose(tree, saved.config.search)
    meta = saved.meta
    budget = dict(meta.get("budget") or {})
    budget.update(simulations=tree.simulations, expansions=tree.expansions, nodes=len(tree.nodes),
                  policy_tokens=int(budget.get("policy_tokens", 0)) + tokens)
    meta["budget"] = budget
    meta.setdefault("edits", []).append({"kind": edit.kind, "node": edit.node, "added": edit.added, "time": _now()})
    meta["updated"] = _now()
    write_run_files(saved.run, tree, saved.premise, meta)


def story_at(saved: SavedRun, node: int) -> Story:
    return Story.from_steps(saved.premise, saved.tree.steps(node))


def clean_instruction(text: str) -> str:
    """A writer's "what happens next" as one line of printable text (empty: none)."""
    text = " ".join(printable(text or "").split())
    if len(text) > MAX_INSTRUCTION_CHARS:
        raise UserError(f"the instruction is too long ({len(text)} characters; at most {MAX_INSTRUCTION_CHARS})")
    return text


def expand_node(saved: SavedRun, world: StoryWorld, node: int, k: int, instruction: str = "") -> Edit:
    """k new children of ``node`` from the policy, valued and backed up as a search would (its
    seed differs from every earlier expansion of the node). ``instruction``: what the writer wants
    to happen next: it goes into the policy's prompt (``StoryWorld.propose``) and is kept as each
    new passage's plan."""
    tree, cfg = saved.tree, saved.config
    check_node(tree, node)
    if k < 1:
        raise UserError("expand needs k >= 1 children")
    instruction = clean_instruction(instruction)
    before = tree.policy_tokens
    seed = derive_seed(cfg.seed, "studio-expand", node, len(tree.nodes[node].children))
    started = time.perf_counter()
    results = world.expand([tree.steps(node)], k, [seed], instruction)
    model_s = time.perf_counter() - started
    added = apply_expansions(tree, world, [node], results, replace(cfg.search, children=k), cfg.seed)
    for i in added if instruction else ():
        tree.nodes[i].step["instruction"] = instruction  # the plan is the writer's: say so
    edit = Edit("expand", node, added, model_s, tree.policy_tokens - before)
    save(saved, tree, edit, edit.tokens)
    return edit


def search_under(
    saved: SavedRun,
    world: StoryWorld,
    node: int,
    simulations: int,
    on_round: Callable[[int, int], None] | None = None,
) -> Edit:
    """``simulations`` more MCTS simulations whose selection starts at ``node`` (the run's own
    search settings), saved at the end; a job cancelled meanwhile (``on_round`` raises
    ``Cancelled``) stops after its round, saves what was searched, and says so."""
    tree, cfg = saved.tree, saved.config
    check_node(tree, node)
    if simulations < 1:
        raise UserError("search needs at least 1 simulation")
    first, before, done = len(tree.nodes), tree.policy_tokens, 0
    stopped: Cancelled | None = None
    while done < simulations:
        leaves, to_expand = select_round(tree, cfg.search, min(cfg.search.parallel_leaves, simulations - done), node)
        expand(tree, world, to_expand, cfg.search, derive_seed(cfg.seed, "studio-search", node, tree.simulations))
        tree.simulations += len(leaves)
        done += len(leaves)
        if on_round is not None:
            try:
                on_round(done, simulations)
            except Cancelled as exc:  # asked to stop: what was searched so far is kept
                stopped = exc
                break
    edit = Edit("search", node, list(range(first, len(tree.nodes))), tokens=tree.policy_tokens - before)
    save(saved, tree, edit, edit.tokens)
    if stopped is not None:
        raise Cancelled(f"stopped on request after {done} of {simulations} simulations; their"
                        f" {len(edit.added)} new node(s) are saved")
    return edit


def clean_human_passage(text: str) -> tuple[str, bool]:
    """A person's passage as one paragraph of printable text, and whether it stops mid-sentence."""
    text = " ".join(printable(text).split())
    if not text:
        raise UserError("the passage is empty")
    if len(text) > MAX_PASSAGE_CHARS:
        raise UserError(f"the passage is too long ({len(text)} characters; at most {MAX_PASSAGE_CHARS})")
    return text, clean_passage(text).text != text


def add_human_step(saved: SavedRun, world: StoryWorld, node: int, text: str, revises: int | None = None) -> Edit:
    """A passage a person wrote after ``node``: valued by the value model like any proposal,
    added as a child marked ``author = "human"`` and backed up once with its value; ``revises``:
    the node whose passage it rewrites (a sibling, kept as it was)."""
    tree = saved.tree
    check_node(tree, node)
    passage, cut_off = clean_human_passage(text)
    story = story_at(saved, node)
    started = time.perf_counter()
    breakdown = world.value_model.evaluate(story, [passage], [cut_off])[0]
    model_s = time.perf_counter() - started
    step = {"plan": "", "passage": passage, "author": HUMAN}
    if revises is not None:
        step["revises"] = str(revises)  # a step holds texts only (``search.tree``)
    child = tree.add_child(node, step, 0.0, float(breakdown["value"]), breakdown)
    backup(tree, child.id, child.value, saved.config.search.backup)  # visited once, as a new child is
    edit = Edit("write" if revises is None else "revise", node, [child.id], model_s)
    save(saved, tree, edit)
    return edit


def check_revisable(tree: Tree, node: int) -> None:
    """A passage that can be rewritten: a node below the premise (one-line error if not)."""
    check_node(tree, node, open_only=False)
    if node == 0:
        raise UserError("the premise is not a passage: rewrite a node below it")


def revise(saved: SavedRun, world: StoryWorld, node: int, text: str) -> Edit:
    """An edit in place of ``node``'s passage: the new text becomes a sibling of ``node`` written
    by a person (``revises`` = node), valued like any passage; the original and everything below
    it stay as they were. Continuing from a cursor inside a passage is this with the text up to
    the cursor, then an expansion of the new node."""
    check_revisable(saved.tree, node)
    return add_human_step(saved, world, saved.tree.nodes[node].parent, text, revises=node)


def set_hidden(saved: SavedRun, node: int, hidden: bool) -> Edit:
    """Hide the branch at ``node`` from the tree the page draws (or show it again): a mark in the
    node's step; nothing is deleted, and the search still sees the branch."""
    check_revisable(saved.tree, node)
    step = saved.tree.nodes[node].step
    if hidden:
        step["hidden"] = "yes"  # a step holds texts only
    else:
        step.pop("hidden", None)
    edit = Edit("hide" if hidden else "show", node, [])
    save(saved, saved.tree, edit)
    return edit


def check_pin(tree: Tree, node: int) -> None:
    """A node that can be pinned: in the tree, below the premise (one-line error if not)."""
    check_node(tree, node, open_only=False)
    if node == 0:
        raise UserError("pin a node below the premise")


def pin(saved: SavedRun, node: int) -> Edit:
    """Pin the path to ``node`` as the chosen story (run.json ``pinned``; pinned.md holds it)."""
    check_pin(saved.tree, node)
    saved.meta["pinned"] = node
    saved.run.write_text(RunDir.PINNED, story_at(saved, node).markdown("Chosen story"))
    edit = Edit("pin", node, [])
    save(saved, saved.tree, edit)
    return edit


def chosen_node(saved: SavedRun) -> int:
    """The pinned node, or the best path's last node when nothing is pinned."""
    pinned = saved.meta.get("pinned")
    if isinstance(pinned, int) and not isinstance(pinned, bool) and 0 < pinned < len(saved.tree.nodes):
        return pinned
    return saved.tree.best_leaf()


def node_detail(saved: SavedRun, node: int) -> dict[str, Any]:
    """Everything the node panel shows: the story up to the node, the passage, the value
    breakdown, visits and Q."""
    tree = saved.tree
    check_node(tree, node, open_only=False)
    n = tree.nodes[node]
    path = tree.path(node)
    return {
        "id": n.id,
        "depth": n.depth,
        "premise": saved.premise,
        "steps": [{"id": i, "passage": str(tree.nodes[i].step.get("passage", "")),
                   "plan": str(tree.nodes[i].step.get("plan", "") or ""),
                   "author": str(tree.nodes[i].step.get("author", "policy"))} for i in path[1:]],
        "passage": str(n.step.get("passage", "")),
        "plan": str(n.step.get("plan", "") or ""),
        "instruction": str(n.step.get("instruction", "") or ""),
        "author": str(n.step.get("author", "policy")),
        "revises": int(n.step["revises"]) if str(n.step.get("revises", "")).isdigit() else None,
        "hidden": bool(n.step.get("hidden")),
        "value": n.value,
        "breakdown": {k: v for k, v in n.breakdown.items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
        "visits": n.visits,
        "q": n.q,
        "prior": n.prior,
        "children": n.children,
        "finished": tree.is_terminal(node),
    }


def compare_paths(saved: SavedRun, a: int, b: int) -> dict[str, Any]:
    """Two branches side by side: the story they share (up to their last common node) and each
    one's passages after it, with each path's story value (mean step value, as the run's
    ``best value``) and its steps' values. One-line errors for a bad node or one on the other's path."""
    tree = saved.tree
    for n in (a, b):
        check_node(tree, n, open_only=False)
        if n == 0:
            raise UserError("pick two passages to compare, not the premise")
    pa, pb = tree.path(a), tree.path(b)
    if a in pb or b in pa:
        raise UserError(f"node {min(a, b, key=lambda n: tree.nodes[n].depth)} is on the other's path: "
                        "pick two different branches")
    shared = 0
    while shared < min(len(pa), len(pb)) and pa[shared] == pb[shared]:
        shared += 1

    def side(path: list[int]) -> dict[str, Any]:
        values = [tree.nodes[i].value for i in path[1:]]
        return {"node": path[-1], "passages": [str(tree.nodes[i].step.get("passage", "")) for i in path[shared:]],
                "authors": [str(tree.nodes[i].step.get("author", "policy")) for i in path[shared:]],
                "step_values": [round(tree.nodes[i].value, 6) for i in path[shared:]],
                "story_value": round(sum(values) / len(values), 6), "q": round(tree.nodes[path[-1]].q, 6)}

    return {"premise": saved.premise, "fork": pa[shared - 1],
            "context": [str(tree.nodes[i].step.get("passage", "")) for i in pa[1:shared]],
            "a": side(pa), "b": side(pb)}


def compare_pair(saved: SavedRun, a: int, b: int, chat_prompt: Callable[[], Any]) -> dict[str, Any]:
    """Two branches as a blind A/B pair for a study (``study.create.add_pair``): the story up to
    their fork as context, each branch's passages after it as a side, with their values, and the
    policy prompt at the fork (``chat_prompt()`` gives a prefill-style run's chat template; it is
    called only for such a run)."""
    got = compare_paths(saved, a, b)
    story = story_at(saved, got["fork"])
    template = chat_prompt() if saved.config.prompts.style != "chat" else None
    prompt, lead = preference_prompt(story, saved.config.prompts, template)
    sides = [{"text": " ".join(p for p in got[x]["passages"] if p), "source": f"{saved.run.path} node {got[x]['node']}",
              "scores": {"value": got[x]["story_value"], "q": got[x]["q"]}} for x in ("a", "b")]
    return {"kind": "paths", "premise": saved.premise, "context": got["context"], "prompt": prompt, "lead": lead,
            "a": sides[0], "b": sides[1]}


def tree_summary(saved: SavedRun) -> dict[str, Any]:
    """The tree as the page draws it: per node parent, depth, value, Q, visits, author and a
    short label; the best path and the pinned node."""
    tree = saved.tree
    nodes = [{"id": n.id, "parent": n.parent, "depth": n.depth, "value": round(n.value, 6), "q": round(n.q, 6),
              "visits": n.visits, "author": str(n.step.get("author", "policy")),
              "hidden": bool(n.step.get("hidden")), "label": str(n.step.get("passage", ""))[:80]}
             for n in tree.nodes]
    return {"premise": saved.premise, "status": saved.meta.get("status", ""), "max_depth": tree.max_depth,
            "simulations": tree.simulations, "best_path": tree.best_path(), "pinned": saved.meta.get("pinned"),
            "nodes": nodes}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
