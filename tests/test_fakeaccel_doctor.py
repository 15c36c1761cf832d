"""The doctor half of the third-party accelerator: the FakeAccel distribution (tests/fakeaccel/)
names its check module (which holds its probe fragment too) in its backend's `# --- doctor ---` block, and
`envkit doctor` runs them, with nothing under src/ knowing the plug-in."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests import fakeaccel
from tests.cli_util import run_envkit
from tests.conftest import by_id, doctor_env, run_doctor

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return fakeaccel.install(tmp_path_factory.mktemp("fakeaccel"))


def _doctor(plugin: dict[str, str], python: Path, cache: Path, *extra: str, **env: str) -> tuple[int, dict, str]:
    args = ["--python", str(python), "--profile", str(fakeaccel.profile(plugin)), "--no-smoke", *extra]
    return run_doctor(args, doctor_env(cache, **plugin, **env))


def test_nothing_under_src_knows_the_plugin() -> None:
    hits = subprocess.run(["grep", "-rli", "fakeaccel", str(ROOT / "src")], capture_output=True, text=True)
    assert hits.stdout == ""


def test_its_checks_are_listed_only_where_it_is_installed(plugin: dict[str, str]) -> None:
    listed = run_envkit("doctor", "--list-checks", env=plugin)
    assert listed.code == 0, listed.err
    assert {"fakeaccel.runtime", "fakeaccel.visible", "fakeaccel.torch"} <= {line.split()[0] for line in listed.out.splitlines()}
    bare = run_envkit("doctor", "--list-checks")
    assert "fakeaccel" not in bare.out


def test_doctor_runs_its_checks_with_its_fragments_facts(plugin: dict[str, str], tmp_path: Path) -> None:
    """This test's own Python stands in for the target env (no torch, no FakeAccel runtime): the
    fragment's ENV_PREFIXES carry FAKEACCEL_VISIBLE_DEVICES out of the target, its checks judge it."""
    code, doc, err = _doctor(plugin, Path(sys.executable), tmp_path, "--check", "fakeaccel", FAKEACCEL_VISIBLE_DEVICES="")
    assert doc, err
    checks = by_id(doc)
    assert set(checks) == {"fakeaccel.runtime", "fakeaccel.visible", "fakeaccel.torch"}
    assert checks["fakeaccel.visible"]["status"] == "fail" and "hides every chip" in checks["fakeaccel.visible"]["summary"]
    runtime = checks["fakeaccel.runtime"]
    assert runtime["status"] == "fail" and "fakeaccel-runtime==1.2.0" in runtime["fix"]  # the profile's runtime
    assert checks["fakeaccel.torch"]["status"] == "skip"  # torch did not import: no fragment facts
    assert code == 1
    assert "fakeaccel_runtime" in doc["versions"]  # its report key, for envkit fleet
    ok_env = _doctor(plugin, Path(sys.executable), tmp_path, "--check", "fakeaccel.visible", FAKEACCEL_VISIBLE_DEVICES="0,1")[1]
    assert by_id(ok_env)["fakeaccel.visible"]["status"] == "ok"


def test_its_checks_skip_when_neither_profile_nor_host_has_it(plugin: dict[str, str], tmp_path: Path) -> None:
    args = ["--python", sys.executable, "--profile", "cpu", "--no-smoke", "--check", "fakeaccel"]
    doc = run_doctor(args, doctor_env(tmp_path, **plugin))[1]
    assert {c["status"] for c in doc["checks"]} == {"skip"}


@pytest.mark.slow
def test_its_fragment_runs_inside_a_real_torch(plugin: dict[str, str], healthy_env: Path, doctor_cache: Path) -> None:
    """In the healthy CPU env (real torch), the fragment's probe(torch) ran in the target interpreter."""
    code, doc, err = _doctor(plugin, healthy_env / "bin" / "python", doctor_cache, "--check", "fakeaccel", "--check", "torch")
    checks = by_id(doc)
    assert checks["torch.import"]["status"] == "ok", err
    torch_side = checks["fakeaccel.torch"]
    assert torch_side["status"] == "ok" and "torch 2.14.1" in torch_side["summary"], json.dumps(torch_side)
