"""Compare the matrix with what the index publishes. Pure: data in (matrix, index files,
METADATA texts, wheel file lists), findings out. `wanted` says what to read; `evaluate` judges.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envkit.accel.registry import all_backends
from envkit.compat import Matrix
from envkit.errors import EnvkitError
from envkit.matrixcheck.facts import (
    ARCHES,
    Metadata,
    Wheel,
    avutil_major,
    cuda_build,
    cuda_major_linked,
    ffmpeg_majors,
    ffmpeg_sonames_linked,
    minors_in,
    parse_metadata,
    parse_wheel,
    pinned_version,
    python_range,
    requirement_on,
)
from envkit.pypi_index import IndexFile

# The packages the matrix covers besides the accelerators' own (accel_hooks), and how deep a
# "release line" goes (a PyAV line is its major, whose bundled FFmpeg the [pyav] rows pin).
FIRST = ("torch", "torchvision", "torchcodec")
LAST = ("lerobot", "av")
LINE_DEPTH = {"av": 1}
LEROBOT_PINNED = ("torch", "torchvision", "torchcodec", "av")


def accel_hooks() -> dict[str, ModuleType]:
    """package -> the matrix-check hooks of each backend that declares some (Backend.matrix_check): its
    PACKAGE, PROJECT (the index's name), LINE_DEPTH, SECTION, VERSION_KEY, METADATA_ALL_ARCHES,
    known_versions(raw), rows_to_check(raw), label(row), check(...) and propose(...)."""
    out: dict[str, ModuleType] = {}
    for backend in all_backends():
        if backend.matrix_check:
            hooks = importlib.import_module(backend.matrix_check)
            out[hooks.PACKAGE] = hooks
    return out


def packages() -> tuple[str, ...]:
    """Every package the matrix covers, in report order."""
    return (*FIRST, *accel_hooks(), *LAST)


def project(package: str) -> str:
    """The package's name on the index."""
    hooks = accel_hooks().get(package)
    return hooks.PROJECT if hooks is not None else package


def line_depth(package: str) -> int:
    hooks = accel_hooks().get(package)
    return hooks.LINE_DEPTH if hooks is not None else LINE_DEPTH.get(package, 2)


@dataclass(frozen=True)
class Finding:
    package: str
    kind: str  # new | contradicted | absent | unverified | note
    message: str
    row: str | None = None  # "torch 2.8.0"
    field: str | None = None  # the row's field
    matrix: str | None = None  # the row's value
    index: str | None = None  # what the index says
    evidence: str | None = None  # the file the fact came from
    uploaded: str | None = None

    @property
    def stale(self) -> bool:
        return self.kind in ("new", "contradicted", "absent")


@dataclass
class Report:
    index: str
    packages: list[str]
    findings: list[Finding] = field(default_factory=list)
    newest: dict[str, dict[str, str | None]] = field(default_factory=dict)
    deep: bool = False
    since: str | None = None
    reads: dict[str, int] = field(default_factory=dict)
    agrees: dict[str, list[str]] = field(default_factory=dict)  # row -> fields the index confirmed

    @property
    def fresh(self) -> bool:
        return not any(f.stale for f in self.findings)

    @property
    def exit_code(self) -> int:
        return 0 if self.fresh else 1

    def of(self, kind: str, package: str | None = None) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind and (package is None or f.package == package)]

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "fresh": self.fresh,
            "exit_code": self.exit_code,
            "deep": self.deep,
            "since": self.since,
            "packages": self.packages,
            "newest": self.newest,
            "reads": self.reads,
            "agrees": self.agrees,
            "findings": [{k: v for k, v in asdict(f).items() if v is not None} for f in self.findings],
        }


@dataclass
class Observed:
    """What was read from the index: files per package, METADATA and file lists per wheel."""

    files: dict[str, list[IndexFile]]
    metadata: dict[str, str] = field(default_factory=dict)
    namelists: dict[str, list[str]] = field(default_factory=dict)
    needed: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # wheel -> (member, DT_NEEDED)


@dataclass(frozen=True)
class Reads:
    metadata: frozenset[str]  # wheel filenames whose METADATA is needed
    namelists: frozenset[str]  # wheel filenames whose file list is needed (--deep)
    elf: frozenset[str] = frozenset()  # of those, wheels whose FFmpeg library's DT_NEEDED is read


# ---------------------------------------------------------------------------------------
# Releases on the index


def _v(text: str | None) -> Version | None:
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


