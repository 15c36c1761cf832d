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
from envkit.resources import data_dir
from envkit.secrets import redact

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
    created_prefix: bool = False  # setup made the directory: undo removes it once it is empty
    # Ownership (docs/safety.md): paths relative to the prefix, directories with a trailing "/".
    preexisting: list[str] | None = None  # what was there before setup wrote anything (None: a pre-ownership state)
    backed_up: list[str] = field(default_factory=list)  # preexisting files copied to .envkit/backup/ before any step
    owned: list[str] = field(default_factory=list)  # what setup created (a directory: everything below it)
    in_flight: dict[str, Any] | None = None  # {step, started_ns, pgid}: a step that started and has not finished
    # Inside what setup owns: the user's entries, told apart by time (docs/safety.md). claimed_until_ns: when
    # setup last claimed; user_entries: entries found inside owned directories that setup did not make.
    claimed_until_ns: int | None = None
    user_entries: list[str] = field(default_factory=list)
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
            "preexisting": self.preexisting,
            "backed_up": self.backed_up,
            "owned": self.owned,
            "claimed_until_ns": self.claimed_until_ns,
            "user_entries": self.user_entries,
            "in_flight": self.in_flight,
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

        # URL credentials only: masking environment values by value could hit a recorded path, and undo reads this file
        atomic_write(state_path(self.prefix), redact(json.dumps(self.to_dict(), indent=2), environ={}) + "\n")

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
    _validate(path, data)
    return SetupState(
        prefix=Path(prefix),
        created_prefix=bool(data.get("created_prefix")),
        preexisting=list(data["preexisting"]) if data.get("preexisting") is not None else None,
        backed_up=list(data.get("backed_up") or []),
        owned=list(data.get("owned") or []),
        claimed_until_ns=data.get("claimed_until_ns"),
        user_entries=list(data.get("user_entries") or []),
        in_flight=data.get("in_flight") or None,
        profile=data.get("profile"),
        steps=dict(data.get("steps") or {}),
        files=list(data.get("files") or []),
        pins=list(data.get("pins") or []),
        patched_trees=list(data.get("patched_trees") or []),
        doctor=data.get("doctor"),
        plan=list(data.get("plan") or []),
        request=dict(data.get("request") or {}),
    )


def _bad(path: Path, field_name: str, why: str) -> EnvkitError:
    return EnvkitError(
        f"{path}: '{field_name}' {why}; envkit will not act on a state file it cannot trust",
        fix=f"restore {path} from what setup wrote, or remove it (a re-run of setup then redoes every step; "
            "undo then cannot tell what setup created)",
    )


def _relative_list(path: Path, data: dict[str, Any], key: str) -> None:
    value = data.get(key)
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(path, key, "must be a list of paths relative to the prefix")
    for item in value:
        if item.startswith("/") or item in ("", ".", "./", "..", "../") or item.startswith("../") or "/../" in item or item.rstrip("/").endswith("/.."):
            raise _bad(path, key, f"lists {item!r}, which is not a path inside the prefix")


def _validate(path: Path, data: dict[str, Any]) -> None:
    """Every field setup, undo and the doctor act on has the shape setup writes (bad input: exit 2)."""
    steps = data.get("steps") or {}
    if not isinstance(steps, dict):
        raise _bad(path, "steps", "must be an object of step id -> record")
    for step_id, entry in steps.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("digest", ""), str):
            raise _bad(path, f"steps.{step_id}", f"is {type(entry).__name__} {json.dumps(entry)[:60]}, not a step record (an object with a digest)")
        if not isinstance(entry.get("dists", {}), dict):
            raise _bad(path, f"steps.{step_id}.dists", "must be an object")
    for key in ("files", "pins", "plan"):
        if not isinstance(data.get(key) or [], list):
            raise _bad(path, key, "must be a list")
    for key in ("preexisting", "backed_up", "owned", "user_entries"):
        _relative_list(path, data, key)
    if data.get("claimed_until_ns") is not None and not isinstance(data.get("claimed_until_ns"), int):
        raise _bad(path, "claimed_until_ns", "must be null or an integer (ns)")
    if not isinstance(data.get("request") or {}, dict):
        raise _bad(path, "request", f"is {type(data.get('request')).__name__}, not an object (what setup was asked for)")
    if data.get("profile") is not None and not isinstance(data.get("profile"), str):
        raise _bad(path, "profile", "must be null or a profile name")
    if not all(isinstance(p, str) for p in data.get("pins") or []):
        raise _bad(path, "pins", "must list pyproject.toml paths")
    for entry in data.get("patched_trees") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("tree"), str) or not isinstance(entry.get("patch"), str):
            raise _bad(path, "patched_trees", f"holds {json.dumps(entry)[:80]}, not {{tree, patch}}")
        _check_patched_tree(path, entry)
    flight = data.get("in_flight")
    if flight is not None and (not isinstance(flight, dict) or not isinstance(flight.get("started_ns"), int)):
        raise _bad(path, "in_flight", "must be null or {step, started_ns}")
    if data.get("doctor") is not None and not isinstance(data.get("doctor"), dict):
        raise _bad(path, "doctor", "must be null or an object")


def _check_patched_tree(path: Path, entry: dict[str, str]) -> None:
    """Undo runs `git apply --reverse` in each tree: only a lerobot source tree and one of envkit's patches qualify."""

    tree, patch = Path(entry["tree"]), Path(entry["patch"])
    try:
        shipped = data_dir("patches").resolve()
    except FileNotFoundError:
        shipped = None
    if not tree.is_absolute():
        raise _bad(path, "patched_trees", f"lists {tree}, which is not an absolute path")
    lerobot_tree = (tree / "pyproject.toml").is_file() and ((tree / "src" / "lerobot").is_dir() or (tree / "lerobot").is_dir())
    if tree.exists() and not lerobot_tree:  # a tree deleted since is reported by undo, not refused
        raise _bad(path, "patched_trees", f"lists {tree}, which is not a lerobot source tree (no pyproject.toml with a lerobot package)")
    if shipped is None or patch.resolve().parent != shipped or patch.suffix != ".patch":
        raise _bad(path, "patched_trees", f"names patch {patch}, which is not one of envkit's shipped patches")
