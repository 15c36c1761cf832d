"""A step kind: what the engine calls for a Step's `action` — execute, verify and (for work outside
the prefix) undo. Each module under envkit.setup.steps declares its kinds next to its build."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from envkit.setup.context import RunContext, run_commands
from envkit.setup.step import Step
from envkit.state import SetupState


def globs_hold(prefix: Path, step: Step) -> bool:
    """The step's cheap on-disk proof (globs under the prefix); no imports, no subprocesses."""
    return all(any(prefix.glob(pattern)) for pattern in step.verify)


@dataclass(frozen=True)
class StepKind:
    execute: Callable[[RunContext, Step], None]
    verify: Callable[[Path, Step], bool] = globs_hold  # finished work still there (a rerun skips the step)
    # What the step changed outside what ownership records (the user's own tree); returns what undo did.
    undo: Callable[[Path, SetupState], list[str]] | None = None


COMMANDS = StepKind(run_commands)  # a step that is only its commands (torch, the locked PyPI layer)