class Releases:
    """One package's files grouped by release (yanked files and pre-releases left out)."""

    def __init__(self, files: Iterable[IndexFile]) -> None:
        self.by_version: dict[Version, list[IndexFile]] = {}
        for f in files:
            v = _v(f.version)
            if v is None or f.yanked or v.is_prerelease or v.is_devrelease:
                continue
            self.by_version.setdefault(Version(v.public), []).append(f)

    def files(self, version: str | Version) -> list[IndexFile]:
        v = _v(str(version))
        return self.by_version.get(Version(v.public), []) if v else []

    def uploaded(self, version: Version) -> str | None:
        times = [f.upload_time for f in self.by_version.get(version, []) if f.upload_time]
        return min(times) if times else None

    def wheels(self, version: str | Version) -> list[Wheel]:
        return [w for f in self.files(version) if (w := parse_wheel(f.filename)) is not None]

    def wheel(self, version: str | Version, arch: str | None) -> Wheel | None:
        """The Linux wheel of `arch` (a pure-Python one when there is none), CPython 3.12 preferred."""
        ws = self.wheels(version)
        pick = [w for w in ws if w.arch == arch] or [w for w in ws if w.arch is None and w.any_python]
        if not pick:
            return None
        return max(pick, key=lambda w: ("3.12" in w.pythons, w.any_python, w.pythons[-1:] or ("",)))

    def linux_pythons(self, version: str | Version, arch: str = "x86_64") -> list[str]:
        return sorted(
            {p for w in self.wheels(version) if w.arch == arch for p in w.pythons},
            key=lambda m: int(m.split(".")[1]),
        )


def _line(v: Version, depth: int) -> tuple[int, ...]:
    return tuple(v.release[:depth]) + (0,) * max(0, depth - len(v.release))


def new_releases(known: Iterable[str], rel: Releases, depth: int = 2) -> list[tuple[Version, Version | None]]:
    """(release, the newest known one it is compared with) for index releases the matrix does not
    know that are newer than what it knows of their release line, or open a line newer than every
    known one. Old releases the matrix chose not to cover are not news."""
    kv = {Version(Version(k).public) for k in known}
    newest_line: dict[tuple[int, ...], Version] = {}
    for v in kv:
        line = _line(v, depth)
        newest_line[line] = max(v, newest_line.get(line, v))
    top = max(newest_line, default=None)
    out: list[tuple[Version, Version | None]] = []
    for v in sorted(rel.by_version):
        if v in kv:
            continue
        line = _line(v, depth)
        if line in newest_line and v > newest_line[line]:
            out.append((v, newest_line[line]))
        elif top is None or line > top:
            out.append((v, max(kv, default=None)))
    return out


def _since_ok(uploaded: str | None, since: dt.date | None) -> bool:
    if since is None or uploaded is None:
        return True  # an HTML index gives no upload times: keep the release
    return dt.date.fromisoformat(uploaded[:10]) >= since


# ---------------------------------------------------------------------------------------
# What each package's rows say


def known_versions(m: Matrix, package: str) -> list[str]:
    raw = m.raw
    if package == "torch":
        return [r["version"] for r in raw["torch"]["rows"]]
    if package == "torchvision":
        return [r["torchvision"] for r in raw["torch"]["rows"]]
    if package == "torchcodec":
        return [r["version"] for r in raw["torchcodec"]["rows"]]
    if package in accel_hooks():
        return accel_hooks()[package].known_versions(raw)
    if package == "lerobot":
        return [r["version"] for r in raw["lerobot"]["rows"]]
    if package == "av":
        return [v for r in raw["pyav"]["rows"] for v in r["av"]]
    raise ValueError(package)


def _rows_to_check(m: Matrix, package: str) -> list[str]:
    """Release versions whose files the row checks read."""
    if package in accel_hooks():
        return accel_hooks()[package].rows_to_check(m.raw)
    if package == "av":
        return known_versions(m, "av")
    return known_versions(m, package)


