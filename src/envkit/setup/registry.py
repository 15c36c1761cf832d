"""The step registry: KINDS maps a Step's `action` to what the engine calls for it; UNDO lists, in order, what undo
reverses outside the prefix (a user's tree: pins, then the patch).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from envkit.setup.kinds import COMMANDS, StepKind
from envkit.setup.steps import (doctor, environment, ffmpeg, hooks, lerobot, lerobot_source, libpython, packages, patch, pins,
                                torch, weights)
from envkit.state import SetupState

MODULES = (pins, patch, lerobot_source, environment, ffmpeg, libpython, torch, packages, lerobot, hooks, weights, doctor)

KINDS: dict[str, StepKind] = {"commands": COMMANDS}
for _module in MODULES:
    KINDS.update(_module.KINDS)

UNDO: tuple[Callable[[Path, SetupState], list[str]], ...] = tuple(
    kind.undo for kind in dict.fromkeys(KINDS.values()) if kind.undo is not None)
