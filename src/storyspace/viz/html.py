"""A self-contained HTML view of a search tree; every piece of text is escaped."""

from __future__ import annotations

from html import escape as _html_escape
from typing import Any

from storyspace.search.tree import Tree
from storyspace.story import printable


def escape(text: str) -> str:
    """HTML-escaped, with control and invisible format characters removed."""
    return _html_escape(printable(text))

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;max-width:70em;margin:2em auto;color:#222}
details{margin-left:1.2em;border-left:2px solid #ddd;padding-left:.6em}
summary{cursor:pointer} .best>summary{font-weight:600;color:#0a5}
.meta{color:#666;font-size:12px} .plan{color:#735;font-style:italic} p{margin:.3em 0 .6em}
.bar{display:inline-block;height:8px;background:#4a8;vertical-align:middle;margin-right:.4em}
"""


def _node_html(tree: Tree, node_id: int, best: set[int]) -> str:
    n = tree.nodes[node_id]
    b = n.breakdown
    passage = escape(str(n.step.get("passage", "")))
    plan = escape(str(n.step.get("plan", "") or ""))
    meta = (
        f"#{n.id} depth {n.depth} · N={n.visits} Q={n.q:.3f} P={n.prior:.2f} · v={n.value:.3f}"
        + (
            f" (surprisal {b.get('surprisal', 0):.2f}, curiosity {b.get('curiosity', 0):.2f},"
            f" coherence {b.get('coherence', 0):.2f}, penalty {b.get('penalty', 1):.2f})"
            if b
            else ""
        )
    )
    head = passage[:90] + ("…" if len(passage) > 90 else "") if n.id else "premise"
    bar = f'<span class="bar" style="width:{int(60 * max(0.0, min(1.0, n.q)))}px"></span>'
    kids = "".join(_node_html(tree, c, best) for c in n.children)
    cls = ' class="best"' if n.id in best else ""
    opened = " open" if n.id in best else ""
    body = (f'<div class="plan">plan: {plan}</div>' if plan else "") + (f"<p>{passage}</p>" if n.id else "")
    return (
        f"<details{cls}{opened}><summary>{bar}{head}</summary>"
        f'<div class="meta">{escape(meta)}</div>{body}{kids}</details>'
    )


def tree_html(tree: Tree, premise: str, run_info: dict[str, Any] | None = None) -> str:
    best = set(tree.best_path())
    title = escape(premise[:80])
    info = escape(
        f"{tree.simulations} simulations, {tree.expansions} expansions, {len(tree.nodes)} nodes"
        + (f", seed {run_info.get('seed')}" if run_info else "")
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>storyspace: {title}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Story tree</h1><p><b>Premise.</b> {escape(premise)}</p><p class='meta'>{info}."
        " Green: the best path (most visits, ties by Q). Bars: Q.</p>"
        f"{_node_html(tree, 0, best)}</body></html>\n"
    )
