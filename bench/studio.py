"""Speed of the studio: first render of a 2,000-node tree in headless Chromium, and the API's
overhead on a node expansion beyond the model call.

- Render: a synthetic run of ``--nodes`` nodes (random shape, depth 6, passages of ~300
  characters) is served by a real uvicorn server; Chromium (/usr/bin/chromium, Playwright) opens
  the run's page ``--repeats`` times; the time is the page's own ``performance`` mark when the
  tree is drawn, from the start of navigation (fetch of page, script and tree JSON included).
- Expansion: a small run searched with the embedded model; ``--expansions`` times k = 2
  children of the root through POST /api/expand, polled until done (one warm-up first, which
  loads the models). Overhead = the wall time the client waited minus the model call
  (``model_s`` of the job: policy sampling and valuing).

Prints figures and, as its last line, one JSON object.

    .venv/bin/python bench/studio.py [--nodes 2000] [--repeats 5] [--expansions 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402

from storyspace.cli import quiet_libraries  # noqa: E402
from storyspace.config import ExploreConfig, build, to_dict  # noqa: E402
from storyspace.explore import Explorer  # noqa: E402
from storyspace.models.registry import ModelPool  # noqa: E402
from storyspace.search.tree import Tree  # noqa: E402
from storyspace.studio.app import Studio  # noqa: E402
from storyspace.studio.jobs import Models, Worker  # noqa: E402
from storyspace.studio.server import serving  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PREMISE = "A lighthouse keeper finds a letter addressed to her from the future."
WORDS = "the sea lamp letter night storm keeper stair glass salt bell wind years door ink tide".split()


def synthetic_run(path: Path, nodes: int, depth: int = 6, seed: int = 0) -> None:
    """A finished-looking run of ``nodes`` nodes: each new node under a random open node."""
    rng = random.Random(seed)
    cfg = build(ExploreConfig(), None, {"search": {"depth": depth}})
    tree = Tree.new(depth, {"premise": PREMISE})
    while len(tree.nodes) < nodes:
        parent = rng.choice([n.id for n in tree.nodes if n.depth < depth])
        text = " ".join(rng.choice(WORDS) for _ in range(55)).capitalize() + "."
        value = rng.random()
        node = tree.add_child(parent, {"plan": "", "passage": text}, -1.0, value, {"value": value, "surprisal": 3.0})
        for a in tree.path(node.id):
            tree.nodes[a].visits += 1
            tree.nodes[a].total += value
    tree.simulations = nodes
    path.mkdir(parents=True)
    meta = {"command": "explore", "premise": PREMISE, "seed": 0, "config": to_dict(cfg), "status": "finished",
            "budget": {"nodes": nodes}, "timings": {"sessions": [], "wall_s": 0.0}}
    (path / "run.json").write_text(json.dumps(meta))
    (path / "tree.json").write_text(json.dumps(tree.to_json()))


def render_ms(url: str, run: str, nodes: int, repeats: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1400, "height": 850})
            page.goto(f"{url}/#/run/{run}")
            page.wait_for_function(f"document.body.dataset.treeRendered === '{nodes}'", timeout=120_000)
            out.append(page.evaluate("performance.getEntriesByName('tree-rendered')[0].startTime"))
            page.close()
        browser.close()
    return out


def expansion_times(url: str, run: str, count: int) -> list[tuple[float, float]]:
    """(client wall seconds, model seconds) per expansion; one warm-up first."""
    out = []
    with httpx.Client(base_url=url, timeout=600) as client:
        for i in range(count + 1):
            start = time.perf_counter()
            job = client.post("/api/expand", json={"run": run, "node": 0, "k": 2}).json()["job"]
            while job["status"] in ("queued", "running"):
                time.sleep(0.01)
                job = client.get(f"/api/jobs/{job['id']}").json()
            wall = time.perf_counter() - start
            if job["status"] != "done":
                raise SystemExit(f"expansion failed: {job['error']}")
            if i:
                out.append((wall, job["result"]["model_s"]))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--expansions", type=int, default=5)
    args = parser.parse_args()
    quiet_libraries()
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        synthetic_run(root / "big", args.nodes)
        pool = ModelPool(device="cpu")
        cfg = build(ExploreConfig(), None, {"search": {"simulations": 2, "depth": 2, "children": 2},
                                            "policy": {"step_tokens": 32}})
        Explorer(pool).start(PREMISE, cfg, root / "small")
        studio = Studio(root, cfg, worker=Worker(Models(pool)))
        try:
            with serving(studio) as url:
                renders = render_ms(url, "big", args.nodes, args.repeats)
                expansions = expansion_times(url, "small", args.expansions)
        finally:
            studio.worker.close()
    overhead = [1000 * (w - m) for w, m in expansions]
    print(f"first render of {args.nodes} nodes: {', '.join(f'{r:.0f}' for r in renders)} ms")
    print(f"expansion k=2: wall {', '.join(f'{w:.2f}' for w, _ in expansions)} s;"
          f" model {', '.join(f'{m:.2f}' for _, m in expansions)} s")
    result = {"nodes": args.nodes, "first_render_ms": round(statistics.median(renders), 1),
              "first_render_ms_all": [round(r, 1) for r in renders],
              "expand_wall_s": round(statistics.median(w for w, _ in expansions), 3),
              "expand_model_s": round(statistics.median(m for _, m in expansions), 3),
              "expand_overhead_ms": round(statistics.median(overhead), 1),
              "expand_overhead_ms_all": [round(o, 1) for o in overhead]}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
