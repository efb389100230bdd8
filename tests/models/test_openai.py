"""The OpenAI-compatible backend against a real server on loopback (llama-cpp-python's server
with the embedded GGUF), and what a search does when that server dies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from storyspace.errors import BackendError, UserError
from storyspace.models.base import ChatPrompt
from storyspace.models.openai import OpenAIConfig, OpenAIModel
from storyspace.models.registry import parse_spec
from storyspace.models.local_server import LlamaServer, free_port

MSGS = [{"role": "user", "content": "Write the first sentence of a story about a lighthouse keeper."}]


def test_spec_needs_a_url_and_a_model() -> None:
    assert parse_spec("openai:http://127.0.0.1:8000/v1#m").kind == "openai"
    for bad in ("openai:127.0.0.1:8000#m", "openai:http://127.0.0.1:8000/v1", "openai:ftp://x/v1#m"):
        with pytest.raises(UserError, match="openai spec must be"):
            parse_spec(bad)


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503, then 429, then a completion; records what it was sent."""

    seen: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"auth": self.headers.get("Authorization"), "body": body})
        codes = {1: 503, 2: 429}
        code = codes.get(len(type(self).seen), 200)
        payload = {"error": {"message": "busy, try later"}} if code != 200 else {
            "choices": [{"text": " ok", "finish_reason": "stop", "logprobs": {"token_logprobs": [-0.5]}}]}
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_retries_with_backoff_then_succeeds_and_sends_the_key_only_in_the_header(monkeypatch) -> None:  # noqa: ANN001
    _Flaky.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("STORYSPACE_TEST_KEY", "sk-secret-123")
    cfg = OpenAIConfig(api_key_env="STORYSPACE_TEST_KEY", retries=3)
    model = OpenAIModel("t", f"http://127.0.0.1:{server.server_port}/v1#m", cfg)
    try:
        start = time.monotonic()
        out = model.sample(["Once"], 1, 4, 0.8, [1])[0][0]
        assert out.text == " ok" and out.logprobs == (-0.5,) and out.finished
        assert len(_Flaky.seen) == 3  # the 503 and the 429 were retried by the openai client
        assert time.monotonic() - start >= 0.5  # ... after a backoff (0.5 s and up, with jitter)
        assert all(s["auth"] == "Bearer sk-secret-123" for s in _Flaky.seen)
        assert all("sk-secret" not in json.dumps(s["body"]) for s in _Flaky.seen)
        # a server that keeps failing: one clear error, without the key
        _Flaky.seen = []
        model = OpenAIModel("t", f"http://127.0.0.1:{server.server_port}/v1#m", OpenAIConfig(
            api_key_env="STORYSPACE_TEST_KEY", retries=1))
        with pytest.raises(BackendError, match="failed 2 times; last: HTTP 429: busy, try later") as err:
            model.sample(["Once"], 1, 4, 0.8, [1])
        assert "sk-secret" not in str(err.value)
    finally:
        server.shutdown()


def test_unreachable_server_is_a_one_line_backend_error() -> None:

    model = OpenAIModel("t", f"http://127.0.0.1:{free_port()}/v1#m", OpenAIConfig(retries=2))
    with pytest.raises(BackendError, match="failed 3 times; last: ConnectionRefusedError") as err:
        model.sample(["Once"], 1, 4, 0.8, [1])
    assert "\n" not in str(err.value)


@pytest.fixture(scope="module")
def server():  # noqa: ANN201
    with LlamaServer() as s:
        yield s


@pytest.mark.slow
def test_chat_and_plain_sampling_with_logprobs(server) -> None:  # noqa: ANN001
    model = OpenAIModel(server.spec, server.spec.split(":", 1)[1], OpenAIConfig(concurrency=2))
    chat = model.chat_prompt(MSGS)
    assert isinstance(chat, ChatPrompt) and chat.messages[0]["content"] == MSGS[0]["content"]
    groups = model.sample([chat, "Once upon a time"], 2, 12, 0.9, [3, 4])
    assert [len(g) for g in groups] == [2, 2]
    for s in groups[0] + groups[1]:
        assert s.text and 0 < len(s.logprobs) <= 12 and all(x <= 0 for x in s.logprobs)
    assert model.usage.generated_tokens == sum(len(s.logprobs) for g in groups for s in g)


