"""The one progress display of every command: a rich bar per stage on stderr, and notes.

Everything shown passes ``story.printable`` and rich's markup escaping, so a premise or a model's
text can neither colour nor steer the terminal.
"""

from __future__ import annotations

import json
import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from storyspace.story import printable


def shown(text: str) -> str:
    """Text made safe for the display (printable, markup escaped)."""
    return escape(printable(text))


#: when stderr is not a terminal (a log file, CI), a stage's bar cannot redraw: it says where it
#: stands in a plain line at most this often instead
PLAIN_EVERY_S = 60.0


class Display:
    """``with Display(quiet) as d: d.update(stage, done, total, note)``; ``d.say(text)`` prints a
    line above the bars. Quiet: no bars and no notes (errors still reach stderr). On a stderr
    that is not a terminal, a stage also prints ``stage: done/total (p %), elapsed`` lines, at
    most every ``PLAIN_EVERY_S`` seconds, so a log shows a long job moving."""

    def __init__(self, quiet: bool = False, plain_every_s: float = PLAIN_EVERY_S) -> None:
        self.console = Console(stderr=True, quiet=quiet)
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[note]}"), TimeElapsedColumn(), console=self.console,
                                 disable=quiet)
        self._tasks: dict[str, Any] = {}
        self._said_premise = False
        self._live = False
        self._plain = not quiet and not self.console.is_terminal
        self._plain_every_s = plain_every_s
        self._began: dict[str, float] = {}
        self._last_line: dict[str, float] = {}

    def __enter__(self) -> "Display":
        return self  # the bars start at the first update: an error before it prints only its line

    def __exit__(self, *exc: object) -> None:
        if self._live:
            self.progress.stop()

    def update(self, stage: str, done: int, total: int, note: str = "") -> None:
        if not self._live:
            self._live = True
            self.progress.start()
        if stage not in self._tasks:
            self._tasks[stage] = self.progress.add_task(shown(stage), total=total, note="")
        self.progress.update(self._tasks[stage], completed=done, total=total, note=f"[dim]{shown(note)}[/dim]")
        if self._plain:
            now = time.monotonic()
            began = self._began.setdefault(stage, now)
            if now - self._last_line.get(stage, began) >= self._plain_every_s:
                self._last_line[stage] = now
                share = f" ({100 * done / total:.0f} %)" if total else ""
                self.console.print(f"{shown(stage)}: {done}/{total}{share}, {(now - began) / 60:.1f} min",
                                   highlight=False)

    def say(self, text: str) -> None:
        self.console.print(shown(text))

    def log(self, row: dict[str, Any]) -> None:
        """A training log row, as one JSON line."""
        self.console.print(shown(json.dumps(row)), highlight=False)

    def explore(self, p: Any, resumed: bool = False) -> None:
        """An ``explore.Progress`` update (the first one says which premise the run explores)."""
        if not self._said_premise:
            self._said_premise = True
            self.console.print(f"[bold]{'Resuming' if resumed else 'Premise'}:[/bold] {shown(p.premise)}")
        self.update("simulations", p.simulations, p.target, f"best v {p.best_value:.3f} · {p.tokens_per_s:.1f} tok/s")
