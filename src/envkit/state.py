"""The setup state file in the prefix: which steps finished, with which inputs, and the last doctor verdict.

Read on every re-run before anything heavy (never imports torch), so it stays plain JSON.
Every write is atomic (temp file in the same directory, fsync, rename): a SIGKILL leaves
either the old or the new state, never half of one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envkit.errors import EnvkitError
from envkit.fsutil import atomic_write

SCHEMA_VERSION = 1
STATE_DIR = ".envkit"
STATE_FILE = "state.json"
LOG_FILE = "setup.log"


def state_dir(prefix: Path) -> Path:
    return Path(prefix) / STATE_DIR


def state_path(prefix: Path) -> Path:
    return state_dir(prefix) / STATE_FILE


def log_path(prefix: Path) -> Path:
    return state_dir(prefix) / LOG_FILE


@dataclass
class SetupState:
    prefix: Path
    created_prefix: bool = False  # setup made the directory: undo may remove it whole
    profile: str | None = None
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {digest, inputs, finished_at, seconds}
    files: list[str] = field(default_factory=list)  # files setup wrote outside a removable prefix
    pins: list[str] = field(default_factory=list)  # lerobot pyproject.toml files rewritten (backups beside them)
    patched_trees: list[dict[str, str]] = field(default_factory=list)  # {tree, patch}: user trees envkit patched
    doctor: dict[str, Any] | None = None  # {verdict, exit_code, at, summary}
    plan: list[dict[str, Any]] = field(default_factory=list)  # the last plan run (for the plan diff)
    request: dict[str, Any] = field(default_factory=dict)  # what setup was asked for; the doctor's defaults

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": "envkit",
            "created_prefix": self.created_prefix,
            "profile": self.profile,
            "steps": self.steps,
            "files": self.files,
            "pins": self.pins,
            "patched_trees": self.patched_trees,
            "doctor": self.doctor,
            "plan": self.plan,
            "request": self.request,
        }

    def save(self) -> None:
        atomic_write(state_path(self.prefix), json.dumps(self.to_dict(), indent=2) + "\n")

    def finished(self, step_id: str, digest: str) -> bool:
        return self.steps.get(step_id, {}).get("digest") == digest

    def record(self, step_id: str, digest: str, inputs: dict[str, Any], seconds: float) -> None:
        self.steps[step_id] = {"digest": digest, "inputs": inputs, "seconds": round(seconds, 3),
                               "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        self.save()

    def forget(self, step_id: str) -> None:
        if self.steps.pop(step_id, None) is not None:
            self.save()

    def add_unique(self, attr: str, value: Any) -> None:
        items = getattr(self, attr)
        if value not in items:
            items.append(value)
            self.save()


def load_state(prefix: Path) -> SetupState | None:
    """The state of an envkit prefix, None when the prefix holds none. A corrupt file is an error."""
    path = state_path(prefix)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EnvkitError(
            f"{path} is unreadable ({exc}); envkit cannot tell what setup did in {prefix}",
            fix=f"remove {path} to start the setup over (finished steps are redone), or restore it",
        ) from None
    if not isinstance(data, dict) or data.get("tool") != "envkit":
        raise EnvkitError(f"{path} is not an envkit state file", fix=f"remove {path} or choose another --prefix")
    return SetupState(
        prefix=Path(prefix),
        created_prefix=bool(data.get("created_prefix")),
        profile=data.get("profile"),
        steps=dict(data.get("steps") or {}),
        files=list(data.get("files") or []),
        pins=list(data.get("pins") or []),
        patched_trees=list(data.get("patched_trees") or []),
        doctor=data.get("doctor"),
        plan=list(data.get("plan") or []),
        request=dict(data.get("request") or {}),
    )
