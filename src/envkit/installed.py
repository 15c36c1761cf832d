"""What an install step put into site-packages, and the cheap proof that it is still there.

A finished step is skipped on a re-run only when every distribution it installed still has its
`NAME-VERSION.dist-info` (the version is in the name) with METADATA, and one file of each of its
top-level packages (taken from RECORD) still exists. That is a few hundred stat() calls for a
lerobot environment, no import and no subprocess, so the no-op re-run stays well under a second
while an environment gutted behind envkit's back (`rm -rf site-packages/torch`, `pip uninstall`)
is repaired by the re-run.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

PROBES_PER_DIST = 3


def site_packages(prefix: Path) -> list[Path]:
    return sorted(prefix.glob("lib/python3*/site-packages"))


def snapshot(prefix: Path) -> set[str]:
    """Relative paths (to the prefix) of every *.dist-info directory in the prefix's site-packages."""
    found: set[str] = set()
    for site in site_packages(prefix):
        for dist in site.glob("*.dist-info"):
            found.add(str(dist.relative_to(prefix)))
    return found


def probes(prefix: Path, dist_info: str) -> list[str]:
    """One file per top-level package of the distribution (from RECORD), relative to the prefix."""
    record = prefix / dist_info / "RECORD"
    site_rel = Path(dist_info).parent
    try:
        rows = list(csv.reader(io.StringIO(record.read_text(encoding="utf-8", errors="replace"))))
    except OSError:
        return []
    picked: dict[str, str] = {}
    for row in rows:
        if not row or not row[0]:
            continue
        rel = row[0]
        parts = Path(rel).parts
        if not parts or parts[0] == ".." or parts[0].endswith((".dist-info", ".data")) or "__pycache__" in parts:
            continue
        if rel.endswith(".pth") and len(parts) == 1:
            continue  # an editable install's .pth is rewritten by any reinstall; its target is what matters
        picked.setdefault(parts[0], str(site_rel / rel))
        if len(picked) >= PROBES_PER_DIST:
            break
    return sorted(picked.values())


def record(prefix: Path, before: set[str], previous: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """What a step that just ran owns: the dist-infos that appeared, plus those it owned before and still exist."""
    after = snapshot(prefix)
    dists = {d: probes(prefix, d) for d in sorted(after - before)}
    for dist, files in (previous or {}).items():
        if dist in after and dist not in dists:
            dists[dist] = files
    return dists


def missing(prefix: Path, dists: dict[str, list[str]]) -> list[str]:
    """The dist-infos (relative) whose METADATA or a probed file is gone."""
    gone = []
    for dist, files in dists.items():
        if not (prefix / dist / "METADATA").is_file() or not all((prefix / f).exists() for f in files):
            gone.append(dist)
    return gone


def dist_name(dist_info: str) -> str:
    """`torch` from `.../torch-2.14.1.dist-info` (dist-info names escape '-' in the name to '_')."""
    return Path(dist_info).name[: -len(".dist-info")].rsplit("-", 1)[0]
