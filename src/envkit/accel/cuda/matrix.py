"""The CUDA backend's part of compat.toml: the [cuda] driver table and the [builds] of torch's CUDA
wheels (arch lists, PTX), parsed here; envkit.compat keeps the generic matrix."""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from packaging.version import Version

from envkit.compat import Matrix, matrix, normalize_arch, parse_version, row_meta, section
from envkit.errors import EnvkitError

SECTION = "cuda"  # the driver table
BUILDS = "builds"  # torch's CUDA wheels


@dataclass(frozen=True)
class CudaBuild:
    name: str  # "cu128", "cpu"
    cuda: str | None  # "12.8"; None for CPU builds
    index: str  # "pypi" or an [indexes] name such as "pytorch-cu128"
    archs: list[str]  # ["sm_70", ..., "sm_120"]
    ptx: list[str]  # ["compute_120"] when the build embeds PTX
    verified: bool
    source: str


@dataclass(frozen=True)
class DriverFloor:
    toolkit_min: str  # the toolkit's own GA minimum driver
    compat_floor: str  # minor-version-compatibility floor of the major (limited features)
    source: str
    lerobot_floor: str | None = None  # lerobot docs' stated floor for this build
    verified: bool = False


@dataclass(frozen=True)
class _BuildEntry:
    build: CudaBuild
    arch: str
    torch: tuple[Version, ...]
    checked: tuple[Version, ...] | None = field(default=None)


def cuda_key(cuda: str) -> str:
    """"cu128" / "12.8" / "12.8.1" -> "12.8"."""
    text = cuda.strip().lower()
    m = re.fullmatch(r"cu(\d+)(\d)", text)
    if m:
        return f"{int(m[1])}.{m[2]}"
    m = re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+)*", text)
    if m:
        return f"{int(m[1])}.{int(m[2])}"
    raise EnvkitError(f"unknown CUDA version {cuda!r}", "write it like 12.8 or cu128")


def _load_builds(section: dict[str, Any]) -> list[_BuildEntry]:
    entries = []
    for r in section["rows"]:
        verified, source = row_meta(section, r)
        build = CudaBuild(
            name=r["name"],
            cuda=r.get("cuda"),
            index=r["index"],
            archs=list(r["archs"]),
            ptx=list(r.get("ptx", [])),
            verified=verified,
            source=source,
        )
        checked = tuple(Version(v) for v in r["checked"]) if "checked" in r else None
        entries.append(
            _BuildEntry(build, r["arch"], tuple(Version(v) for v in r["torch"]), checked)
        )
    return entries


class CudaTable:
    """The [cuda] and [builds] sections of a matrix, with the queries the CUDA backend asks."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.raw = data
        cuda = section(data, SECTION)
        self._cuda_floor = {str(k): str(v) for k, v in cuda["compat_floor"].items()}
        self._cuda: dict[str, dict[str, Any]] = {}
        for r in cuda["rows"]:
            verified, source = row_meta(cuda, r)
            self._cuda[cuda_key(r["cuda"])] = {**r, "verified": verified, "source": source}
        self._builds = _load_builds(section(data, BUILDS))

    def torch_builds(self, torch: str, arch: str = "x86_64") -> dict[str, CudaBuild]:
        """Known builds of `torch` for `arch`, keyed by build name; PyPI preferred."""
        tv = parse_version(torch, "torch")
        arch = normalize_arch(arch)
        out: dict[str, CudaBuild] = {}
        for e in self._builds:
            if e.arch != arch or tv not in e.torch:
                continue
            b = e.build
            if e.checked is not None and tv not in e.checked and b.verified:
                # The row's wheel was read for other versions only: this one is inferred.
                b = dataclasses.replace(
                    b, verified=False, source=b.source + " [inferred for this version]"
                )
            if b.name not in out or (b.index == "pypi" and out[b.name].index != "pypi"):
                out[b.name] = b
        return dict(sorted(out.items()))

    def min_driver(self, cuda: str) -> DriverFloor:
        key = cuda_key(cuda)
        major = key.split(".")[0]
        if major not in self._cuda_floor:
            raise EnvkitError(
                f"CUDA {cuda} is not in envkit's driver table "
                f"(known majors: {', '.join(sorted(self._cuda_floor))})"
            )
        floor = self._cuda_floor[major]
        row = self._cuda.get(key)
        if row is None:
            # Unknown minor of a known major: only the major's compat floor is certain.
            note = f"CUDA {key} is not in the table; only the {major}.x compat floor is known"
            return DriverFloor(floor, floor, note, None, False)
        return DriverFloor(
            toolkit_min=row["toolkit_min"],
            compat_floor=floor,
            source=row["source"],
            lerobot_floor=row.get("lerobot_floor"),
            verified=row["verified"],
        )

    def raw_row(self, key: str) -> Any:
        k = cuda_key(key)
        row = next((r for r in self.raw[SECTION]["rows"] if cuda_key(r["cuda"]) == k), None)
        return {"row": row, "compat_floor": self.raw[SECTION]["compat_floor"]}


@functools.cache
def _table(m: Matrix) -> CudaTable:
    return CudaTable(m.raw)


def cuda_table(m: Matrix | None = None) -> CudaTable:
    """The packaged matrix's CUDA table (or `m`'s), parsed once."""
    return _table(m if m is not None else matrix())
