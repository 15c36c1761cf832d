"""The conda layer: Python, FFmpeg and their dependencies, solved with py-rattler.

Why py-rattler: conda-lock needs a conda/mamba/micromamba executable, none of which installs from
PyPI; py-rattler is the solver pixi uses and ships as a wheel. The profile's virtual packages are
passed explicitly (conda-lock would default to __cuda 11.4).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from envkit.errors import EnvkitError
from envkit.lock.pypi import Unreachable


@dataclass(frozen=True)
class CondaRecord:
    """One solved package, as conda-lock.yml stores it (plain data: no rattler objects)."""

    name: str
    version: str
    build: str
    build_number: int
    subdir: str
    url: str
    md5: str
    sha256: str
    depends: tuple[str, ...]
    noarch: str | None


@dataclass(frozen=True)
class CondaLock:
    platform: str
    channels: tuple[str, ...]
    records: list[CondaRecord]
    seconds: float


def virtual_packages(declared: dict[str, str]) -> list[Any]:
    """{'__cuda': '12.8', '__archspec': '1 x86_64'} -> rattler GenericVirtualPackages ('VERSION [BUILD]')."""
    from rattler import BuildString, GenericVirtualPackage, PackageName, Version

    out = []
    items = {"__unix": "0", **declared}  # every linux target is unix; profiles need not say it
    for name, value in sorted(items.items()):
        version, _, build = str(value).partition(" ")
        out.append(GenericVirtualPackage(PackageName(name), Version(version), BuildString(build or "0")))
    return out


def _exclude_newer(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


def solve(profile: str, platform: str, specs: list[str], channels: list[str], virtual: dict[str, str], exclude_newer: str) -> CondaLock:
    """Solve `specs` for one platform; EnvkitError explains an unsolvable request in one paragraph."""
    import rattler
    from rattler import Channel
    from rattler.exceptions import GatewayError, SolverError


    started = time.monotonic()
    try:
        records = asyncio.run(rattler.solve(
            sources=[Channel(c) for c in channels], specs=specs, platforms=[platform, "noarch"],
            virtual_packages=virtual_packages(virtual), exclude_newer=_exclude_newer(exclude_newer),
        ))
    except SolverError as exc:
        explanation = " ".join(line.strip(" └─├│") for line in str(exc).splitlines() if line.strip())
        vp = ", ".join(f"{k} {v}" for k, v in sorted(virtual.items())) or "none"
        raise EnvkitError(
            f"The conda layer of profile '{profile}' cannot be solved for {platform} ({', '.join(specs)} from "
            f"{', '.join(channels)}; virtual packages {vp}; packages newer than {exclude_newer} excluded): {explanation}",
            fix="change the profile's ffmpeg.majors / python or its [conda] virtual_packages, pass another --channel, "
                "or move --exclude-newer",
        ) from None
    except GatewayError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise Unreachable(
            f"Cannot lock the conda layer of profile '{profile}' for {platform}: channel {', '.join(channels)} is "
            f"unreachable from this machine ({first})",
            fix="lock on a connected machine or CI (make lock), pass a reachable mirror with --channel URL, "
                "or lock only the PyPI layer here (make lock-pypi / envkit lock --layer pypi)",
        ) from None
    return CondaLock(platform, tuple(channels), [_record(r) for r in records], time.monotonic() - started)


def _record(r: Any) -> CondaRecord:
    noarch = r.noarch
    noarch_text = None
    if noarch is not None and (getattr(noarch, "python", False) or getattr(noarch, "generic", False)):
        noarch_text = "python" if noarch.python else "generic"
    return CondaRecord(
        name=r.name.normalized, version=str(r.version), build=str(r.build), build_number=int(r.build_number),
        subdir=str(r.subdir), url=str(r.url), md5=(r.md5 or b"").hex(), sha256=(r.sha256 or b"").hex(),
        depends=tuple(r.depends), noarch=noarch_text,
    )


def to_rattler(record: CondaRecord) -> Any:
    """A RepoDataRecord for `rattler.install` from what conda-lock.yml holds."""
    from rattler import BuildString, PackageRecord, RepoDataRecord

    file_name = record.url.rsplit("/", 1)[-1]
    channel = record.url.rsplit("/", 2)[0] + "/"
    package = PackageRecord(
        name=record.name, version=record.version, build=BuildString(record.build), build_number=record.build_number,
        subdir=record.subdir, noarch=record.noarch, depends=list(record.depends),
        md5=bytes.fromhex(record.md5) if record.md5 else None, sha256=bytes.fromhex(record.sha256) if record.sha256 else None,
    )
    return RepoDataRecord(package, file_name, record.url, channel)
