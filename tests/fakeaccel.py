"""Install the FakeAccel plug-in distribution (tests/fakeaccel/) into a temporary site directory.

`install(tmp)` lays the distribution out as an installer would (its package, and a .dist-info
with METADATA and the entry points its pyproject.toml declares), with no network and no build
backend needed, and returns the environment that makes envkit see it: PYTHONPATH names the site
directory, where importlib.metadata finds the entry point in the group `envkit.backends`.
Nothing under src/ knows the plug-in.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SOURCE = Path(__file__).resolve().parent / "fakeaccel"
PROFILE = "envkit_fakeaccel/profiles/fakeaccel.toml"  # inside the installed distribution
HOST = SOURCE / "host" / "fakeaccel-2x"  # its replayed host scenario


def install(tmp: Path) -> dict[str, str]:
    project = tomllib.loads((SOURCE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    site = Path(tmp) / "site"
    site.mkdir(parents=True, exist_ok=True)
    for package in ("envkit_fakeaccel",):
        shutil.copytree(SOURCE / package, site / package, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    dist = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
                                   f"Summary: {project.get('description', '')}\n")
    groups = project.get("entry-points", {})
    (dist / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in entries.items()) + "\n"
        for group, entries in groups.items()))
    (dist / "INSTALLER").write_text("tests/fakeaccel.py\n")
    (dist / "RECORD").write_text("")
    env = {"PYTHONPATH": os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return {**env, "ENVKIT_FAKEACCEL_SITE": str(site)}


def profile(env: dict[str, str]) -> Path:
    return Path(env["ENVKIT_FAKEACCEL_SITE"]) / PROFILE
