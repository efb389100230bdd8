"""The one progress display of every command: a rich bar per stage on stderr, and notes.

Everything shown passes ``story.printable`` and rich's markup escaping, so a premise or a model's
text can neither colour nor steer the terminal.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from storyspace.story import printable


def shown(text: str) -> str:
    """Text made safe for the display (printable, markup escaped)."""
    return escape(printable(text))


class Display:
    """``with Display(quiet) as d: d.update(stage, done, total, note)``; ``d.say(text)`` prints a
    line above the bars. Quiet: no bars and no notes (errors still reach stderr)."""

    def __init__(self, quiet: bool = False) -> None:
        self.console = Console(stderr=True, quiet=quiet)
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[note]}"), TimeElapsedColumn(), console=self.console,
                                 disable=quiet)
        self._tasks: dict[str, Any] = {}
        self._said_premise = False
        self._live = False

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
