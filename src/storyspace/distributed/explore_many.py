"""``storyspace explore --ray --premise-file FILE --out DIR``: every premise of the file explored
on Ray actors, each premise in its own run directory ``DIR/NNN-slug`` (the layout of one
``explore`` run, so ``pairs``, ``tree.html`` and ``explore --resume`` work on each).

An actor runs the search into a directory of its own and hands back the files; this process alone
writes them into ``DIR``, ``run.json`` last. A re-run of the same command skips the premises whose
run is finished, so a killed driver loses at most the searches in flight.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Callable

from storyspace.config import ExploreConfig
from storyspace.distributed.config import RayConfig
from storyspace.distributed.pool import Task, make_pool
from storyspace.errors import UserError
from storyspace.runs import RunDir, premise_slug
from storyspace.files import atomic_write

FAILED = "failed.json"


def run_name(index: int, premise: str) -> str:
    return f"{index:03d}-{premise_slug(premise)}"


class ExploreJob:
    """What one actor holds: the models (loaded at the first search) and the settings."""

    def __init__(self, cfg: ExploreConfig) -> None:
        from storyspace.explore import Explorer
        from storyspace.models.registry import ModelPool

        self.cfg = cfg
        self.explorer = Explorer(ModelPool(options=cfg.models.options()))

    def explore(self, premise: str, name: str) -> dict[str, Any]:
        """The finished run's files (name -> text)."""
        return explore_files(self.explorer, premise, self.cfg, name)


def explore_files(explorer: Any, premise: str, cfg: ExploreConfig, name: str) -> dict[str, Any]:
    """A whole explore run searched in a private temporary directory: its files (name -> text),
    for the driver to write (``write_run``)."""
    with tempfile.TemporaryDirectory(prefix="storyspace-") as tmp:
        out = Path(tmp) / name
        result = explorer.start(premise, cfg, out)
        files = {p.name: p.read_text(encoding="utf-8") for p in sorted(out.iterdir()) if p.is_file()}
    return {"files": files, "wall_s": result.meta["timings"].get("wall_s", 0.0)}


def finished(run_dir: Path) -> bool:
    try:
        return json.loads((run_dir / RunDir.RUN).read_text(encoding="utf-8")).get("status") == "finished"
    except (OSError, ValueError, AttributeError):
        return False


def write_run(run_dir: Path, files: dict[str, str]) -> None:
    """The run's files, ``run.json`` last (a directory without it is redone)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(files.items(), key=lambda kv: kv[0] == RunDir.RUN):
        atomic_write(run_dir / Path(name).name, text)


def explore_many(premises: list[str], cfg: ExploreConfig, out: Path, ray: RayConfig,
                 on_progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Explore every premise not yet finished under ``out``; returns ``{"runs": [...], "failed": [...]}``."""
    if not premises:
        raise UserError("no premises to explore")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    names = [run_name(i, p) for i, p in enumerate(premises)]
    todo = [Task(name, "explore", {"premise": p, "name": name}) for p, name in zip(premises, names)
            if not finished(out / name)]
    progress = on_progress or (lambda done, total, note: None)
    done, failed = len(premises) - len(todo), []
    with make_pool(ray, lambda: ExploreJob(cfg), ExploreJob, {"cfg": cfg}) as pool:
        progress(done, len(premises), pool.status())
        for outcome in pool.map(todo):
            done += 1
            if outcome.ok:
                write_run(out / outcome.task.key, outcome.result["files"])
            else:
                failed.append({"task": outcome.task.key, "premise": outcome.task.kwargs["premise"],
                               "error": outcome.error, "attempts": outcome.attempts})
            progress(done, len(premises), pool.status())
    if failed or (out / FAILED).exists():
        atomic_write(out / FAILED, json.dumps(failed, indent=1) + "\n")
    runs = []
    for p, name in zip(premises, names):
        if finished(out / name):
            meta = json.loads((out / name / RunDir.RUN).read_text(encoding="utf-8"))
            runs.append({"run": name, "premise": p, "status": meta.get("status"), "budget": meta.get("budget", {})})
    return {"runs": runs, "failed": failed}
