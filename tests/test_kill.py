"""Work survives a killed process: ``eval`` and ``loop`` killed with SIGKILL part-way, then the
same command again finishes without redoing (or changing) what was finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "storyspace.cli", *args], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def kill_when(proc: subprocess.Popen, ready, timeout_s: float = 600.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None and not ready():
        time.sleep(0.05)
    assert proc.poll() is None, f"the command ended before it could be killed: {proc.stderr.read()[-500:]}"
    assert ready(), "nothing was finished in time"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)


def mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_a_killed_eval_continues_where_it_stopped(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    args = ["eval", "--out", str(out), "--n-premises", "2", "--systems", "single,best-of-n,beam", "--reader", "none",
            "--depth", "2", "--step-tokens", "12", "--budget-tokens", "96", "--curve", "1,2", "--device", "cpu",
            "--quiet"]
    proc = start(*args)
    kill_when(proc, lambda: len(list((out / "stories").glob("*.json"))) >= 2 if (out / "stories").is_dir() else False)
    finished = {k: v for k, v in mtimes(out).items() if k.startswith("stories/")}
    assert not (out / "report.md").exists()
    done = subprocess.run([sys.executable, "-m", "storyspace.cli", *args], env=ENV, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    after = mtimes(out)
    assert all(after[k] == v for k, v in finished.items())  # finished stories were kept, not redone
    rows = [json.loads(x) for x in (out / "stories.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and json.loads((out / "eval.json").read_text())["status"] == "finished"


def test_a_killed_loop_continues_where_it_stopped(tmp_path: Path) -> None:
    premises = tmp_path / "premises.txt"
    premises.write_text("A cat becomes mayor of a small town.\nA clock that runs backwards is found in an attic.\n")
    out = tmp_path / "loop"
    args = ["loop", "--out", str(out), "--premises", str(premises), "--iterations", "1", "--train-premises", "1",
            "--heldout-premises", "1", "--simulations", "2", "--depth", "2", "--children", "2", "--parallel-leaves",
            "2", "--step-tokens", "16", "--max-steps", "1", "--batch-size", "2", "--min-margin", "0",
            "--max-similarity", "1", "--device", "cpu"]
    first_piece = out / "eval" / "policy0" / "single" / "p00.json"
    proc = start(*args)
    kill_when(proc, first_piece.is_file)
    kept = first_piece.stat().st_mtime_ns
    assert not (out / "iterations.json").exists() or len(json.loads((out / "iterations.json").read_text())) < 2
    done = subprocess.run([sys.executable, "-m", "storyspace.cli", *args], env=ENV, capture_output=True, text=True,
                          timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    assert first_piece.stat().st_mtime_ns == kept  # the finished single-pass story was not redone
    rows = json.loads((out / "iterations.json").read_text())
    assert [r["iteration"] for r in rows] == [0, 1] and (out / "iter1" / "model" / "train.json").is_file()
