"""kill -9 at several points of a real `envkit setup --profile cpu` into a directory holding a user's
files, then `envkit setup --undo`: every user file is back byte for byte and nothing of envkit's is
left (the real uv venv --allow-existing rewrites .gitignore and bin/activate in place).

Slow (a minute or two): torch and lerobot come from uv's cache shared with the other real tests.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.cli_util import CPU_DEV, run_envkit
from tests.test_safety_prefix import snapshot

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("python3.11") is None, reason="the cpu-dev profile builds its venv on python3.11")]


def test_real_setup_killed_at_several_points_then_undo_restores_the_directory(tmp_path: Path, doctor_cache: Path) -> None:
    lab = tmp_path / "lab dir"
    (lab / "bin").mkdir(parents=True)
    (lab / "outputs" / "run1").mkdir(parents=True)
    (lab / ".gitignore").write_text("outputs/\n")
    (lab / "bin" / "activate").write_text("# the lab's own activate\nexport LAB=1\n")
    (lab / "outputs" / "run1" / "model.safetensors").write_bytes(os.urandom(1 << 20))
    before = snapshot(lab)
    env = {"ENVKIT_CACHE_DIR": str(doctor_cache)}
    # environment: right after uv venv rewrote the user's files; torch@N / lerobot@N: N seconds into
    # uv's install, with uv killed too; hooks: between the two hook files.
    for kill in ("environment", "torch@3", "lerobot@3", "hooks"):
        res = run_envkit("setup", "--profile", CPU_DEV, "--prefix", str(lab), "--yes", "--no-pretrained-backbone",
                         env={**env, "ENVKIT_TEST_KILL_AT": kill}, timeout=1200)
        assert res.code == -9, (kill, res.err[-2000:])
    assert (lab / ".gitignore").read_text() != "outputs/\n"  # uv did rewrite it
    undo = run_envkit("setup", "--undo", "--prefix", str(lab), env=env)
    assert undo.code == 0, undo.err
    assert snapshot(lab) == before, sorted(set(snapshot(lab)) ^ set(before))[:20]
