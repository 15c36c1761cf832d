"""What setup owns in a prefix, and how undo gives the prefix back (the model is in docs/safety.md).

Paths are kept relative to the prefix, a directory with a trailing "/". Before setup writes
anything it records what is already there (`preexisting`) and copies every preexisting file to
PREFIX/.envkit/backup/ (installers and `uv venv --allow-existing` rewrite files in place). After
each step it claims the new entries the step made (`owned`); a directory it claims is owned whole.
Only entries under the names an environment is made of (ENV_ROOTS, plus the top-level names of
conda packages it linked) and that changed while the step ran are claimed, so a file the user
drops into the prefix meanwhile (outputs/, a checkpoint) stays the user's. A step killed half-way
is claimed on the next setup or undo, within [its start, the last line of its log].
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from envkit import procs
from envkit.errors import EnvkitError
from envkit.state import STATE_DIR, SetupState, log_path, state_dir

BACKUP_DIR = "backup"
BACKUP_LIMIT = 1 << 30  # bytes of preexisting files setup agrees to copy before writing
# Top-level names a venv or a conda prefix is made of (uv venv, pip/uv installs, rattler links).
ENV_ROOTS = frozenset({
    "bin", "lib", "lib64", "include", "share", "etc", "libexec", "sbin", "man", "ssl", "conda-meta", "var",
    "compiler_compat", "x86_64-conda-linux-gnu", "aarch64-conda-linux-gnu", "doc", "docs", "info", "licenses",
    "pyvenv.cfg", ".gitignore", "CACHEDIR.TAG", ".lock",
})
_SLACK_NS = 50_000_000  # the kernel stamps ctime with a coarse clock


def backup_root(prefix: Path) -> Path:
    return state_dir(prefix) / BACKUP_DIR


def _rel(path: str) -> str:
    return path.rstrip("/")


def walk(prefix: Path, known_dirs: set[str]) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) of every entry, descending only into the root and `known_dirs`; never .envkit."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            entries = list(os.scandir(prefix / rel_dir if rel_dir else prefix))
        except FileNotFoundError:
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if rel == STATE_DIR:
                continue
            st = entry.stat(follow_symlinks=False)
            is_dir = entry.is_dir(follow_symlinks=False)
            yield (rel + "/" if is_dir else rel), st
            if is_dir and rel + "/" in known_dirs:
                stack.append(rel)


def inventory(prefix: Path) -> tuple[list[str], int]:
    """Every entry under an existing prefix (descending everywhere), and the bytes its files hold."""
    out: list[str] = []
    size = 0
    for root, dirs, files in os.walk(prefix):
        rel_root = os.path.relpath(root, prefix)
        if rel_root == ".":
            dirs[:] = [d for d in dirs if d != STATE_DIR]
        for name in list(dirs):
            if os.path.islink(os.path.join(root, name)):
                dirs.remove(name)  # a symlink is an entry, never followed
                files.append(name)
        for name in dirs:
            out.append(os.path.normpath(os.path.join(rel_root, name)) + "/")
        for name in files:
            out.append(os.path.normpath(os.path.join(rel_root, name)))
            try:
                size += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return sorted(out), size


def take_inventory(prefix: Path) -> tuple[list[str], int]:
    try:
        return inventory(prefix)
    except OSError as exc:
        raise EnvkitError(f"Cannot read {prefix}: {exc.strerror or exc}", fix="check the --prefix path and its permissions") from None


def backup_preexisting(state: SetupState) -> None:
    """Copy every preexisting file (symlinks as links) to .envkit/backup/ before any step writes."""
    prefix = state.prefix
    root = backup_root(prefix)
    done = set(state.backed_up)
    for rel in state.preexisting or []:
        if rel.endswith("/") or rel in done:
            continue
        source, dest = prefix / rel, root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.envkit-tmp")
        if os.path.lexists(tmp):
            tmp.unlink()
        if source.is_symlink():
            os.symlink(os.readlink(source), tmp)
        elif source.is_file():
            shutil.copy2(source, tmp)
        else:
            continue  # a socket or fifo: nothing to copy, nothing an installer writes
        os.replace(tmp, dest)
        state.backed_up.append(rel)
    state.save()


def _conda_roots(prefix: Path, since_ns: int) -> set[str]:
    """Top-level names of the files conda packages linked since `since_ns` (from their conda-meta records)."""
    roots: set[str] = set()
    meta = prefix / "conda-meta"
    if not meta.is_dir():
        return roots
    for record in meta.glob("*.json"):
        try:
            if record.stat().st_ctime_ns < since_ns - _SLACK_NS:
                continue
            data = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for path in data.get("files") or []:
            if isinstance(path, str) and path:
                roots.add(path.split("/", 1)[0])
    return roots


@dataclass
class Survey:
    claimed: list[str] = field(default_factory=list)  # new entries setup made in the window
    unknown: list[str] = field(default_factory=list)  # entries that are neither preexisting nor setup's


def survey(state: SetupState, since_ns: int | None, until_ns: int | None) -> Survey:
    """Entries that are not preexisting and not yet owned: those setup made between since and until, and the rest."""
    prefix = state.prefix
    pre = set(state.preexisting or [])
    owned = set(state.owned)
    roots = set(ENV_ROOTS) | (_conda_roots(prefix, since_ns) if since_ns is not None else set())
    result = Survey()
    for rel, st in walk(prefix, {d for d in pre if d.endswith("/")}):
        if rel in pre or rel in owned:
            continue
        top = rel.split("/", 1)[0]
        in_window = since_ns is not None and st.st_ctime_ns >= since_ns - _SLACK_NS and (
            until_ns is None or st.st_ctime_ns <= until_ns)
        (result.claimed if in_window and top in roots else result.unknown).append(rel)
    return result


def claim(state: SetupState, since_ns: int, until_ns: int | None = None) -> list[str]:
    """Record as setup's what it made since `since_ns`; returns the entries claimed. Entries that
    appeared inside owned directories between setup's last claim and this step are the user's."""
    if state.claimed_until_ns is not None:
        for rel, st in _inside_owned(state):  # files and links only: a directory's ctime moves with its entries
            if state.claimed_until_ns + _SLACK_NS < st.st_ctime_ns < since_ns - _SLACK_NS and rel not in state.user_entries:
                state.user_entries.append(rel)
    found = survey(state, since_ns, until_ns).claimed
    if found:
        state.owned.extend(found)
    state.claimed_until_ns = max(state.claimed_until_ns or 0, until_ns or time.time_ns())
    return found


_GENERATED = ("__pycache__",)  # bytecode Python writes on import: regenerable, never the user's data


def _inside_owned(state: SetupState) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) of every file and link below an owned directory, bytecode caches left out.
    Directories are not judged: their ctime moves whenever an entry is added, so only what they hold tells."""
    prefix = state.prefix
    for owned in state.owned:
        if not owned.endswith("/"):
            continue
        for root, dirs, files in os.walk(prefix / owned):
            dirs[:] = [d for d in dirs if d not in _GENERATED]
            for name in dirs + files:
                path = os.path.join(root, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    yield os.path.relpath(path, prefix), st


def user_made(state: SetupState) -> list[str]:
    """Files and links below owned directories that setup did not make (recorded between runs, or newer
    than its last claim). Empty for a state that never recorded claim times."""
    if state.claimed_until_ns is None:
        return []
    recorded = set(state.user_entries)
    found: list[str] = []
    for rel, st in _inside_owned(state):
        if rel in recorded or st.st_ctime_ns > state.claimed_until_ns + _SLACK_NS:
            found.append(rel)
    return sorted(found)


def claim_interrupted(state: SetupState) -> list[str]:
    """A step killed half-way: claim what it made, up to the last time the setup engine wrote its log."""
    if not state.in_flight:
        return []
    pgid = state.in_flight.get("pgid")
    if isinstance(pgid, int) and pgid > 1:  # an installer still running from the killed setup would recreate what undo removes
        procs.stop_group(pgid, int(state.in_flight["started_ns"]))
    try:
        until = log_path(state.prefix).stat().st_mtime_ns + 2_000_000_000
    except OSError:
        until = None
    found = claim(state, int(state.in_flight["started_ns"]), until)
    state.in_flight = None
    state.save()
    return found


def adopt_legacy(state: SetupState) -> bool:
    """A state from before ownership was recorded: when setup made the prefix, what lies under the
    environment's names is setup's and anything else is the user's. An adopted prefix stays legacy."""
    if state.preexisting is not None or not state.created_prefix:
        return False
    state.preexisting = []
    state.owned = sorted(rel for rel, _ in walk(state.prefix, set()) if rel.rstrip("/") in ENV_ROOTS)
    state.save()
    return True


# --- undo --------------------------------------------------------------------------------------


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def _remove_except(path: Path, keep: set[Path]) -> None:
    """Remove `path` whole, except the user's entries below it (and the directories that hold them)."""
    if not any(path in k.parents for k in keep):
        if path not in keep:
            _remove(path)
        return
    for child in path.iterdir():
        _remove_except(child, keep)


def _fs_error(prefix: Path, path: Path, exc: OSError) -> EnvkitError:
    if exc.errno == errno.EROFS:
        return EnvkitError(f"Cannot undo in {prefix}: {path} is on a read-only filesystem; nothing was removed",
                           fix=f"remount {prefix} read-write (or run undo where it is writable), then rerun `envkit setup --undo`")
    if exc.errno == errno.EBUSY:
        return EnvkitError(f"Cannot undo in {prefix}: {path} is busy (a mount point or in use)",
                           fix=f"unmount what is mounted at {path} (or stop what uses it), then rerun `envkit setup --undo`")
    return EnvkitError(f"Cannot undo in {prefix}: removing {path} failed: {exc.strerror or exc}",
                       fix=f"fix the permissions of {path}, then rerun `envkit setup --undo` (it resumes where it stopped)")


def mounts_under(prefix: Path) -> list[Path]:
    """Mount points strictly inside the prefix (from /proc/self/mountinfo; octal escapes decoded)."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    root = str(prefix).rstrip("/") + "/"
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            if point.startswith(root):
                found.append(Path(point))
    return found


def remove_owned(state: SetupState) -> list[str]:
    """Remove every owned entry, deepest first; the state shrinks as it goes, so a rerun resumes.

    A mount point inside an owned entry is refused before anything is removed: rmtree would
    empty the mounted filesystem (someone's data) and then fail with EBUSY.
    """
    prefix = state.prefix
    removed: list[str] = []
    owned_paths = [prefix / _rel(r) for r in state.owned]
    for point in mounts_under(prefix):
        if any(point == o or o in point.parents for o in owned_paths):
            raise EnvkitError(f"Cannot undo in {prefix}: {point} is a mount point (busy) inside what setup created; nothing was removed",
                              fix=f"unmount {point} (umount {point}), then rerun `envkit setup --undo`")
    keep = {prefix / _rel(r) for r in user_made(state)}
    for rel in sorted(state.owned, key=lambda r: r.count("/") - r.endswith("/"), reverse=True):
        path = prefix / _rel(rel)
        try:
            if os.path.ismount(path):
                raise OSError(errno.EBUSY, "a mount point", str(path))
            _remove_except(path, keep)
        except OSError as exc:
            state.save()
            raise _fs_error(prefix, path, exc) from None
        state.owned.remove(rel)
        removed.append(rel)
    state.save()
    return removed


def restore_backups(state: SetupState) -> list[str]:
    """Put every backed-up file back where it was (only the ones that changed are reported)."""
    prefix = state.prefix
    root = backup_root(prefix)
    restored: list[str] = []
    for rel in list(state.backed_up):
        backup, target = root / rel, prefix / rel
        if not os.path.lexists(backup):
            continue
        try:
            same = (not target.is_symlink() and target.is_file() and not backup.is_symlink()
                    and target.read_bytes() == backup.read_bytes())
            if not same:
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.is_dir() and not target.is_symlink():
                    continue  # setup never makes a directory where a user's file was; leave it to the user
                os.replace(backup, target)
                restored.append(rel)
        except OSError as exc:
            raise _fs_error(prefix, target, exc) from None
    for rel in state.preexisting or []:
        if rel.endswith("/") and not (prefix / rel).exists():
            (prefix / rel).mkdir(parents=True, exist_ok=True)  # an emptied directory of the user's comes back
    return restored
