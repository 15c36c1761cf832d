"""envkit's per-user cache directory, and reading back only files this user wrote there.

Everything kept here can be rebuilt (parsed data files, the doctor's tiny dataset, bundle
downloads); a cache file that is not ours, or is writable by others, is ignored, not trusted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from envkit.fsutil import atomic_write


def cache_root(environ: Mapping[str, str] | None = None) -> Path:
    """$ENVKIT_CACHE_DIR, else $XDG_CACHE_HOME/envkit, else ~/.cache/envkit."""
    env = os.environ if environ is None else environ
    base = env.get("ENVKIT_CACHE_DIR") or os.path.join(env.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "envkit")
    return Path(base)


def read_own(path: Path) -> bytes | None:
    """The file's bytes if this user owns it and no one else may write it; None otherwise (or absent).

    On a shared server ENVKIT_CACHE_DIR may point at a group directory: a file planted there by
    someone else must not steer what envkit decides."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    finally:
        os.close(fd)


def write_quietly(path: Path, data: bytes) -> None:
    """Keep `data` at `path` (atomic, 0644); a cache that cannot be written is simply not kept."""
    try:
        atomic_write(path, data)
    except OSError:
        pass
