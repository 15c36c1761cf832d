"""The canary lerobot trees: recorded capability-probe outputs and the source snapshots behind them.

* `tests/data/lerobot-caps/<tree>.json`: what `src/envkit/doctor/caps_probe.py` printed when it ran
  in an environment holding that tree (how each was made: the README beside them);
* `tests/data/lerobot-trees/*.tar.xz`: small source snapshots of lerobot.common-era commits (README);
* the two shared fixtures (483be9a, main 7427f31) and PyPI's sdists come from tests/lerobot_trees.py
  and tests/lerobot_sdists.py.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

from envkit.lerobot_caps import LerobotCaps, interpret

DATA = Path(__file__).parent / "data"
CAPS = DATA / "lerobot-caps"
SNAPSHOTS = DATA / "lerobot-trees"
# every tree whose probe output is recorded, oldest first
TREES = ("common-10706ed", "common-a3cd18e", "common-a989c79", "fork-483be9a", "lerobot-0.3.2", "lerobot-0.3.3", "lerobot-0.4.0",
         "lerobot-0.4.1", "lerobot-0.4.2", "lerobot-0.4.3", "lerobot-0.4.4", "main-7427f31")
# lerobot.common-era commits kept as snapshots (beside the shared 483be9a fixture)
COMMON_COMMITS = ("10706ed", "a3cd18e", "a989c79")


def raw(tree: str) -> dict:
    return json.loads((CAPS / f"{tree}.json").read_text())


def caps(tree: str | None) -> LerobotCaps | None:
    return interpret(raw(tree)) if tree else None


def recorded() -> list[str]:
    return [t for t in TREES if (CAPS / f"{t}.json").is_file()]


def snapshot_project(commit: str, dest: Path) -> Path:
    """DEST/lerobot-common-COMMIT: the snapshot unpacked (lerobot/, pyproject.toml, LICENSE, README.md)."""
    archive = SNAPSHOTS / f"lerobot-common-{commit}.tar.xz"
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / f"lerobot-common-{commit}"
    if target.is_dir():
        return target
    tmp = dest / f".{commit}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
    (tmp / target.name).rename(target)
    shutil.rmtree(tmp, ignore_errors=True)
    return target
