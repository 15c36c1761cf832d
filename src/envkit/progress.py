"""Setup's progress on stderr: every step says when it starts (what it will do) and when it ends
(elapsed), with or without a terminal; on a terminal a live elapsed counter runs meanwhile."""

from __future__ import annotations

import time
from typing import Any


class StepProgress:
    """The setup engine's `progress(event, step, index)` callback ('start', 'done', 'skip')."""

    def __init__(self, console: Any, total: int, quiet: bool = False) -> None:
        self.console, self.total, self.quiet = console, total, quiet
        self.started: dict[str, float] = {}
        self._live: Any = None

    def _label(self, step: Any, index: int) -> str:
        return f"[{index}/{self.total}] {step.id}: {step.title}"

    def __call__(self, event: str, step: Any, index: int) -> None:
        if self.quiet:
            return
        label = self._label(step, index)
        if event == "start":
            self.started[step.id] = time.monotonic()
            self.console.print(f"start {label}", markup=False, highlight=False)
            if self.console.is_terminal:  # a plain line for logs and CI; the live counter only where it redraws
                from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

                self._live = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                      console=self.console, transient=True)
                self._live.add_task(f"{step.id} running", total=None)
                self._live.start()
        elif event == "done":
            self._stop()
            seconds = time.monotonic() - self.started.get(step.id, time.monotonic())
            self.console.print(f"done  {label} ({_elapsed(seconds)})", markup=False, highlight=False)
        elif event == "skip":
            self.console.print(f"skip  {label} (finished, inputs unchanged)", markup=False, highlight=False)

    def _stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def close(self) -> None:
        self._stop()


def _elapsed(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {seconds % 60:02.0f} s"
