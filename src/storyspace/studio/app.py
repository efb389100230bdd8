"""The studio's web app: a JSON API over the run and study directories under one root, and the
page that uses it (``static/``).

Paths in requests are relative to the root and must stay inside it (``..``, absolute paths and
symbolic links out of it are refused). Model work (new runs, expand, search, a person's passage)
is queued on the one ``Worker`` and answered at once with a job to poll; pinning and rating are
written at once. Errors are one-line JSON (``{"error": ...}``) with a 4xx status, never a stack
trace; nothing here deletes a run.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi import HTTPException as FastAPIHTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from storyspace.errors import UserError
from storyspace.runs import RunBusy, RunDir, load_run, premise_slug
from storyspace.studio import edits, export
from storyspace.studio.jobs import Cancelled, Models, Worker
from storyspace.study.create import STUDY, add_pair, load_study
from storyspace.study.ratings import append_rating, clean_rater, layout, next_pair, read_ratings

STATIC = Path(__file__).parent / "static"
#: how deep under the root the run and study listing looks
LIST_DEPTH = 3
#: the study (under the root) that "add this pair to a study" in the compare view adds to
COMPARE_STUDY = "studio-pairs"


class NotFound(UserError):
    """A run, study, node or job that is not there (404)."""


class NewRun(BaseModel):
    premise: str = Field(min_length=1, max_length=2000)
    simulations: int | None = Field(default=None, ge=1, le=2000, strict=True)
    depth: int | None = Field(default=None, ge=1, le=12, strict=True)
    children: int | None = Field(default=None, ge=1, le=8, strict=True)
    step_tokens: int | None = Field(default=None, ge=4, le=512, strict=True)
    seed: int | None = Field(default=None, ge=0, strict=True)


class NodeAction(BaseModel):
    run: str = Field(min_length=1, max_length=1000)
    node: int = Field(ge=0, strict=True)  # true or "1" is not a node


class Expand(NodeAction):
    k: int = Field(default=3, ge=1, le=8, strict=True)
    instruction: str = Field(default="", max_length=edits.MAX_INSTRUCTION_CHARS)


class Search(NodeAction):
    simulations: int = Field(default=8, ge=1, le=500, strict=True)


class Write(NodeAction):
    passage: str = Field(min_length=1, max_length=edits.MAX_PASSAGE_CHARS)


class Hide(NodeAction):
    hidden: bool = Field(default=True, strict=True)


class Compare(BaseModel):
    run: str = Field(min_length=1, max_length=1000)
    a: int = Field(ge=0, strict=True)
    b: int = Field(ge=0, strict=True)


class Rate(BaseModel):
    study: str = Field(min_length=1, max_length=1000)
    rater: str = Field(min_length=1, max_length=200)
    pair: str = Field(min_length=1, max_length=100)
    choice: str = Field(pattern="^[ab]$")
    left: str = Field(pattern="^[ab]$")
    reason: str = Field(default="", max_length=2000)


class Studio:
    """The app's state: the root, the base settings of new runs, the worker."""

    def __init__(self, root: Path, base: Any = None, worker: Worker | None = None) -> None:
        from storyspace.config import ExploreConfig

        self.root = root.resolve()
        self.base = base if base is not None else ExploreConfig()
        self.worker = worker or Worker(Models())
        self.reserved: set[Path] = set()  # run directories of queued new runs (not made yet)

    def inside(self, rel: str, marker: str, what: str) -> Path:
        """``root/rel`` when it lies inside the root and holds ``marker``; one-line errors if not
        (a name the file system cannot hold, too long for instance, is not there: 404)."""
        if "\x00" in rel or os.path.isabs(rel):
            raise UserError(f"{what} paths are relative to the studio's folder")
        shown = rel if len(rel) <= 80 else rel[:77] + "..."
        try:
            path = (self.root / rel).resolve()
            inside = path == self.root or self.root in path.parents
            found = inside and (path / marker).is_file()
        except (OSError, RuntimeError) as exc:  # ENAMETOOLONG, ELOOP, ...
            raise NotFound(f"no {what} at {shown!r}") from exc
        if not inside:
            raise UserError(f"{what} {shown!r} is outside the studio's folder")
        if not found:
            raise NotFound(f"no {what} at {shown!r}")
        return path

    def public(self, message: str) -> str:
        """A message for an answer: the studio's folder is never shown, paths are relative to it."""
        root = str(self.root)
        return str(message).replace(root + os.sep, "").replace(root, ".")

    def run_path(self, rel: str) -> Path:
        return self.inside(rel, RunDir.RUN, "run")

    def study_path(self, rel: str) -> Path:
        return self.inside(rel, STUDY, "study")

    def rel(self, path: Path) -> str:
        return str(path.resolve().relative_to(self.root))

    def listing(self) -> dict[str, list[dict[str, Any]]]:
        runs, studies = [], []
        for path in _walk(self.root, LIST_DEPTH):
            if (path / RunDir.RUN).is_file():
                runs.append(self.run_row(path))
            elif (path / STUDY).is_file():
                studies.append(self.study_row(path))
        runs.sort(key=lambda r: r["path"])
        studies.sort(key=lambda r: r["path"])
        return {"runs": runs, "studies": studies}

    def run_row(self, path: Path) -> dict[str, Any]:
        row: dict[str, Any] = {"path": self.rel(path)}
        try:
            saved = load_run(path)
        except UserError as exc:
            return {**row, "premise": "", "status": "damaged", "error": self.public(str(exc)), "nodes": 0,
                    "best_value": None}
        tree = saved.tree
        values = [tree.nodes[i].value for i in tree.best_path()[1:]]
        return {**row, "premise": saved.premise, "status": saved.meta.get("status", ""), "nodes": len(tree.nodes),
                "simulations": tree.simulations, "best_value": round(sum(values) / len(values), 4) if values else None,
                "updated": saved.meta.get("updated", saved.meta.get("created", ""))}

    def study_row(self, path: Path) -> dict[str, Any]:
        try:
            study = load_study(path)
            ratings = read_ratings(path)
        except UserError as exc:
            return {"path": self.rel(path), "pairs": 0, "ratings": 0, "error": self.public(str(exc))}
        return {"path": self.rel(path), "pairs": len(study["pairs"]), "ratings": len(ratings),
                "raters": sorted({f"{r['rater']} ({r.get('kind', 'person')})" for r in ratings})}


