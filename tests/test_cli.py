"""The console script: bad input, an end-to-end explore on the real model, kill -9 and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from storyspace.cli import main
from storyspace.value.learned import load_weights

TINY = ["--simulations", "3", "--depth", "2", "--children", "2", "--step-tokens", "16", "--quiet"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "storyspace.cli", *args], capture_output=True, text=True, env=env, timeout=600
    )


def one_line_error(capsys) -> str:  # noqa: ANN001
    err = capsys.readouterr().err.strip()
    assert err.startswith("storyspace: error: ") and "\n" not in err and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "args, message",
    [
        (["explore", ""], "premise is empty"),
        (["explore", "   \n "], "premise is empty"),
        (["explore", "A premise", "--simulations", "0"], "must be positive"),
        (["explore", "A premise", "--depth", "-2"], "must be positive"),
        (["explore", "A premise", "--children", "two"], "whole number"),
        (["explore", "A premise", "--model", "gpt-17"], "unknown model spec"),
        (["explore", "A premise", "--reference", "hf:/no/such/dir"], "no transformers model"),
        (["explore", "A premise", "--model", "gguf:/no/such.gguf"], "GGUF file not found"),
        (["explore", "--premise-file", "/no/such/premises.txt"], "premise file not found"),
        (["explore", "A premise", "--config", "/no/such.toml"], "config file not found"),
        (["explore", "--resume", "/no/such/run"], "no run at /no/such/run"),
        (["pairs", "/no/such/run", "--out", "/tmp/p.jsonl"], "no run at /no/such/run"),
        (["train", "/no/such/pairs.jsonl", "--out", "/tmp/storyspace-no-model"], "pairs file not found"),
        (["train", "p.jsonl", "--out", "/tmp/m", "--learning-rate", "-1"], "must be positive"),
        (["train", "p.jsonl", "--out", "/tmp/m", "--model", "nope"], "unknown model spec"),
        (["loop", "--out", "/tmp/storyspace-no-loop", "--train-premises", "90", "--heldout-premises", "10"],
         "need 100 premises"),
        (["loop", "--out", "/tmp/storyspace-no-loop", "--simulations", "0"], "must be positive"),
        (["loop", "--out", "/tmp/storyspace-no-loop", "--reader", "llamacpp:/no/such.gguf"], "GGUF file not found"),
        (["loop", "--out", "/tmp/storyspace-no-loop", "--heldout-seeds", "0"], "must be positive"),
        (["loop", "--out", "/tmp/storyspace-no-loop", "--max-pairs", "-1"], "max-pairs"),
        (["sweep", "/no/such/loop"], "holds no loop"),
        (["sweep", "/no/such/loop", "--seeds", "0"], "positive"),
        (["pairs", "--out", "/tmp/p.jsonl"], "give explore run directories or --from-study"),
        (["explore", "A premise", "--calibration", "/no/such.json"], "calibration file not found"),
        (["explore", "A premise", "--reference", "gguf:/dev/null"], "GGUF file not found"),
        (["explore", "A", "--bogus"], "unrecognized arguments"),
        (["nonsense"], "invalid choice"),
        (["explore", "A premise", "--model", "openai:localhost:8000#m"], "openai spec must be"),
        (["explore", "A premise", "--model", "llamacpp:/no/such.gguf"], "GGUF file not found"),
        (["explore", "A premise", "--backend", "vllm"], "invalid choice"),
        (["explore", "A premise", "--reference", "openai:http://127.0.0.1:9/v1#m"], "no calibration for reference"),
        (["export-gguf", "/no/such/model"], "no transformers model"),
        (["eval", "--out", "/tmp/storyspace-no-eval", "--systems", "greedy"], "unknown system"),
        (["eval", "--out", "/tmp/storyspace-no-eval", "--systems", "mcts@nope"], "unknown model spec"),
        (["eval", "--out", "/tmp/storyspace-no-eval", "--budget-tokens", "10"], "less than one whole story"),
        (["eval", "--out", "/tmp/storyspace-no-eval", "--curve", "1,two"], "argument --curve: expected whole numbers"),
        (["eval", "--out", "/tmp/storyspace-no-eval", "--reader", "llamacpp:/no/such.gguf"], "GGUF file not found"),
        (["eval", "--out", "/tmp/storyspace-no-eval", "--reader", "llamacpp:embedded"], "the value model's own reader"),
        (["loop", "--out", "/tmp/storyspace-no-loop", "--reader", "embedded"], "the value model's own reader"),
        (["eval", "--out", "/tmp/storyspace-no-eval", "--llm-judge", "openai:localhost#m"], "openai spec must be"),
        (["eval", "--out", "/tmp/storyspace-no-eval", "--premises", "/no/such/premises.txt"], "premise file not found"),
        (["eval", "--systems", "single"], "the following arguments are required: --out"),
        (["score", "/no/such/stories.jsonl", "--out", "/tmp/s.jsonl"], "stories file not found"),
        (["validate-value", "--out", "/tmp/storyspace-no-validate", "--reference", "nope"], "unknown model spec"),
        (["validate-value", "--out", "/tmp/storyspace-no-validate", "--reader", "llamacpp:embedded",
          "--reader-calibration", "/no/such.json"], "calibration file not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, capsys) -> None:  # noqa: ANN001
    assert main(args) == 2
    assert message in one_line_error(capsys)


def test_invalid_config_file(tmp_path, capsys) -> None:  # noqa: ANN001
    cfg = tmp_path / "c.toml"
    cfg.write_text("[search]\nsimulations = -1\n")
    assert main(["explore", "A premise", "--config", str(cfg)]) == 2
    assert "search.simulations must be positive" in one_line_error(capsys)
    cfg.write_bytes(b"\xff\xfe not toml")
    assert main(["explore", "A premise", "--config", str(cfg)]) == 2
    one_line_error(capsys)


def test_existing_run_directory_is_not_touched(tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text('{"keep": true}')
    assert main(["explore", "A premise", "--out", str(out), *TINY]) == 2
    assert "use --resume" in one_line_error(capsys)
    assert (out / "run.json").read_text() == '{"keep": true}'
    assert sorted(p.name for p in out.iterdir()) == ["run.json"]


def test_eval_score_and_validate_refuse_a_wrong_kind_of_output_path(tmp_path, capsys) -> None:  # noqa: ANN001
    a_file = tmp_path / "file.txt"
    a_file.write_text("mine\n")
    stories = tmp_path / "s.jsonl"
    stories.write_text('{"prompt": "p", "story": "s."}\n')
    assert main(["eval", "--out", str(a_file), "--reader", "none"]) == 2
    assert "is a file" in one_line_error(capsys)
    assert main(["score", str(stories), "--out", str(tmp_path)]) == 2
    assert "is a directory" in one_line_error(capsys)
    assert main(["validate-value", "--out", str(a_file)]) == 2
    assert "is a file" in one_line_error(capsys)
    assert a_file.read_text() == "mine\n"


def test_premises_lists_the_shipped_set(capsys) -> None:  # noqa: ANN001
    assert main(["premises", "--limit", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("0\t")


@pytest.mark.slow
def test_premise_too_long_for_the_context(tmp_path, capsys) -> None:  # noqa: ANN001
    premise = "word " * 9000
    out = tmp_path / "run"
    assert main(["explore", premise, "--out", str(out), *TINY]) == 2
    assert "premise is too long" in one_line_error(capsys)
    assert not out.exists()


@pytest.mark.slow
def test_explore_end_to_end_writes_the_run_directory(tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / "run"
    premise = 'A lighthouse keeper finds a <script>alert("x")</script> bottle.'
    proc = run_cli("explore", premise, "--out", str(out), "--seed", "3", *TINY)
    assert proc.returncode == 0, proc.stderr
    assert "# Best story" in proc.stdout
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["seed"] == 3
    assert run["config"]["search"]["simulations"] == 3
    assert run["models"]["policy"] == "embedded" and "torch" in run["packages"]
    assert run["budget"]["policy_tokens"] > 0 and run["budget"]["scored_tokens"] > 0
    tree = json.loads((out / "tree.json").read_text())
    assert tree["simulations"] == 3
    nodes = tree["nodes"]
    assert len(tree["best_path"]) == 3  # root + 2 steps: completed to full depth
    weights = load_weights("auto", "embedded")
    for node in nodes[1:]:
        assert {"id", "parent", "depth", "step", "visits", "q", "prior", "value", "breakdown"} <= set(node)
        b = node["breakdown"]
        assert {"surprisal", "curiosity", "coherence", "penalty", "value"} <= set(b)
        assert 0.0 <= node["value"] <= 1.0
        assert node["value"] == pytest.approx(weights.value(b), abs=1e-4)  # the shipped learned value
    story = (out / "story.md").read_text()
    for node_id in tree["best_path"][1:]:
        assert nodes[node_id]["step"]["passage"] in story
    html = (out / "tree.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html


@pytest.mark.slow
def test_the_default_writer_of_make_run_writes_a_story(tmp_path) -> None:  # noqa: ANN001
    """``make run``'s settings (``--config writer``): the Qwen 1.5B from its wheels on llama.cpp
    writes every passage, the embedded reader values them; cut small (one simulation, one step)."""
    out = tmp_path / "run"
    proc = run_cli("explore", "A lighthouse keeper finds a bottle.", "--config", "writer", "--out", str(out),
                   "--simulations", "1", "--depth", "1", "--children", "2", "--step-tokens", "24", "--quiet")
    assert proc.returncode == 0, proc.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["models"]["policy"] == "llamacpp:qwen2.5-coder-1.5b" and run["status"] == "finished"
    assert run["config"]["search"]["skip_finished"] and run["config"]["search"]["c_explore"] == 0.2
    nodes = json.loads((out / "tree.json").read_text())["nodes"]
    assert len(nodes) == 3 and all(len(n["step"]["passage"].split()) >= 3 for n in nodes[1:])
    assert "# Best story" in proc.stdout


@pytest.mark.slow
def test_kill_9_or_ctrl_c_then_resume_ends_with_the_same_tree(tmp_path) -> None:  # noqa: ANN001
    args = ["--seed", "5", "--simulations", "8", "--depth", "3", "--children", "2", "--step-tokens", "16",
            "--parallel-leaves", "1", "--quiet"]
    premise = "A cartographer maps a city that rearranges itself every night."
    whole = tmp_path / "whole"
    assert run_cli("explore", premise, "--out", str(whole), *args).returncode == 0

    killed = tmp_path / "killed"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "storyspace.cli", "explore", premise, "--out", str(killed), *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    sims = 0
    while time.time() < deadline and proc.poll() is None:
        try:
            sims = json.loads((killed / "tree.json").read_text())["simulations"]
        except (OSError, ValueError, KeyError):
            sims = 0
        if sims >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = json.loads((killed / "run.json").read_text())
    assert partial["status"] == "running"

    resumed = run_cli("explore", "--resume", str(killed))
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((whole / "tree.json").read_text())
    b = json.loads((killed / "tree.json").read_text())
    assert b == a
    assert (killed / "story.md").read_text() == (whole / "story.md").read_text()
    meta = json.loads((killed / "run.json").read_text())
    assert meta["status"] == "finished" and len(meta["timings"]["sessions"]) == 2

    # Ctrl-C: exit 130, one line naming the run directory, tree.html on disk; it resumes alike
    stopped = tmp_path / "stopped"
    proc = subprocess.Popen([sys.executable, "-m", "storyspace.cli", "explore", premise, "--out", str(stopped), *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        try:
            if json.loads((stopped / "tree.json").read_text())["simulations"] >= 1:
                break  # early: a run that ends before the signal lands would exit 0 (seen once)
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert f"saved in {stopped}" in last and f"--resume {stopped}" in last
    assert (stopped / "tree.html").is_file()
    assert run_cli("explore", "--resume", str(stopped)).returncode == 0
    assert json.loads((stopped / "tree.json").read_text()) == a


@pytest.mark.slow
def test_on_llamacpp_the_same_command_gives_the_same_tree_and_a_resume_the_uninterrupted_one(tmp_path) -> None:  # noqa: ANN001
    """Policy and reader on llama.cpp: two runs of one command write byte-identical trees, and a
    run killed with SIGKILL and resumed ends with that tree too, wherever the kill lands: after
    the first round, and later, mid-round (``LlamaCppConfig.n_ubatch`` and ``prefix_cache``)."""
    args = ["--seed", "4", "--simulations", "6", "--depth", "3", "--children", "3", "--step-tokens", "24",
            "--parallel-leaves", "1", "--backend", "llamacpp", "--reference", "llamacpp:embedded", "--quiet"]
    premise = "A clockmaker builds a clock that counts down to something nobody remembers."
    one, two = tmp_path / "one", tmp_path / "two"
    for out in (one, two):
        done = run_cli("explore", premise, "--out", str(out), *args)
        assert done.returncode == 0, done.stderr
    assert (one / "tree.json").read_bytes() == (two / "tree.json").read_bytes()
    assert (one / "story.md").read_bytes() == (two / "story.md").read_bytes()

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for nodes, wait_s in ((4, 0.0), (10, 0.8)):  # (saved nodes to wait for, then seconds into the next round)
        killed = tmp_path / f"killed{nodes}"
        proc = subprocess.Popen([sys.executable, "-m", "storyspace.cli", "explore", premise, "--out", str(killed), *args],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            try:
                if len(json.loads((killed / "tree.json").read_text())["nodes"]) >= nodes:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        time.sleep(wait_s)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert json.loads((killed / "run.json").read_text())["status"] == "running"
        resumed = run_cli("explore", "--resume", str(killed))
        assert resumed.returncode == 0, resumed.stderr
        assert (killed / "tree.json").read_bytes() == (one / "tree.json").read_bytes()
