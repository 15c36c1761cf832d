"""The prefix setup works in: refused when foreign (without --yes), inventoried and backed up before
anything is written, locked so that one setup or undo at a time acts on it (docs/safety.md)."""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from envkit import ownership
from envkit.errors import EnvkitError
from envkit.state import SetupState, load_state, state_dir


def unwritable(prefix: Path, exc: OSError) -> EnvkitError:
    if exc.errno == errno.ENOSPC:
        return EnvkitError(f"Cannot write to {prefix}: the disk is full", fix="free space there or choose another --prefix")
    return EnvkitError(f"Cannot write to {prefix}: {exc.strerror or exc}",
                       fix="choose a --prefix you can write to (or fix its permissions / remount it read-write)")


def _foreign_entries(prefix: Path) -> list[str]:
    return sorted(p.name for p in prefix.iterdir() if p.name != ".envkit") if prefix.is_dir() else []


def refuse_foreign(prefix: Path, yes: bool) -> list[str]:
    """Checks that write nothing: a file, or a non-empty directory envkit did not make (without --yes)."""
    if os.path.lexists(prefix) and not prefix.is_dir():
        raise EnvkitError(f"--prefix {prefix} is a file", fix="choose a directory path for the environment")
    try:
        entries = _foreign_entries(prefix)
    except OSError as exc:
        raise unwritable(prefix, exc) from None
    if entries and not yes:
        kind = "a conda environment" if "conda-meta" in entries else "a virtual environment" if "pyvenv.cfg" in entries else "files"
        raise EnvkitError(f"{prefix} already holds {kind} that envkit did not create ({', '.join(entries[:4])})",
                          fix="choose another --prefix (an empty or new directory), or pass --yes to install into it: envkit then "
                              "backs up every file there first and undo puts them back")
    return entries


def prepare_prefix(prefix: Path, yes: bool, created: bool | None = None) -> SetupState:
    """Create the prefix (or adopt an envkit one) and take its inventory before anything is written.

    A non-empty directory envkit did not make is refused without --yes; with --yes every file in it
    is copied to .envkit/backup/ first, so undo can give each one back byte for byte. `execute`
    calls this under the prefix lock (`created`: whether the prefix existed before it made .envkit/).
    """
    try:
        existing = load_state(prefix)
    except PermissionError as exc:
        raise unwritable(prefix, exc) from None
    if existing is not None:
        pending = [r for r in existing.preexisting or [] if not r.endswith("/") and r not in existing.backed_up
                   and (os.path.islink(prefix / r) or os.path.isfile(prefix / r))]
        if pending:
            _backup(existing)  # killed while backing up: no step has run yet, finish the copies
        return existing
    if created is None:
        created = not os.path.lexists(prefix)
    entries = refuse_foreign(prefix, yes)
    preexisting, size = ownership.take_inventory(prefix) if entries else ([], 0)
    if size > ownership.BACKUP_LIMIT:
        raise EnvkitError(f"{prefix} already holds {size >> 20} MiB of files envkit did not create; setup backs up everything "
                          f"it might overwrite before writing and copies at most {ownership.BACKUP_LIMIT >> 20} MiB",
                          fix="choose a new or empty --prefix")
    try:
        state_dir(prefix).mkdir(parents=True, exist_ok=True)
        state = SetupState(prefix=prefix, created_prefix=created, preexisting=preexisting)
        state.save()
        if preexisting:
            _backup(state)
    except OSError as exc:
        raise unwritable(prefix, exc) from None
    return state


def _backup(state: SetupState) -> None:
    try:
        ownership.backup_preexisting(state)
    except OSError as exc:
        raise unwritable(state.prefix, exc) from None


@contextmanager
def locked(prefix: Path, what: str = "setup") -> Iterator[None]:
    """One process at a time per prefix: setup and undo take the same lock."""
    path = state_dir(prefix) / "lock"
    try:
        handle = open(path, "a")
    except OSError as exc:
        raise unwritable(prefix, exc) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise EnvkitError(f"another envkit setup or undo is running on {prefix}, so this {what} did not start",
                              fix="wait for it to finish, then rerun") from None
        yield
