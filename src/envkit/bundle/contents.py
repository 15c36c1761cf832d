"""What a bundle holds for one profile, platform and lock: a list of wanted members (pure).

Each `Want` names its place in the tar, where its bytes come from (a URL from the lock, or a local
file) and the sha256 it must have (None: a local file envkit takes as it is, e.g. the profile).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse


@dataclass(frozen=True)
class Want:
    path: str
    kind: str
    name: str
    version: str
    source: str  # URL (https://, http://, file://) or a local path
    sha256: str | None = None
    md5: str | None = None  # conda records may carry only md5

    @property
    def is_url(self) -> bool:
        return "://" in self.source


def file_name(url: str) -> str:
    return unquote(PurePosixPath(urlparse(url).path).name)


def lock_members(lock: Any, platform: str) -> list[Want]:
    """The lock's own files and every package it locks for `platform` (PyPI layer, conda layer)."""
    root = Path(lock.root)
    out = [Want(f"lockfiles/{lock.profile}/{name}", "lock", name, "", str(root / name))
           for name in ("conda-lock.yml", "manifest.json")]
    out += [Want(f"lockfiles/{lock.profile}/{req.name}", "lock", req.name, "", str(req))
            for _, req in sorted(lock.pip_requirements.items())]
    for p in lock.pip_packages(platform):
        out.append(Want(f"wheels/{file_name(p.url)}", "wheel", p.name, p.version, p.url, p.hash.sha256))
    for p in lock.lockfile.package:
        if p.manager == "conda" and p.platform == platform:
            out.append(Want(f"conda/{file_name(p.url)}", "conda", p.name, p.version, p.url, p.hash.sha256 or None, p.hash.md5))
    return out


def source_members(sdist: dict[str, str] | None, patch: Path | None) -> list[Want]:
    """lerobot's locked source archive and envkit's patch, where the profile patches lerobot."""
    out: list[Want] = []
    if sdist:
        out.append(Want(f"src/{file_name(sdist['url'])}", "source", "lerobot", sdist.get("version", ""), sdist["url"], sdist["sha256"]))
    if patch is not None:
        out.append(Want(f"patches/{patch.name}", "patch", patch.name, "", str(patch)))
    return out


def dataset_members(root: Path, files: list[Path]) -> list[Want]:
    return [Want(f"dataset/{f.relative_to(root).as_posix()}", "dataset", root.name, "", str(f)) for f in sorted(files)]


def pip_report_members(report: dict[str, Any]) -> list[Want]:
    """envkit's wheel and its dependencies' wheels, from `pip install --dry-run --report` for the target."""
    out = []
    for item in report.get("install", []):
        info = item["download_info"]
        sha = (info.get("archive_info") or {}).get("hashes", {}).get("sha256")
        meta = item.get("metadata", {})
        out.append(Want(f"envkit/{file_name(info['url'])}", "envkit", meta.get("name", ""), meta.get("version", ""), info["url"], sha))
    return out


def expected_kinds(patch: str | None, conda_locked: bool, ffmpeg_system: bool) -> dict[str, str]:
    """kind -> why the profile needs it (what --check lists as missing when the bundle lacks it)."""
    need = {"profile": "the profile the bundle was built for", "lock": "the lock setup --from-lock installs",
            "wheel": "the locked PyPI layer", "envkit": "envkit itself, to run setup on the server"}
    if patch:
        need["source"] = f"lerobot's source, patched with {patch}"
        need["patch"] = f"envkit's patch {patch}"
    if conda_locked:
        need["conda"] = "the locked conda layer"
    return need