def _walk(root: Path, depth: int) -> list[Path]:
    """Folders under ``root`` down to ``depth`` levels (hidden ones and symbolic links skipped)."""
    out, level = [], [root]
    for _ in range(depth):
        nxt = []
        for folder in level:
            try:
                kids = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()
                              and not p.name.startswith("."))
            except OSError:
                continue
            out += kids
            nxt += [k for k in kids if not (k / RunDir.RUN).is_file() and not (k / STUDY).is_file()]
        level = nxt
    return out


#: the largest request body the studio reads (the longest field is a passage of
#: ``edits.MAX_PASSAGE_CHARS`` characters); larger ones are refused before they are read
MAX_BODY_BYTES = 256 * 1024


class BodyLimit:
    """ASGI middleware: a request whose Content-Length is over ``limit`` gets 413 before its body
    is read; a body sent without a length (chunked) is cut off with 413 once it passes the limit."""

    def __init__(self, app: Any, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await _error(413, f"request body over {self.limit} bytes")(scope, receive, send)
            return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        try:
            await self.app(scope, limited, send)
        except BodyTooLarge:
            await _error(413, f"request body over {self.limit} bytes")(scope, receive, send)


class BodyTooLarge(FastAPIHTTPException):
    """A body without a Content-Length passed the limit while it was read (413; FastAPI lets an
    HTTP exception raised while it reads a body through as it is)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body over {limit} bytes")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


def create_app(studio: Studio) -> FastAPI:
    """The FastAPI app of ``studio`` (no docs pages: the studio is not a public API)."""
    app = FastAPI(title="Storyspace Studio", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.studio = studio
    app.add_middleware(BodyLimit)

    @app.exception_handler(NotFound)
    async def _not_found(_r: Request, exc: NotFound) -> JSONResponse:
        return _error(404, studio.public(str(exc)))

    @app.exception_handler(RunBusy)
    async def _busy(_r: Request, exc: RunBusy) -> JSONResponse:
        return _error(409, "the run is being changed (a job is running on it); try again when it is done")

    @app.exception_handler(UserError)
    async def _user(_r: Request, exc: UserError) -> JSONResponse:
        return _error(400, studio.public(str(exc)))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return _error(422, f"bad request: {where + ': ' if where else ''}{first.get('msg', 'invalid input')}")

    @app.exception_handler(HTTPException)
    async def _http(_r: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _internal(_r: Request, exc: Exception) -> JSONResponse:
        return _error(500, f"internal error: {type(exc).__name__}")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/api/runs")
    def runs() -> dict[str, Any]:
        cfg = studio.base if studio.base is not None else read_base_config(None)
        defaults = {"simulations": cfg.search.simulations, "depth": cfg.search.depth,
                    "children": cfg.search.children, "step_tokens": cfg.policy.step_tokens, "seed": cfg.seed,
                    "model": cfg.models.policy_spec}
        return {**studio.listing(), "root": studio.root.name or "/", "defaults": defaults}

    @app.post("/api/runs")
    def new_run(body: NewRun) -> dict[str, Any]:
        from storyspace.config import build, to_dict, validate
        from storyspace.explore import Explorer
        from storyspace.story import printable

        premise = printable(body.premise).strip()
        if not premise:
            raise UserError("the premise is empty (nothing printable in it)")
        given: dict[str, Any] = {"search": {}, "policy": {}}
        for key, section in (("simulations", "search"), ("depth", "search"), ("children", "search"),
                             ("step_tokens", "policy")):
            if getattr(body, key) is not None:
                given[section][key] = getattr(body, key)
        if body.seed is not None:
            given["seed"] = body.seed
        cfg = build(studio.base, None, given)
        validate(cfg)
        out = studio.root / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{premise_slug(premise)}"
        n, stem = 1, out.name
        while out.exists() or out in studio.reserved:  # two runs started in one second get two folders
            n += 1
            out = out.with_name(f"{stem}~{n}")
        RunDir.check_free(out)
        studio.reserved.add(out)
        rel = str(out.relative_to(studio.root))

        def work(models: Models, progress: Any) -> dict[str, Any]:
            paced = pace(progress)
            progress(0, cfg.search.simulations, "searching: the first simulation")
            explorer = Explorer(models.pool(cfg), on_progress=lambda p: paced(p.simulations, p.target))
            try:
                result = explorer.start(premise, cfg, out)
            except Cancelled:  # raised after a simulation was saved: the run is kept, marked stopped
                with edits.editing(out, wait_s=30.0) as saved:
                    saved.meta["status"] = "stopped"
                    saved.run.write_json(RunDir.RUN, saved.meta)
                    sims = saved.tree.simulations
                raise Cancelled(f"stopped on request after {sims} of {cfg.search.simulations} simulations; the run"
                                f" keeps them (storyspace explore --resume continues it)") from None
            finally:
                studio.reserved.discard(out)
            return {"run": rel, "nodes": len(result.tree.nodes)}

        job = studio.worker.submit("explore", rel, None, work)
        return {"job": job.as_dict(), "run": rel, "config": to_dict(cfg)["search"]}

    @app.get("/api/tree")
    def tree(run: str) -> dict[str, Any]:
        path = studio.run_path(run)
        return {"run": run, **edits.tree_summary(load_run(path))}

    @app.get("/api/node")
    def node(run: str, id: int) -> dict[str, Any]:  # noqa: A002 - the query parameter's name
        return edits.node_detail(load_run(studio.run_path(run)), id)

    def queue_edit(kind: str, body: NodeAction, action: Any, open_only: bool = True) -> dict[str, Any]:
        path = studio.run_path(body.run)
        edits.check_node(load_run(path).tree, body.node, open_only)  # answer a bad node at once, not in the job
        if isinstance(body, Expand):
            edits.clean_instruction(body.instruction)

        def work(models: Models, progress: Any) -> dict[str, Any]:
            with edits.editing(path, wait_s=30.0) as saved:
                world = models.parts(saved.config).world(saved.premise)
                edit = action(saved, world, progress)
            return {"added": edit.added, "node": edit.node, "model_s": round(edit.model_s, 4)}

        return {"job": studio.worker.submit(kind, body.run, body.node, work).as_dict()}

    @app.post("/api/expand")
    def expand(body: Expand) -> dict[str, Any]:
        def action(saved: Any, world: Any, progress: Any) -> edits.Edit:
            tokens = body.k * (saved.config.policy.step_tokens
                               + (saved.config.policy.plan_tokens if saved.config.policy.plan else 0))
            with studio.worker.speed.estimating(progress, tokens, f"writing {body.k} passage(s)"):
                edit = edits.expand_node(saved, world, body.node, body.k, body.instruction)
            studio.worker.speed.add(edit.tokens, edit.model_s)
            return edit

        return queue_edit("expand", body, action)

    @app.post("/api/search")
    def search(body: Search) -> dict[str, Any]:
        def action(saved: Any, world: Any, progress: Any) -> edits.Edit:
            progress(0, body.simulations, "searching: the first simulation")
            return edits.search_under(saved, world, body.node, body.simulations, on_round=pace(progress))

        return queue_edit("search", body, action)

    @app.get("/api/compare")
    def compare(run: str, a: int, b: int) -> dict[str, Any]:
        return edits.compare_paths(load_run(studio.run_path(run)), a, b)

    @app.post("/api/compare/study")
    def compare_to_study(body: Compare) -> dict[str, Any]:
        path = studio.run_path(body.run)
        edits.compare_paths(load_run(path), body.a, body.b)  # a bad pair is answered at once
        target = studio.root / COMPARE_STUDY

        def work(models: Models, _progress: Any) -> dict[str, Any]:
            saved = load_run(path)
            pair = edits.compare_pair(saved, body.a, body.b, lambda: models.pool(saved.config).get(
                saved.config.models.policy_spec).chat_prompt)
            kept = add_pair(target, pair, body.run)
            return {"study": COMPARE_STUDY, "pair": kept["id"], "pairs": len(load_study(target)["pairs"])}

        return {"job": studio.worker.submit("study", body.run, None, work).as_dict()}

    @app.post("/api/write")
    def write(body: Write) -> dict[str, Any]:
        edits.clean_human_passage(body.passage)  # an empty passage is answered at once
        return queue_edit("write", body, lambda s, w, _p: edits.add_human_step(s, w, body.node, body.passage))

    @app.post("/api/revise")
    def revise(body: Write) -> dict[str, Any]:
        edits.clean_human_passage(body.passage)
        edits.check_revisable(load_run(studio.run_path(body.run)).tree, body.node)
        return queue_edit("revise", body, lambda s, w, _p: edits.revise(s, w, body.node, body.passage),
                          open_only=False)

    @app.post("/api/hide")
    def hide(body: Hide) -> dict[str, Any]:
        path = studio.run_path(body.run)
        edits.check_revisable(load_run(path).tree, body.node)
        with edits.editing(path) as saved:
            edits.set_hidden(saved, body.node, body.hidden)
        return {"node": body.node, "hidden": body.hidden}

    @app.post("/api/pin")
    def pin(body: NodeAction) -> dict[str, Any]:
        path = studio.run_path(body.run)
        edits.check_pin(load_run(path).tree, body.node)  # a bad node is 400 at once, busy or not
        with edits.editing(path) as saved:
            edits.pin(saved, body.node)
        return {"pinned": body.node}

    @app.get("/api/export")
    def export_run(run: str, node: int | None = None, scope: Literal["chosen", "tree"] = "chosen") -> PlainTextResponse:
        """The chosen story, the branch ending at ``node``, or (``scope=tree``) every branch, as a
        Markdown download named after the premise."""
        got = export.export_run(load_run(studio.run_path(run)), node, scope == "tree")
        return PlainTextResponse(got.text, media_type="text/markdown; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{got.name}"'})

    def shown(job: Any) -> dict[str, Any]:
        """A job as the page sees it: its error and note without the studio's folder."""
        out = job.as_dict()
        out["error"], out["note"] = studio.public(out["error"]), studio.public(out["note"])
        return out

    @app.post("/api/jobs/{job_id}/cancel")
    def cancel_job(job_id: int) -> dict[str, Any]:
        job = studio.worker.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        return shown(studio.worker.cancel(job))

    @app.get("/api/jobs")
    def jobs() -> dict[str, Any]:
        return {"jobs": [shown(j) for j in studio.worker.jobs()]}

    @app.get("/api/jobs/{job_id}")
    def job(job_id: int) -> dict[str, Any]:
        got = studio.worker.get(job_id)
        if got is None:
            raise NotFound(f"no job {job_id}")
        return shown(got)

    @app.get("/api/study/next")
    def study_next(study: str, rater: str) -> dict[str, Any]:
        path = studio.study_path(study)
        data = load_study(path)
        name = clean_rater(rater)
        ratings = read_ratings(path)
        got = next_pair(data, ratings, name)
        done = sum(1 for r in ratings if r["rater"] == name)
        return {"study": study, "rater": name, "pair": got, "rated": done, "total": len(layout(data, name))}

    @app.post("/api/study/rate")
    def study_rate(body: Rate) -> dict[str, Any]:
        path = studio.study_path(body.study)
        row = append_rating(load_study(path), path, body.rater, body.pair, body.choice, body.left, body.reason)
        return {"saved": row}

    return app


def pace(progress: Any) -> Any:
    """``on_round(done, total)`` for a search: the simulations done, and the time left at the pace
    so far (none once all are done: saving still takes a moment, and "0 s left" would be untrue)."""
    started = time.perf_counter()

    def on_round(done: int, total: int) -> None:
        left = (time.perf_counter() - started) / done * (total - done) if 0 < done < total else None
        progress(done, total, f"searching: {done}/{total} simulations", left)

    return on_round


def read_base_config(path: Path | None) -> Any:
    """The settings of runs started in the studio: defaults < ``--config`` TOML (validated)."""
    from storyspace.config import ExploreConfig, build, read_toml, validate

    cfg = build(ExploreConfig(), read_toml(path) if path else None, {})
    validate(cfg)
    return cfg

