"""Profiles: the built-ins validate, extends merges, and every mistake is one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from envkit.accel import installed
from envkit.errors import EnvkitError
from envkit.profiles import list_profiles, load_profile
from tests.cli_util import assert_user_error, run_envkit


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


CHILD = """schema_version = 1
name = "my5090"
extends = "5090"
[packages]
torchcodec = ">=0.7,<0.8"
[env]
NCCL_P2P_DISABLE = "1"
"""


def test_builtin_profiles_load() -> None:
    names = {p.name for p in list_profiles()}
    assert {"5090", "atlas-a2", "cpu"} <= names
    assert load_profile("rtx5090").name == "5090"
    atlas = load_profile("atlas-a2")
    assert atlas.for_platform("linux-aarch64").video_backend == "pyav"
    x86 = atlas.for_platform("linux-64")
    assert x86.video_backend == "torchcodec" and x86.packages["torch_local"] == "cpu"
    assert x86.indexes[0]["name"] == "pytorch-cpu"


def test_extends_merges_tables_and_replaces_scalars(tmp_path: Path) -> None:
    child = load_profile(str(write(tmp_path, "my.toml", CHILD)))
    assert child.name == "my5090"
    assert child.packages["torch"] == "==2.8.0"  # inherited
    assert child.packages["torchcodec"] == ">=0.7,<0.8"  # overridden
    assert child.env == {"OMP_NUM_THREADS": "1", "NCCL_P2P_DISABLE": "1"}
    assert child.aliases == ()  # names are not inherited
    assert child.digest() != load_profile("5090").digest()


BAD_PROFILES = {
    "unknown key": ("schema_version = 1\nname='x'\nextends='cpu'\n[packages]\ntorchcodex='>=0.11'\n",
                    ["unknown key 'packages.torchcodex'", "Did you mean 'torchcodec'"]),
    "wrong type": ("schema_version = 1\nname='x'\nextends='cpu'\npython = 3.11\n", ["'python'", "wrong type", "float"]),
    "bad toml": ("schema_version = 1\nname = = 'x'\n", ["not valid TOML", "line 2, column 8"]),
    "unterminated": ("schema_version = 1\nname = 'x\n", ["not valid TOML", "line 2"]),
    "schema version": ("schema_version = 7\nname='x'\n", ["'schema_version' is 7"]),
    "bad enum": ("schema_version = 1\nname='x'\nextends='cpu'\naccelerator='tpu'\n", ["'accelerator'", "one of " + ", ".join(repr(n) for n in installed())]),
    "bad specifier": ("schema_version = 1\nname='x'\nextends='cpu'\n[packages]\ntorch='2.8'\n", ["'packages.torch'", "PEP 440"]),
    "impossible npu+cuda": ("schema_version = 1\nname='x'\nextends='5090'\n[packages]\ntorch_npu='>=2.7'\n", ["Two accelerators"]),
    "venv+conda ffmpeg": ("schema_version = 1\nname='x'\nextends='cpu'\n[ffmpeg]\nsource='conda-forge'\n", ["a venv cannot hold conda-forge FFmpeg"]),
    "unknown platform": ("schema_version = 1\nname='x'\nextends='cpu'\n[platform.win-64.packages]\ntorch='>=2'\n", ["unknown platform"]),
    "missing required": ("schema_version = 1\nname='x'\naccelerator='cpu'\n", ["required key 'platforms' is missing"]),
    "on-request variable the backend never sets": (
        "schema_version = 1\nname='x'\nextends='5090'\n[env_on_request]\nASCEND_RT_VISIBLE_DEVICES='npus'\n",
        ["'env_on_request.ASCEND_RT_VISIBLE_DEVICES'", "only CUDA_VISIBLE_DEVICES", "under [env]"]),
    "on-request variable on the cpu": ("schema_version = 1\nname='x'\nextends='cpu'\n[env_on_request]\nCUDA_VISIBLE_DEVICES='gpus'\n",
                                       ["accelerator 'cpu' sets none on request"]),
    "cuda without build": ("schema_version = 1\nname='x'\nextends='cpu'\naccelerator='cuda'\n", ["needs 'packages.cuda'"]),
}


@pytest.mark.parametrize("case", sorted(BAD_PROFILES))
def test_bad_profile_is_one_clear_error(tmp_path: Path, case: str) -> None:
    text, needles = BAD_PROFILES[case]
    path = write(tmp_path, "bad.toml", text)
    with pytest.raises(EnvkitError) as info:
        load_profile(str(path))
    message = info.value.paragraph()
    assert str(path) in message
    for needle in needles:
        assert needle in message, (needle, message)


def test_extends_cycle(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", "schema_version = 1\nname='a'\nextends='./b.toml'\n")
    write(tmp_path, "b.toml", "schema_version = 1\nname='b'\nextends='./a.toml'\n")
    with pytest.raises(EnvkitError, match="cycle"):
        load_profile(str(tmp_path / "a.toml"))


def test_cli_unknown_profile_did_you_mean() -> None:
    assert_user_error(run_envkit("resolve", "--profile", "rtx509"), "Unknown profile 'rtx509'", "Did you mean 'rtx5090'")


def test_cli_bad_profile_file(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.toml", BAD_PROFILES["bad toml"][0])
    assert_user_error(run_envkit("profiles", "show", str(path)), "not valid TOML", "line 2")


def test_cli_profiles_list_and_show() -> None:
    listing = run_envkit("profiles", "--json")
    assert listing.code == 0, listing.err
    assert '"5090"' in listing.out and '"atlas-a2"' in listing.out
    shown = run_envkit("profiles", "show", "atlas", "--json")
    assert shown.code == 0 and '"torch_npu"' in shown.out
