"""Find every scenario directory under tests/data, so adding a user's recording is adding a folder.

A host scenario holds system.json and meta.toml (replayed by envkit.host.RecordedBoundary);
a probe scenario holds probe.json, host.json and expect.json (replayed through the doctor's
checks). Transcribed ones live in tests/data/host and tests/data/probe; recorded ones
(`envkit detect|doctor --record`, meta.toml `recorded = true`) in tests/data/recorded, and a
recorded doctor scenario is both kinds at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DATA = Path(__file__).resolve().parent / "data"
RECORDED = DATA / "recorded"
_NOT_SCENARIO_PARTS = {"files", "commands"}  # a scenario's own mirror of the machine


def _dirs() -> list[Path]:
    found = []
    for root, dirs, _files in os.walk(DATA):
        dirs[:] = sorted(d for d in dirs if d not in _NOT_SCENARIO_PARTS and not d.startswith("."))
        found.append(Path(root))
    return found


def host_scenarios() -> list[Path]:
    return [d for d in _dirs() if (d / "system.json").is_file() and (d / "meta.toml").is_file()]


def probe_scenarios() -> list[Path]:
    return [d for d in _dirs() if all((d / f).is_file() for f in ("probe.json", "host.json", "expect.json"))]


def scenario_id(path: Path) -> str:
    return str(path.relative_to(DATA))


def meta(path: Path) -> dict:
    p = path / "meta.toml"
    return tomllib.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}


def is_recorded(path: Path) -> bool:
    return meta(path).get("recorded") is True
