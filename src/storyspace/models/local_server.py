"""A local OpenAI-compatible server: llama-cpp-python's, on loopback, with the embedded GGUF (or
another). Used by the tests and the backend bench; a subprocess, and every wait is bounded."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from storyspace.models.registry import embedded_gguf_path

ALIAS = "smollm2"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServer:
    """``with LlamaServer() as server: server.url`` (``http://127.0.0.1:PORT/v1``)."""

    def __init__(self, port: int | None = None, logits_all: bool = True, log: Path | None = None,
                 threads: int = 1, model: Path | None = None) -> None:
        self.port = port or free_port()
        self.threads = threads
        self.model = model
        self.logits_all = logits_all
        self.log = log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def spec(self) -> str:
        return f"openai:{self.url}#{ALIAS}"

    def start(self, timeout_s: float = 90.0) -> "LlamaServer":
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model or embedded_gguf_path()),
               "--model_alias", ALIAS, "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "4096",
               "--logits_all", str(self.logits_all), "--verbose", "False", "--n_threads", str(self.threads)]
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama-cpp-python server exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=2) as r:
                    if ALIAS in json.loads(r.read())["data"][0]["id"]:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("llama-cpp-python server did not come up")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.proc = None

    def __enter__(self) -> "LlamaServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
