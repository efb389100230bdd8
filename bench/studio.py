"""Speed of the studio: first render of a 2,000-node tree in headless Chromium, and the API's
overhead on a node expansion beyond the model call.

- Render: a synthetic run of ``--nodes`` nodes (random shape, depth 6, passages of ~300
  characters) is served by a real uvicorn server; Chromium (/usr/bin/chromium, Playwright) opens
  the run's page ``--repeats`` times; the time is the page's own ``performance`` mark when the
  tree is drawn, from the start of navigation (fetch of page, script and tree JSON included).
  A tree of over 50 nodes opens folded around one branch (the studio's default), so each
  page load also times "whole tree": the script's redraw of all ``--nodes`` nodes after the
  checkbox is clicked (layout and SVG built; the browser's paint comes after).
- Expansion: a small run searched with the embedded model; ``--expansions`` times k = 2
  children of the root through POST /api/expand, polled until done (one warm-up first, which
  loads the models). Overhead = the wall time the client waited minus the model call
  (``model_s`` of the job: policy sampling and valuing).
- Load (``--clients N``, issue #46 item 6): an expansion of the small run starts, and N client
  threads at once read its tree and nodes over and over and each writes one passage of its own
  into the same run (one job per run: a write refused with 409 while another job runs is sent
  again, as the page keeps the text). Checked: no answer 5xx, every client's passage in the tree
  exactly once; reported: the reads' p50 / p95 latency and the writes' refusals.

Prints figures and, as its last line, one JSON object.

    .venv/bin/python bench/studio.py [--nodes 2000] [--repeats 5] [--expansions 5] [--clients 20]
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
            first = page.evaluate("performance.getEntriesByName('tree-rendered')[0].startTime")
            whole = page.evaluate("""() => { const t0 = performance.now();
                document.querySelector('input.whole').click(); return performance.now() - t0; }""")
            drawn = page.evaluate("document.querySelectorAll('svg.tree .node').length")
            if drawn != nodes:
                raise SystemExit(f"whole tree drew {drawn} of {nodes} nodes")
            out.append((first, whole))
            page.close()
        browser.close()
    return out


def load(url: str, root: Path, run: str, clients: int, k: int = 4) -> dict:
    """An expansion of ``run``'s root, and ``clients`` threads reading and each writing one passage."""
    import threading

    reads: list[float] = []
    refused, fivexx, errors, lock = [0], [0], [], threading.Lock()
    texts = [f"Client {i} writes that the lamp flickered {i + 1} times before dawn." for i in range(clients)]
    done = threading.Event()

    def wait(client: httpx.Client, job: dict) -> dict:
        while job["status"] in ("queued", "running"):
            time.sleep(0.05)
            job = client.get(f"/api/jobs/{job['id']}").json()
        return job

    def reader_writer(i: int) -> None:
        with httpx.Client(base_url=url, timeout=600) as client:
            def get(path: str, **params: object) -> dict:
                t0 = time.perf_counter()
                r = client.get(path, params=params)
                with lock:
                    reads.append(time.perf_counter() - t0)
                    if r.status_code >= 500:
                        fivexx[0] += 1
                        errors.append(f"GET {path}: {r.status_code}")
                return r.json()
            wrote = False
            while not (wrote and done.is_set()):
                tree = get("/api/tree", run=run)
                get("/api/node", run=run, id=tree["nodes"][i % len(tree["nodes"])]["id"])
                if not wrote:
                    r = client.post("/api/write", json={"run": run, "node": 0, "passage": texts[i]})
                    if r.status_code == 409:  # the run has a job: the page keeps the text; send it again
                        with lock:
                            refused[0] += 1
                        time.sleep(0.2)
                        continue
                    if r.status_code != 200:
                        with lock:
                            fivexx[0] += r.status_code >= 500
                            errors.append(f"POST /api/write: {r.status_code} {r.text[:120]}")
                        return
                    job = wait(client, r.json()["job"])
                    if job["status"] != "done":
                        with lock:
                            errors.append(f"write job {job['status']}: {job.get('error')}")
                    wrote = True

    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=600) as client:
        expansion = client.post("/api/expand", json={"run": run, "node": 0, "k": k}).json()["job"]
        threads = [threading.Thread(target=reader_writer, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        if wait(client, expansion)["status"] != "done":
            errors.append("the expansion failed")
        done.set()
        for t in threads:
            t.join()
    from storyspace.runs import load_run

    tree = load_run(root / run).tree
    passages = [n.step.get("passage") for n in tree.nodes]
    lost = [t for t in texts if passages.count(t) == 0]
    twice = [t for t in texts if passages.count(t) > 1]
    reads.sort()
    return {"clients": clients, "seconds": round(time.perf_counter() - started, 1), "reads": len(reads),
            "read_p50_ms": round(1000 * reads[len(reads) // 2], 1),
            "read_p95_ms": round(1000 * reads[int(0.95 * (len(reads) - 1))], 1),
            "writes_refused_busy": refused[0], "server_errors": fivexx[0], "failures": len(errors), "errors": errors[:5],
            "passages_lost": len(lost), "passages_twice": len(twice)}



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
    parser.add_argument("--clients", type=int, default=20, help="load: clients at once (0: no load test)")
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
                drawn = render_ms(url, "big", args.nodes, args.repeats)
                expansions = expansion_times(url, "small", args.expansions)
                loaded = load(url, root, "small", args.clients) if args.clients else None
        finally:
            studio.worker.close()
    renders, wholes = [r for r, _ in drawn], [w for _, w in drawn]
    overhead = [1000 * (w - m) for w, m in expansions]
    print(f"first render of {args.nodes} nodes (folded): {', '.join(f'{r:.0f}' for r in renders)} ms;"
          f" whole tree redrawn: {', '.join(f'{w:.0f}' for w in wholes)} ms")
    print(f"expansion k=2: wall {', '.join(f'{w:.2f}' for w, _ in expansions)} s;"
          f" model {', '.join(f'{m:.2f}' for _, m in expansions)} s")
    result = {"nodes": args.nodes, "first_render_ms": round(statistics.median(renders), 1),
              "first_render_ms_all": [round(r, 1) for r in renders],
              "expand_wall_s": round(statistics.median(w for w, _ in expansions), 3),
              "expand_model_s": round(statistics.median(m for _, m in expansions), 3),
              "expand_overhead_ms": round(statistics.median(overhead), 1),
              "expand_overhead_ms_all": [round(o, 1) for o in overhead],
              "whole_tree_redraw_ms": round(statistics.median(wholes), 1)}
    if loaded is not None:
        print(f"load: {loaded['clients']} clients, {loaded['reads']} reads p50 {loaded['read_p50_ms']} ms"
              f" p95 {loaded['read_p95_ms']} ms; writes refused while busy {loaded['writes_refused_busy']};"
              f" 5xx {loaded['server_errors']}, failures {loaded['failures']}; passages lost {loaded['passages_lost']}, twice {loaded['passages_twice']}")
        result["load"] = loaded
    print(json.dumps(result))
    if loaded is not None and (loaded["failures"] or loaded["passages_lost"] or loaded["passages_twice"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