def wanted(m: Matrix, files: dict[str, list[IndexFile]], packages: Iterable[str], *, deep: bool = False,
           since: dt.date | None = None) -> Reads:
    """The wheels whose METADATA (and, with deep, file list) the checks need."""
    meta: set[str] = set()
    names: set[str] = set()
    elf: set[str] = set()
    for pkg in packages:
        rel = Releases(files.get(pkg, []))
        for version in _rows_to_check(m, pkg):
            v = _v(version)
            if v is None or not _since_ok(rel.uploaded(Version(v.public)), since):
                continue
            if pkg == "torch" or getattr(accel_hooks().get(pkg), "METADATA_ALL_ARCHES", False):
                meta |= {w.filename for a in ARCHES if (w := rel.wheel(version, a))}
            elif pkg in ("torchvision", "lerobot"):
                if (w := rel.wheel(version, "x86_64")) is not None:
                    meta.add(w.filename)
            elif deep and pkg in ("torchcodec", "av"):
                if (w := rel.wheel(version, "x86_64")) is not None:
                    names.add(w.filename)
                    if pkg == "torchcodec":
                        elf.add(w.filename)
    return Reads(frozenset(meta), frozenset(names), frozenset(elf))


# ---------------------------------------------------------------------------------------
# The judgement


def evaluate(m: Matrix, obs: Observed, packages: Iterable[str], *, index: str, deep: bool = False,
             since: dt.date | None = None) -> Report:
    packages = list(packages)
    report = Report(index=index, packages=packages, deep=deep, since=since.isoformat() if since else None)
    report.reads = {"metadata": len(obs.metadata), "file_lists": len(obs.namelists)}
    for pkg in packages:
        rel = Releases(obs.files.get(pkg, []))
        known = known_versions(m, pkg)
        newest_known = max((Version(k) for k in known), default=None)
        newest_index = max(rel.by_version, default=None)
        report.newest[pkg] = {
            "matrix": str(newest_known) if newest_known else None,
            "index": str(newest_index) if newest_index else None,
            "uploaded": rel.uploaded(newest_index) if newest_index else None,
        }
        if not rel.by_version:
            report.findings.append(Finding(pkg, "absent", f"{index} lists no release of {project(pkg)}"))
            continue
        for v, ref in new_releases(known, rel, line_depth(pkg)):
            up = rel.uploaded(v)
            if not _since_ok(up, since):
                continue
            when = f" (uploaded {up[:10]})" if up else ""
            if not rel.wheels(v):
                # envkit installs wheels; an sdist-only release has no wheel facts to add.
                report.findings.append(Finding(pkg, "note", f"{pkg} {v}{when} is an sdist only: nothing to add",
                                               index=str(v), uploaded=up))
                continue
            report.findings.append(Finding(
                pkg, "new", f"{pkg} {v}{when} is newer than the matrix knows (it knows {ref} of that line); "
                f"draft its row with `envkit matrix propose {pkg}=={v}`",
                matrix=str(ref) if ref else None, index=str(v), uploaded=up))
        checker = _CHECKS.get(pkg) or getattr(accel_hooks().get(pkg), "check", None)
        if checker is not None:
            checker(m, rel, obs, report, deep, since)
    report.findings.extend(unverified_rows(m, packages, report.agrees))
    return report


def row_in_scope(rel: Releases, version: str, since: dt.date | None) -> bool:
    v = _v(version)
    return v is not None and _since_ok(rel.uploaded(Version(v.public)), since)


def absent(report: Report, pkg: str, row: str, version: str, verified: bool) -> None:
    kind = "absent" if verified else "note"
    report.findings.append(Finding(pkg, kind, f"{row}: {pkg} {version} is not on the index", row=row,
                                   field="version", matrix=version))


def agree(report: Report, row: str, fld: str) -> None:
    fields = report.agrees.setdefault(row, [])
    if fld not in fields:
        fields.append(fld)


def contra(report: Report, pkg: str, row: str, fld: str, mine: Any, theirs: Any, evidence: str, why: str) -> None:
    report.findings.append(Finding(
        pkg, "contradicted", f"{row}: {fld} is {mine!s} in the matrix but {theirs!s} on the index ({why}; {evidence})",
        row=row, field=fld, matrix=str(mine), index=str(theirs), evidence=evidence))


def meta_of(obs: Observed, w: Wheel | None) -> Metadata | None:
    if w is None or w.filename not in obs.metadata:
        return None
    return parse_metadata(obs.metadata[w.filename])


def python_check(report: Report, pkg: str, row: str, spec: str, minors: list[str], evidence: str) -> None:
    if not minors:
        return
    lo, hi = int(minors[0].split(".")[1]), int(minors[-1].split(".")[1])
    claimed = {p for p in minors_in(spec) if lo - 3 <= int(p.split(".")[1]) <= hi + 3}
    if claimed != set(minors):
        contra(report, pkg, row, "python", spec, python_range(minors), evidence,
                f"CPython tags of its Linux wheels: {', '.join(minors)}")
    else:
        agree(report, row, "python")


