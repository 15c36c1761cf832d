"""Atomic file writes (a reader, or a run killed mid-write, never sees half a file) and streaming hashes."""

from __future__ import annotations

import hashlib
import os
import stat as stat_mod
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol


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


BLOCK = 1 << 20  # bundles hold multi-GB wheels: read them in 1 MiB blocks


class Digest(Protocol):
    """What hashed_blocks feeds: a hashlib object."""

    def update(self, data: bytes, /) -> None: ...


def hashed_blocks(handle: IO[bytes], digest: Digest) -> Iterator[bytes]:
    """Yield `handle`'s blocks until EOF, each fed to `digest` first: the one way envkit hashes a
    stream, whether it only hashes it (file_digest) or also copies it (a download, a tar member)."""
    while block := handle.read(BLOCK):
        digest.update(block)
        yield block


def file_digest(path: Path, algo: str = "sha256") -> str:
    """The hex digest of a file, read in blocks."""
    digest = hashlib.new(algo)
    with open(path, "rb") as handle:
        for _ in hashed_blocks(handle, digest):
            pass
    return digest.hexdigest()


def atomic_write(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    """Replace `path` with `data` in one rename."""
    tmp = temp_beside(path, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def not_a(wanted: str, path: Path | str) -> str:
    """Why `path` is not the `wanted` ("file" or "directory"): it does not exist, or what it is instead,
    so a message never calls an existing path missing."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file or directory" if not os.path.lexists(path) else "a broken symbolic link"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat_mod.S_ISDIR(mode):
        return f"is a directory, not a {wanted}"
    if stat_mod.S_ISREG(mode):
        return f"is a file, not a {wanted}"
    return f"is a special file (device, FIFO or socket), not a {wanted}"
