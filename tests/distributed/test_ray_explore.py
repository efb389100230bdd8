"""``storyspace explore --ray``: every premise of a file searched on the cluster, one run directory
each, written by the driver; a re-run skips what is finished."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.distributed.test_ray_eval import ENV

pytestmark = pytest.mark.slow

TINY = ["--simulations", "2", "--depth", "2", "--children", "2", "--parallel-leaves", "2", "--step-tokens", "12",
        "--device", "cpu", "--quiet"]


def test_explore_many_premises_on_ray(tmp_path: Path, ray_cluster: str) -> None:
    premises = tmp_path / "premises.txt"
    premises.write_text("A cat becomes mayor of a small town.\nA clock that runs backwards is found in an attic.\n")
    out = tmp_path / "runs"
    args = [sys.executable, "-m", "storyspace.cli", "explore", "--premise-file", str(premises), "--out", str(out),
            "--ray", ray_cluster, "--ray-workers", "2", *TINY]
    done = subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = sorted(p for p in out.iterdir() if p.is_dir())
    assert [p.name[:4] for p in runs] == ["000-", "001-"] and "2 of 2 premises explored" in done.stdout
    for run in runs:
        meta = json.loads((run / "run.json").read_text())
        assert meta["status"] == "finished" and meta["budget"]["simulations"] >= 2
        assert {"tree.json", "story.md", "tree.html"} <= {p.name for p in run.iterdir()}
    # each is an ordinary run: pairs reads them
    pairs = subprocess.run([sys.executable, "-m", "storyspace.cli", "pairs", *map(str, runs), "--out",
                            str(tmp_path / "pairs.jsonl"), "--min-margin", "0"], env=ENV, capture_output=True,
                           text=True, timeout=300)
    assert pairs.returncode == 0, pairs.stderr[-2000:]
    # the same command again finds both finished and rewrites nothing
    before = {str(p): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {str(p): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
