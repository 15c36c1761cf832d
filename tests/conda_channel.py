"""A local conda channel of real package files, for tests that solve, lock and install offline.

conda-forge is unreachable from this project's machines, so the conda layer is tested against
tiny stand-ins built with py-rattler-build (real .conda archives, real repodata from
`rattler.index.index_fs`). Fixed timestamps make the archives byte-identical run to run, so the
channel is cached under .cache/conda-channel and rebuilt only when SPEC changes.

API: `build_local_channel(root) -> file:// URL`; pytest fixture `local_channel` (session scope).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

ARCH_PLATFORMS = ("linux-64", "linux-aarch64")
# Before every profile's [lock] exclude_newer, so the stand-ins pass the same cut-off as real ones.
TIMESTAMP = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
DEFAULT_ROOT = Path(__file__).resolve().parents[1] / ".cache" / "conda-channel"


@dataclass(frozen=True)
class Pkg:
    name: str
    version: str
    build: str
    depends: tuple[str, ...] = ()
    build_number: int = 0
    noarch: bool = False
    # relative path -> (file text, executable)
    files: tuple[tuple[str, str, bool], ...] = field(default=())


def _script(text: str) -> str:
    return "#!/bin/sh\n" + text + "\n"


def _python(version: str) -> Pkg:
    mm = "".join(version.split(".")[:2])
    short = ".".join(version.split(".")[:2])
    return Pkg("python", version, f"h0_0_cpython", depends=(f"python_abi {short}.* *_cp{mm}",),
               files=(("bin/python", _script(f'echo "Python {version}"'), True),))


def _ffmpeg(version: str, cuda: bool) -> Pkg:
    # Two builds of one version: the CUDA one (higher build number) needs a CUDA 12.8 driver, so a
    # solver that honours virtual packages picks it only where __cuda >= 12.8 is declared.
    variant = "cuda128" if cuda else "cpu"
    depends = ("tzdata", *(("__cuda >=12.8",) if cuda else ()))
    return Pkg("ffmpeg", version, f"{variant}_h0_{1 if cuda else 0}", depends=depends, build_number=1 if cuda else 0,
               files=(("bin/ffmpeg", _script(f'echo "ffmpeg version {version} ({variant}) Copyright (c) envkit test stand-in"'), True),))


SPEC: tuple[Pkg, ...] = (
    _python("3.10.14"),
    _python("3.11.9"),
    _python("3.13.9"),  # the 5090 profile resolves the newest Python torch 2.8 supports
    Pkg("python_abi", "3.10", "8_cp310"),
    Pkg("python_abi", "3.11", "8_cp311"),
    Pkg("python_abi", "3.13", "8_cp313"),
    *(_ffmpeg(v, cuda) for v in ("5.1.2", "6.1.2", "7.0.1") for cuda in (False, True)),
    Pkg("tzdata", "2025b", "h0_0", noarch=True, files=(("share/zoneinfo/README", "stand-in\n", False),)),
)


def _spec_digest() -> str:
    import rattler_build

    blob = json.dumps([asdict(p) for p in SPEC], sort_keys=True) + "indexed-pinned" + str(TIMESTAMP) + rattler_build.rattler_build_version()
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _assemble(pkg: Pkg, platform: str, out: Path, staging: Path) -> None:
    from rattler_build import assemble_package

    files_dir = staging / f"{pkg.name}-{pkg.version}-{pkg.build}-{platform}"
    files_dir.mkdir(parents=True)
    for rel, text, executable in pkg.files:
        path = files_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755 if executable else 0o644)
    (out / platform).mkdir(parents=True, exist_ok=True)
    assemble_package(
        name=pkg.name, version=pkg.version, target_platform=platform, build_string=pkg.build,
        output_dir=out / platform, files_dir=files_dir, depends=list(pkg.depends), build_number=pkg.build_number,
        noarch="generic" if pkg.noarch else None, timestamp=TIMESTAMP, license="MIT", summary="envkit test stand-in",
        compression_threads=1, detect_prefix=False,
    )


def _pin_indexed_timestamps(chan: Path) -> None:
    """index_fs stamps each record with the indexing time, which solvers read as the upload time
    (exclude_newer filters on it): pin it to TIMESTAMP so the stand-ins pass the profiles' cut-off
    and the repodata is byte-identical on every rebuild."""
    millis = int(TIMESTAMP.timestamp() * 1000)
    for repodata in chan.glob("*/repodata.json"):
        data = json.loads(repodata.read_text())
        for key in ("packages", "packages.conda"):
            for record in data.get(key, {}).values():
                if "indexed_timestamp" in record:
                    record["indexed_timestamp"] = millis
        repodata.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def build_local_channel(root: Path | None = None) -> str:
    """Build (or reuse) the channel under `root`; return its file:// URL."""
    import rattler.index

    root = (root or DEFAULT_ROOT).resolve()
    stamp = root / ".envkit-channel"
    digest = _spec_digest()
    if stamp.is_file() and stamp.read_text() == digest:
        return root.as_uri()
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".conda-channel-", dir=root.parent))
    try:
        chan = tmp / "channel"
        for pkg in SPEC:
            for platform in ("noarch",) if pkg.noarch else ARCH_PLATFORMS:
                _assemble(pkg, platform, chan, tmp / "staging")
        (chan / "noarch").mkdir(exist_ok=True)  # a channel always has noarch/, even if empty
        asyncio.run(rattler.index.index_fs(chan, write_zst=False, write_shards=False, force=True))
        _pin_indexed_timestamps(chan)
        (chan / ".envkit-channel").write_text(digest)
        # Replace atomically enough for concurrent test sessions: move the old one aside first.
        if root.exists():
            old = Path(tempfile.mkdtemp(prefix=".old-channel-", dir=root.parent))
            os.replace(root, old / "c")
            shutil.rmtree(old, ignore_errors=True)
        os.replace(chan, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root.as_uri()


@pytest.fixture(scope="session")
def local_channel() -> str:
    """file:// URL of the cached local channel (linux-64, linux-aarch64, noarch)."""
    return build_local_channel()