def _check_torch(m: Matrix, rel: Releases, obs: Observed, report: Report, deep: bool, since: dt.date | None) -> None:
    seen: dict[tuple[str, str], tuple[str, str]] = {}  # (torch, arch) -> (build, wheel) as read
    for raw in m.raw["torch"]["rows"]:
        version = raw["version"]
        if not row_in_scope(rel, version, since):
            continue
        row = m.torch(version)
        name = f"torch {version}"
        if not rel.files(version):
            absent(report, "torch", name, version, row.verified)
            continue
        python_check(report, "torch", name, raw["python"], rel.linux_pythons(version),
                      f"{version} Linux x86_64 wheels")
        for arch in ARCHES:
            w = rel.wheel(version, arch)
            meta = meta_of(obs, w)
            if w is None or meta is None:
                continue
            py = w.pythons[-1] if w.pythons else "3.12"
            if arch == "x86_64" and meta.requires_python:
                if SpecifierSet(meta.requires_python) != row.requires_python:
                    contra(report, "torch", name, "requires_python", raw["requires_python"], meta.requires_python,
                            w.filename, "Requires-Python")
                else:
                    agree(report, name, "requires_python")
            build, because = cuda_build(meta, arch, py)
            seen[(str(Version(version)), arch)] = (build, w.filename)
            expected = row.pypi.get(arch)
            if expected is not None and build != expected:
                contra(report, "torch", name, f"pypi.{arch}", expected, build, w.filename,
                        f"its CUDA requirement is {because}" if because else "it requires no CUDA packages")
            elif expected is not None:
                agree(report, name, f"pypi.{arch}")
    _check_pypi_builds(m, seen, report)


def _build_label(raw: dict[str, Any]) -> str:
    return f"build {raw['name']} {raw['arch']} on {raw['index']} (torch {raw['torch'][0]}..{raw['torch'][-1]})"


def _check_pypi_builds(m: Matrix, seen: dict[tuple[str, str], tuple[str, str]], report: Report) -> None:
    """[[builds.rows]] with index = "pypi" list the torch versions whose plain PyPI wheel is that
    build; the same wheels' CUDA requirements must agree (the rows are kept apart from [torch])."""
    for raw in m.raw["builds"]["rows"]:
        if raw["index"] != "pypi":
            continue
        label = _build_label(raw)
        for t in raw["torch"]:
            got = seen.get((str(Version(t)), raw["arch"]))
            if got is None:
                continue
            if got[0] != raw["name"]:
                contra(report, "torch", label, f"torch {t}", raw["name"], got[0], got[1], "its CUDA requirements")
            else:
                agree(report, label, f"torch {t}")


def _check_torchvision(m: Matrix, rel: Releases, obs: Observed, report: Report, deep: bool, since: dt.date | None) -> None:
    for raw in m.raw["torch"]["rows"]:
        tv, torch = raw["torchvision"], raw["version"]
        if not row_in_scope(rel, tv, since):
            continue
        verified = raw.get("verified", m.raw["torch"].get("verified", True))
        name = f"torch {torch} (torchvision = {tv})"
        if not rel.files(tv):
            absent(report, "torchvision", name, tv, verified)
            continue
        w = rel.wheel(tv, "x86_64")
        meta = meta_of(obs, w)
        if w is None or meta is None:
            continue
        req = requirement_on(meta, "torch")
        if req is None:
            report.findings.append(Finding("torchvision", "note", f"{name}: torchvision {tv} declares no torch requirement",
                                           row=name, evidence=w.filename))
            continue
        pin = pinned_version(req)
        if pin is not None and Version(Version(pin).public) != Version(torch):
            contra(report, "torchvision", name, "torchvision", f"torchvision {tv} with torch {torch}",
                    f"torchvision {tv} requires {req}", w.filename, "Requires-Dist")
        elif pin is not None:
            agree(report, f"torch {torch}", "torchvision")
        elif pin is None and not req.specifier.contains(torch, prereleases=True):
            contra(report, "torchvision", name, "torchvision", f"torchvision {tv} with torch {torch}",
                    f"torchvision {tv} requires {req}", w.filename, "Requires-Dist")
        elif pin is None:
            report.findings.append(Finding(
                "torchvision", "note", f"{name}: torchvision {tv} requires {req}, a range, so its metadata "
                f"does not prove the pairing (it admits torch {torch})", row=name, field="torchvision",
                matrix=tv, index=str(req), evidence=w.filename))


