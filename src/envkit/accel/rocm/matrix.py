"""The ROCm section of envkit's compatibility matrix: torch's ROCm builds (builds.toml beside this module).

Pure data queries; the file is read once. Which index a build comes from is a name the profile maps
to a URL, so no host name lives here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from envkit.errors import EnvkitError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BUILDS = Path(__file__).with_name("builds.toml")


@dataclass(frozen=True)
class RocmBuild:
    rocm: str  # "6.4"
    index: str  # the package index's name, e.g. "pytorch-rocm6.4"
    torch: tuple[str, ...]
    archs: tuple[str, ...]  # gfx targets the wheels carry code objects for
    checked: tuple[str, ...] = ()
    verified: bool = True
    hip: dict[str, str] = field(default_factory=dict)  # torch version -> torch.version.hip, where read

    @property
    def local(self) -> str:
        """The wheels' local version label: torch==2.8.0+rocm6.4."""
        return f"rocm{self.rocm}"

    def covers(self, gfx: str) -> bool:
        return gfx in self.archs


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    try:
        return tomllib.loads(BUILDS.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EnvkitError(f"{BUILDS}: envkit's ROCm build table does not load ({exc})",
                          fix="reinstall envkit; the file ships inside the envkit package") from None


def raw_row(rocm: str) -> dict[str, Any] | None:
    """The table's row for a ROCm build as written (what a lock manifest's row digest covers)."""
    return next((dict(row) for row in _data()["builds"] if str(row["rocm"]) == rocm), None)


@lru_cache(maxsize=1)
def builds() -> tuple[RocmBuild, ...]:
    data = _data()
    return tuple(
        RocmBuild(rocm=str(row["rocm"]), index=str(row["index"]), torch=tuple(row["torch"]), archs=tuple(row["archs"]),
                  checked=tuple(row.get("checked", ())), verified=bool(row.get("verified", data.get("verified", True))),
                  hip=dict(row.get("hip", {})))
        for row in data["builds"]
    )


def build(torch: str, rocm: str) -> RocmBuild | None:
    """The ROCm `rocm` build of torch `torch` (public version, no local label), if PyTorch publishes one."""
    public = torch.split("+", 1)[0]
    return next((b for b in builds() if b.rocm == rocm and public in b.torch), None)


def builds_of(torch: str) -> list[RocmBuild]:
    """Every ROCm build of a torch release, oldest ROCm first."""
    public = torch.split("+", 1)[0]
    return sorted((b for b in builds() if public in b.torch), key=lambda b: tuple(int(p) for p in b.rocm.split(".")))


def from_local(local: str | None) -> str | None:
    """'rocm6.4' (a wheel's local label) -> '6.4'; anything else -> None."""
    return local[4:] if local and local.startswith("rocm") and local[4:4 + 1].isdigit() else None
