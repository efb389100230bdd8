"""The studio's API through FastAPI's test client: listing, node detail, queued model work on the
real embedded model, pinning, export, studies; paths kept inside the folder; bad requests get a
one-line 4xx."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from storyspace.runs import load_run
from storyspace.study.create import StudyConfig, create_study
from tests.studio.conftest import CUT_PASSAGE, PREMISE, cut_off_leaf, tiny_config


@pytest.fixture
def client(runs_root: Path, worker) -> TestClient:  # noqa: ANN001
    from storyspace.studio.app import Studio, create_app

    return TestClient(create_app(Studio(runs_root, tiny_config(), worker=worker)), raise_server_exceptions=False)


def wait(client: TestClient, job: dict, limit_s: float = 300) -> dict:
    deadline = time.monotonic() + limit_s
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"job {job} did not finish"
        time.sleep(0.2)
        job = client.get(f"/api/jobs/{job['id']}").json()
    return job


def one_line_error(resp, status: int) -> str:  # noqa: ANN001
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and "Traceback" not in body["error"]
    return body["error"]


def test_runs_are_listed_with_premise_status_nodes_and_value(client: TestClient, runs_root: Path) -> None:
    (runs_root / "empty-folder").mkdir()
    data = client.get("/api/runs").json()
    assert [r["path"] for r in data["runs"]] == ["lighthouse"]
    row = data["runs"][0]
    saved = load_run(runs_root / "lighthouse")
    assert row["premise"] == PREMISE and row["status"] == "finished" and row["nodes"] == len(saved.tree.nodes)
    assert isinstance(row["best_value"], float)
    page = client.get("/")
    assert page.status_code == 200 and "Storyspace Studio" in page.text


def test_node_detail_has_the_story_and_the_value_breakdown(client: TestClient, runs_root: Path) -> None:
    saved = load_run(runs_root / "lighthouse")
    leaf = saved.tree.best_leaf()
    got = client.get("/api/node", params={"run": "lighthouse", "id": leaf}).json()
    assert got["premise"] == PREMISE and [s["id"] for s in got["steps"]] == saved.tree.path(leaf)[1:]
    assert got["passage"] == saved.tree.nodes[leaf].step["passage"] and got["finished"] is True
    assert {"value", "surprisal", "curiosity", "coherence", "penalty"} <= set(got["breakdown"])
    assert got["visits"] == saved.tree.nodes[leaf].visits


@pytest.mark.slow
def test_expand_search_write_pin_export_through_the_api(client: TestClient, runs_root: Path) -> None:
    before = len(load_run(runs_root / "lighthouse").tree.nodes)
    job = client.post("/api/expand", json={"run": "lighthouse", "node": 0, "k": 2}).json()["job"]
    job = wait(client, job)
    assert job["status"] == "done" and len(job["result"]["added"]) == 2
    job = wait(client, client.post("/api/search", json={"run": "lighthouse", "node": 0, "simulations": 2}).json()["job"])
    assert job["status"] == "done" and job["done"] == 2
    job = wait(client, client.post("/api/write", json={"run": "lighthouse", "node": 0,
                                                       "passage": "She folded the letter away."}).json()["job"])
    human = job["result"]["added"][0]
    tree = client.get("/api/tree", params={"run": "lighthouse"}).json()
    assert len(tree["nodes"]) > before + 2 and tree["nodes"][human]["author"] == "human"
    assert client.post("/api/pin", json={"run": "lighthouse", "node": human}).json() == {"pinned": human}
    md = client.get("/api/export", params={"run": "lighthouse"})
    assert "attachment" in md.headers["content-disposition"] and "She folded the letter away." in md.text


def test_export_a_branch_or_the_whole_tree_named_after_the_premise(client: TestClient, runs_root: Path) -> None:
    """Issue #46, item 5: the chosen story by default, any branch (``node``), the whole tree
    (``scope=tree``); the premise is the title and the file name; a passage cut mid-sentence ends
    on its last whole sentence in the export, and the run is left as it was."""
    leaf = cut_off_leaf(runs_root / "lighthouse")
    tree = load_run(runs_root / "lighthouse").tree
    before = {p.name: p.read_bytes() for p in (runs_root / "lighthouse").iterdir()}
    stem = "a-lighthouse-keeper-finds-a-letter-addressed-to-her-from-the"

    branch = client.get("/api/export", params={"run": "lighthouse", "node": leaf})
    assert branch.status_code == 200 and branch.headers["content-type"].startswith("text/markdown")
    assert branch.headers["content-disposition"] == f'attachment; filename="{stem}-node-{leaf}.md"'
    assert branch.text.startswith(f"# {PREMISE}\n\n")
    assert branch.text.endswith("\n\nThe lamp went dark at midnight.\n")  # the cut-off tail dropped
    assert " ".join(tree.nodes[tree.path(leaf)[1]].step["passage"].split()[:5]) in branch.text  # the opening

    chosen = client.get("/api/export", params={"run": "lighthouse"})
    assert chosen.headers["content-disposition"] == f'attachment; filename="{stem}.md"'
    assert chosen.text.startswith(f"# {PREMISE}\n\n") and "Best story" not in chosen.text

    whole = client.get("/api/export", params={"run": "lighthouse", "scope": "tree"})
    assert whole.headers["content-disposition"] == f'attachment; filename="{stem}-tree.md"'
    ends = [n.id for n in tree.nodes if not n.children]
    assert whole.text.count("\n## Branch ") == len(ends)
    assert all(f"(node {n}" in whole.text for n in ends) and "The lamp went dark at midnight.\n" in whole.text
    assert CUT_PASSAGE not in branch.text + chosen.text + whole.text
    assert {p.name: p.read_bytes() for p in (runs_root / "lighthouse").iterdir()} == before


def test_bad_export_requests_get_one_line_errors(client: TestClient) -> None:
    for node in (-1, 999, 10**30):
        assert f"no node {node} in this run" in one_line_error(
            client.get("/api/export", params={"run": "lighthouse", "node": node}), 400)
    assert "premise" in one_line_error(client.get("/api/export", params={"run": "lighthouse", "node": 0}), 400)
    for bad in ("x", "", "1e3", "true"):
        assert "node" in one_line_error(client.get("/api/export", params={"run": "lighthouse", "node": bad}), 422)
    assert "not both" in one_line_error(
        client.get("/api/export", params={"run": "lighthouse", "node": 1, "scope": "tree"}), 400)
    assert "scope" in one_line_error(client.get("/api/export", params={"run": "lighthouse", "scope": "all"}), 422)
    assert "no run" in one_line_error(client.get("/api/export", params={"run": "nothing-here", "node": 1}), 404)


def test_paths_outside_the_folder_are_refused(client: TestClient, runs_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "run.json").write_text("{}")
    os.symlink(outside, runs_root / "link")
    for run in ("../outside", "/etc", str(outside), "link", "lighthouse/../../outside"):
        msg = one_line_error(client.get("/api/tree", params={"run": run}), 400)
        assert "outside" in msg or "relative" in msg
    assert "no run" in one_line_error(client.get("/api/tree", params={"run": "nothing-here"}), 404)
    one_line_error(client.get("/api/study/next", params={"study": "../outside", "rater": "ann"}), 400)


def test_bad_requests_get_one_line_errors_and_nothing_is_changed(client: TestClient, runs_root: Path) -> None:
    before = {p.name: p.read_bytes() for p in (runs_root / "lighthouse").iterdir()}
    leaf = load_run(runs_root / "lighthouse").tree.best_leaf()
    one_line_error(client.post("/api/expand", content=b"not json", headers={"content-type": "application/json"}), 422)
    one_line_error(client.post("/api/expand", json={"run": "lighthouse", "node": 0, "k": 0}), 422)
    one_line_error(client.post("/api/expand", json={"run": "lighthouse", "node": "x"}), 422)
    one_line_error(client.post("/api/expand", json={"run": "lighthouse", "node": 0, "instruction": "x" * 301}), 422)
    one_line_error(client.post("/api/expand", json={"run": "lighthouse", "node": 0, "instruction": ["x"]}), 422)
    assert "premise is not a passage" in one_line_error(
        client.post("/api/revise", json={"run": "lighthouse", "node": 0, "passage": "x"}), 400)
    assert "empty" in one_line_error(client.post("/api/revise", json={"run": "lighthouse", "node": 1, "passage": " "}), 400)
    assert "no node 999" in one_line_error(client.post("/api/hide", json={"run": "lighthouse", "node": 999}), 400)
    one_line_error(client.post("/api/hide", json={"run": "lighthouse", "node": 1, "hidden": "yes"}), 422)
    assert "no node 999" in one_line_error(client.post("/api/expand", json={"run": "lighthouse", "node": 999}), 400)
    assert "finished story" in one_line_error(client.post("/api/write", json={"run": "lighthouse", "node": leaf,
                                                                            "passage": "More."}), 400)
    assert "empty" in one_line_error(client.post("/api/write", json={"run": "lighthouse", "node": 0,
                                                                   "passage": "\u200b \n"}), 400)
    one_line_error(client.post("/api/pin", json={"run": "lighthouse", "node": 0}), 400)
    one_line_error(client.get("/api/node", params={"run": "lighthouse", "id": -1}), 400)
    one_line_error(client.get("/api/jobs/99999"), 404)
    one_line_error(client.post("/api/jobs/99999/cancel"), 404)
    one_line_error(client.delete("/api/tree", params={"run": "lighthouse"}), 405)
    one_line_error(client.post("/api/runs", json={"premise": "   "}), 400)
    one_line_error(client.post("/api/runs", json={"premise": "x", "simulations": 0}), 422)
    after = {p.name: p.read_bytes() for p in (runs_root / "lighthouse").iterdir()}
    assert after == before


def test_no_route_can_delete_or_replace(client: TestClient) -> None:
    methods = {m for r in client.app.routes for m in getattr(r, "methods", set())}
    assert methods <= {"GET", "HEAD", "POST"}


def test_the_page_puts_no_text_into_html() -> None:
    """Every text reaches the page through textContent: the script never parses strings as HTML."""
    from storyspace.studio.app import STATIC

    script = (STATIC / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script


def test_a_study_is_rated_through_the_api_and_continues(client: TestClient, runs_root: Path) -> None:
    create_study([runs_root / "lighthouse"], runs_root / "study", StudyConfig(pairs=5, min_margin=0.0))
    listed = client.get("/api/runs").json()["studies"]
    assert [s["path"] for s in listed] == ["study"]
    got = client.get("/api/study/next", params={"study": "study", "rater": "ann"}).json()
    pair = got["pair"]
    assert got["rated"] == 0 and pair["left"]["text"] and pair["right"]["text"]
    body = {"study": "study", "rater": "ann", "pair": pair["pair"], "choice": pair["right"]["side"],
            "left": pair["left"]["side"], "reason": "more vivid"}
    assert client.post("/api/study/rate", json=body).status_code == 200
    assert "already rated" in one_line_error(client.post("/api/study/rate", json=body), 400)
    one_line_error(client.post("/api/study/rate", json={**body, "choice": "c"}), 422)
    again = client.get("/api/study/next", params={"study": "study", "rater": "ann"}).json()
    assert again["rated"] == 1 and (again["pair"] is None or again["pair"]["pair"] != pair["pair"])
    row = json.loads((runs_root / "study" / "ratings.jsonl").read_text())
    assert row["rater"] == "ann" and row["choice"] == pair["right"]["side"] and row["reason"] == "more vivid"


@pytest.mark.slow
def test_two_runs_started_at_once_get_their_own_folders(client: TestClient, runs_root: Path) -> None:
    body = {"premise": "Two keepers, one lamp.", "simulations": 1, "depth": 1, "children": 1, "step_tokens": 8}
    first, second = (client.post("/api/runs", json=body).json() for _ in range(2))
    assert first["run"] != second["run"]
    for got in (first, second):
        assert wait(client, got["job"])["status"] == "done"
        assert load_run(runs_root / got["run"]).premise == "Two keepers, one lamp."


def test_defects_of_issue_18_stay_fixed(client: TestClient, runs_root: Path) -> None:
    """A run name too long for the file system is 404, not 500; node ids are strict integers; a
    bad pin is 400 even while the run is busy, and a busy run's 409 names no absolute path; no
    answer shows the studio's folder; a body over the limit is refused by its Content-Length."""
    from storyspace.runs import RunDir
    from storyspace.studio.app import MAX_BODY_BYTES

    long = "a" * 300
    for resp in (client.get("/api/tree", params={"run": long}), client.get("/api/export", params={"run": long}),
                 client.post("/api/expand", json={"run": long, "node": 1}),
                 client.post("/api/pin", json={"run": long, "node": 1}),
                 client.get("/api/study/next", params={"study": long, "rater": "ann"})):
        assert "no " in one_line_error(resp, 404)
    before = {p.name: p.read_bytes() for p in (runs_root / "lighthouse").iterdir()}
    for bad in (True, "1", 1.0, [1]):
        one_line_error(client.post("/api/expand", json={"run": "lighthouse", "node": bad}), 422)
        one_line_error(client.post("/api/pin", json={"run": "lighthouse", "node": bad}), 422)
    one_line_error(client.post("/api/expand", json={"run": "lighthouse", "node": 1, "k": "2"}), 422)
    one_line_error(client.post("/api/runs", json={"premise": "x", "simulations": True}), 422)
    assert {p.name: p.read_bytes() for p in (runs_root / "lighthouse").iterdir()} == before

    root = str(runs_root.resolve())
    with RunDir(runs_root / "lighthouse").writer():  # another writer holds the run
        assert "no node 999" in one_line_error(client.post("/api/pin", json={"run": "lighthouse", "node": 999}), 400)
        busy = one_line_error(client.post("/api/pin", json={"run": "lighthouse", "node": 1}), 409)
        assert root not in busy and "/" not in busy
    listing = client.get("/api/runs").text
    assert root not in listing and client.get("/api/runs").json()["root"] == runs_root.name
    (runs_root / "damaged").mkdir()
    (runs_root / "damaged" / "run.json").write_text("{")
    row = [r for r in client.get("/api/runs").json()["runs"] if r["path"] == "damaged"][0]
    assert row["status"] == "damaged" and root not in row["error"] and "damaged/run.json" in row["error"]
    assert root not in one_line_error(client.get("/api/tree", params={"run": "damaged"}), 400)

    big = b"{" + b" " * (MAX_BODY_BYTES + 10) + b"}"
    assert "over" in one_line_error(client.post("/api/write", content=big, headers={"content-type": "application/json"}), 413)

    def chunks():  # no Content-Length: cut off once past the limit
        for _ in range(MAX_BODY_BYTES // 4096 + 2):
            yield b" " * 4096

    assert "over" in one_line_error(client.post("/api/write", content=chunks(), headers={"content-type": "application/json"}), 413)


def test_runs_listing_shows_the_actual_defaults(client: TestClient) -> None:
    got = client.get("/api/runs").json()["defaults"]
    assert got == {"simulations": 4, "depth": 2, "children": 2, "step_tokens": 24, "seed": 0, "model": "embedded"}


def test_the_writer_preset_is_what_new_runs_of_make_studio_use(tmp_path, worker) -> None:  # noqa: ANN001
    """``make studio`` passes ``--config writer``: the form shows the preset's writer and settings."""
    from storyspace.studio.app import Studio, create_app, read_base_config

    studio = Studio(tmp_path, base=read_base_config("writer"), worker=worker)
    got = TestClient(create_app(studio)).get("/api/runs").json()["defaults"]
    assert got["model"] == "llamacpp:qwen2.5-coder-1.5b" and got["simulations"] == 4 and got["children"] == 4


def two_branches(saved) -> tuple[int, int]:  # noqa: ANN001
    """Two leaves on different branches of the root."""
    kids = saved.tree.nodes[0].children
    ends = []
    for k in kids[:2]:
        node = k
        while saved.tree.nodes[node].children:
            node = saved.tree.nodes[node].children[0]
        ends.append(node)
    return ends[0], ends[1]


def test_compare_reads_two_branches_side_by_side(client: TestClient, runs_root: Path) -> None:
    saved = load_run(runs_root / "lighthouse")
    a, b = two_branches(saved)
    got = client.get("/api/compare", params={"run": "lighthouse", "a": a, "b": b}).json()
    assert got["premise"] == PREMISE and got["fork"] == 0 and got["context"] == []
    for side, node in (("a", a), ("b", b)):
        path = saved.tree.path(node)[1:]
        assert got[side]["node"] == node
        assert got[side]["passages"] == [saved.tree.nodes[i].step["passage"] for i in path]
        values = [saved.tree.nodes[i].value for i in path]
        assert got[side]["story_value"] == pytest.approx(sum(values) / len(values), abs=1e-6)
    parent = saved.tree.nodes[a].parent
    assert "on the other's path" in one_line_error(
        client.get("/api/compare", params={"run": "lighthouse", "a": a, "b": parent}), 400)
    assert "premise" in one_line_error(client.get("/api/compare", params={"run": "lighthouse", "a": 0, "b": b}), 400)
    one_line_error(client.get("/api/compare", params={"run": "lighthouse", "a": a, "b": 999}), 400)


def test_a_compared_pair_goes_into_a_study_once(client: TestClient, runs_root: Path) -> None:
    from storyspace.study.create import load_study

    saved = load_run(runs_root / "lighthouse")
    a, b = two_branches(saved)
    for _ in range(2):  # the same pair twice is kept once
        job = wait(client, client.post("/api/compare/study", json={"run": "lighthouse", "a": a, "b": b}).json()["job"])
        assert job["status"] == "done" and job["result"] == {"study": "studio-pairs", "pair": "p001", "pairs": 1}
    study = load_study(runs_root / "studio-pairs")
    pair = study["pairs"][0]
    assert pair["kind"] == "paths" and pair["premise"] == PREMISE and pair["prompt"]
    assert pair["a"]["text"] == " ".join(saved.tree.nodes[i].step["passage"] for i in saved.tree.path(a)[1:])
    assert [s["path"] for s in client.get("/api/runs").json()["studies"]] == ["studio-pairs"]
    nxt = client.get("/api/study/next", params={"study": "studio-pairs", "rater": "ann"}).json()
    assert nxt["pair"]["pair"] == "p001" and nxt["total"] == 1
    one_line_error(client.post("/api/compare/study", json={"run": "lighthouse", "a": a, "b": "2"}), 422)
    (runs_root / "studio-pairs" / "study.json").unlink()
    (runs_root / "studio-pairs" / "notes.txt").write_text("a folder of the writer's, not a study")
    job = wait(client, client.post("/api/compare/study", json={"run": "lighthouse", "a": a, "b": b}).json()["job"])
    assert job["status"] == "failed" and "holds no study.json" in job["error"]
    assert str(runs_root) not in job["error"] and (runs_root / "studio-pairs" / "notes.txt").is_file()