@pytest.mark.slow
def test_prompt_logprob_scoring_matches_the_local_llamacpp_backend(server, pool) -> None:  # noqa: ANN001
    # SmolLM2 adds no BOS: llama-cpp-python's server then aligns echoed log-probs one token late
    # unless the prompt starts with the BOS text (OpenAIConfig.score_prefix documents this)
    model = OpenAIModel(server.spec, server.spec.split(":", 1)[1], OpenAIConfig(score_prefix="<|im_start|>"))
    local = pool.get("llamacpp:embedded")
    context = "Writing prompt: a lighthouse keeper finds a message.\n\nStory:\n"
    conts = [" The keeper climbed the stairs at dawn.", " Blue potato seventeen galaxy."]
    remote = model.logprobs(context, conts)
    here = local.logprobs("<|im_start|>" + context, conts)
    for r, h in zip(remote, here):
        assert abs(len(r) - len(h)) <= 1  # joint tokenisation may merge one boundary token
        assert abs(np.mean(r) - np.mean(h)) < 0.15
    assert np.mean(remote[0]) > np.mean(remote[1])  # sense beats nonsense
    assert model.count_tokens(context) == local.count_tokens(context)  # the server's tokenizer


@pytest.mark.slow
def test_explore_through_a_real_server_at_the_default_prompt_style(server, tmp_path: Path) -> None:  # noqa: ANN001
    """The plain command with an openai: policy: prefill prompts through /completions, said in one
    line, kept in run.json, and a story at the end."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "storyspace.cli", "explore", "A lighthouse keeper finds a letter.",
                           "--model", server.spec, "--simulations", "2", "--depth", "2", "--children", "2",
                           "--step-tokens", "16", "--out", str(run)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "prefill prompts" in done.stderr and "/completions" in done.stderr and "Traceback" not in done.stderr
    saved = json.loads((run / "run.json").read_text())
    assert saved["config"]["prompts"]["style"] == "prefill" and saved["status"] == "finished"
    assert "# Best story" in done.stdout and len(done.stdout.split()) > 10


def test_a_chat_only_server_gets_chat_prompts_and_a_dead_one_a_clear_error(tmp_path: Path) -> None:
    from storyspace.assemble import prompt_style
    from storyspace.config import ExploreConfig, ModelsConfig
    from storyspace.models.registry import ModelPool

    class ChatOnly(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": {"message": "Not found"}}')

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ChatOnly)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        spec = f"openai:http://127.0.0.1:{httpd.server_address[1]}/v1#m"
        cfg = ExploreConfig(models=ModelsConfig(policy=spec))
        got, note = prompt_style(ModelPool(options=cfg.models.options()), cfg)
        assert got.prompts.style == "chat" and "no /completions endpoint" in note and "\n" not in note
    finally:
        httpd.shutdown()
    dead = ExploreConfig(models=ModelsConfig(policy=f"openai:http://127.0.0.1:{free_port()}/v1#m"))
    with pytest.raises(BackendError, match="ConnectionRefusedError"):
        prompt_style(ModelPool(options=dead.models.options()), dead)


@pytest.mark.slow
def test_a_server_without_prompt_logprobs_gives_a_clear_error() -> None:
    with LlamaServer(logits_all=False) as plain:
        model = OpenAIModel(plain.spec, plain.spec.split(":", 1)[1], OpenAIConfig(retries=0))
        with pytest.raises(BackendError, match="no prompt log-probs|cannot score|logits_all"):
            model.logprobs("Story:\n", [" It rained."])


@pytest.mark.slow
def test_server_dies_mid_search_then_the_saved_run_resumes(tmp_path: Path) -> None:
    """Kill the policy server during a search: a one-line error and exit 1, the rounds done so
    far are on disk, and ``--resume`` finishes the run once the server is back."""
    server = LlamaServer(log=tmp_path / "server.log").start()
    config = tmp_path / "c.toml"
    config.write_text("[models.openai]\nretries = 1\ntimeout_s = 30\n")
    run = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    args = ["--model", server.spec, "--config", str(config), "--prompt-style", "chat", "--simulations", "10", "--depth", "4",
            "--children", "3", "--parallel-leaves", "1", "--step-tokens", "16", "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "storyspace.cli", "explore", "--out", str(run), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        sims = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                sims = json.loads((run / "tree.json").read_text())["simulations"]
            except (OSError, ValueError, KeyError):
                sims = 0
            if sims >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None and sims >= 2, "the search ended before the server could be killed"
        server.stop()
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 1
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        assert lines[-1].startswith("storyspace: error: ") and "failed 2 times" in lines[-1]
        assert "Traceback" not in err
        saved = json.loads((run / "run.json").read_text())
        assert saved["status"] == "running" and saved["budget"]["simulations"] >= 2
        server.start()
        done = subprocess.run([sys.executable, "-m", "storyspace.cli", "explore", "--resume", str(run), "--quiet"],
                              env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        final = json.loads((run / "run.json").read_text())
        assert final["status"] == "finished" and final["budget"]["simulations"] >= 10
        assert len(final["timings"]["sessions"]) == 2
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()
