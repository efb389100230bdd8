"""``storyspace eval --ray`` on a real local Ray cluster: the same stories as without Ray, a
killed worker's task retried (or, out of retries, reported as failed), a killed driver resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.distributed.conftest import LOOPBACK_ENV, ray_processes

pytestmark = pytest.mark.slow

ENV = {**os.environ, **LOOPBACK_ENV}
#: 2 premises x 2 systems, stories of 2 steps x 12 tokens, the independent reader on
TINY = ["--n-premises", "2", "--systems", "single,best-of-n", "--depth", "2", "--step-tokens", "12",
        "--budget-tokens", "72", "--curve", "1,2", "--device", "cpu", "--quiet"]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "storyspace.cli", *args]


def run_eval(out: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(cli("eval", "--out", str(out), *TINY, *extra), env={**ENV, **(env or {})},
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def wait_for(ready, proc: subprocess.Popen, timeout_s: float = 600.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None and not ready():
        time.sleep(0.05)
    assert proc.poll() is None, f"ended before the kill: {proc.stderr.read()[-2000:]}"
    assert ready(), "nothing happened in time"


def stories(out: Path) -> list[Path]:
    return sorted((out / "stories").glob("*.json")) if (out / "stories").is_dir() else []


def test_the_same_stories_with_and_without_ray(tmp_path: Path, ray_cluster: str) -> None:
    # one torch thread, as in each Ray worker (--ray-threads 1): sums split over threads can differ
    # in their last bits, and a sampled token can follow them
    run_eval(tmp_path / "serial", env={"OMP_NUM_THREADS": "1"})
    run_eval(tmp_path / "one", "--ray", ray_cluster, "--ray-workers", "1")
    run_eval(tmp_path / "two", "--ray", ray_cluster, "--ray-workers", "2")
    serial = (tmp_path / "serial" / "stories.jsonl").read_bytes()
    assert len(serial.splitlines()) == 4 and b'"reader"' in serial
    assert (tmp_path / "one" / "stories.jsonl").read_bytes() == serial
    assert (tmp_path / "two" / "stories.jsonl").read_bytes() == serial
    for name in ("p00.best-of-n.json", "p01.best-of-n.json"):
        s = json.loads((tmp_path / "serial" / "stories" / name).read_text())
        t = json.loads((tmp_path / "two" / "stories" / name).read_text())
        assert {k: v for k, v in s.items() if k != "wall_s"} == {k: v for k, v in t.items() if k != "wall_s"}
    assert json.loads((tmp_path / "two" / "eval.json").read_text())["status"] == "finished"


def kill_a_worker_mid_task(out: Path, *extra: str) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(cli("eval", "--out", str(out), *TINY, *extra), env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    # a worker that has loaded its models and works on a task (its process title says which)
    wait_for(lambda: bool(ray_processes("ray::Worker.run")), proc)
    victim = ray_processes("ray::Worker.run")[0]
    os.kill(victim, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr[-3000:]
    return subprocess.CompletedProcess(proc.args, 0, stdout, stderr)


def test_a_killed_worker_s_task_is_retried(tmp_path: Path, ray_cluster: str) -> None:
    out = tmp_path / "eval"
    kill_a_worker_mid_task(out, "--ray", ray_cluster, "--ray-workers", "2", "--reader", "none")
    assert len(stories(out)) == 4 and not (out / "failed.json").exists()
    assert json.loads((out / "eval.json").read_text())["status"] == "finished"


def test_a_task_out_of_retries_is_reported_as_failed(tmp_path: Path, ray_cluster: str) -> None:
    out = tmp_path / "eval"
    done = kill_a_worker_mid_task(out, "--ray", ray_cluster, "--ray-workers", "2", "--ray-retries", "0",
                                  "--reader", "none")
    failed = json.loads((out / "failed.json").read_text())
    assert len(failed) == 1 and failed[0]["stage"] == "stories" and "worker died" in failed[0]["error"]
    assert "## Failed" in done.stdout and failed[0]["task"] in done.stdout
    assert len(stories(out)) == 3 and json.loads((out / "eval.json").read_text())["status"] == "finished with failures"
    # the failed premise is left out of the comparison; the same command again makes the missing story
    rows = (out / "stories.jsonl").read_text().splitlines()
    assert len(rows) == 2
    run_eval(out, "--ray", ray_cluster, "--reader", "none")
    assert len(stories(out)) == 4 and not json.loads((out / "failed.json").read_text())
    assert json.loads((out / "eval.json").read_text())["status"] == "finished"


def test_a_killed_driver_resumes(tmp_path: Path, ray_cluster: str) -> None:
    out = tmp_path / "eval"
    args = ["--ray", ray_cluster, "--ray-workers", "2", "--reader", "none"]
    proc = subprocess.Popen(cli("eval", "--out", str(out), *TINY, *args), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    wait_for(lambda: len(stories(out)) >= 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    kept = {p.name: p.stat().st_mtime_ns for p in stories(out)}
    assert 1 <= len(kept) < 4
    run_eval(out, *args)
    after = {p.name: p.stat().st_mtime_ns for p in stories(out)}
    assert len(after) == 4 and all(after[k] == v for k, v in kept.items())  # finished work kept, not redone
