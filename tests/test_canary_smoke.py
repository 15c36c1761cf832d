"""The doctor's smoke trains ACT and resumes, for real, on the canary trees that install here, with the
arguments built from each tree's own capability probe (envkit.train_args).

Slow. Bounded: one environment per tree under .cache/envs/canary-<tree> (a re-run of `envkit setup`
there is a no-op), uv's cache shared; the smoke runs once per tree: setup's own doctor step when setup
built the environment now, else `envkit doctor --check lerobot --check smoke`. lerobot 0.4.4 uses the
session's healthy env (tests/conftest.py). Trees: the 483be9a fork fixture (a parent project with
lerobot/ inside) and two lerobot.common commits kept as snapshots (tests/data/lerobot-trees):
a3cd18e (2025-03-15) and a989c79 (2025-06-26), neither of which has --policy.push_to_hub.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.canary import snapshot_project
from tests.cli_util import run_envkit
from tests.conftest import ENVS, ROOT, by_id, doctor_env, run_doctor
from tests.lerobot_trees import fork_project

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("python3.11") is None, reason="the cpu profile builds its venv on python3.11")]
TREES = ROOT / ".cache" / "canary-trees"


def _project(tree: str) -> Path:
    if tree == "fork-483be9a":
        project = TREES / "kuavo-483be9a"
        if not (project / "lerobot" / "pyproject.toml").is_file():
            shutil.rmtree(TREES / ".fork", ignore_errors=True)
            fork_project(TREES / ".fork").rename(project)
        return project
    return snapshot_project(tree.split("-", 1)[1], TREES)


def _setup_log_report(prefix: Path) -> dict:
    """The doctor report setup's doctor step wrote into the setup log (its --json output)."""
    text = (prefix / ".envkit" / "setup.log").read_text()
    start = text.rindex('{\n  "envkit_version"')
    return json.JSONDecoder().raw_decode(text[start:])[0]


def _smoke(tree: str, doctor_cache: Path) -> dict:
    prefix = ENVS / f"canary-{tree}"
    env = {"ENVKIT_CACHE_DIR": str(doctor_cache), "ENVKIT_TEST_KILL_AT": "", "UV_PYTHON_DOWNLOADS": "never"}
    res = run_envkit("setup", "--profile", "cpu", "--prefix", str(prefix), "--lerobot", str(_project(tree)),
                     "--no-pretrained-backbone", "--yes", "--json", env=env, timeout=2400)
    assert res.code == 0, res.err[-3000:]
    summary = json.loads(res.out)
    if "doctor" in summary["ran"]:
        return _setup_log_report(prefix)
    code, doc, err = run_doctor(["--prefix", str(prefix), "--profile", "cpu", "--no-pretrained-backbone", "--check", "lerobot",
                                 "--check", "smoke"], doctor_env(doctor_cache))
    assert doc, err[-3000:]
    return doc


EXPECT = {  # tree: (settings the smoke must leave out, a field the tree has, one it lacks)
    "fork-483be9a": ((), "policy.push_to_hub", "accelerator.mixed_precision"),
    "common-a3cd18e": (("policy.push_to_hub",), "wandb.run_id", "policy.push_to_hub"),
    "common-a989c79": (("policy.push_to_hub",), "policy.device", "policy.push_to_hub"),
}


@pytest.mark.parametrize("tree", sorted(EXPECT))
def test_smoke_trains_and_resumes_on_a_lerobot_common_tree(tree: str, doctor_cache: Path) -> None:
    doc = _smoke(tree, doctor_cache)
    checks = by_id(doc)
    for cid in ("lerobot.capabilities", "smoke.dataset", "smoke.train", "smoke.resume", "smoke.device"):
        assert checks[cid]["status"] == "ok", (cid, checks[cid])
    dropped, has, lacks = EXPECT[tree]
    caps = doc["lerobot_caps"]
    assert caps["package"] == "lerobot.common" and caps["distributed"] == "none" and caps["can_train"]
    assert has in caps["fields"] and lacks not in caps["fields"]
    summary = checks["smoke.train"]["summary"]
    assert "`python -m lerobot.scripts.train`" in summary
    for name in dropped:
        assert f"not passed, this lerobot has no such setting: {name}" in summary
        assert f"--{name}" not in checks["smoke.train"]["details"]  # the command that trained
    assert doc["train_command"].startswith("python -m lerobot.scripts.train --policy.type=act --policy.device=cpu")


