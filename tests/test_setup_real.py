"""`envkit setup --profile cpu` for real: torch, lerobot, hooks and the doctor's smoke ACT step.

Slow (minutes): uv's cache is shared with the doctor's healthy env (tests/conftest.py), so the
wheels are not downloaded again. The prefix path has a space and a quote on purpose.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from envkit.state import load_state
from tests.cli_util import CPU_DEV, run_envkit

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("python3.11") is None, reason="the cpu-dev profile builds its venv on python3.11")]

STEPS = ["environment", "ffmpeg", "libpython", "torch", "lerobot", "hooks", "doctor"]


def _env(doctor_cache: Path, **extra: str) -> dict[str, str]:
    env = {"ENVKIT_CACHE_DIR": str(doctor_cache), "ENVKIT_TEST_KILL_AT": "", **extra}
    return env


def _setup(prefix: Path, doctor_cache: Path, *more: str, profile: str = CPU_DEV, **env: str):
    return run_envkit("setup", "--profile", profile, "--prefix", str(prefix), "--no-pretrained-backbone", "--json", *more,
                      env=_env(doctor_cache, **env), timeout=1800)


def _no_leftovers(prefix: Path, mujoco_gl: int = 0) -> None:
    activate = (prefix / "etc/conda/activate.d/envkit.sh").read_text()
    assert activate.count("_ENVKIT_ACTIVE=") == 1 and activate.count("MUJOCO_GL='egl'") == mujoco_gl
    assert not list((prefix / ".envkit").glob("*.tmp")) and not list((prefix / "etc").rglob("*.tmp"))


def test_setup_cpu_from_nothing_to_doctor_green_then_noop(tmp_path: Path, doctor_cache: Path) -> None:
    """Through a user's profile that extends cpu: setup, then the README's `envkit doctor --prefix ENV`, no other flag."""
    user = tmp_path / "lab-cpu.toml"
    # The lab asks for MUJOCO_GL itself (the cpu profile sets it only where asked).
    user.write_text(f'schema_version = 1\nname = "lab-cpu"\nextends = "{CPU_DEV}"\n[env]\nMUJOCO_GL = "egl"\n')
    prefix = tmp_path / "cpu env 'q'"
    first = _setup(prefix, doctor_cache, profile=str(user))
    assert first.code == 0, first.err[-3000:]
    summary = json.loads(first.out)
    assert summary["ran"] == STEPS
    assert summary["doctor"]["verdict"] == "green"
    _no_leftovers(prefix, mujoco_gl=1)
    doctor = run_envkit("doctor", "--prefix", str(prefix), "--json", env=_env(doctor_cache), timeout=1800)
    doc = json.loads(doctor.out)
    assert doctor.code == 0, ([(c["id"], c["summary"]) for c in doc["checks"] if c["status"] != "ok"], doctor.err[-2000:])
    assert doc["profile"] == "lab-cpu" and doc["profile_file"] == str(user.resolve())
    assert doc["inputs_from"] == str(prefix / ".envkit" / "state.json") and doc["no_pretrained_backbone"] is True
    report = run_envkit("doctor", "--prefix", str(prefix), "--report", "--no-smoke", env=_env(doctor_cache), timeout=900)
    assert report.code == 0 and f"lab-cpu ({user.resolve()})" in report.out, report.out + report.err
    again = _setup(prefix, doctor_cache, profile=str(user))
    assert again.code == 0, again.err[-3000:]
    assert json.loads(again.out)["ran"] == []  # nothing changed: the last verdict is shown, no smoke
    inside = run_envkit("run", "--prefix", str(prefix), "--", "python", "-c",
                        "import os, sys, lerobot; print(sys.prefix, os.environ['MUJOCO_GL'])")
    assert inside.code == 0 and inside.out.split()[-1] == "egl", inside.err
    undo = run_envkit("setup", "--undo", "--prefix", str(prefix))
    assert undo.code == 0 and not prefix.exists(), undo.err


def test_setup_killed_inside_each_step_resumes_green(tmp_path: Path, doctor_cache: Path) -> None:
    prefix = tmp_path / "killed env"
    for step in ("environment", "torch", "lerobot", "hooks", "doctor"):
        killed = _setup(prefix, doctor_cache, ENVKIT_TEST_KILL_AT=step)
        assert killed.code == -9, (step, killed.err[-2000:])
        state = load_state(prefix)
        assert state is not None and step not in state.steps
    final = _setup(prefix, doctor_cache)
    assert final.code == 0, final.err[-3000:]
    summary = json.loads(final.out)
    assert summary["doctor"]["verdict"] == "green"
    assert set(load_state(prefix).steps) == set(STEPS)
    _no_leftovers(prefix)


def test_setup_from_lock_cpu_ends_doctor_green(tmp_path: Path, doctor_cache: Path) -> None:
    lockdir = Path(__file__).resolve().parent / "data" / "lockfiles" / "cpu-dev"  # cpu-dev's lock: this machine's wheels
    if not (lockdir / "manifest.json").is_file():
        pytest.skip("tests/data/lockfiles/cpu-dev not locked yet")
    prefix = tmp_path / "locked env"
    res = _setup(prefix, doctor_cache, "--from-lock", str(lockdir))
    assert res.code == 0, res.err[-3000:]
    summary = json.loads(res.out)
    assert summary["ran"] == ["environment", "ffmpeg", "libpython", "packages", "hooks", "doctor"]
    assert summary["doctor"]["verdict"] == "green"
