"""`envkit detect` suggests from every visible profile's [hardware.match], a user's own included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envkit.accel.cuda.facts import nvidia
from envkit.errors import EnvkitError
from envkit.host import RecordedBoundary, detect
from envkit.profiles import load_profile
from envkit.suggest import suggest, visible_profiles
from tests.cli_util import run_envkit

HOSTS = Path(__file__).resolve().parent / "data" / "host"
RTX4090 = """schema_version = 1
name = "rtx4090"
extends = "5090"
description = "RTX 4090 (Ada, sm_89) on the 5090 profile's cu128 stack"

[hardware]
gpu = "NVIDIA GeForce RTX 4090"
compute_capability = "8.9"

[hardware.match]
gpu_name = "RTX 4090"
compute_capability = "==8.9"
"""


@pytest.fixture
def rtx4090(tmp_path: Path) -> Path:
    path = tmp_path / "rtx4090.toml"
    path.write_text(RTX4090)
    return path


def test_user_profile_is_suggested_on_a_4090_above_the_driver_floor(rtx4090: Path) -> None:
    profiles, unusable = visible_profiles([str(rtx4090)])
    facts = detect(RecordedBoundary(HOSTS / "rtx4090-595"), profiles=profiles)
    assert unusable == [] and nvidia(facts).driver_version == "595.45.04"
    assert facts.suggested_profile == str(rtx4090.resolve())
    assert not any("below" in w for w in facts.warnings)
    chosen = suggest(facts, profiles)
    assert chosen.profile == "rtx4090" and "RTX 4090" in chosen.reason


def test_driver_550_is_still_explained_with_the_user_profile(rtx4090: Path) -> None:
    profiles, _ = visible_profiles([str(rtx4090)])
    facts = detect(RecordedBoundary(HOSTS / "rtx4090-550"), profiles=profiles)
    assert facts.suggested_profile == str(rtx4090.resolve())
    assert any("550.163.01 is below 570.86" in w and "rtx4090" in w for w in facts.warnings)


def test_builtin_profiles_only_keep_the_old_suggestions() -> None:
    assert detect(RecordedBoundary(HOSTS / "rtx4090-595")).suggested_profile == "5090"
    assert detect(RecordedBoundary(HOSTS / "gtx1080ti-418")).suggested_profile == "cpu"
    assert detect(RecordedBoundary(HOSTS / "atlas-a2-cann83")).suggested_profile == "atlas-a2"


def test_detect_cli_takes_user_profiles_and_a_host_file(rtx4090: Path, tmp_path: Path) -> None:
    host = tmp_path / "host.json"
    host.write_text(detect(RecordedBoundary(HOSTS / "rtx4090-595")).to_json())
    res = run_envkit("detect", "--host", str(host), "--profiles", str(rtx4090.parent), "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["suggested_profile"] == str(rtx4090.resolve())
    env_res = run_envkit("detect", "--host", str(host), "--json", env={"ENVKIT_PROFILE_PATH": str(rtx4090)})
    assert json.loads(env_res.out)["suggested_profile"] == str(rtx4090.resolve())


@pytest.mark.parametrize("body, said", [
    ('[hardware.match]\ngpu_nam = "RTX"\n', ["unknown key 'hardware.match.gpu_nam'", "Did you mean 'gpu_name'"]),
    ('[hardware.match]\ngpu_name = "RTX (4090"\n', ["'hardware.match.gpu_name'", "regular expression"]),
    ('[hardware.match]\ncompute_capability = "8.9+"\n', ["'hardware.match.compute_capability'", "specifier"]),
    ('[hardware.match]\nnpu_name = "910B"\n', ["'hardware.match.npu_name' is a key of accelerator 'ascend'"]),
])
def test_bad_match_tables_are_clear_errors(tmp_path: Path, body: str, said: list[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('schema_version = 1\nname = "bad"\nextends = "5090"\n' + body)
    with pytest.raises(EnvkitError) as info:
        load_profile(str(path))
    text = info.value.paragraph()
    assert all(s in text for s in said), text