def test_smoke_trains_and_resumes_on_lerobot_044(healthy_env: Path, doctor_cache: Path) -> None:
    code, doc, err = run_doctor(["--prefix", str(healthy_env), "--profile", "cpu", "--no-pretrained-backbone",
                                 "--check", "lerobot", "--check", "smoke"], doctor_env(doctor_cache))
    checks = by_id(doc)
    assert checks, err[-3000:]
    for cid in ("lerobot.capabilities", "smoke.train", "smoke.resume", "smoke.device"):
        assert checks[cid]["status"] == "ok", (cid, checks[cid])
    caps = doc["lerobot_caps"]
    assert caps["distributed"] == "accelerate" and caps["mixed_precision"] == "env:ACCELERATE_MIXED_PRECISION"
    assert caps["codebase_version"] == "v3.0" and caps["async_inference"] == "lerobot.async_inference"
    assert "--policy.push_to_hub=false" in checks["smoke.train"]["details"]


@pytest.mark.skipif(not os.environ.get("ENVKIT_MAIN_PREFIX"),
                    reason="needs an environment holding lerobot main (Python >= 3.12: the Debian 13 root of tests/debian13.py); "
                           "set ENVKIT_MAIN_PREFIX to its prefix. tests/test_lerobot_caps.py checks the same plan from the recorded probe")
def test_launch_dry_run_on_the_main_snapshot_uses_its_config_precision() -> None:
    prefix = os.environ["ENVKIT_MAIN_PREFIX"]
    res = run_envkit("launch", "--prefix", prefix, "--profile", "cpu", "--devices", "2", "--mixed-precision", "bf16", "--dry-run",
                     "--json", "--", "--dataset.repo_id=lerobot/pusht", "--policy.type=act", timeout=600)
    assert res.code == 0, res.err[-3000:]
    plan = json.loads(res.out)["plan"]
    assert plan["nproc"] == 2 and plan["launcher"] == "torchrun" and "--nproc-per-node=2" in plan["argv"]
    assert plan["mixed_precision_by"] == "accelerator.mixed_precision"
    assert "--accelerator.mixed_precision=bf16" in plan["train_args"]
    assert not any(k.startswith("ACCELERATE_") for k in plan["env"])


def test_a_tree_from_before_torchcodec_gets_a_precise_verdict(doctor_cache: Path) -> None:
    """10706ed (2025-03-06) takes --device/--use_amp (its fields) but decodes video only through
    torchvision.io.VideoReader, which the cpu profile's torchvision lacks: red, with that reason, before training."""
    prefix = ENVS / "canary-common-10706ed"
    env = {"ENVKIT_CACHE_DIR": str(doctor_cache), "ENVKIT_TEST_KILL_AT": "", "UV_PYTHON_DOWNLOADS": "never"}
    res = run_envkit("setup", "--profile", "cpu", "--prefix", str(prefix), "--lerobot", str(_project("common-10706ed")),
                     "--no-pretrained-backbone", "--yes", "--json", env=env, timeout=2400)
    assert res.code == 1 and "Traceback" not in res.err, res.err[-3000:]
    checks = by_id(_setup_log_report(prefix))
    assert checks["lerobot.capabilities"]["status"] == "ok" and "mixed precision: use_amp" in checks["lerobot.capabilities"]["summary"]
    verdict = checks["smoke.dataset"]
    assert verdict["status"] == "fail" and "only through torchvision.io.VideoReader" in verdict["summary"], verdict
    assert checks["smoke.train"]["status"] == "skip"
