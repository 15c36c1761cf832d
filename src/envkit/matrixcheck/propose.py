"""`envkit matrix propose NAME==VERSION`: the compat.toml row the index supports, field by field.

Every field carries where it came from; a field the index cannot give (torchcodec's torch
pairing, a torch_npu's CANN, lerobot's dataset format) is marked for a human and the row is
written `verified = false`, so adding a release is a reviewable diff rather than research.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envkit.compat import Matrix
from envkit.errors import EnvkitError
from envkit.matrixcheck.check import LEROBOT_PINNED, Releases, accel_hooks, known_versions, packages, project
from envkit.matrixcheck.facts import (
    ARCHES,
    avutil_major,
    cuda_build,
    cuda_major_linked,
    dt_needed,
    entry_point_target,
    ffmpeg_lib_to_read,
    ffmpeg_majors,
    parse_metadata,
    pinned_version,
    python_range,
    requirement_on,
)
from envkit.pypi_index import IndexClient, parallel

_SECTION = {"torch": "torch", "torchcodec": "torchcodec", "lerobot": "lerobot", "av": "pyav"}


def section_of(package: str) -> str | None:
    """The compat.toml section a package's rows live in (an accelerator's own package: its hooks say)."""
    hooks = accel_hooks().get(package)
    return hooks.SECTION if hooks is not None else _SECTION.get(package)
HUMAN = "NEEDS A HUMAN"


@dataclass
class ProposedField:
    """One key of a proposed compat.toml row, with where its value came from."""

    key: str
    value: Any
    source: str
    human: bool = False


@dataclass
class Proposal:
    package: str
    version: str
    index: str
    fields: list[ProposedField] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, key: str, value: Any, source: str, human: bool = False) -> None:
        self.fields.append(ProposedField(key, value, source, human))

    @property
    def needs_human(self) -> list[str]:
        return [f.key for f in self.fields if f.human]

    def toml(self) -> str:
        import tomlkit

        doc = tomlkit.document()
        doc.add(tomlkit.comment(f"envkit matrix propose {self.package}=={self.version}: read from {self.index} "
                                f"on {dt.date.today().isoformat()}"))
        if self.needs_human:
            doc.add(tomlkit.comment(f"{HUMAN}: {', '.join(self.needs_human)} (so verified = false)"))
        for note in self.notes:
            doc.add(tomlkit.comment(note))
        row = tomlkit.table()
        for f in self.fields:
            item = _item(f.value)
            item.comment((f"{HUMAN}: " if f.human else "from: ") + f.source)
            row.add(f.key, item)
        row.add("verified", not self.needs_human)
        aot = tomlkit.aot()
        aot.append(row)
        sup = tomlkit.table(is_super_table=True)
        sup.add("rows", aot)
        doc.add(section_of(self.package), sup)
        return tomlkit.dumps(doc).rstrip() + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "version": self.version,
            "index": self.index,
            "section": f"{section_of(self.package)}.rows",
            "verified": not self.needs_human,
            "needs_human": self.needs_human,
            "fields": [{"key": f.key, "value": f.value, "source": f.source, "human": f.human} for f in self.fields],
            "notes": self.notes,
            "toml": self.toml(),
        }


def _item(value: Any) -> Any:
    import tomlkit

    if isinstance(value, dict):
        t = tomlkit.inline_table()
        t.update(value)
        return t
    if isinstance(value, list):
        a = tomlkit.array()
        for v in value:
            # compat.toml writes requirements with inner double quotes as literal strings
            a.append(tomlkit.string(v, literal=True) if isinstance(v, str) and '"' in v else v)
        if any(isinstance(v, str) and len(v) > 40 for v in value):
            a.multiline(True)
        return a
    return tomlkit.item(value)


def parse_spec(text: str) -> tuple[str, str]:
    m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;]+)\s*", text or "")
    if not m:
        raise EnvkitError(f"matrix propose: {text!r} is not NAME==VERSION", "write it like torch==2.16.0")
    name = canonicalize_name(m[1]).replace("-", "_")
    if name == "torchvision":
        raise EnvkitError("torchvision has no rows of its own: it is the `torchvision` field of a torch row",
                          "propose the torch release it pairs with, e.g. envkit matrix propose torch==2.16.0")
    if section_of(name) is None:
        covered = [p for p in packages() if section_of(p) is not None]
        raise EnvkitError(f"matrix propose: {m[1]!r} is not a package the matrix covers",
                          f"use one of {', '.join(covered)}")
    try:
        Version(m[2])
    except InvalidVersion:
        raise EnvkitError(f"matrix propose: {m[2]!r} is not a version", "write it like torch==2.16.0 (PEP 440)") from None
    return name, m[2]


def propose(m: Matrix, client: IndexClient, package: str, version: str) -> Proposal:
    rel = Releases(client.files(project(package)))
    hooks = accel_hooks().get(package)
    if not rel.files(version):
        newest = max(rel.by_version, default=None)
        raise EnvkitError(f"{package} {version} is not on {client.name} (newest there: {newest})",
                          "check the version, or the index with --index-url")
    p = Proposal(package, version, client.name)
    up = rel.uploaded(Version(Version(version).public))
    p.add(hooks.VERSION_KEY if hooks is not None else "version", version,
          f"listed on the index" + (f", uploaded {up[:10]}" if up else ""))
    if Version(version) in {Version(k) for k in known_versions(m, package)}:
        p.notes.append(f"the matrix already knows {package} {version}: compare this with what it says")
    drafts = {"torch": _torch, "torchcodec": _torchcodec, "lerobot": _lerobot, "av": _av}
    (hooks.propose if hooks is not None else drafts[package])(m, client, rel, p, version)
    return p


def _torch(m: Matrix, client: IndexClient, rel: Releases, p: Proposal, version: str) -> None:
    tv, tv_source, tv_human = _torchvision_for(m, client, version, rel)
    p.add("torchvision", tv, tv_source, tv_human)
    pythons = rel.linux_pythons(version)
    p.add("python", python_range(pythons) or "", f"CPython tags of the Linux x86_64 wheels: {', '.join(pythons)}",
          human=not pythons)
    wheels = {a: rel.wheel(version, a) for a in ARCHES}
    metas = dict(zip(ARCHES, parallel(lambda a: client.metadata(file_of(rel, version, wheels[a])) if wheels[a] else None, ARCHES)))
    x86 = parse_metadata(metas["x86_64"]) if metas["x86_64"] else None
    p.add("requires_python", (x86.requires_python if x86 else "") or "",
          f"Requires-Python of {wheels['x86_64'].filename}" if x86 else "no Linux x86_64 wheel", human=x86 is None)
    builds, why = {}, []
    for arch in ARCHES:
        if metas[arch] is None:
            continue
        w = wheels[arch]
        build, because = cuda_build(parse_metadata(metas[arch]), arch, w.pythons[-1] if w.pythons else "3.12")
        builds[arch] = build
        why.append(f"{arch}: {because or 'no CUDA requirement'} ({w.filename})")
    p.add("pypi", builds, "CUDA requirements in METADATA: " + "; ".join(why), human=len(builds) < len(ARCHES))
    name = builds.get("x86_64")
    if name:
        p.notes.append(f"also add {version} to the [[builds.rows]] of {name} (index pypi); its compiled archs live "
                       "in libtorch_cuda.so, which `propose` does not download: read them on a machine with the wheel")


def _torchvision_for(m: Matrix, client: IndexClient, torch: str, torch_rel: Releases) -> tuple[str, str, bool]:
    """The torchvision release whose METADATA pins torch==`torch`; else the first one uploaded after
    torch whose requirement admits it (a human must confirm that one)."""
    rel = Releases(client.files("torchvision"))
    # torchvision ships with its torch: read the few releases uploaded from a week before it on.
    t_up = torch_rel.uploaded(Version(torch))
    start = (dt.date.fromisoformat(t_up[:10]) - dt.timedelta(days=7)).isoformat() if t_up else ""
    candidates = sorted((v for v in rel.by_version if (rel.uploaded(v) or "") >= start),
                        key=lambda v: (rel.uploaded(v) or "", v))[:6]
    wheels = [(v, w) for v in candidates if (w := rel.wheel(v, "x86_64")) is not None]
    texts = parallel(lambda vw: client.metadata(file_of(rel, str(vw[0]), vw[1])), wheels)
    loose = []
    for (v, w), text in zip(wheels, texts):
        req = requirement_on(parse_metadata(text), "torch")
        if req is None:
            continue
        pin = pinned_version(req)
        if pin and Version(Version(pin).public) == Version(torch):
            return str(v), f"{w.filename} Requires-Dist {req}", False
        if pin is None and req.specifier.contains(torch, prereleases=True):
            loose.append((v, req, rel.uploaded(v)))
    after = [x for x in loose if t_up and x[2] and x[2] >= t_up[:10]] or loose
    if after:
        v, req, up = min(after, key=lambda x: (x[2] or "", x[0]))
        return str(v), (f"inferred: torchvision {v} (uploaded {str(up)[:10]}) requires {req}, a range, "
                        "not a pin; confirm the pairing in torchvision's README"), True
    return "", "no torchvision release on the index requires this torch", True


def _torchcodec(m: Matrix, client: IndexClient, rel: Releases, p: Proposal, version: str) -> None:
    p.add("torch", "", "torchcodec declares no torch dependency: take the pairing from torchcodec's README "
          "'Compatibility with torch versions' table", human=True)
    pythons = rel.linux_pythons(version)
    p.add("python", python_range(pythons) or "", f"CPython tags of the Linux x86_64 wheels: {', '.join(pythons)}",
          human=not pythons)
    w = rel.wheel(version, "x86_64")
    names, member, data = client.namelist_and_member(file_of(rel, version, w), ffmpeg_lib_to_read) if w else ([], None, b"")
    majors = ffmpeg_majors(names)
    p.add("ffmpeg", majors, f"libtorchcodec_core{{N}}.so in {w.filename} (zip directory read by range)" if w
          else "no Linux x86_64 wheel", human=not majors)
    needed = dt_needed(data) if member else []
    cuda = cuda_major_linked(needed)
    if not needed:
        p.add("pypi_build", "", "the CUDA linkage is in the DT_NEEDED entries of libtorchcodec_core*.so: not read",
              human=True)
    elif cuda is None:
        p.add("pypi_build", "cpu", f"DT_NEEDED of {member} names no libcudart/libnvrtc")
    else:
        p.add("pypi_build", f"cu{cuda}0", f"DT_NEEDED of {member} names lib*.so.{cuda}: CUDA {cuda}.x; the soname "
              "does not give the minor, so confirm it (torchcodec's release notes)", human=True)
    has_arm = any(x.arch == "aarch64" for x in rel.wheels(version))
    p.add("aarch64", has_arm, "a Linux aarch64 wheel " + ("is" if has_arm else "is not") + " on the index")
    p.add("ffmpeg_checked_at", "", "measure: does a missing FFmpeg fail at import or at the first decode?", human=True)


def _lerobot(m: Matrix, client: IndexClient, rel: Releases, p: Proposal, version: str) -> None:
    w = rel.wheel(version, "x86_64")
    if w is None:
        raise EnvkitError(f"lerobot {version} has no wheel on {client.name}, so its METADATA cannot be read by range",
                          "read PKG-INFO from the sdist by hand")
    f = file_of(rel, version, w)
    text, eps = parallel(lambda fn: fn(f), [client.metadata, client.entry_points])
    meta = parse_metadata(text)
    p.add("requires_python", meta.requires_python or "", f"Requires-Python of {w.filename}")
    reqs = [str(r) for r in meta.requires if canonicalize_name(r.name) in LEROBOT_PINNED]
    p.add("requires", reqs, f"Requires-Dist on {', '.join(LEROBOT_PINNED)} in {w.filename}, markers verbatim")
    target = entry_point_target(eps, "lerobot-train")
    p.add("train_entry", "lerobot-train" if target else "",
          "console script lerobot-train in entry_points.txt" if target else "no lerobot-train console script",
          human=not target)
    if target:
        p.add("train_module", target, "the lerobot-train entry point's module")
    p.add("codebase_version", "", "LeRobotDataset CODEBASE_VERSION in lerobot/datasets/lerobot_dataset.py", human=True)
    p.add("converter_v21_v30", "", "the v2.1 -> v3.0 dataset converter's module in the release's sources", human=True)
    p.add("device_module", "", "where auto_select_torch_device lives in the release's sources", human=True)


def _av(m: Matrix, client: IndexClient, rel: Releases, p: Proposal, version: str) -> None:
    p.fields[0] = ProposedField("av", [version], p.fields[0].source)
    w = rel.wheel(version, "x86_64")
    major = avutil_major(client.namelist(file_of(rel, version, w))) if w else None
    src = f"av.libs/libavutil-*.so.N in {w.filename} (zip directory read by range)" if w else "no Linux x86_64 wheel"
    ffmpeg = m.ffmpeg_major_for_avutil(major) if major is not None else None
    p.add("ffmpeg", str(ffmpeg) if ffmpeg is not None else "",
          f"avutil {major} is FFmpeg {ffmpeg} in compat.toml's [ffmpeg] soname table" if ffmpeg is not None
          else "avutil major not in the [ffmpeg] table", human=ffmpeg is None)
    p.add("avutil", major if major is not None else 0, src, human=major is None)


def file_of(rel: Releases, version: str, w: Any) -> Any:
    return next(f for f in rel.files(version) if f.filename == w.filename)
