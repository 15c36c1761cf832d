"""`envkit setup --profile cpu` from old lerobot layouts, for real, to the doctor's verdict.

Slow (about a minute each on 2 cores, uv's cache shared with the other real setups):
* the Kuavo shape: a parent project with the draccus-era `lerobot.common.*` tree in `lerobot/`
  (fixture 483be9a), installed editable; trains with `python -m lerobot.scripts.train`;
* the 0.3.3 sdist (LeRobotDataset.add_frame(frame, task), v2.1 datasets, `lerobot-train`);
* PyPI's Hydra-era 0.1.0: builds, then the doctor says precisely that it cannot smoke-test it.
The 0.4.4 path is test_setup_real.py's (the cpu profile's default lerobot).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli_util import run_envkit
from tests.lerobot_trees import fork_project, sdist_tree

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("python3.11") is None, reason="the cpu profile builds its venv on python3.11")]


def _env(doctor_cache: Path) -> dict[str, str]:
    return {"ENVKIT_CACHE_DIR": str(doctor_cache), "ENVKIT_TEST_KILL_AT": "", "UV_PYTHON_DOWNLOADS": "never"}


def _setup(prefix: Path, lerobot: str, doctor_cache: Path):
    return run_envkit("setup", "--profile", "cpu", "--prefix", str(prefix), "--lerobot", lerobot,
                      "--no-pretrained-backbone", "--json", env=_env(doctor_cache), timeout=1800)


def _checks(prefix: Path, doctor_cache: Path, *only: str) -> dict[str, dict]:
    """The doctor's checks on the built env (smoke left out unless asked for by id)."""
    args = ["doctor", "--prefix", str(prefix), "--profile", "cpu", "--no-pretrained-backbone", "--json"]
    for check in only:
        args += ["--check", check]
    res = run_envkit(*args, env=_env(doctor_cache), timeout=600)
    doc = json.loads(res.out)
    return {c["id"]: c for c in doc["checks"]}


def _green(res) -> dict:  # type: ignore[no-untyped-def]
    assert res.code == 0, res.err[-3000:]
    summary = json.loads(res.out)
    assert summary["doctor"]["verdict"] == "green", summary["doctor"]
    return summary


def test_fork_with_lerobot_subfolder_sets_up_green(tmp_path: Path, doctor_cache: Path) -> None:
    project = fork_project(tmp_path)
    prefix = tmp_path / "kuavo env"
    summary = _green(_setup(prefix, str(project), doctor_cache))
    assert summary["doctor"]["train_entry"] == "python -m lerobot.scripts.train"  # setup's "run inside it" hint
    checks = _checks(prefix, doctor_cache, "lerobot", "hooks.launch_env", "smoke")
    assert "lerobot.common.* (draccus-era" in checks["lerobot.layout"]["summary"]
    assert checks["lerobot.entrypoint"]["summary"].startswith("train with python -m lerobot.scripts.train")
    assert checks["hooks.launch_env"]["status"] == "ok", checks["hooks.launch_env"]  # its own editable install
    assert f"editable install of {project / 'lerobot'}" in checks["hooks.launch_env"]["summary"]
    for cid in ("smoke.dataset", "smoke.train", "smoke.resume", "smoke.device"):
        assert checks[cid]["status"] == "ok", (cid, checks[cid])
    assert "`python -m lerobot.scripts.train`" in checks["smoke.train"]["summary"]
    assert "lerobot.common.datasets.lerobot_dataset" in checks["smoke.dataset"]["summary"]


def test_sdist_033_sets_up_green(tmp_path: Path, doctor_cache: Path) -> None:
    tree = sdist_tree("0.3.3", tmp_path)
    prefix = tmp_path / "env033"
    summary = _green(_setup(prefix, str(tree), doctor_cache))  # green: the setup's smoke trained and resumed
    assert summary["ran"][0] == "pins"  # 0.3.3 caps torch below the profile's: widened, then installed
    assert summary["doctor"]["train_entry"] == "lerobot-train"
    checks = _checks(prefix, doctor_cache, "lerobot")  # the smoke is not run twice: the fork test does that
    assert checks["lerobot.entrypoint"]["summary"].startswith("lerobot-train at "), checks["lerobot.entrypoint"]
    assert "lerobot.* (0.3+ layout), datasets v2.1" in checks["lerobot.layout"]["summary"]


def test_pypi_010_gets_a_precise_cannot_smoke_test_verdict(tmp_path: Path, doctor_cache: Path) -> None:
    prefix = tmp_path / "env010"
    res = _setup(prefix, "lerobot==0.1.0", doctor_cache)
    assert res.code == 1, res.err[-3000:]
    assert "Traceback" not in res.err
    checks = _checks(prefix, doctor_cache, "lerobot", "smoke.dataset")
    verdict = checks["smoke.dataset"]
    assert verdict["status"] == "fail"
    assert verdict["summary"].startswith("cannot smoke-test this release: lerobot 0.1.0")
    assert "no LeRobotDataset.create" in verdict["summary"] and "--lerobot lerobot==0.4.4" in verdict["fix"]
    assert checks["lerobot.layout"]["status"] == "warn" and "Hydra-era" in checks["lerobot.layout"]["summary"]
    assert checks["lerobot.import"]["status"] == "ok"  # the env itself is built
    dataset = tmp_path / "v21"
    (dataset / "meta").mkdir(parents=True)
    (dataset / "meta" / "info.json").write_text(json.dumps({
        "codebase_version": "v2.1", "fps": 30, "total_episodes": 1, "total_frames": 10, "video_path": None,
        "features": {"action": {"dtype": "float32", "shape": [6]}, "observation.state": {"dtype": "float32", "shape": [6]}}}))
    res = run_envkit("doctor", "--prefix", str(prefix), "--check", "dataset", "--dataset", str(dataset), "--json", env=_env(doctor_cache))
    version = {c["id"]: c for c in json.loads(res.out)["checks"]}["dataset.version"]
    assert version["status"] == "fail" and "has no LeRobotDataset to read it with" in version["summary"], version
