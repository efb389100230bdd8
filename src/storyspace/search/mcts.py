"""Monte Carlo Tree Search over steps, with UCT or PUCT selection.

One *simulation* selects a leaf from the root; a leaf that is not a finished story is *expanded*:
the step model proposes ``children`` steps in one batched call and values each of them. Each new
child counts as visited once with its value (value-only leaf evaluation) or, with
``rollout_depth > 0``, with the mean of its value and the values of a short policy rollout. The
value is backed up to every ancestor (mean backup: Q = W / N). Selecting a finished story
(depth == max depth) backs up its Q again. ``parallel_leaves`` leaves are selected per round under
virtual loss and expanded in one model call.

One driver, ``search_trees``, runs every MCTS of the package: one tree or many (the leaves of all
trees go to the model in one batched call), with a budget of simulations (``SearchConfig``) or of
policy tokens (``budget.Budget``: rounds while they fit with the completion of the best path
reserved, the last round shortened, then the completion with fewer children where the rest of
the budget cannot pay for ``children``, or none where it pays for none and a finished story is
returned anyway). ``search`` is its one-tree form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Protocol, Sequence

from storyspace.flags import flag
from storyspace.search.budget import Budget
from storyspace.search.tree import Tree
from storyspace.seeding import derive_seed


@dataclass(frozen=True)
class Expansion:
    """A proposed step with the policy's mean token log-prob, its value (+ breakdown) and the
    policy tokens generated to propose it (plan and passage)."""

    step: dict[str, Any]
    logprob: float
    value: float
    breakdown: dict[str, Any]
    tokens: int = 0


class StepModel(Protocol):
    """What the search needs from the world: propose and value k next steps for each path."""

    def expand(
        self, paths: Sequence[Sequence[dict[str, Any]]], k: int, seeds: Sequence[int]
    ) -> list[list[Expansion]]: ...


@dataclass(frozen=True)
class SearchConfig:
    """MCTS settings.

    - ``simulations``: selections from the root (the search budget).
    - ``depth``: steps per story; nodes at this depth are finished stories.
    - ``children``: k steps proposed per expansion (one batched policy call).
    - ``selection``: ``uct`` (Q + c sqrt(ln N_parent / N_child)), as in COS(M+O)S, or ``puct``
      (Q + c P sqrt(N_parent) / (1 + N_child), P = softmax of the policy's length-normalised
      log-probs over siblings / ``prior_temperature``).
    - ``c_explore``: exploration constant, on the scale of (normalised) Q.
    - ``normalize_q``: rescale Q to [0, 1] by the min and max Q in the tree before selection
      (MuZero's MinMaxStats, mctx's min-max qtransform): step values from the value model can
      all be small (e.g. 0.02-0.3), and raw differences that small would drown in the
      exploration term.
    - ``parallel_leaves``: leaves expanded per round (one batched model call); virtual loss
      (``virtual_loss`` pessimistic zero-value visits per selected path) keeps them apart.
    - ``backup``: what a simulation adds to each ancestor ``a`` of a new leaf: ``path_mean``, the
      mean step value from ``a`` down to the leaf (the leaf counted with its estimate), so that
      Q(s, a) estimates the mean step value of the story from step ``a`` on, ``a`` included; or
      ``leaf``, the leaf's estimate alone (classic MCTS; a step's own value then counts only
      once, and a weak step that makes its successors look surprising can win).
    - ``rollout_depth``: extra policy steps (k = 1) valued after each new child; 0 = value only.
    - ``complete_best_path``: after the budget, extend the best path (greedy by value) to ``depth``
      steps so that the story is whole; these expansions are counted apart.
    - ``final``: the story a search returns: ``visits``, the most-visited path (classic MCTS; with
      few simulations it is often not the best story the search found), or ``story``, the finished
      story with the highest mean step value anywhere in the tree (the completed best path
      included), which is what best-of-n and beam return (``Tree.chosen``).
    - ``commit_steps``: search one step at a time, as in game play: rounds start from the
      committed node (at first the root); once the step's share of the budget is spent — step
      ``d`` (0-based) may spend until ``(d + 1) / depth`` of the simulations or policy tokens, so
      what one step leaves passes to the next — its child with the highest Q (ties: more visits,
      then lower id) is committed and the search re-roots there, keeping the subtree. A step whose
      node has no children yet is expanded first (with as many children as the budget still pays
      for, at least one). The story is whole when a finished node is committed; ``final`` then
      chooses among the finished stories as without commits.
    - ``skip_finished``: selection descends only into children under which something is left to
      expand, so a round never ends on a finished story. Off by default (classic MCTS visits a
      finished story again and backs its value up once more). A finished story's value-only
      estimate is exact, so selecting it again spends no token and teaches nothing; with a small
      ``c_explore`` a budgeted search that keeps returning to its best finished story otherwise
      stops with tokens left (the safety stop after ``IDLE_ROUNDS`` rounds that spend nothing:
      3 of 16 trees at c 0.2 stopped at 1280 of 2048 tokens, issue #15, session 14).
    - ``retries``: for the searches without a choice among siblings (``single`` and the stories of
      ``best-of-n``): a passage that the value marks as meta talk (a refusal included) or empty
      is sampled again with a new seed, up to this many times; the passage kept is the last
      one drawn, and the tokens of the discarded ones count in the story's cost. 0 (the
      default) is naive decoding, the paper's single-pass baseline. MCTS and beam choose among
      siblings by value, which penalises the same passages.
    """

    simulations: int = field(default=12, metadata=flag("--simulations", "MCTS simulations (the search budget)"))
    depth: int = field(default=4, metadata=flag("--depth", "steps per story"))
    children: int = field(default=4, metadata=flag("--children", "steps proposed per expansion (k)"))
    selection: str = field(default="uct", metadata=flag("--selection", "selection rule", choices=("uct", "puct")))
    c_explore: float = field(default=0.7, metadata=flag("--c-explore", "exploration constant"))
    normalize_q: bool = field(default=True, metadata=flag("--normalize-q", "min-max normalise Q before selection"))
    prior_temperature: float = field(default=1.0, metadata=flag("--prior-temperature", "PUCT prior temperature"))
    parallel_leaves: int = field(default=4, metadata=flag("--parallel-leaves", "leaves expanded per batched round"))
    virtual_loss: float = field(default=1.0, metadata=flag("--virtual-loss", "virtual visits per selected path"))
    backup: str = field(default="path_mean", metadata=flag("--backup", "what a simulation backs up",
                                                           choices=("path_mean", "leaf")))
    rollout_depth: int = field(default=0, metadata=flag("--rollout-depth", "policy rollout steps per new node"))
    complete_best_path: bool = field(default=True, metadata=flag("--complete-best-path",
                                                                 "extend the best path to full depth at the end"))
    final: str = field(default="story", metadata=flag("--final", "story returned: most-visited path or best "
                                                                  "finished story", choices=("visits", "story")))
    commit_steps: bool = field(default=False, metadata=flag(
        "--commit-steps", "search one step at a time: commit the best child, re-root, reuse its subtree"))
    skip_finished: bool = field(default=False, metadata=flag(
        "--skip-finished", "selection passes over subtrees that hold only finished stories"))
    retries: int = field(default=0, metadata=flag(
        "--retries", "single pass, best-of-n: resample a passage the value marks as meta talk or empty, "
                     "up to this many times"))


def choose(tree: Tree, cfg: SearchConfig) -> None:
    """Set the tree's chosen story by ``cfg.final`` (``story``: the best finished one; ``visits``:
    none, so that the best path follows the most visits)."""
    tree.chosen = tree.best_story() if cfg.final == "story" else None


def priors(logprobs: Sequence[float], temperature: float) -> list[float]:
    """Softmax of length-normalised log-probs over siblings."""
    if not logprobs:
        return []
    scaled = [lp / max(temperature, 1e-6) for lp in logprobs]
    top = max(scaled)
    exps = [math.exp(s - top) for s in scaled]
    total = sum(exps)
    return [e / total for e in exps]


def q_bounds(tree: Tree) -> tuple[float, float]:
    """Min and max Q over the visited non-root nodes (0, 1 when there are none)."""
    qs = [n.q for n in tree.nodes[1:] if n.visits]
    return (min(qs), max(qs)) if qs else (0.0, 1.0)


def child_score(
    tree: Tree,
    parent: int,
    child: int,
    cfg: SearchConfig,
    virtual: dict[int, float],
    bounds: tuple[float, float] = (0.0, 1.0),
) -> float:
    p, c = tree.nodes[parent], tree.nodes[child]
    n_parent = p.visits + virtual.get(parent, 0.0)
    n_child = c.visits + virtual.get(child, 0.0)
    q = c.total / n_child if n_child > 0 else 0.0
    lo, hi = bounds
    if hi > lo:
        q = (q - lo) / (hi - lo)
    if cfg.selection == "puct":
        return q + cfg.c_explore * c.prior * math.sqrt(max(n_parent, 1.0)) / (1.0 + n_child)
    if n_child <= 0:
        return math.inf
    return q + cfg.c_explore * math.sqrt(math.log(max(n_parent, 1.0)) / n_child)


def open_nodes(tree: Tree, start: int = 0) -> set[int]:
    """The nodes under ``start`` (itself included) with a leaf below them that is not a finished
    story, i.e. something left to expand."""
    found: set[int] = set()

    def visit(n: int) -> bool:
        kids = tree.nodes[n].children
        is_open = not tree.is_terminal(n) if not kids else any([visit(c) for c in kids])
        if is_open:
            found.add(n)
        return is_open

    visit(start)
    return found


def anything_to_expand(tree: Tree, start: int = 0) -> bool:
    """Whether a leaf under ``start`` (itself included) is not a finished story."""
    return start in open_nodes(tree, start)


def select_leaf(tree: Tree, cfg: SearchConfig, virtual: dict[int, float] | None = None, start: int = 0, *,
                unfinished: set[int] | None = None) -> int:
    """Walk from ``start`` (the root) by the selection rule (ties: lowest id) to a node without
    children; with ``skip_finished`` only through children with something left to expand (where
    any child has). ``unfinished``: ``open_nodes(tree, start)`` when the caller has it already
    (``select_batch`` selects several leaves of one unchanged tree)."""
    virtual = virtual or {}
    bounds = q_bounds(tree) if cfg.normalize_q else (0.0, 1.0)
    if cfg.skip_finished and unfinished is None:
        unfinished = open_nodes(tree, start)
    elif not cfg.skip_finished:
        unfinished = None
    node = start
    while tree.nodes[node].children:
        kids = tree.nodes[node].children
        if unfinished is not None:
            kids = [c for c in kids if c in unfinished] or kids
        node = max(kids, key=lambda c: (child_score(tree, node, c, cfg, virtual, bounds), -c))
    return node


def select_batch(tree: Tree, cfg: SearchConfig, want: int, start: int = 0) -> list[int]:
    """Up to ``want`` distinct leaves under ``start``, each selected under the virtual loss of the
    ones before."""
    virtual: dict[int, float] = {}
    leaves: list[int] = []
    unfinished = open_nodes(tree, start) if cfg.skip_finished else None  # the tree is the same for each leaf
    for _ in range(want):
        leaf = select_leaf(tree, cfg, virtual, start, unfinished=unfinished)
        if leaf in leaves:
            break
        leaves.append(leaf)
        for n in tree.path(leaf):
            virtual[n] = virtual.get(n, 0.0) + cfg.virtual_loss
    return leaves


def backup(tree: Tree, node_id: int, value: float, mode: str = "leaf") -> None:
    """Add one visit to the node and each ancestor.

    ``leaf``: each gets ``value``. ``path_mean``: the node gets ``value`` and an ancestor ``a``
    the mean of the own step values from ``a`` down to the node's parent together with
    ``value``; the root gets what its child on the path gets.
    """
    path = tree.path(node_id)
    if mode == "leaf":
        returns = [value] * len(path)
    elif mode == "path_mean":
        returns = [0.0] * len(path)
        total, count = value, 1
        returns[-1] = value
        for i in range(len(path) - 2, 0, -1):
            total += tree.nodes[path[i]].value
            count += 1
            returns[i] = total / count
        returns[0] = returns[1] if len(path) > 1 else value
    else:
        raise ValueError(f"unknown backup mode {mode!r}")
    for n, g in zip(path, returns):
        tree.nodes[n].visits += 1
        tree.nodes[n].total += g


def expand(tree: Tree, model: StepModel, leaves: Sequence[int], cfg: SearchConfig, seed: int) -> list[int]:
    """Expand each leaf with k children in one model call, back up their values; new node ids."""
    if not leaves:
        return []
    seeds = expand_seeds(leaves, seed)
    results = model.expand([tree.steps(leaf) for leaf in leaves], cfg.children, seeds)
    return apply_expansions(tree, model, leaves, results, cfg, seed)


def expand_seeds(leaves: Sequence[int], seed: int) -> list[int]:
    return [derive_seed(seed, "expand", leaf) for leaf in leaves]


def apply_expansions(
    tree: Tree,
    model: StepModel,
    leaves: Sequence[int],
    results: Sequence[Sequence[Expansion]],
    cfg: SearchConfig,
    seed: int,
) -> list[int]:
    """Add the proposed children of each leaf, estimate them (rollouts), back them up."""
    new: list[int] = []
    for leaf, group in zip(leaves, results):
        ps = priors([e.logprob for e in group], cfg.prior_temperature)
        for e, p in zip(group, ps):
            node = tree.add_child(leaf, e.step, e.logprob, e.value, e.breakdown)
            node.prior = p
            new.append(node.id)
            tree.policy_tokens += e.tokens
    estimates = rollout_estimates(tree, model, new, cfg, seed)
    for node_id in new:
        backup(tree, node_id, estimates[node_id], cfg.backup)
    tree.expansions += len(leaves)
    return new


def rollout_estimates(
    tree: Tree, model: StepModel, nodes: Sequence[int], cfg: SearchConfig, seed: int
) -> dict[int, float]:
    """Leaf estimate per node: its value, or the mean of it and a k=1 rollout's step values."""
    values = {n: [tree.nodes[n].value] for n in nodes}
    paths = {n: tree.steps(n) for n in nodes}
    for r in range(cfg.rollout_depth):
        active = [n for n in nodes if tree.nodes[n].depth + r < tree.max_depth]
        if not active:
            break
        seeds = [derive_seed(seed, "rollout", n, r) for n in active]
        results = model.expand([paths[n] for n in active], 1, seeds)
        for n, group in zip(active, results):
            if group:
                values[n].append(group[0].value)
                paths[n] = [*paths[n], group[0].step]
                tree.policy_tokens += group[0].tokens
    return {n: sum(v) / len(v) for n, v in values.items()}


