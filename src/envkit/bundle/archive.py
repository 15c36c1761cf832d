"""The bundle tar: written reproducibly, read back only after every member's hash is checked.

Reproducible: members sorted (manifest.json first), mtime 0, uid/gid 0, no user or group names,
mode 0644, PAX format (long names get a path record, never a timestamp), no compression. The same
member bytes therefore give the same tar bytes on any machine.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from envkit.bundle.manifest import MANIFEST, Manifest
from envkit.errors import EnvkitError
from envkit.fsutil import hashed_blocks, not_a
from envkit.safetar import safe_member


class _Hashing(io.RawIOBase):
    """Reads through to a file and hashes what was read."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle, self.digest = handle, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        return data


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = size, 0, 0o644, 0, 0, "", ""
    return info


def write(out: Path, manifest: Manifest, files: dict[str, Path], progress: Callable[[str], None] = lambda s: None) -> None:
    """Write the tar atomically (temp file beside `out`, then rename); each file is re-hashed as it is copied."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            body = manifest.to_json().encode()
            tar.addfile(_info(MANIFEST, len(body)), io.BytesIO(body))
            for member in sorted(manifest.members, key=lambda m: m.path):
                source = files[member.path]
                progress(member.path)
                with open(source, "rb") as handle:
                    reader = _Hashing(handle)
                    tar.addfile(_info(member.path, member.size), reader)
                if reader.digest.hexdigest() != member.sha256:
                    raise EnvkitError(f"{source} changed while the bundle was written ({member.path})",
                                      fix="rerun `envkit bundle` when nothing else writes to it")
            tar.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def check_output(out: Path) -> None:
    """Refuse, before anything is fetched, an -o that envkit could not write or must not replace:
    envkit replaces only a bundle it wrote (its manifest comes first), never a user's file."""
    if out.is_symlink():
        raise EnvkitError(f"-o {out} is a symbolic link: envkit writes the bundle as a regular file it owns",
                          fix="name a file that does not exist yet (or an earlier bundle itself, not a link to it)")
    if out.is_dir():
        raise EnvkitError(f"-o {out} is a directory", fix=f"name the file inside it: -o {out / 'bundle.tar'}")
    if out.exists():
        try:
            read_manifest(out)
        except EnvkitError:
            raise EnvkitError(f"-o {out} exists and is not an envkit bundle: envkit replaces only a bundle it wrote, "
                              "so nothing was fetched or written", fix="choose another -o, or move that file away first") from None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise EnvkitError(f"-o {out}: cannot write in {out.parent} ({exc.strerror or exc}); nothing was fetched",
                          fix="choose a directory you can write to for -o") from None


def _not_bundle(path: Path, why: str) -> EnvkitError:
    return EnvkitError(f"{path} is not a readable envkit bundle ({why})",
                       fix="copy the bundle again (compare its sha256 with the one `envkit bundle` printed) or rebuild it")


def read_manifest(path: Path) -> Manifest:
    """The first member only: cheap, for the system check that comes before anything else."""
    if not Path(path).is_file():
        raise EnvkitError(f"--bundle {path}: {not_a('file', path)}", fix="pass the .tar `envkit bundle -o` wrote")
    try:
        with tarfile.open(path, mode="r|") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isfile():
                raise _not_bundle(path, f"its first member is {first.name if first else 'missing'}, not {MANIFEST}")
            handle = tar.extractfile(first)
            assert handle is not None
            return Manifest.from_json(handle.read().decode("utf-8", "replace"), str(path))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise _not_bundle(path, f"{type(exc).__name__}: {exc}") from None


