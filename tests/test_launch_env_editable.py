"""hooks.launch_env on a real venv with an editable lerobot install from a fork-shaped tree.

A tiny package named lerobot (no torch needed) is installed editable, the way setup installs a
fork's subfolder; the real probe runs in that venv and the real check reads its facts. The env's
own editable install must not warn; a PYTHONPATH that really shadows it must.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from envkit.doctor.checks.hooks import launch_env
from envkit.doctor.collect import run_probe
from envkit.doctor.model import Context, Status
from envkit.doctor.target import resolve_target
from envkit.uvbin import find_uv

PYPROJECT = """[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "lerobot"
version = "0.1.0"

[tool.setuptools]
packages = ["lerobot"]
"""


def _package(root: Path, marker: str) -> None:
    (root / "lerobot").mkdir(parents=True)
    (root / "lerobot" / "__init__.py").write_text(f"WHERE = {marker!r}\n")


@pytest.fixture(scope="module")
def fork_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(prefix, fork project): a venv with lerobot installed editable from PROJECT/lerobot."""
    base = tmp_path_factory.mktemp("editable")
    project = base / "kuavo"
    tree = project / "lerobot"
    _package(tree, "fork")
    (tree / "pyproject.toml").write_text(PYPROJECT)
    prefix = base / "env"
    uv = find_uv()
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    subprocess.run([uv, "venv", "--seed", "--quiet", str(prefix)], check=True, env=env, capture_output=True)
    # setuptools from the seeded venv: no build backend download (the machine may be offline)
    subprocess.run([uv, "pip", "install", "--quiet", "--python", str(prefix / "bin" / "python"), "--no-build-isolation",
                    "--offline", "-e", str(tree)], check=True, env=env, capture_output=True)
    return prefix, tree


def _launch_env(prefix: Path, pythonpath: str | None) -> tuple[Context, object]:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "CONDA_PREFIX")}
    if pythonpath:
        environ["PYTHONPATH"] = pythonpath
    probe = run_probe(resolve_target(prefix=prefix), environ=environ)
    ctx = Context(probe=probe, host={})
    return ctx, launch_env(ctx)


def test_own_editable_install_of_a_fork_does_not_warn(fork_env: tuple[Path, Path]) -> None:
    prefix, tree = fork_env
    ctx, outcome = _launch_env(prefix, None)
    assert ctx.section("lerobot")["dir"] == str(tree / "lerobot")  # outside the prefix, as for a fork
    assert ctx.section("lerobot_dist")["direct_url"]["dir_info"]["editable"] is True
    assert outcome.status == Status.OK, outcome.summary
    assert f"editable install of {tree}" in outcome.summary


def test_pythonpath_shadowing_the_editable_install_warns(fork_env: tuple[Path, Path], tmp_path: Path) -> None:
    prefix, _ = fork_env
    _package(tmp_path / "other", "shadow")
    ctx, outcome = _launch_env(prefix, str(tmp_path / "other"))
    assert ctx.section("lerobot")["dir"] == str(tmp_path / "other" / "lerobot")
    assert outcome.status == Status.WARN
    assert f"lerobot from {tmp_path / 'other' / 'lerobot'}" in outcome.summary and "PYTHONPATH" in outcome.summary


def test_pythonpath_naming_the_fork_tree_itself_is_no_shadow(fork_env: tuple[Path, Path]) -> None:
    prefix, tree = fork_env
    _, outcome = _launch_env(prefix, str(tree))
    assert outcome.status == Status.OK, outcome.summary
    assert "PYTHONPATH is set but shadows nothing" in outcome.summary
