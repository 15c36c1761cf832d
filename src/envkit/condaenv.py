"""A conda prefix without any conda installation: py-rattler solves and installs records.

Run as a child process (`python -m envkit.condaenv ...`), never imported by the setup process
itself: py-rattler's tokio runtime can abort the interpreter at exit (PyGILState_Release,
research lock-feasibility.md), so the child leaves with os._exit once the prefix is written,
and the plan can show the exact command.

    python -m envkit.condaenv install --prefix P --channel conda-forge --platform linux-64 \
        --spec "python 3.11.*" --spec "ffmpeg 6.*"
    python -m envkit.condaenv install-lock --prefix P --lock lockfiles/5090 --platform linux-64 [--packages DIR]

Both are idempotent: the records already in P/conda-meta are passed as installed, so a re-run
links only what is missing or different (and finishes a killed install).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from envkit.errors import EnvkitError
from envkit.lock import read_lock

DEFAULT_CHANNEL = "conda-forge"


def installed_records(prefix: Path) -> list[Any]:
    """PrefixRecords in prefix/conda-meta (a record is written after its files, so it means installed)."""
    from rattler import PrefixRecord

    meta = Path(prefix) / "conda-meta"
    records = []
    for path in sorted(meta.glob("*.json")) if meta.is_dir() else []:
        try:
            records.append(PrefixRecord.from_path(str(path)))
        except Exception:  # a torn record (killed mid-write): reinstall that package
            path.unlink(missing_ok=True)
    return records


def _virtual_packages(overrides: dict[str, str]) -> list[Any]:
    """This machine's virtual packages; explicit ones (NAME=VERSION) replace the detected ones."""
    from rattler import BuildString, GenericVirtualPackage, PackageName, Version, VirtualPackage

    detected = [v.into_generic() for v in VirtualPackage.detect()]
    out = [v for v in detected if v.name.normalized not in overrides]
    for name, version in overrides.items():
        out.append(GenericVirtualPackage(PackageName(name), Version(version), BuildString("0")))
    return out


async def _solve_install(prefix: Path, channels: Sequence[str], specs: Sequence[str], platform: str,
                         virtual: dict[str, str]) -> list[str]:
    import rattler
    from rattler import Channel, Platform

    plat = Platform(platform)
    records = await rattler.solve(
        sources=[Channel(c) for c in channels],
        specs=list(specs),
        platforms=[plat, Platform("noarch")],
        virtual_packages=_virtual_packages(virtual),
    )
    await rattler.install(records, target_prefix=str(prefix), installed_packages=installed_records(prefix),
                          platform=plat, show_progress=False)
    return sorted(f"{r.name.normalized}={r.version}={r.build}" for r in records)


async def _install_lock(prefix: Path, lock: Path, platform: str, packages: Path | None = None) -> list[str]:
    import rattler
    from rattler import Platform


    plat = Platform(platform)
    records = read_lock(lock).conda_records(platform, packages)
    if not records:
        raise SystemExit(f"envkit.condaenv: {lock} has no conda packages for {platform}")
    await rattler.install(records, target_prefix=str(prefix), installed_packages=installed_records(prefix),
                          platform=plat, show_progress=False)
    return sorted(f"{r.name.normalized}={r.version}={r.build}" for r in records)


def has_conda_meta(prefix: Path, names: Sequence[str]) -> bool:
    """Cheap check (no rattler import): every package name has a record in conda-meta."""
    meta = Path(prefix) / "conda-meta"
    if not meta.is_dir():
        return False
    present = {p.name.rsplit("-", 2)[0] for p in meta.glob("*.json")}
    return all(name in present for name in names)


def command(prefix: Path, channels: Sequence[str], specs: Sequence[str], platform: str,
            virtual: dict[str, str] | None = None, python: str | None = None) -> list[str]:
    """The argv that creates or updates the prefix (what the plan shows and the setup engine runs)."""
    argv = [python or sys.executable, "-m", "envkit.condaenv", "install", "--prefix", str(prefix), "--platform", platform]
    for channel in channels:
        argv += ["--channel", channel]
    for name, version in sorted((virtual or {}).items()):
        argv += ["--virtual", f"{name}={version}"]
    for spec in specs:
        argv += ["--spec", spec]
    return argv


def lock_command(prefix: Path, lockdir: Path, platform: str, python: str | None = None,
                 packages: Path | None = None) -> list[str]:
    """The argv installing the locked conda set; with `packages`, from those files only (offline)."""
    return [python or sys.executable, "-m", "envkit.condaenv", "install-lock", "--prefix", str(prefix),
            "--lock", str(lockdir), "--platform", platform, *(("--packages", str(packages)) if packages else ())]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m envkit.condaenv")
    sub = parser.add_subparsers(dest="cmd", required=True)
    inst = sub.add_parser("install", help="solve specs against channels and install them into a prefix")
    inst.add_argument("--prefix", required=True, type=Path)
    inst.add_argument("--channel", action="append", default=[])
    inst.add_argument("--platform", required=True)
    inst.add_argument("--virtual", action="append", default=[], help="NAME=VERSION, e.g. __glibc=2.28")
    inst.add_argument("--spec", action="append", default=[], required=True)
    lock = sub.add_parser("install-lock", help="install the conda packages lockfiles/<profile>/ lists")
    lock.add_argument("--prefix", required=True, type=Path)
    lock.add_argument("--lock", required=True, type=Path, help="the lockfiles/<profile>/ directory")
    lock.add_argument("--platform", required=True)
    lock.add_argument("--packages", type=Path, help="a folder holding the locked package files (an unpacked bundle): no channel is read")
    args = parser.parse_args(argv)
    args.prefix.mkdir(parents=True, exist_ok=True)
    try:
        if args.cmd == "install":
            virtual = dict(v.split("=", 1) for v in args.virtual)
            done = asyncio.run(_solve_install(args.prefix, args.channel or [DEFAULT_CHANNEL], args.spec, args.platform, virtual))
        else:
            done = asyncio.run(_install_lock(args.prefix, args.lock, args.platform, args.packages))
    except SystemExit:
        raise
    except EnvkitError as exc:  # e.g. a package file the bundle lacks: the paragraph with its fix
        print(f"envkit.condaenv: {exc.paragraph()}", file=sys.stderr, flush=True)
        return 2
    except Exception as exc:  # rattler's errors: unsolvable specs, unreachable channel
        print(f"envkit.condaenv: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    print(json.dumps({"prefix": str(args.prefix), "installed": done}), flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown: rattler's runtime may abort during it