def _check_torchcodec(m: Matrix, rel: Releases, obs: Observed, report: Report, deep: bool, since: dt.date | None) -> None:
    for raw in m.raw["torchcodec"]["rows"]:
        version = raw["version"]
        if not row_in_scope(rel, version, since):
            continue
        row = m.torchcodec(version)
        name = f"torchcodec {version}"
        if not rel.files(version):
            absent(report, "torchcodec", name, version, row.verified)
            continue
        python_check(report, "torchcodec", name, raw["python"], rel.linux_pythons(version),
                      f"{version} Linux x86_64 wheels")
        has_arm = any(w.arch == "aarch64" for w in rel.wheels(version))
        if has_arm != row.aarch64:
            contra(report, "torchcodec", name, "aarch64", row.aarch64, has_arm, f"{version} wheel tags",
                    "a Linux aarch64 wheel " + ("exists" if has_arm else "does not exist"))
        else:
            agree(report, name, "aarch64")
        w = rel.wheel(version, "x86_64")
        if deep and w is not None and w.filename in obs.namelists:
            found = ffmpeg_majors(obs.namelists[w.filename])
            if found and found != sorted(row.ffmpeg):
                contra(report, "torchcodec", name, "ffmpeg", sorted(row.ffmpeg), found, w.filename,
                        "its libtorchcodec_core{N}.so files")
            elif found:
                agree(report, name, "ffmpeg")
            else:
                report.findings.append(Finding("torchcodec", "note", f"{name}: no per-FFmpeg library recognised "
                                               f"in {w.filename}'s file list", row=name, evidence=w.filename))
        if deep and w is not None and w.filename in obs.needed:
            _check_torchcodec_linkage(m, report, name, row.pypi_build, w.filename, *obs.needed[w.filename])


def _check_torchcodec_linkage(m: Matrix, report: Report, name: str, pypi_build: str, wheel: str, member: str,
                              needed: list[str]) -> None:
    """pypi_build from the CUDA runtime the FFmpeg library links, and the [ffmpeg] soname table
    from the libav* sonames it links (read with --deep: one member of a few hundred kB)."""
    if not needed:
        return
    evidence = f"{member} in {wheel}"
    major = cuda_major_linked(needed)
    linked = "cpu" if major is None else f"CUDA {major}"
    expected = "cpu" if pypi_build == "cpu" else f"CUDA {pypi_build[2:-1]}"
    if linked != expected:
        contra(report, "torchcodec", name, "pypi_build", pypi_build, linked, evidence,
                "its DT_NEEDED " + (", ".join(n for n in needed if "cudart" in n or "nvrtc" in n) or "names no CUDA runtime"))
    else:
        agree(report, name, "pypi_build")
    n = re.search(r"(\d+)\.so$", member)
    sonames = ffmpeg_sonames_linked(needed)
    if n is None or not sonames:
        return
    ffmpeg_row = f"ffmpeg major {n[1]}"
    try:
        table = m.ffmpeg_sonames(int(n[1]))
    except EnvkitError:
        contra(report, "torchcodec", ffmpeg_row, "[ffmpeg.majors]", "absent", sonames, evidence, "DT_NEEDED")
        return
    wrong = {lib: v for lib, v in sonames.items() if table.get(lib) != v}
    if wrong:
        contra(report, "torchcodec", ffmpeg_row, ", ".join(sorted(wrong)),
                {lib: table.get(lib) for lib in sorted(wrong)}, wrong, evidence, "DT_NEEDED sonames")
    else:
        agree(report, ffmpeg_row, "sonames")


def _norm_reqs(texts: Iterable[str]) -> set[str]:
    return {str(Requirement(t)) for t in texts}


