"""The compatibility matrix (compat.toml beside this module) and the queries on it.

Every version fact envkit relies on lives in compat.toml with its source; this module only
parses it into frozen rows and answers questions. CANN versions are not PEP 440, so they get
their own `CannVersion`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sys
import zlib
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from envkit.accel.registry import all_backends
from envkit.cachedir import cache_root, read_own, write_quietly
from envkit.errors import EnvkitError
from envkit.resources import package_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10
    import tomli as tomllib

__all__ = [
    "LerobotRow",
    "Matrix",
    "TorchRow",
    "TorchcodecRow",
    "matrix",
    "normalize_arch",
    "parse_version",
    "row_meta",
    "section",
    "spec",
]

DATA_FILE = "compat.toml"

# ---------------------------------------------------------------------------------------
# Rows


@dataclass(frozen=True)
class TorchRow:
    version: str
    torchvision: str
    python: SpecifierSet  # CPython tags of torch's Linux wheels
    requires_python: SpecifierSet
    pypi: dict[str, str]  # arch -> build name of the plain-PyPI wheel
    verified: bool
    source: str
    note: str | None = None


@dataclass(frozen=True)
class TorchcodecRow:
    version: str
    torch: SpecifierSet | None  # README pairing; None when the README names none
    python: SpecifierSet
    ffmpeg: list[int]  # FFmpeg majors the Linux wheel can load
    pypi_build: str  # "cpu" or "cu130": CUDA linkage of the PyPI Linux x86_64 wheel
    aarch64: bool  # a PyPI Linux aarch64 wheel exists
    ffmpeg_checked_at: str  # "import" or "decode": when a missing FFmpeg shows up
    verified: bool
    source: str
    note: str | None = None

    @property
    def ffmpeg_majors(self) -> list[int]:
        return self.ffmpeg


@dataclass(frozen=True)
class LerobotRow:
    version: str
    requires_python: SpecifierSet
    requires: list[str]  # PEP 508: torch / torchvision / torchcodec / av, markers verbatim
    codebase_version: str | None
    train_entry: str
    converter_v21_v30: str | None  # full command; append --repo-id=...
    device_module: str | None
    verified: bool
    source: str
    train_module: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class _Measured:
    torch: Version
    torchcodec: tuple[Version, ...]
    works: bool
    error: str | None
    verified: bool
    source: str


# ---------------------------------------------------------------------------------------
# Small parsers


def parse_version(text: str, what: str) -> Version:
    try:
        v = Version(str(text))
    except InvalidVersion:
        raise EnvkitError(
            f"{what} {text!r} is not a valid version", "write it like 2.8.0 (PEP 440)"
        ) from None
    # Local labels ("+cu128") name a build, not a release: match on the public version.
    return Version(v.public)


def spec(text: str, where: str) -> SpecifierSet:
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise EnvkitError(f"compat.toml: bad specifier {text!r} in {where}") from None


_ARCH_ALIASES = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "linux-64": "x86_64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
    "linux-aarch64": "aarch64",
}


def normalize_arch(arch: str) -> str:
    """`uname -m` or conda subdir -> "x86_64" | "aarch64"."""
    key = arch.strip().lower()
    if key not in _ARCH_ALIASES:
        raise EnvkitError(
            f"unknown CPU architecture {arch!r}", "use x86_64 or aarch64 (or linux-64 / linux-aarch64)"
        )
    return _ARCH_ALIASES[key]


def section(data: dict[str, Any], name: str) -> dict[str, Any]:
    if name not in data:
        raise EnvkitError(f"compat.toml has no [{name}] section")
    return data[name]


def row_meta(section: dict[str, Any], row: dict[str, Any]) -> tuple[bool, str]:
    """A row's effective (verified, source): its own, else its section's."""
    return bool(row.get("verified", section.get("verified", True))), str(
        row.get("source", section.get("source", ""))
    )


def _canonical(obj: Any) -> Any:
    """JSON-ready form of raw TOML data (sorted keys happen in dumps)."""
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    return obj


# ---------------------------------------------------------------------------------------
# The matrix


class Matrix:
    """Parsed compat.toml with the queries the resolver, doctor and lock use."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.raw = data
        meta = ("source", "verified")
        self._indexes = {k: v for k, v in section(data, "indexes").items() if k not in meta}
        self._torch = self._load_torch(section(data, "torch"))
        self._tc = self._load_torchcodec(section(data, "torchcodec"))
        self._measured = self._load_measured(section(data, "torchcodec_measured"))
        self._ffmpeg = {int(k): dict(v) for k, v in section(data, "ffmpeg")["majors"].items()}
        self._lerobot = self._load_lerobot(section(data, "lerobot"))

    # -- loading -----------------------------------------------------------------------

    @staticmethod
    def _load_torch(section: dict[str, Any]) -> dict[Version, TorchRow]:
        rows = {}
        for r in section["rows"]:
            verified, source = row_meta(section, r)
            where = f"[[torch.rows]] {r['version']}"
            rows[Version(r["version"])] = TorchRow(
                version=r["version"],
                torchvision=r["torchvision"],
                python=spec(r["python"], where),
                requires_python=spec(r["requires_python"], where),
                pypi=dict(r["pypi"]),
                verified=verified,
                source=source,
                note=r.get("note"),
            )
        return rows

    @staticmethod
    def _load_torchcodec(section: dict[str, Any]) -> dict[Version, TorchcodecRow]:
        rows = {}
        for r in section["rows"]:
            verified, source = row_meta(section, r)
            where = f"[[torchcodec.rows]] {r['version']}"
            rows[Version(r["version"])] = TorchcodecRow(
                version=r["version"],
                torch=spec(r["torch"], where) if r.get("torch") else None,
                python=spec(r["python"], where),
                ffmpeg=[int(x) for x in r["ffmpeg"]],
                pypi_build=r["pypi_build"],
                aarch64=bool(r["aarch64"]),
                ffmpeg_checked_at=r["ffmpeg_checked_at"],
                verified=verified,
                source=source,
                note=r.get("note"),
            )
        return rows

    @staticmethod
    def _load_measured(section: dict[str, Any]) -> list[_Measured]:
        out = []
        for r in section["rows"]:
            verified, source = row_meta(section, r)
            out.append(
                _Measured(
                    torch=Version(r["torch"]),
                    torchcodec=tuple(Version(v) for v in r["torchcodec"]),
                    works=bool(r["works"]),
                    error=r.get("error"),
                    verified=verified,
                    source=source,
                )
            )
        return out

    @staticmethod
    def _load_lerobot(section: dict[str, Any]) -> dict[Version, LerobotRow]:
        rows = {}
        for r in section["rows"]:
            verified, source = row_meta(section, r)
            rows[Version(r["version"])] = LerobotRow(
                version=r["version"],
                requires_python=spec(r["requires_python"], f"[[lerobot.rows]] {r['version']}"),
                requires=list(r["requires"]),
                codebase_version=r.get("codebase_version"),
                train_entry=r["train_entry"],
                converter_v21_v30=r.get("converter_v21_v30"),
                device_module=r.get("device_module"),
                verified=verified,
                source=source,
                train_module=r.get("train_module"),
                note=r.get("note"),
            )
        return rows

    # -- helpers -----------------------------------------------------------------------

    @staticmethod
    def lookup(table: dict[Version, Any], version: str, what: str) -> Any:
        v = parse_version(version, what)
        if v not in table:
            known = ", ".join(str(row_v) for row_v in sorted(table))
            raise EnvkitError(
                f"{what} {version} is not in envkit's compatibility matrix (known: {known})",
                f"pick a known {what} version, or add a row with its source to src/envkit/compat.toml",
            )
        return table[v]

    # -- torch / torchvision -----------------------------------------------------------

    def torch_versions(self) -> list[str]:
        return [self._torch[v].version for v in sorted(self._torch)]

    def torch(self, version: str) -> TorchRow:
        return self.lookup(self._torch, version, "torch")

    def torchvision_for(self, torch: str) -> str | None:
        row = self._torch.get(parse_version(torch, "torch"))
        return row.torchvision if row else None

    def torch_python_ok(self, torch: str, python: str) -> bool:
        return parse_version(python, "Python") in self.torch(torch).python

    # -- torchcodec --------------------------------------------------------------------

    def torchcodec_versions(self) -> list[str]:
        return [self._tc[v].version for v in sorted(self._tc)]

    def torchcodec(self, version: str) -> TorchcodecRow:
        return self.lookup(self._tc, version, "torchcodec")

    def _measurement(self, torch: Version, tc: Version) -> _Measured | None:
        for m in self._measured:
            if m.torch == torch and tc in m.torchcodec:
                return m
        return None

    def torchcodec_for(
        self, torch: str, arch: str = "x86_64", *, build: str | None = None
    ) -> list[str]:
        """torchcodec releases that load with `torch` on `arch`, ascending.

        README pairings plus measured-working pairs, minus measured failures. With `build`
        (e.g. "cu128"), PyPI torchcodec wheels linked against another CUDA major are dropped.
        """
        arch = normalize_arch(arch)
        out = []
        for _, row in sorted(self._tc.items()):
            if arch == "aarch64" and not row.aarch64:
                continue
            if not self.torchcodec_pairing(torch, row.version)[0]:
                continue
            if build is not None and not _same_cuda_major(row.pypi_build, build):
                continue
            out.append(row.version)
        return out

    def torchcodec_pairing(self, torch: str, torchcodec: str) -> tuple[bool, str]:
        """(ok, reason) for torch x torchcodec; measurements beat the README table."""
        tv = parse_version(torch, "torch")
        row = self.torchcodec(torchcodec)
        tc = Version(row.version)
        measured = self._measurement(tv, tc)
        if measured is not None:
            if measured.works:
                return True, (
                    f"torchcodec {row.version} decodes with torch {tv} (measured; {measured.source})"
                )
            return False, (
                f"torchcodec {row.version} does not load with torch {tv}: {measured.error} "
                f"(measured; {measured.source}). torchcodec declares no torch dependency, so pip/uv "
                "do not catch this."
            )
        if row.torch is None:
            return False, f"torchcodec {row.version} has no known torch pairing"
        if tv in row.torch:
            return True, f"torchcodec {row.version} pairs with torch {row.torch} (torchcodec README)"
        return False, (
            f"torchcodec {row.version} is built for torch {row.torch}, not {tv} (torchcodec README); "
            "a mismatched pair fails to load with an 'undefined symbol' error, and pip/uv do not "
            "catch it because torchcodec declares no torch dependency"
        )

    # -- FFmpeg ------------------------------------------------------------------------

    def ffmpeg_sonames(self, major: int) -> dict[str, int]:
        if int(major) not in self._ffmpeg:
            known = ", ".join(str(k) for k in sorted(self._ffmpeg))
            raise EnvkitError(f"FFmpeg major {major} is not in the matrix (known: {known})")
        return {k: v for k, v in self._ffmpeg[int(major)].items() if isinstance(v, int)}

    def ffmpeg_major_for_avutil(self, soname_major: int) -> int | None:
        for major, libs in self._ffmpeg.items():
            if libs["avutil"] == int(soname_major):
                return major
        return None

    def ffmpeg_conda_latest(self, major: int) -> str | None:
        """Newest conda-forge FFmpeg of that major (feedstock branch head)."""
        return self._ffmpeg.get(int(major), {}).get("conda_forge_latest")

    def act_backbone(self) -> dict[str, str]:
        """ACT's default pretrained backbone weights: file, sha256_prefix, url, source."""
        return dict(section(self.raw, "act_backbone"))

    def pyav_backend_ok(self, lerobot: str, torchvision: str) -> tuple[bool, str]:
        """Can lerobot's pyav video backend run with this torchvision?"""
        sec = section(self.raw, "pyav_backend")
        needs = parse_version(lerobot, "lerobot") in SpecifierSet(sec["lerobot_needing_video_reader"])
        has = parse_version(torchvision, "torchvision") in SpecifierSet(sec["torchvision_with_video_reader"])
        if not needs or has:
            return True, "lerobot's pyav backend can decode with this torchvision"
        return False, (
            f"lerobot {lerobot}'s pyav backend calls torchvision.io.VideoReader, which torchvision "
            f"{torchvision} no longer has: {sec['error']} ({sec['source']})"
        )

    def pypi_build(self, torch: str, arch: str) -> str:
        return self.torch(torch).pypi[normalize_arch(arch)]

    def index_url(self, name: str) -> str:
        if name not in self._indexes:
            raise EnvkitError(
                f"unknown package index {name!r} (known: {', '.join(sorted(self._indexes))})"
            )
        return self._indexes[name]

    # -- lerobot -----------------------------------------------------------------------

    def lerobot_versions(self) -> list[str]:
        return [self._lerobot[v].version for v in sorted(self._lerobot)]

    def lerobot(self, version: str) -> LerobotRow:
        return self.lookup(self._lerobot, version, "lerobot")

    # -- digests -----------------------------------------------------------------------

    def _raw_row(self, kind: str, key: str) -> Any:
        rows = {"torch": self._raw_torch, "torchcodec": self._raw_torchcodec,
                "lerobot": self._raw_lerobot, "ffmpeg": self._raw_ffmpeg}
        if kind in rows:
            return rows[kind](key)
        # An accelerator's own section (its backend parses it): asked only for a kind it owns.
        backends = all_backends()
        for backend in backends:
            if kind in backend.matrix_sections:
                return backend.matrix_row(self.raw, kind, key)
        owned = [s for b in backends for s in b.matrix_sections]
        raise EnvkitError(
            f"unknown matrix row kind {kind!r}",
            f"use {', '.join([*rows, *owned][:-1])} or {[*rows, *owned][-1]}",
        )

    def _raw_torch(self, key: str) -> Any:
        v = Version(self.torch(key).version)
        row = next(r for r in self.raw["torch"]["rows"] if Version(r["version"]) == v)
        builds = [r for r in self.raw["builds"]["rows"] if _key_in(v, r["torch"])]
        return {"row": row, "builds": builds}

    def _raw_torchcodec(self, key: str) -> Any:
        v = Version(self.torchcodec(key).version)
        row = next(r for r in self.raw["torchcodec"]["rows"] if Version(r["version"]) == v)
        rows = self.raw["torchcodec_measured"]["rows"]
        measured = [r for r in rows if _key_in(v, r["torchcodec"])]
        return {"row": row, "measured": measured}

    def _raw_lerobot(self, key: str) -> Any:
        v = Version(self.lerobot(key).version)
        return next(r for r in self.raw["lerobot"]["rows"] if Version(r["version"]) == v)

    def _raw_ffmpeg(self, key: str) -> Any:
        self.ffmpeg_sonames(int(key))
        return self.raw["ffmpeg"]["majors"][str(int(key))]

    def row_digest(self, *keys: tuple[str, str]) -> str:
        """sha256 over the named rows' canonical JSON (order-independent), for lock manifests."""
        items = sorted((str(kind), str(key)) for kind, key in keys)
        payload = [[kind, key, _canonical(self._raw_row(kind, key))] for kind, key in items]
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

        return hashlib.sha256(text.encode()).hexdigest()


