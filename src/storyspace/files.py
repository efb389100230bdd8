"""Files written and read safely: atomic writes (all or nothing, so a killed command leaves the
last finished file), and reads that turn every failure into a one-line ``UserError``. The bottom
of the house: it imports nothing of storyspace but ``errors``."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from storyspace.errors import UserError


def atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and ``os.replace`` (all or nothing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path, what: str = "file") -> Any:
    """A JSON file's content; one-line ``UserError`` when missing, unreadable, not UTF-8 or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"{what} not found: {path}") from exc
    except IsADirectoryError as exc:
        raise UserError(f"{what} {path} is a directory, not a file") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"cannot read {what} {path}: not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise UserError(f"cannot read {what} {path}: invalid JSON ({exc.msg}, line {exc.lineno})") from exc
    except (OSError, ValueError, RecursionError) as exc:
        raise UserError(f"cannot read {what} {path}: {getattr(exc, 'strerror', None) or exc}") from exc


def read_text(path: Path, what: str = "file") -> str:
    """A UTF-8 text file; a one-line ``UserError`` when it is missing, unreadable or not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UserError(f"{what} not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {what} {path}: {exc}") from exc


def read_jsonl(path: Path, what: str = "file") -> list[tuple[int, Any]]:
    """(line number, value) of each non-empty line of a JSON-lines file; a one-line ``UserError``
    when the file is missing, unreadable or not UTF-8, or a line is not JSON (naming the line)."""
    text = read_text(path, what)
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((n, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{n}: invalid JSON ({exc.msg})") from exc
        except RecursionError as exc:
            raise UserError(f"{path}:{n}: invalid JSON (nested too deeply)") from exc
    return rows


def read_json_object(path: Path, what: str = "file") -> dict[str, Any]:
    """``read_json`` that also requires a JSON object at the top."""
    data = read_json(path, what)
    if not isinstance(data, dict):
        raise UserError(f"{what} {path} is damaged: expected a JSON object, found {type(data).__name__}")
    return data


def check_output_file(path: Path, force: bool = False, flag: str = "--out") -> None:
    """Refuse an output file path that is a directory, or an existing file unless ``force``."""
    if path.is_dir():
        raise UserError(f"{flag} {path} is a directory: give a file name")
    if path.exists() and not force:
        raise UserError(f"{flag} {path} exists (use --force to replace it)")
    if path.parent.exists() and not path.parent.is_dir():
        raise UserError(f"{flag} {path}: {path.parent} is not a directory")


def check_output_dir(path: Path, flag: str = "--out") -> None:
    """Refuse an output directory path that is an existing file (or lies under one)."""
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise UserError(f"{flag} {path}: {p} is a file, not a directory")
            return


def umask() -> int:
    """The process's file-mode mask (read without changing it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
