"""The studio's model work: one background worker thread that runs jobs from a queue, one at a
time, so that the page stays responsive while a model works and two jobs never share a model.

A job is a function of (``Models``, progress callback) -> result; the page polls its status.
Models are loaded on the worker's first job that needs them and kept (a ``ModelPool`` per model
options), so a second expansion costs only the model call.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from storyspace.errors import BackendError, UserError


class Models:
    """The worker's model pools, one per distinct model options of the runs it worked on (or one
    given pool for all, as the tests share theirs)."""

    def __init__(self, pool: Any = None) -> None:
        self._given = pool
        self._pools: dict[str, Any] = {}

    def pool(self, cfg: Any) -> Any:
        """The ``ModelPool`` for an explore config's model options."""
        from storyspace.models.registry import ModelPool

        if self._given is not None:
            return self._given
        options = cfg.models.options()
        return self._pools.setdefault(repr(options), ModelPool(options=options))

    def parts(self, cfg: Any) -> Any:
        """The assembled policy + value model of an explore config (``assemble.Parts``)."""
        from storyspace.assemble import assemble

        return assemble(self.pool(cfg), cfg)


#: what a job runs: (models, progress(done, total, note)) -> result (JSON-able)
Work = Callable[[Models, Callable[[int, int, str], None]], Any]
Progress = Callable[[int, int, str], None]

#: the policy's speed assumed before the studio has measured one (tokens per second; the
#: embedded model writes 15-40 on two CPU cores)
FIRST_TOK_S = 20.0
#: how often an estimate is moved on (seconds)
TICK_S = 0.25


class Speed:
    """The policy's measured speed (tokens per model second) over the jobs done so far, for an
    honest estimate while a model call gives no progress of its own."""

    def __init__(self) -> None:
        self.tokens = 0
        self.seconds = 0.0

    def add(self, tokens: int, seconds: float) -> None:
        if tokens > 0 and seconds > 0:
            self.tokens += tokens
            self.seconds += seconds

    def tok_s(self) -> float | None:
        return self.tokens / self.seconds if self.seconds > 0 else None

    @contextlib.contextmanager
    def estimating(self, progress: Progress, tokens: int, what: str, tick_s: float = TICK_S) -> Iterator[None]:
        """While the block runs (one model call of about ``tokens`` tokens), move ``progress``
        on by the measured speed: tokens written so far (estimated, never the whole) of
        ``tokens``, and the seconds left. The note says "about" until a speed was measured."""
        measured = self.tok_s()
        rate = measured or FIRST_TOK_S
        stop = threading.Event()
        started = time.perf_counter()

        def tick() -> None:
            while not stop.wait(tick_s):
                elapsed = time.perf_counter() - started
                done = min(tokens - 1, int(elapsed * rate))
                left = max(0.0, (tokens - done) / rate)
                guess = "" if measured else "about "
                progress(max(done, 0), tokens, f"{what}: ~{done}/{tokens} tokens, {guess}{left:.0f} s left")

        progress(0, tokens, f"{what}: starting")
        thread = threading.Thread(target=tick, name="storyspace-studio-estimate", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


@dataclass
class Job:
    """A queued piece of model work and what the page is shown of it."""

    id: int
    kind: str
    run: str
    node: int | None
    work: Work = field(repr=False)
    status: str = "queued"  # queued, running, done, failed
    done: int = 0
    total: int = 0
    note: str = ""
    error: str = ""
    result: Any = None
    queued_at: float = field(default_factory=time.time)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "run": self.run, "node": self.node, "status": self.status,
                "done": self.done, "total": self.total, "note": self.note, "error": self.error,
                "result": self.result, "seconds": round(self.seconds, 3)}


class Worker:
    """One thread, one queue. ``submit`` returns at once; ``get`` reads a job's state."""

    def __init__(self, models: Models | None = None) -> None:
        self.models = models or Models()
        self.speed = Speed()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="storyspace-studio-worker", daemon=True)
        self._thread.start()

    def submit(self, kind: str, run: str, node: int | None, work: Work) -> Job:
        with self._lock:
            job = Job(id=next(self._ids), kind=kind, run=run, node=node, work=work)
            self._jobs[job.id] = job
        self._queue.put(job)
        return job

    def get(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda j: j.id)

    def busy(self) -> bool:
        return any(j.status in ("queued", "running") for j in self._jobs.values())

    def close(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            job.status = "running"
            started = time.perf_counter()

            def progress(done: int, total: int, note: str = "", job: Job = job) -> None:
                job.done, job.total, job.note = done, total, note

            try:
                job.result = job.work(self.models, progress)
                job.status = "done"
            except (UserError, BackendError) as exc:
                job.error, job.status = " ".join(str(exc).split()), "failed"
            except Exception as exc:  # noqa: BLE001 - a job's failure is shown on the page, the worker goes on
                last = traceback.extract_tb(exc.__traceback__)[-1:] or [None]
                where = f" ({last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last[0] else ""
                job.error, job.status = f"{type(exc).__name__}: {' '.join(str(exc).split())}{where}", "failed"
            job.seconds = time.perf_counter() - started
