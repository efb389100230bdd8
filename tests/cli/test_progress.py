"""The progress display when stderr is not a terminal (a log file, CI): plain lines that say where
a long stage stands, no more often than asked, and none when quiet."""

from __future__ import annotations

import itertools

from storyspace.cli import progress
from storyspace.cli.progress import Display


def test_a_log_gets_plain_progress_lines_and_quiet_gets_none(capsys, monkeypatch) -> None:  # noqa: ANN001
    clock = itertools.count(0.0, 0.03)  # a clock of its own: 0.03 s an update, however busy the machine
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    with Display(plain_every_s=0.05) as d:
        for i in range(6):
            d.update("reading", i, 6)
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("reading: ")]
    assert 2 <= len(lines) <= 4  # every other update at most: one line per 0.05 s of 0.03 s steps
    done = [int(x.split(": ")[1].split("/")[0]) for x in lines]
    assert done == sorted(done) and all(x.split("/")[1].startswith("6 (") for x in lines) and " min" in lines[-1]
    with Display(quiet=True, plain_every_s=0.0) as d:
        for i in range(3):
            d.update("reading", i, 3)
    assert capsys.readouterr().err == ""
    with Display(plain_every_s=3600) as d:  # a short job prints no plain line
        d.update("reading", 0, 2)
        d.update("reading", 1, 2)
    assert not [x for x in capsys.readouterr().err.splitlines() if x.startswith("reading: ")]
