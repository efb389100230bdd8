"""`make bench` runs to its last line: every bench script its recipe lists, on the real models,
backends and browser, at small settings (the benches' figures are not asserted: no timing
assertions in tests). Issue #43 item 6: the openai row once died on the prefill prompt style."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: each script of the bench recipe, with the small settings the test runs it at, and the keys its
#: last line (one JSON object) must hold
SMALL = {
    "bench/explore.py": (["--simulations", "2"], {"wall_s", "policy_tokens", "raw_decode_tokens_per_s"}),
    "bench/backends.py": (["--simulations", "2", "--many", "2", "--openai-simulations", "1"],
                          {"hf", "llamacpp", "llamacpp_all", "openai", "machine"}),
    "bench/studio.py": (["--nodes", "60", "--repeats", "1", "--expansions", "2", "--clients", "2"],
                        {"first_render_ms", "expand_wall_s", "load"}),
}


def bench_recipe() -> list[str]:
    """The scripts `make bench` runs, in order, read off the Makefile."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^bench:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert recipe, "the Makefile has no bench target"
    return re.findall(r"python (bench/\S+\.py)", recipe.group(1))


def test_the_test_knows_every_bench_script_of_make_bench() -> None:
    assert bench_recipe() == list(SMALL), "a bench script was added to or removed from make bench: update SMALL"


@pytest.mark.slow
@pytest.mark.parametrize("script", list(SMALL))
def test_each_bench_of_make_bench_runs_to_its_last_line(script: str) -> None:
    args, keys = SMALL[script]
    proc = subprocess.run([sys.executable, str(ROOT / script), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=1200, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert isinstance(last, dict) and keys <= set(last), sorted(last)
    if script == "bench/backends.py":  # every backend explored and wrote tokens, the server's row included
        for name in ("hf", "llamacpp", "llamacpp_all", "openai"):
            assert last[name]["explore_policy_tokens_per_s"] > 0, (name, last[name])
    if script == "bench/studio.py":
        assert last["load"]["failures"] == 0 and last["load"]["server_errors"] == 0, last["load"]