def select_round(tree: Tree, cfg: SearchConfig, want: int, start: int = 0) -> tuple[list[int], list[int]]:
    """A round's leaves (up to ``want``, under ``start``) and those of them to expand; finished
    stories among them are backed up again here."""
    leaves = select_batch(tree, cfg, max(1, want), start)
    for leaf in leaves:
        if tree.is_terminal(leaf):
            backup(tree, leaf, tree.nodes[leaf].value, cfg.backup)
    return leaves, [leaf for leaf in leaves if not tree.is_terminal(leaf)]


def run_round(
    tree: Tree, model: StepModel, cfg: SearchConfig, seed: int, want: int | None = None, start: int = 0
) -> list[int]:
    """One round: select up to ``want`` (default ``parallel_leaves``) leaves under ``start`` (the
    root), expand the unfinished ones, back up."""
    leaves, to_expand = select_round(tree, cfg, cfg.parallel_leaves if want is None else want, start)
    expand(tree, model, to_expand, cfg, seed)
    tree.simulations += len(leaves)
    return leaves


def completion_reserve(tree: Tree, children: int, passage_cost: int) -> int:
    """Policy tokens that completing the current best path with ``children`` per step costs at most."""
    leaf = tree.best_path()[-1]
    return (tree.max_depth - tree.nodes[leaf].depth) * children * passage_cost


