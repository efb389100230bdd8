"""The studio's model work: one background worker thread that runs jobs from a queue, one at a
time, so that the page stays responsive while a model works and two jobs never share a model.

A job is a function of (``Models``, progress callback) -> result; the page polls its status.
Progress says what the worker does and, where it can, how long it still expects to take
(``left``, seconds); the job answers the time left as it stands when asked, so an estimate that
runs out shows as none (the page then says how long the job has run) instead of "0 s left".
Models are loaded on the worker's first job that needs them and kept (a ``ModelPool`` per model
options), so a second expansion costs only the model call.

A run has one job at a time (a second is refused while the first is queued or running). A job
can be cancelled while it waits, and a search or a new run while it runs: the progress callback
raises ``Cancelled`` at the next simulation it reports, after that simulation was saved; an
expansion or a passage is one model call and runs to its end once begun.
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
from storyspace.runs import RunBusy


class Cancelled(Exception):
    """Raised in a job's progress callback once the job was asked to stop (in the worker thread
    only): the work ends after what it had saved."""


#: jobs that can be stopped while they run (between simulations); an expansion or a person's
#: passage is one model call
STOPPABLE = ("search", "explore")


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


#: progress(done, total, note, left=None): ``left`` is the seconds the worker still expects (None: no estimate)
Progress = Callable[..., None]
#: what a job runs: (models, progress) -> result (JSON-able)
Work = Callable[[Models, Progress], Any]
#: under this many seconds left an estimate has run out: the job still runs, so "0 s left" would be untrue
LEFT_MIN_S = 1.0

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
        on by the measured speed (a first guess until one was measured): tokens written so far
        (estimated, never the whole) of ``tokens``, and the seconds left. Once the estimate has
        run out while the call goes on, the note says so and no time left is given."""
        rate = self.tok_s() or FIRST_TOK_S
        stop = threading.Event()
        started = time.perf_counter()

        def tick() -> None:
            while not stop.wait(tick_s):
                elapsed = time.perf_counter() - started
                done = max(0, min(tokens - 1, int(elapsed * rate)))
                left = tokens / rate - elapsed
                if left < LEFT_MIN_S:
                    progress(done, tokens, f"{what}: taking longer than estimated")
                else:
                    progress(done, tokens, f"{what}: ~{done}/{tokens} tokens", left)

        progress(0, tokens, f"{what}: starting", tokens / rate)
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
    status: str = "queued"  # queued, running, done, failed, cancelled
    cancel_requested: bool = False
    done: int = 0
    total: int = 0
    note: str = ""
    error: str = ""
    result: Any = None
    queued_at: float = field(default_factory=time.time)
    seconds: float = 0.0
    started: float = 0.0  # time.monotonic() when it began to run
    ends: float | None = None  # when the worker's last estimate expects it to end (monotonic)

    def left(self) -> float | None:
        """Seconds the estimate still gives the running job; None when there is none or it has
        run out (the job goes on, so the page must not read "0 s left")."""
        if self.status != "running" or self.ends is None:
            return None
        left = self.ends - time.monotonic()
        return round(left, 1) if left >= LEFT_MIN_S else None

    def elapsed(self) -> float:
        """Seconds it has run (all of its run once finished; 0 while queued)."""
        if self.status == "running":
            return round(time.monotonic() - self.started, 1)
        return round(self.seconds, 1)

    def cancellable(self) -> bool:
        """Whether a cancel can still take effect: while queued, or a search or new run running."""
        return not self.cancel_requested and (self.status == "queued"
                                              or (self.status == "running" and self.kind in STOPPABLE))

    def active(self) -> bool:
        return self.status in ("queued", "running")

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "run": self.run, "node": self.node, "status": self.status,
                "cancellable": self.cancellable(), "cancel_requested": self.cancel_requested,
                "done": self.done, "total": self.total, "note": self.note, "error": self.error,
                "result": self.result, "seconds": round(self.seconds, 3), "left": self.left(),
                "elapsed": self.elapsed()}


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
        """Queue a job; a run that has one queued or running is refused (``RunBusy``, one line)."""
        with self._lock:
            other = next((j for j in self._jobs.values() if j.run == run and j.active()), None)
            if other is not None:
                raise RunBusy(f"{run} has a job already ({other.kind}, {other.status}): wait for it or cancel it")
            job = Job(id=next(self._ids), kind=kind, run=run, node=node, work=work)
            self._jobs[job.id] = job
        self._queue.put(job)
        return job

    def get(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    def cancel(self, job: Job) -> Job:
        """Ask ``job`` to stop (one-line ``UserError`` when it cannot: finished, or one model call
        already running)."""
        with self._lock:
            if not job.cancellable():
                why = ("it has ended" if not job.active() else "it is being stopped" if job.cancel_requested
                       else f"a running {job.kind} is one model call: it cannot be stopped midway")
                raise UserError(f"job {job.id} cannot be cancelled: {why}")
            job.cancel_requested = True
        return job

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
            with self._lock:
                if job.cancel_requested:  # cancelled while it waited: never begun
                    job.status, job.note = "cancelled", "cancelled before it began"
                    continue
                job.started = time.monotonic()
                job.status = "running"
            started = time.perf_counter()

            def progress(done: int, total: int, note: str = "", left: float | None = None, job: Job = job) -> None:
                job.done, job.total, job.note = done, total, note
                job.ends = None if left is None else time.monotonic() + left
                if job.cancel_requested and threading.current_thread() is self._thread:
                    raise Cancelled(f"stopped on request after {done} of {total}")

            status = "failed"
            try:
                job.result = job.work(self.models, progress)
                status = "done"
            except Cancelled as exc:
                job.note, status = " ".join(str(exc).split()), "cancelled"
            except (UserError, BackendError) as exc:
                job.error = " ".join(str(exc).split())
            except Exception as exc:  # noqa: BLE001 - a job's failure is shown on the page, the worker goes on
                last = traceback.extract_tb(exc.__traceback__)[-1:] or [None]
                where = f" ({last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last[0] else ""
                job.error = f"{type(exc).__name__}: {' '.join(str(exc).split())}{where}"
            # its time first: a poll that sees it finished also sees how long it took
            job.seconds = time.perf_counter() - started
            job.status = status
