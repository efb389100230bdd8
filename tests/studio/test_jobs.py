"""The worker's speed estimate: progress moves while a model call gives none of its own."""

from __future__ import annotations

import threading
import time

from storyspace.studio.jobs import FIRST_TOK_S, Models, Speed, Worker


def test_speed_is_measured_over_the_jobs_done() -> None:
    s = Speed()
    assert s.tok_s() is None
    s.add(100, 4.0)
    s.add(0, 1.0)  # nothing written: not a measurement
    s.add(50, 1.0)
    assert s.tok_s() == 30.0


def test_estimating_moves_progress_and_never_claims_the_whole() -> None:
    seen: list[tuple] = []
    s = Speed()
    with s.estimating(lambda *a: seen.append(a), 40, "writing 2 passage(s)", tick_s=0.02):
        time.sleep(0.3)
    assert seen[0] == (0, 40, "writing 2 passage(s): starting", 40 / FIRST_TOK_S)
    done = [a[0] for a in seen]
    assert done == sorted(done) and 0 < done[-1] <= 39  # moving, never the whole before the call returns
    assert all(a[1] == 40 for a in seen)
    assert seen[-1][2].startswith("writing 2 passage(s): ~") and seen[-1][3] > 1.0  # tokens and time left
    s.add(1000, 1.0)
    seen.clear()
    with s.estimating(lambda *a: seen.append(a), 5000, "x", tick_s=0.02):
        time.sleep(0.1)
    assert seen[-1][0] > 0 and 4.0 < seen[-1][3] < 5.0  # a measured speed: 5000 tokens at 1000 tok/s


def test_an_estimate_that_runs_out_gives_no_time_left() -> None:
    """The call goes on past its estimate (20 tokens at 100 tok/s: 0.2 s): no "s left" is claimed."""
    seen: list[tuple] = []
    s = Speed()
    s.add(100, 1.0)
    with s.estimating(lambda *a: seen.append(a), 20, "writing", tick_s=0.02):
        time.sleep(0.5)
    last = seen[-1]
    assert last[:3] == (19, 20, "writing: taking longer than estimated") and len(last) == 3  # no time left given
    assert [a[0] for a in seen] == sorted(a[0] for a in seen)


def test_a_job_answers_its_time_left_as_it_stands_never_under_a_second() -> None:
    """A real worker runs a job that reports 1.6 s left, then goes on past it: the job's answer
    counts down, then says none (not 0) while its elapsed time grows."""
    worker = Worker(Models())
    gate = threading.Event()

    def work(_models: Models, progress) -> str:  # noqa: ANN001
        progress(1, 4, "step one", 1.6)
        gate.wait(5)
        return "ok"

    job = worker.submit("test", "run", None, work)
    try:
        deadline = time.monotonic() + 5
        while job.as_dict()["left"] is None and time.monotonic() < deadline:
            time.sleep(0.01)
        first = job.as_dict()
        assert first["status"] == "running" and 1.0 <= first["left"] <= 1.6
        time.sleep(0.8)
        late = job.as_dict()
        assert late["left"] is None and late["elapsed"] >= 0.8 and late["done"] == 1
    finally:
        gate.set()
        worker.close()
    assert job.status == "done" and job.as_dict()["left"] is None and job.as_dict()["elapsed"] == round(job.seconds, 1)


def wait_for(job, statuses: tuple[str, ...], timeout: float = 10.0) -> None:  # noqa: ANN001
    end = time.monotonic() + timeout
    while job.status not in statuses:
        assert time.monotonic() < end, f"job {job.id} still {job.status}"
        time.sleep(0.01)


def test_one_job_per_run_and_cancel_while_queued_or_between_simulations() -> None:
    import pytest

    from storyspace.errors import UserError
    from storyspace.runs import RunBusy

    worker = Worker(Models(pool=object()))
    go, reached, ran = threading.Event(), [], []

    def search(_models, progress):  # noqa: ANN001, ANN202 - a search reporting each of 100 simulations
        for i in range(1, 101):
            go.wait(5)
            reached.append(i)
            progress(i, 100, f"searching: {i}/100 simulations")
        return {"added": reached[:]}

    try:
        first = worker.submit("search", "run-a", 3, search)
        with pytest.raises(RunBusy, match="run-a has a job already"):
            worker.submit("expand", "run-a", 4, lambda m, p: ran.append("never"))
        queued = worker.submit("expand", "run-b", 1, lambda m, p: ran.append("expand"))
        assert queued.as_dict()["cancellable"] and worker.cancel(queued).cancel_requested
        wait_for(first, ("running",))
        assert worker.cancel(first).as_dict()["cancel_requested"] is True
        with pytest.raises(UserError, match="being stopped"):
            worker.cancel(first)
        go.set()
        wait_for(first, ("cancelled",))
        assert reached == [1] and first.note == "stopped on request after 1 of 100" and first.result is None
        wait_for(queued, ("cancelled",))
        assert queued.note == "cancelled before it began" and ran == []  # never begun
        again = worker.submit("expand", "run-a", 4, lambda m, p: time.sleep(0.3) or {"added": [9]})  # the run is free
        wait_for(again, ("running",))
        with pytest.raises(UserError, match="one model call"):
            worker.cancel(again)
        wait_for(again, ("done",))
        assert again.result == {"added": [9]} and not again.as_dict()["cancellable"]
        with pytest.raises(UserError, match="it has ended"):
            worker.cancel(again)
    finally:
        worker.close()
