"""Real lerobot source trees for tests: a fork-shaped project and released sdists.

* `fork_project(dest)`: the draccus-era lerobot tree (lerobot's repository at 483be9a, the last
  commit before `lerobot/common` moved; /work/shared/fixtures, see the README beside the tarball)
  placed in a `lerobot/` subfolder of a parent project, the way the Kuavo repository vendors it.
* `sdist_tree(version, dest)`: lerobot's sdist downloaded from PyPI with `pip download` (cached in
  `.cache/lerobot-sdists-full/`, gitignored) and extracted.

Both skip the calling test with the reason when their input cannot be had (no fixture, PyPI
unreachable).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(os.environ.get("ENVKIT_FIXTURES", ROOT.parent / "shared" / "fixtures")) / "lerobot-common-layout-483be9a.tar.gz"
SDISTS = Path(os.environ.get("ENVKIT_LEROBOT_SDIST_FULL_CACHE", ROOT / ".cache" / "lerobot-sdists-full"))
PARENT_PYPROJECT = '[project]\nname = "kuavo-il"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n'


def _extract(tarball: Path, dest: Path) -> Path:
    """Extract a tarball whose members share one top folder; returns that folder."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(dest, filter="data")
        tops = {m.name.split("/")[0] for m in tar.getmembers()}
    assert len(tops) == 1, f"{tarball} has several top folders: {tops}"
    return dest / tops.pop()


def fork_project(dest: Path) -> Path:
    """DEST/kuavo: a parent project with the draccus-era lerobot tree in DEST/kuavo/lerobot."""
    if not FIXTURE.is_file():
        pytest.skip(f"fixture {FIXTURE} is missing (set ENVKIT_FIXTURES to the folder holding it)")
    project = dest / "kuavo"
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text(PARENT_PYPROJECT)
    _extract(FIXTURE, dest / "unpacked").rename(project / "lerobot")
    return project


def sdist(version: str) -> Path:
    """lerobot VERSION's sdist, downloaded once with pip (which checks PyPI's hash)."""
    folder = SDISTS / version
    found = sorted(folder.glob(f"lerobot-{version}.tar.gz"))
    if found:
        return found[0]
    tmp = SDISTS / f".{version}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--dest", str(tmp),
                           f"lerobot=={version}"], capture_output=True, text=True, timeout=600)
    got = sorted(tmp.glob(f"lerobot-{version}.tar.gz"))
    if proc.returncode != 0 or not got:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.skip(f"cannot download lerobot {version}'s sdist from PyPI: {proc.stderr.strip()[-300:]}")
    folder.mkdir(parents=True, exist_ok=True)
    got[0].replace(folder / got[0].name)  # atomic: a concurrent test never sees half a file
    shutil.rmtree(tmp, ignore_errors=True)
    return folder / got[0].name


def sdist_tree(version: str, dest: Path) -> Path:
    """The extracted source tree of lerobot VERSION's sdist under DEST."""
    return _extract(sdist(version), dest)