def _key_in(version: Version, texts: list[str]) -> bool:
    return any(Version(t) == version for t in texts)


def _same_cuda_major(torchcodec_build: str, torch_build: str) -> bool:
    """A CPU torchcodec loads next to any torch; a cuXY one needs torch's CUDA major.

    The build names are torch's wheel labels (torchcodec's [torchcodec] pypi_build column): "cpu",
    "cu128", "cu130"; the CUDA major is all but the last digit."""
    linked = re.fullmatch(r"cu(\d+)\d", torchcodec_build)
    if linked is None:
        return True
    built = re.fullmatch(r"cu(\d+)\d", torch_build)
    if built is None:
        return False  # a CUDA torchcodec links libc10_cuda.so, absent from CPU torch
    return int(linked[1]) == int(built[1])


# ---------------------------------------------------------------------------------------
# Loading


@functools.cache
def matrix() -> Matrix:
    """The packaged matrix, parsed once per process."""

    path = package_file(DATA_FILE)
    with open(path, "rb") as fh:
        return Matrix(_parsed(fh.read()))


def _parsed(raw: bytes) -> dict[str, Any]:
    """compat.toml's tables. TOML parsing is most of a short command's own time (`pins --check`),
    so the result is kept as JSON in envkit's cache, named by the file's CRC and size: an edited
    or upgraded compat.toml gets a new name, and a damaged or foreign cache file is re-parsed."""


    cached = cache_root() / "compat" / f"compat-{zlib.crc32(raw):08x}-{len(raw)}.json"
    kept = read_own(cached)
    if kept is not None:
        try:
            data = json.loads(kept)
            if isinstance(data, dict) and data.get("_source_size") == len(raw):
                del data["_source_size"]
                return data
        except ValueError:
            pass
    data = tomllib.loads(raw.decode("utf-8"))
    try:
        blob = json.dumps({**data, "_source_size": len(raw)}, separators=(",", ":")).encode()
    except (TypeError, ValueError):
        return data  # a TOML date has no JSON form: parse each time
    write_quietly(cached, blob)
    return data



# GPU capability and driver arithmetic is the CUDA backend's policy (envkit.accel.cuda.arch);
