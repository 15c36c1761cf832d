"""Shared fixtures: a healthy CPU env built once with envbuild, and a way to run `envkit doctor`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENVS = ROOT / ".cache" / "envs"
PINS = ("torch==2.14.1", "torchvision==0.29.1", "torchcodec==0.17.0")
# The tests judge envkit's environments, not the test host's free disk: CI machines run with a few GiB left.
os.environ.setdefault("ENVKIT_DISK_WARN_GIB", "3")


def _ensure_ffmpeg() -> None:
    # torchcodec needs FFmpeg's shared libraries; PyAV's bundled copy is private to PyAV.
    if shutil.which("ffmpeg"):
        return
    if os.geteuid() != 0:
        pytest.skip("system FFmpeg missing and not root to apt-get install it")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "ffmpeg"], check=True)


@pytest.fixture(scope="session")
def healthy_env() -> Path:
    from tests.envbuild import EnvSpec, build_env

    _ensure_ffmpeg()
    os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
    spec = EnvSpec(requirements=(*PINS, "lerobot==0.4.4"), overrides=PINS, python="3.11")
    return build_env(ENVS / "cpu-healthy", spec).prefix


@pytest.fixture(scope="session")
def doctor_cache() -> Path:
    """One cache (tiny dataset) shared by the real runs; smoke outputs go below it too."""
    path = ROOT / ".cache" / "doctor"
    path.mkdir(parents=True, exist_ok=True)
    return path


def doctor_env(cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH")}
    env["ENVKIT_CACHE_DIR"] = str(cache)
    env.update(extra)
    return env


def run_doctor(args: list[str], env: dict[str, str], wrap: list[str] | None = None, timeout: int = 900) -> tuple[int, dict, str]:
    """Run the real CLI in a subprocess; returns (exit code, --json document, stderr)."""
    argv = [sys.executable, "-c", "import sys; from envkit.cli import main; sys.exit(main())", "doctor", *args, "--json"]
    proc = subprocess.run((wrap or []) + argv, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        doc = {}
    return proc.returncode, doc, proc.stderr


def by_id(doc: dict) -> dict[str, dict]:
    return {c["id"]: c for c in doc.get("checks", [])}
