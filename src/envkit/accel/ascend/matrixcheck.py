"""`envkit matrix check/propose` for torch_npu: the [torch_npu] rows against the index's wheels.

The generic checker (envkit.matrixcheck) finds this module through AscendBackend.matrix_check.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from packaging.version import Version

from envkit.accel.ascend.matrix import npu_table
from envkit.compat import Matrix
from envkit.matrixcheck.check import (
    Observed,
    Releases,
    Report,
    absent,
    agree,
    contra,
    meta_of,
    python_check,
    row_in_scope,
)
from envkit.matrixcheck.facts import ARCHES, parse_metadata, pinned_version, python_range, requirement_on
from envkit.pypi_index import IndexClient, parallel
from envkit.matrixcheck.propose import Proposal, file_of

PACKAGE = "torch_npu"  # as the matrix and `--package` name it
PROJECT = "torch-npu"  # as the index names it
LINE_DEPTH = 3  # post-releases belong to one torch version: 2.7.1.postN is line 2.7.1
SECTION = "torch_npu"
VERSION_KEY = "torch_npu"  # the row key holding the release
METADATA_ALL_ARCHES = True  # each arch's wheel declares its own torch pin


def known_versions(raw: dict[str, Any]) -> list[str]:
    rows = [r["torch_npu"] for r in raw["torch_npu"]["rows"]]
    return rows + list(raw["torch_npu"].get("pypi_versions_without_cann", []))


def rows_to_check(raw: dict[str, Any]) -> list[str]:
    return [r["torch_npu"] for r in raw["torch_npu"]["rows"]]


def label(row: dict[str, Any]) -> str:
    return f"torch_npu {row['torch_npu']}"


def check(m: Matrix, rel: Releases, obs: Observed, report: Report, deep: bool, since: dt.date | None) -> None:
    for raw in m.raw["torch_npu"]["rows"]:
        version = raw["torch_npu"]
        if not row_in_scope(rel, version, since):
            continue
        row = npu_table(m).row(version)
        name = f"torch_npu {version}"
        if not rel.files(version):
            absent(report, "torch_npu", name, version, row.verified)
            continue
        pythons = set(rel.linux_pythons(version, "x86_64")) | set(rel.linux_pythons(version, "aarch64"))
        python_check(report, "torch_npu", name, raw["python"], sorted(pythons, key=lambda p: int(p.split(".")[1])),
                      f"{version} Linux wheels")
        for arch in ARCHES:
            w = rel.wheel(version, arch)
            meta = meta_of(obs, w)
            if w is None or meta is None:
                continue
            req = requirement_on(meta, "torch", arch)
            pin = pinned_version(req) if req is not None else None
            if req is None:
                if "no torch requirement" not in (raw.get("note") or ""):
                    contra(report, "torch_npu", name, "torch", row.torch, "no torch requirement", w.filename,
                            "Requires-Dist")
                continue
            if pin is None or Version(Version(pin).public) != Version(row.torch):
                contra(report, "torch_npu", name, "torch", row.torch, str(req), w.filename, "Requires-Dist")
                continue
            agree(report, name, f"torch ({arch})")
            if arch == "x86_64":
                local = Version(pin).local == "cpu"
                if local != row.x86_64_requires_cpu_local:
                    contra(report, "torch_npu", name, "x86_64_requires_cpu_local", row.x86_64_requires_cpu_local,
                            local, w.filename, f"Requires-Dist {req}")
                else:
                    agree(report, name, "x86_64_requires_cpu_local")


def propose(m: Matrix, client: IndexClient, rel: Releases, p: Proposal, version: str) -> None:
    wheels = {a: rel.wheel(version, a) for a in ARCHES}
    texts = dict(zip(ARCHES, parallel(lambda a: client.metadata(file_of(rel, version, wheels[a])) if wheels[a] else None,
                                      ARCHES)))
    torch, source, x86_local = "", "no Linux wheel declares a torch requirement", None
    for arch in ARCHES:
        if texts[arch] is None:
            continue
        req = requirement_on(parse_metadata(texts[arch]), "torch", arch)
        pin = pinned_version(req) if req else None
        if pin:
            torch = torch or Version(pin).public
            source = f"Requires-Dist {req} in {wheels[arch].filename}"
            if arch == "x86_64":
                x86_local = Version(pin).local == "cpu"
    p.add("torch", torch, source, human=not torch)
    p.add("cann", "", "the CANN release is in Ascend/pytorch COMPATIBILITY.en.md, not in the wheel", human=True)
    p.add("branch", "", "v{torch}-{Ascend extension release}: COMPATIBILITY.en.md", human=True)
    pythons = sorted({py for w in rel.wheels(version) if w.arch for py in w.pythons}, key=lambda s: int(s.split(".")[1]))
    p.add("python", python_range(pythons) or "", f"CPython tags of the Linux wheels: {', '.join(pythons)}",
          human=not pythons)
    p.add("x86_64_requires_cpu_local", bool(x86_local),
          f"the x86_64 wheel requires torch=={torch}{'+cpu' if x86_local else ''}" if x86_local is not None
          else "no x86_64 wheel with a torch pin", human=x86_local is None)
