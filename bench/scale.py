"""Premises per hour of `storyspace eval` without Ray and on a local Ray cluster.

Runs the same small evaluation four ways, one after the other, each into a fresh directory:
serial with 2 torch threads (the default here), serial with 1 thread, Ray with 1 worker and Ray
with 2 workers (1 thread each; a private local cluster, `--ray local`, on loopback). Checks that
the four give the same stories.jsonl, and prints each run's premises per hour and Ray's overhead
per premise (Ray with 1 worker minus serial with 1 thread, over the premises: actor start, model
loading in the actor, task hand-off), then one JSON line with all figures.

    .venv/bin/python bench/scale.py [--n-premises 4] [--systems single,best-of-n,beam,mcts]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def run(out: Path, common: list[str], extra: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "storyspace.cli", "eval", "--out", str(out), *common, *extra],
                          env={**ENV, **env}, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"eval failed ({' '.join(extra) or 'serial'}): {done.stderr.strip()[-500:]}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-premises", type=int, default=4)
    ap.add_argument("--systems", default="single,best-of-n,beam,mcts")
    ap.add_argument("--budget-tokens", type=int, default=256, help="policy tokens per story (4 units of 2 x 32)")
    args = ap.parse_args()
    common = ["--n-premises", str(args.n_premises), "--systems", args.systems, "--depth", "2", "--step-tokens", "32",
              "--budget-tokens", str(args.budget_tokens), "--curve", "1", "--reader", "none", "--device", "cpu",
              "--quiet"]
    ways = {
        "serial_2_threads": ([], {}),
        "serial_1_thread": ([], {"OMP_NUM_THREADS": "1"}),
        "ray_1_worker": (["--ray", "local", "--ray-workers", "1"], {}),
        "ray_2_workers": (["--ray", "local", "--ray-workers", "2"], {}),
    }
    figures: dict[str, float] = {}
    texts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (extra, env) in ways.items():
            out = Path(tmp) / name
            wall = run(out, common, extra, env)
            figures[f"{name}_s"] = round(wall, 1)
            figures[f"{name}_premises_per_h"] = round(3600 * args.n_premises / wall, 1)
            texts[name] = (out / "stories.jsonl").read_bytes()
            print(f"{name:>18}: {wall:7.1f} s, {3600 * args.n_premises / wall:6.1f} premises/h", flush=True)
    figures["ray_overhead_s_per_premise"] = round(
        (figures["ray_1_worker_s"] - figures["serial_1_thread_s"]) / args.n_premises, 1)
    figures["speedup_2_workers_vs_serial_2_threads"] = round(figures["serial_2_threads_s"] / figures["ray_2_workers_s"], 2)
    figures["same_stories_1_thread_and_ray"] = texts["serial_1_thread"] == texts["ray_1_worker"] == texts["ray_2_workers"]
    figures["same_stories_2_threads"] = texts["serial_2_threads"] == texts["serial_1_thread"]
    figures.update(n_premises=args.n_premises, systems=args.systems, budget_tokens=args.budget_tokens,
                   cpus=os.cpu_count())
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