def _check_lerobot(m: Matrix, rel: Releases, obs: Observed, report: Report, deep: bool, since: dt.date | None) -> None:
    for raw in m.raw["lerobot"]["rows"]:
        version = raw["version"]
        if not row_in_scope(rel, version, since):
            continue
        row = m.lerobot(version)
        name = f"lerobot {version}"
        if not rel.files(version):
            absent(report, "lerobot", name, version, row.verified)
            continue
        w = rel.wheel(version, "x86_64")
        meta = meta_of(obs, w)
        if w is None:
            report.findings.append(Finding("lerobot", "note", f"{name}: no wheel on the index (sdist only), "
                                           "so its metadata was not read", row=name))
            continue
        if meta is None:
            continue
        if meta.requires_python and SpecifierSet(meta.requires_python) != row.requires_python:
            contra(report, "lerobot", name, "requires_python", raw["requires_python"], meta.requires_python,
                    w.filename, "Requires-Python")
        elif meta.requires_python:
            agree(report, name, "requires_python")
        theirs = {str(r) for r in meta.requires if canonicalize_name(r.name) in LEROBOT_PINNED}
        mine = _norm_reqs(row.requires)
        mine_pinned = {t for t in mine if canonicalize_name(Requirement(t).name) in LEROBOT_PINNED}
        if theirs != mine_pinned:
            only_m = sorted(mine_pinned - theirs)
            only_i = sorted(theirs - mine_pinned)
            contra(report, "lerobot", name, "requires", "; ".join(only_m) or "(nothing else)",
                    "; ".join(only_i) or "(nothing else)", w.filename,
                    "Requires-Dist on torch/torchvision/torchcodec/av")
        else:
            agree(report, name, "requires")


def _check_av(m: Matrix, rel: Releases, obs: Observed, report: Report, deep: bool, since: dt.date | None) -> None:
    for raw in m.raw["pyav"]["rows"]:
        for version in raw["av"]:
            if not row_in_scope(rel, version, since):
                continue
            name = f"pyav av {version}"
            if not rel.files(version):
                absent(report, "av", name, version, raw.get("verified", m.raw["pyav"].get("verified", True)))
                continue
            w = rel.wheel(version, "x86_64")
            if deep and w is not None and w.filename in obs.namelists:
                found = avutil_major(obs.namelists[w.filename])
                if found is not None and found != int(raw["avutil"]):
                    contra(report, "av", name, "avutil", raw["avutil"], found, w.filename,
                            "the libavutil soname bundled in av.libs/")
                elif found is not None:
                    agree(report, name, "avutil")
                else:
                    report.findings.append(Finding("av", "note", f"{name}: no bundled libavutil in "
                                                   f"{w.filename}'s file list", row=name, evidence=w.filename))


_CHECKS = {
    "torch": _check_torch,
    "torchvision": _check_torchvision,
    "torchcodec": _check_torchcodec,
    "lerobot": _check_lerobot,
    "av": _check_av,
}


# ---------------------------------------------------------------------------------------
# Rows marked unverified


_SECTIONS = {
    "torch": [("torch", lambda r: f"torch {r['version']}")],
    "torchvision": [],
    "torchcodec": [("torchcodec", lambda r: f"torchcodec {r['version']}")],
    "lerobot": [("lerobot", lambda r: f"lerobot {r['version']}")],
    "av": [("pyav", lambda r: f"pyav av {', '.join(r['av'])}")],
}


def unverified_rows(m: Matrix, packages: Iterable[str], agrees: dict[str, list[str]] | None = None) -> list[Finding]:
    """Rows whose facts the research could not confirm (verified = false), with their source and
    the fields this run's metadata agreed with (a reviewer's start for flipping the flag)."""
    out = []
    agrees = agrees or {}
    for pkg in packages:
        hooks = accel_hooks().get(pkg)
        for section, label in _SECTIONS[pkg] if hooks is None else [(hooks.SECTION, hooks.label)]:
            sec = m.raw.get(section, {})
            for r in sec.get("rows", []):
                if not r.get("verified", sec.get("verified", True)):
                    src = r.get("source", sec.get("source", ""))
                    if "source" not in r and r.get("note"):
                        src = f"{r['note']} (section source: {src})"
                    ok = agrees.get(label(r))
                    tail = f"; the index agrees on {', '.join(dict.fromkeys(ok))}" if ok else ""
                    out.append(Finding(pkg, "unverified", f"{label(r)} is marked unverified: {src}{tail}",
                                       row=label(r), evidence=src))
        if pkg == "torch":
            sec = m.raw["builds"]
            for r in sec["rows"]:
                if not r.get("verified", sec.get("verified", True)):
                    label_b = _build_label(r)
                    src = r.get("source", sec.get("source", ""))
                    ok = agrees.get(label_b)
                    tail = f"; the index agrees on the PyPI wheel's build of {', '.join(ok)}" if ok else ""
                    out.append(Finding("torch", "unverified", f"{label_b} is marked unverified: {src}{tail}",
                                       row=label_b, evidence=src))
    return out
