"""The file side of `envkit pins`: read lerobot's pyproject, rewrite it, put it back.

`write_pins` replaces the file atomically and keeps the original beside it
(`pyproject.toml.envkit-orig`) with a sidecar recording what envkit wrote, so a backup is never
overwritten and a stale one is never trusted; `restore_pins` puts the original back byte for
byte. A symlinked pyproject.toml is rewritten through the link, with backups beside its target.
What to write is planned by envkit.pins, which does no I/O.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from envkit.errors import EnvkitError
from envkit.fsutil import temp_beside
from envkit.source import find_pyproject as locate

BACKUP_SUFFIX = ".envkit-orig"
SIDECAR_SUFFIX = ".envkit-orig.json"


def find_pyproject(path: Path) -> Path:
    """lerobot's pyproject.toml under `path`: a clone, a fork's subfolder (repo/lerobot/), or the file."""
    return locate(Path(path))


def read_pyproject(path: Path) -> str:
    """The file's text exactly as stored (newline="" keeps CRLF files CRLF)."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvkitError(f"Cannot read {path}: {exc}", fix="make it a readable UTF-8 file") from None


def real_file(pyproject: Path) -> Path:
    """The file a (possibly symlinked) pyproject.toml is: backups live beside it, found through any link."""
    return Path(os.path.realpath(pyproject))


def backup_paths(pyproject: Path) -> tuple[Path, Path]:
    pyproject = real_file(pyproject)
    return pyproject.with_name(pyproject.name + BACKUP_SUFFIX), pyproject.with_name(pyproject.name + SIDECAR_SUFFIX)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _unwritable(path: Path, exc: OSError) -> EnvkitError:
    return EnvkitError(
        f"Cannot write {path}: {exc.strerror or exc}; nothing was changed",
        fix="make the lerobot tree writable (or copy it somewhere writable), or install with the overrides from `envkit resolve --json` instead",
    )


def _read_sidecar(sidecar: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _stale(pyproject: Path, backup: Path, why: str) -> EnvkitError:
    return EnvkitError(
        f"{backup} exists but {why}, so envkit will not overwrite the backup or trust it",
        fix=f"if {backup.name} is lerobot's original, run `envkit pins --restore --force` to put it back; "
            f"if {pyproject.name} as it stands is the one to keep, delete {backup.name} and {backup.name}.json",
    )


def _ours(pyproject: Path, current: bytes) -> dict[str, Any]:
    """The sidecar, when the current file is what envkit wrote (or the original); else refuse."""
    backup, sidecar = backup_paths(pyproject)
    meta = _read_sidecar(sidecar)
    if meta is None or not backup.exists():
        raise _stale(pyproject, backup if backup.exists() else sidecar, "its record is missing or unreadable")
    if _sha256(current) not in (meta.get("written_sha256"), meta.get("original_sha256")):
        raise _stale(pyproject, backup, f"{pyproject.name} was changed since envkit wrote it")
    return meta


def write_pins(pyproject: Path, new_text: str, *, record: Mapping[str, Any] | None = None) -> bool:
    """Replace `pyproject` with `new_text` atomically, keeping the original beside it.

    Returns False (touching nothing) when the file already holds `new_text`.
    """
    pyproject = real_file(pyproject)  # rewrite the target, never replace a symlink with a copy
    try:
        current = pyproject.read_bytes()
        mode = pyproject.stat().st_mode & 0o7777
    except OSError as exc:
        raise EnvkitError(f"Cannot read {pyproject}: {exc.strerror or exc}", fix="check the path and its permissions") from None
    new = new_text.encode("utf-8")
    if new == current:
        return False
    backup, sidecar = backup_paths(pyproject)
    existing = backup.exists() or sidecar.exists()
    meta = _ours(pyproject, current) if existing else {"original_sha256": _sha256(current)}
    meta.update({"schema_version": 1, "tool": "envkit", "backup": backup.name,
                 "written_sha256": _sha256(new), **dict(record or {})})
    made: list[Path] = []
    backup_made = False
    try:
        if not existing:
            made.append(temp_beside(backup, current, mode))
            os.replace(made.pop(), backup)
            backup_made = True
        side_tmp = temp_beside(sidecar, (json.dumps(meta, indent=2) + "\n").encode(), 0o644)
        made.append(side_tmp)
        new_tmp = temp_beside(pyproject, new, mode)
        made.append(new_tmp)
        os.replace(new_tmp, pyproject)
        os.replace(side_tmp, sidecar)
        made.clear()
    except OSError as exc:
        # Leave the tree exactly as it was: no temp files, no backup of a write that never happened.
        for leftover in [*made, *([backup] if backup_made else [])]:
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise _unwritable(pyproject, exc) from None
    return True


def restore_pins(pyproject: Path, *, force: bool = False) -> bool:
    """Put the original back byte for byte and drop the backup. False when there is no backup."""
    pyproject = real_file(pyproject)
    backup, sidecar = backup_paths(pyproject)
    if not backup.exists():
        if sidecar.exists() and not force:
            raise _stale(pyproject, sidecar, f"{backup.name} is missing")
        return False
    try:
        current = pyproject.read_bytes() if pyproject.exists() else b""
        original = backup.read_bytes()
        mode = backup.stat().st_mode & 0o7777
    except OSError as exc:
        raise EnvkitError(f"Cannot read {backup}: {exc.strerror or exc}", fix="check its permissions") from None
    recorded = (_read_sidecar(sidecar) or {}).get("original_sha256")
    if not force and recorded and _sha256(original) != recorded:
        raise EnvkitError(
            f"{backup} was changed after envkit made it (its sha256 {_sha256(original)[:12]}... is not the original_sha256 "
            f"{recorded[:12]}... recorded in {sidecar.name}), so it may not be lerobot's original; nothing was restored",
            fix=f"check {backup.name} by hand; if it is the file to keep, run `envkit pins --restore --force`")
    if not force and current != original:
        _ours(pyproject, current)
    try:
        tmp = temp_beside(pyproject, original, mode)
        try:
            os.replace(tmp, pyproject)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        backup.unlink()
        sidecar.unlink(missing_ok=True)
    except OSError as exc:
        raise _unwritable(pyproject, exc) from None
    return True