def scan(path: Path, dest: Path | None = None, keep: Callable[[str], bool] | None = None,
         kept: dict[str, bytes] | None = None) -> tuple[Manifest, list[str]]:
    """Read every member, hash it against the manifest; with `dest`, also write it there; members
    `keep` accepts are also returned in `kept` (small ones: the lock, for --check), in one read.

    Returns (manifest, problems), each problem naming its member: a changed or truncated member,
    one the manifest does not list, one the manifest lists that the tar lacks.
    """
    manifest = read_manifest(path)
    expected = {m.path: m for m in manifest.members}
    seen: set[str] = set()
    problems: list[str] = []
    current = MANIFEST
    try:
        with tarfile.open(path, mode="r|") as tar:
            for index, info in enumerate(tar):
                current = info.name
                if index == 0:
                    continue  # the manifest, read above
                member = expected.get(info.name)
                if member is None or not info.isfile() or not safe_member(info):
                    problems.append(f"{info.name}: not listed in the bundle's manifest")
                    continue
                handle = tar.extractfile(info)
                assert handle is not None
                digest, size = hashlib.sha256(), 0
                held: list[bytes] | None = [] if keep is not None and kept is not None and keep(info.name) else None
                out = None
                if dest is not None:
                    target = dest / info.name
                    out = _writable(dest, target)
                try:
                    for block in hashed_blocks(handle, digest):
                        size += len(block)
                        if out is not None:
                            _write(dest, out, block)
                        if held is not None:
                            held.append(block)
                finally:
                    if out is not None:
                        try:
                            out.close()
                        except OSError as exc:
                            raise write_error(dest, exc) from None
                seen.add(info.name)
                if held is not None and kept is not None:
                    kept[info.name] = b"".join(held)
                if size != member.size or digest.hexdigest() != member.sha256:
                    problems.append(f"{info.name}: sha256 {digest.hexdigest()[:16]}... ({size} bytes) is not the manifest's "
                                    f"{member.sha256[:16]}... ({member.size} bytes)")
    except (tarfile.TarError, EOFError, OSError) as exc:
        problems.append(f"{current}: the archive ends or breaks inside it ({type(exc).__name__}: {exc})")
    for name in sorted(set(expected) - seen):
        if not any(p.startswith(name + ":") for p in problems):
            problems.append(f"{name}: listed in the manifest but not in the archive")
    return manifest, problems


class WriteFailed(EnvkitError):
    """Unpacking failed on the writing side (a full disk, a read-only or unwritable place): not the bundle's fault."""


def write_error(dest: Path, exc: OSError) -> WriteFailed:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return WriteFailed(f"the disk holding {dest} is full (or the quota is reached) while unpacking the bundle; "
                           "nothing was installed and the partial files were removed",
                           fix=f"free space on that filesystem (df -h {dest.parent}) or pass a --prefix on a larger one, then rerun")
    return WriteFailed(f"cannot write {dest} while unpacking the bundle: {exc.strerror or exc}; nothing was installed",
                       fix="pass a --prefix in a place you can write")


def _writable(dest: Path, target: Path) -> IO[bytes]:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return open(target, "wb")
    except OSError as exc:
        raise write_error(dest, exc) from None


def _write(dest: Path, out: IO[bytes], block: bytes) -> None:
    try:
        out.write(block)
    except OSError as exc:
        raise write_error(dest, exc) from None


def check_free_space(manifest: Manifest, where: Path) -> None:
    """Before unpacking GBs: the filesystem holding `where` must have room for every member (and 5% more)."""
    need = sum(m.size for m in manifest.members)
    try:
        st = os.statvfs(where)
    except OSError:
        return  # cannot tell: the write errors still name a full disk
    free = st.f_bavail * st.f_frsize
    if free < need * 1.05 + (16 << 20):
        raise EnvkitError(f"the filesystem holding {where} has {free / 1e9:.2f} GB free; the bundle's members need "
                          f"{need / 1e9:.2f} GB to unpack (and the environment more to install); nothing was written",
                          fix=f"free space there (df -h {where}) or pass a --prefix on a larger filesystem")


def verify(path: Path) -> Manifest:
    """The manifest of an intact bundle; EnvkitError naming the damaged member(s) otherwise."""
    manifest, problems = scan(path)
    if problems:
        raise refused(path, problems)
    return manifest


def refused(path: Path, problems: list[str]) -> EnvkitError:
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return EnvkitError(f"bundle {path} is damaged, nothing was installed: {problems[0]}{more}",
                       fix="copy the bundle again and compare its sha256 with the one `envkit bundle` printed, or rebuild it")
