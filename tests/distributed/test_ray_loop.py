"""``storyspace loop --ray``: searches and held-out stories on the actors, ORPO as a Ray task, the
loop directory written by the driver alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.distributed.test_ray_eval import ENV

pytestmark = pytest.mark.slow


def test_a_loop_iteration_on_ray(tmp_path: Path, ray_cluster: str) -> None:
    premises = tmp_path / "premises.txt"
    premises.write_text("A cat becomes mayor of a small town.\nA clock that runs backwards is found in an attic.\n")
    out = tmp_path / "loop"
    args = [sys.executable, "-m", "storyspace.cli", "loop", "--out", str(out), "--premises", str(premises),
            "--iterations", "1", "--train-premises", "1", "--heldout-premises", "1", "--simulations", "2",
            "--depth", "2", "--children", "2", "--parallel-leaves", "2", "--step-tokens", "16", "--max-steps", "1",
            "--batch-size", "2", "--min-margin", "0", "--max-similarity", "1", "--device", "cpu",
            "--ray", ray_cluster, "--ray-workers", "2"]
    done = subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads((out / "iterations.json").read_text())
    assert [r["iteration"] for r in rows] == [0, 1] and rows[1]["pairs"] >= 1
    assert (out / "iter1" / "model" / "train.json").is_file() and not (out / "failed.json").exists()
    for run in (out / "iter0" / "search" / "p00", out / "eval" / "policy1" / "mcts" / "p00"):
        assert json.loads((run / "run.json").read_text())["status"] == "finished"
    assert rows[1]["policy"] == f"hf:{(out / 'iter1' / 'model').absolute()}"
    assert rows[1]["single"]["n"] >= 1 and rows[1]["mcts"]["n"] >= 1
