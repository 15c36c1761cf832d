"""The Ascend backend's part of compat.toml: CANN versions and the [torch_npu] table, parsed here;
envkit.compat keeps the generic matrix."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from envkit.compat import Matrix, matrix, normalize_arch, parse_version, row_meta, section, spec
from envkit.errors import EnvkitError

SECTION = "torch_npu"


_CANN_RE = re.compile(
    r"^(?P<major>\d+)\.(?P<minor>\d+)\."
    r"(?:(?P<rc>rc)(?P<rcn>\d+)|(?P<patch>\d+))"
    r"(?:\.(?P<pre>alpha|beta)(?P<pren>\d+))?$",
    re.IGNORECASE,
)
# Pre-release stages sort before the final build of the same X.Y.(RCn|Z).
_STAGES = {"alpha": 0, "beta": 1, None: 2}


@functools.total_ordering
class CannVersion:
    """A CANN release name: `8.0.RC2.alpha003`, `8.3.RC1`, `9.1.0` (also `8.3.rc1`).

    Order within X.Y: RCn.alphaM < RCn < RC(n+1) < X.Y.0 (GA) < X.Y.1.
    """

    __slots__ = ("major", "minor", "rc", "patch", "pre", "pre_number", "_pre_text")

    def __init__(self, text: str | CannVersion) -> None:
        if isinstance(text, CannVersion):
            text = str(text)
        if not isinstance(text, str):
            raise ValueError(f"CANN version must be a string, got {type(text).__name__}")
        cleaned = text.strip()
        if cleaned.upper().startswith("CANN "):
            cleaned = cleaned[5:].strip()
        m = _CANN_RE.match(cleaned)
        if m is None:
            raise ValueError(
                f"invalid CANN version {text!r}: expected X.Y.Z, X.Y.RCn or X.Y.RCn.alphaNNN "
                "(e.g. 9.1.0, 8.3.RC1, 8.0.RC2.alpha003)"
            )
        self.major = int(m["major"])
        self.minor = int(m["minor"])
        self.rc: int | None = int(m["rcn"]) if m["rc"] else None
        self.patch: int | None = int(m["patch"]) if m["patch"] is not None else None
        self.pre: str | None = m["pre"].lower() if m["pre"] else None
        self.pre_number: int | None = int(m["pren"]) if m["pren"] else None
        # Keep the digits as written so str() round-trips "alpha003".
        self._pre_text = m["pren"]

    @property
    def is_rc(self) -> bool:
        return self.rc is not None

    def _key(self) -> tuple[int, int, int, int, int, int]:
        # RCs (stage 0) precede the GA line (stage 1) of the same X.Y.
        stage, number = (0, self.rc) if self.rc is not None else (1, self.patch or 0)
        return (self.major, self.minor, stage, number, _STAGES[self.pre], self.pre_number or 0)

    @staticmethod
    def _coerce(other: object) -> CannVersion | None:
        if isinstance(other, CannVersion):
            return other
        if isinstance(other, str):
            try:
                return CannVersion(other)
            except ValueError:
                return None
        return None

    def __eq__(self, other: object) -> bool:
        o = self._coerce(other)
        return NotImplemented if o is None else self._key() == o._key()

    def __lt__(self, other: object) -> bool:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        return self._key() < o._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        middle = f"RC{self.rc}" if self.rc is not None else str(self.patch)
        tail = f".{self.pre}{self._pre_text}" if self.pre else ""
        return f"{self.major}.{self.minor}.{middle}{tail}"

    def __repr__(self) -> str:
        return f"CannVersion({str(self)!r})"


@dataclass(frozen=True)
class NpuRow:
    torch_npu: str
    torch: str
    cann: CannVersion
    python: SpecifierSet
    x86_64_requires_cpu_local: bool  # x86_64 wheel pins torch==X+cpu (pytorch-cpu index)
    branch: str | None = None
    eol: bool = False
    verified: bool = True
    source: str = ""


def _cann(value: CannVersion | str) -> CannVersion:
    try:
        return CannVersion(value)
    except ValueError as exc:
        fix = "pass the CANN release as printed by npu-smi, e.g. 8.3.RC1"
        raise EnvkitError(str(exc), fix) from None


class NpuTable:
    """The [torch_npu] section of a matrix, with the queries the Ascend backend asks."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.raw = data
        table = section(data, SECTION)
        self._npu: dict[Version, NpuRow] = {}
        for r in table["rows"]:
            verified, source = row_meta(table, r)
            self._npu[Version(r["torch_npu"])] = NpuRow(
                torch_npu=r["torch_npu"],
                torch=r["torch"],
                cann=CannVersion(r["cann"]),
                python=spec(r["python"], f"[[torch_npu.rows]] {r['torch_npu']}"),
                x86_64_requires_cpu_local=bool(r["x86_64_requires_cpu_local"]),
                branch=r.get("branch"),
                eol=bool(r.get("eol", False)),
                verified=verified,
                source=source,
            )

    def row(self, torch_npu: str) -> NpuRow:
        return Matrix.lookup(self._npu, torch_npu, "torch_npu")

    def rows(self) -> list[NpuRow]:
        return [self._npu[v] for v in sorted(self._npu)]

    def torch_npu_for(self, torch: str, cann: CannVersion | str) -> str | None:
        """The torch_npu release for `torch` built for the newest CANN <= the host's."""
        tv = parse_version(torch, "torch")
        host = _cann(cann)
        fits = [r for r in self._npu.values() if Version(r.torch) == tv and r.cann <= host]
        if not fits:
            return None
        best = max(fits, key=lambda r: (r.cann, Version(r.torch_npu)))
        return best.torch_npu

    def torch_requirement(self, torch_npu: str, arch: str) -> str:
        """The torch requirement that torch_npu's wheel declares on `arch`."""
        row = self.row(torch_npu)
        if normalize_arch(arch) == "x86_64" and row.x86_64_requires_cpu_local:
            return f"torch=={row.torch}+cpu"
        return f"torch=={row.torch}"

    def raw_row(self, key: str) -> Any:
        v = Version(self.row(key).torch_npu)
        return next(r for r in self.raw[SECTION]["rows"] if Version(r["torch_npu"]) == v)


@functools.cache
def _table(m: Matrix) -> NpuTable:
    return NpuTable(m.raw)


def npu_table(m: Matrix | None = None) -> NpuTable:
    """The packaged matrix's torch_npu table (or `m`'s), parsed once."""
    return _table(m if m is not None else matrix())