def leaf_cost(cfg: SearchConfig, passage_cost: int) -> int:
    """Policy tokens one expanded leaf costs at most: its children and each child's rollout."""
    return cfg.children * passage_cost * (1 + cfg.rollout_depth)


def round_size(tree: Tree, cfg: SearchConfig, budget: Budget | None) -> int:
    """How many leaves the next round of this tree may select (0: the search is over).

    By simulations: what is left of ``cfg.simulations``, at most ``parallel_leaves``. By policy
    tokens: as many leaves as fit with the completion of the best path reserved (a leaf costs its
    children and, with rollouts, each child's rollout steps at most)."""
    if cfg.commit_steps:
        return step_round_size(tree, cfg, budget)
    if budget is None:
        return max(0, min(cfg.parallel_leaves, cfg.simulations - tree.simulations))
    if not anything_to_expand(tree):
        return 0  # fully expanded: more rounds would only revisit finished stories
    reserve = completion_reserve(tree, cfg.children, budget.passage_cost)
    per_leaf = leaf_cost(cfg, budget.passage_cost)
    return max(0, min(cfg.parallel_leaves, (budget.tokens - tree.policy_tokens - reserve) // max(1, per_leaf)))


def step_round_size(tree: Tree, cfg: SearchConfig, budget: Budget | None) -> int:
    """``round_size`` with ``commit_steps``: the leaves the committed step's share still pays for
    (step d may spend until (d + 1) / depth of the budget), 0 once it is spent, the committed node
    is a finished story, or nothing under it is left to expand."""
    start = tree.nodes[tree.commit]
    if tree.is_terminal(start.id):
        return 0
    share = (start.depth + 1) / tree.max_depth
    if budget is None:
        return max(0, min(cfg.parallel_leaves, math.ceil(cfg.simulations * share - 1e-9) - tree.simulations))
    if not anything_to_expand(tree, start.id):
        return 0
    per_leaf = leaf_cost(cfg, budget.passage_cost)
    return max(0, min(cfg.parallel_leaves, (int(budget.tokens * share) - tree.policy_tokens) // max(1, per_leaf)))


def commit_child(tree: Tree) -> int | None:
    """The committed node's child with the highest Q (ties: more visits, then lower id)."""
    kids = [tree.nodes[c] for c in tree.nodes[tree.commit].children]
    return max(kids, key=lambda n: (n.q, n.visits, -n.id)).id if kids else None


def commit_step(tree: Tree, model: StepModel, cfg: SearchConfig, seed: int, budget: Budget | None) -> bool:
    """Commit the next step (``commit_steps``): expand the committed node first if it has no
    children (as many as the rest of the budget pays for over the steps left, at least one), then
    move the commit to its best child. False when the model proposed nothing."""
    node = tree.nodes[tree.commit]
    if not node.children:
        k = cfg.children
        if budget is not None:
            room = budget.tokens - tree.policy_tokens
            k = max(1, min(k, room // ((tree.max_depth - node.depth) * max(1, budget.passage_cost))))
        if not expand(tree, model, [node.id], replace(cfg, children=k, rollout_depth=0), seed):
            return False
    chosen = commit_child(tree)
    if chosen is None:
        return False
    tree.commit = chosen
    return True


def completion_children(tree: Tree, cfg: SearchConfig, budget: Budget | None) -> int:
    """Children per step when completing the best path: ``children``, or under a token budget as
    many as the rest of it pays for. When the rest pays for less than one child a step: 0 (no
    completion) where ``final`` is ``story`` and a story is finished already, since that story is
    returned whole anyway; otherwise 1, as a story must be whole (a budget below one story is
    overspent rather than left unfinished).

    The rest can fall short after a round although the round kept the completion's reserve: the
    reserve is that of the best path before the round, and a round's new visits can move the
    most-visited path from a finished story to a shallower leaf (1 tree in 16 at c 0.2 with
    ``skip_finished`` spent 2112 of 2048 tokens so, issue #15)."""
    if budget is None:
        return cfg.children
    steps = tree.max_depth - tree.nodes[tree.best_path()[-1]].depth
    if steps <= 0:
        return cfg.children
    room = budget.tokens - tree.policy_tokens
    paid = min(cfg.children, room // (steps * max(1, budget.passage_cost)))
    if paid < 1 and cfg.final == "story" and tree.best_story() is not None:
        return 0
    return max(1, paid)


#: expands the leaves of several trees in one call: requests are (tree index, paths, seeds)
BatchExpand = Callable[[Sequence[tuple[int, Sequence[Sequence[dict[str, Any]]], Sequence[int]]], int],
                       list[list[list[Expansion]]]]


#: under a token budget, a tree whose rounds spend no token this many times in a row (they select
#: only finished stories, or the model proposes nothing) is done searching
IDLE_ROUNDS = 16


def search_trees(
    trees: Sequence[Tree],
    models: Sequence[StepModel],
    cfg: SearchConfig,
    seeds: Sequence[int],
    budget: Budget | None = None,
    batch: BatchExpand | None = None,
    on_round: Callable[[int, Tree], None] | None = None,
) -> Sequence[Tree]:
    """The search driver: rounds until each tree's budget is spent, then its best path completed.

    Each round selects up to ``round_size`` leaves in every unfinished tree and expands all of
    them in one ``batch`` call (or one ``expand`` call per tree), so that a batching backend sees
    the frontier of every tree at once. Selection, seeds, backups and token counts are per tree,
    so each tree ends as a search of it alone would leave it (given a backend whose samples do not
    depend on the rest of the batch), and a tree saved after any round resumes to the same end.
    ``budget`` None: ``cfg.simulations`` selections and, with ``complete_best_path``, the
    completion with ``children`` per step; a ``Budget``: policy tokens (completed with what
    ``completion_children`` says). Then ``cfg.final`` chooses each tree's story (``choose``).
    ``on_round(i, tree)`` is called for every tree a round or a completion step touched."""
    if not (len(trees) == len(models) == len(seeds)):
        raise ValueError("search_trees needs one model and one seed per tree")
    for tree in trees:
        tree.chosen = None  # the search's own best path follows visits; the choice comes at the end
    idle = [0] * len(trees)  # rounds in a row that spent no token (a token budget's safety stop)
    stuck: set[int] = set()  # commit_steps: trees whose model proposed nothing to commit
    while True:
        if cfg.commit_steps:
            for i, t in enumerate(trees):
                while (i not in stuck and not t.is_terminal(t.commit)
                       and (round_size(t, cfg, budget) == 0 or idle[i] >= IDLE_ROUNDS)):
                    if not commit_step(t, models[i], cfg, seeds[i], budget):
                        stuck.add(i)
                    idle[i] = 0
                    if on_round is not None:
                        on_round(i, t)
        want = {i: round_size(t, cfg, budget) for i, t in enumerate(trees)}
        active = [i for i in want if want[i] > 0 and idle[i] < IDLE_ROUNDS]
        if not active:
            break
        selected: dict[int, tuple[list[int], list[int]]] = {}
        requests = []
        spent_before = {i: trees[i].policy_tokens for i in active}
        for i in active:
            leaves, to_expand = select_round(trees[i], cfg, want[i], trees[i].commit)
            selected[i] = (leaves, to_expand)
            if to_expand:
                requests.append((i, [trees[i].steps(leaf) for leaf in to_expand], expand_seeds(to_expand, seeds[i])))
        if batch is not None and requests:
            results = batch(requests, cfg.children)
        else:
            results = [models[i].expand(paths, cfg.children, s) for i, paths, s in requests]
        for (i, _, _), group in zip(requests, results):
            apply_expansions(trees[i], models[i], selected[i][1], group, cfg, seeds[i])
        for i in active:
            trees[i].simulations += len(selected[i][0])
            if budget is not None:
                idle[i] = idle[i] + 1 if trees[i].policy_tokens == spent_before[i] else 0
            if on_round is not None:
                on_round(i, trees[i])
    if cfg.complete_best_path or budget is not None:
        for i, tree in enumerate(trees):
            k = completion_children(tree, cfg, budget)
            if k == 0:
                continue
            done = None if on_round is None else (lambda t, i=i: on_round(i, t))
            complete(tree, models[i], replace(cfg, children=k, rollout_depth=0), seeds[i], done)
    for tree in trees:
        choose(tree, cfg)
    return trees


def search(
    tree: Tree,
    model: StepModel,
    cfg: SearchConfig,
    seed: int,
    on_round: Callable[[Tree], None] | None = None,
    budget: Budget | None = None,
) -> Tree:
    """``search_trees`` on one tree (continues a partly searched tree: resumable)."""
    hook = None if on_round is None else (lambda _i, t: on_round(t))
    return search_trees([tree], [model], cfg, [seed], budget, on_round=hook)[0]


def complete(
    tree: Tree,
    model: StepModel,
    cfg: SearchConfig,
    seed: int,
    on_round: Callable[[Tree], None] | None = None,
) -> None:
    """Extend the best path until it is a finished story (each new child visited once, so the
    best child of a fresh expansion is the one with the highest value; the search driver
    completes without rollouts, which the budget's completion reserve does not pay for)."""
    while True:
        leaf = tree.best_path()[-1]
        if tree.is_terminal(leaf):
            return
        if not expand(tree, model, [leaf], cfg, seed):
            return  # the model proposed nothing: stop rather than loop
        if on_round is not None:
            on_round(tree)
