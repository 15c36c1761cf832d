"""Atomic file writes: a reader, or a run killed mid-write, never sees half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def temp_beside(path: Path, data: bytes | str, mode: int = 0o644) -> Path:
    """Write `data` (fsynced, with `mode`) to a temp file in `path`'s directory and return it.

    Same directory means same filesystem, so the caller's os.replace is atomic. Callers that
    must swap several files together (pins: the file, its backup, the sidecar) rename them
    themselves; everyone else uses atomic_write.
    """
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(name, mode)  # mkstemp makes 0600
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def file_digest(path: Path, algo: str = "sha256") -> str:
    """The hex digest of a file, read in 1 MiB blocks (bundles hold multi-GB wheels)."""
    import hashlib

    digest = hashlib.new(algo)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    """Replace `path` with `data` in one rename."""
    tmp = temp_beside(path, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
