"""The resolver on host facts replayed from transcribed public outputs (tests/data/host)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envkit.accel.ascend.facts import ascend
from envkit.errors import EnvkitError
from envkit.host import RecordedBoundary, detect
from envkit.hostfacts import HostFacts
from envkit.profiles import load_profile
from envkit.resolve import Conflict, resolve
from tests.cli_util import assert_user_error, run_envkit

CPU_DEV = Path(__file__).parent / "data" / "profiles" / "cpu-dev.toml"  # cpu with this machine's limits (Python 3.11, torch 2.14.1)

HOSTS = Path(__file__).parent / "data" / "host"


def host(name: str) -> HostFacts:
    return detect(RecordedBoundary(HOSTS / name))


def custom(tmp_path: Path, text: str) -> str:
    path = tmp_path / "custom.toml"
    path.write_text("schema_version = 1\nname = 'custom'\n" + text)
    return str(path)


@pytest.fixture(scope="module")
def here() -> HostFacts:
    return detect()


def test_5090_on_this_gpu_less_machine(here: HostFacts) -> None:
    r = resolve(load_profile("5090"), here)
    assert (r.torch["version"], r.torch["build"], r.torchvision) == ("2.8.0", "cu128", "0.23.0")
    # conda provides any Python: the newest that torch 2.8 (cp39-cp313) and lerobot 0.4.4 support
    assert r.torchcodec in ("0.6.0", "0.7.0") and r.ffmpeg["major"] == 6 and r.python == "3.13"
    assert r.lerobot["version"] == "0.4.4" and r.lerobot["pin_changes"] == []
    assert "sm_120" in r.torch["arch_list"]
    assert any("no NVIDIA GPU" in w for w in r.warnings)
    assert r.indexes == []  # PyPI's 2.8.0 is already the cu128 build


def test_5090_on_5090_hosts() -> None:
    for name in ("rtx5090-8x-590", "rtx5090-2x-570"):
        facts = host(name)
        r = resolve(load_profile("5090"), facts)
        assert (r.torch["version"], r.torch["build"]) == ("2.8.0", "cu128"), name
        assert not any("no NVIDIA GPU" in w for w in r.warnings)


def test_5090_with_lerobot_042_reports_upper_bounds(here: HostFacts) -> None:
    r = resolve(load_profile("5090"), here, "lerobot==0.4.2")
    changed = {c["package"]: c for c in r.lerobot["pin_changes"]}
    assert set(changed) == {"torch", "torchvision", "torchcodec"}
    assert "<2.8" in changed["torch"]["old"] and "2.8.0" == changed["torch"]["resolved"]


def test_cpu_on_this_machine(here: HostFacts) -> None:
    r = resolve(load_profile(str(CPU_DEV)), here)  # this machine's limits: Python 3.11, its local torch 2.14.1
    assert (r.torch["version"], r.torchvision, r.torchcodec) == ("2.14.1", "0.29.1", "0.17.0")
    assert r.platform == "linux-64" and r.python == "3.11" and r.ffmpeg["source"] == "system"
    assert {c["package"] for c in r.lerobot["pin_changes"]} == {"torch", "torchvision", "torchcodec"}
    assert "torch==2.14.1" in r.overrides and r.warnings == []


def test_atlas_aarch64_names_torch_npu_and_pyav() -> None:
    r = resolve(load_profile("atlas-a2"), host("atlas-a2-cann83"))
    assert r.platform == "linux-aarch64" and r.video_backend == "pyav" and r.torchcodec is None
    assert r.torch_npu == {"version": "2.7.1", "cann": "8.3.RC1"}
    assert r.torch["version"] == "2.7.1" and r.torch["local"] is None  # PyPI's aarch64 2.7.1 is a CPU build
    assert "torch-npu==2.7.1" in r.requirements


def test_atlas_on_a_gpu_less_x86_host_resolves_for_aarch64(here: HostFacts) -> None:
    r = resolve(load_profile("atlas-a2"), here)
    assert r.platform == "linux-aarch64" and r.torch_npu is not None
    assert any("no Ascend NPU" in w for w in r.warnings)


def test_atlas_x86_64_needs_the_cpu_index(here: HostFacts) -> None:
    r = resolve(load_profile("atlas-a2"), here, platform="linux-64")
    assert r.torch["local"] == "cpu" and r.requirements[0] == "torch==2.7.1+cpu"
    assert r.indexes[0]["name"] == "pytorch-cpu" and r.torchcodec is not None


def test_atlas_unsourced_old_cann() -> None:
    facts = host("atlas-910b4-unsourced")  # CANN 8.0.RC2, set_env.sh not sourced
    assert ascend(facts).cann.home_path is None
    with pytest.raises(Conflict, match="CANN 8.0.RC2 on this host is older than 8.3.RC1"):
        resolve(load_profile("atlas-a2"), facts)


def test_atlas_installed_but_unsourced_cann_warns(tmp_path: Path) -> None:
    facts = host("atlas-910b4-unsourced")
    profile = load_profile(custom(tmp_path, "extends = 'atlas-a2'\n[hardware]\ncann_min = '8.0.RC2'\n[packages]\ntorch = '>=2.1,<2.8'\ntorchvision = '>=0.16'\ntorch_npu = '>=2.1'\n"))
    r = resolve(profile, facts)
    assert any("not sourced" in w for w in r.warnings), r.warnings
    assert r.torch_npu and r.torch_npu["cann"] == "8.0.RC2"


def test_conflict_5090_with_pypi_torch_27(tmp_path: Path, here: HostFacts) -> None:
    profile = load_profile(custom(tmp_path, "extends = '5090'\n[packages]\ntorch = '==2.7.1'\ntorchvision = '==0.22.1'\ntorchcodec = '>=0.3,<0.6'\n"))
    with pytest.raises(Conflict) as info:
        resolve(profile, host("rtx5090-8x-590"))
    text = info.value.paragraph()
    assert "cu126" in text and "sm_120" in text and "Fix:" in text


def test_conflict_driver_below_cuda13_floor(tmp_path: Path) -> None:
    profile = load_profile(custom(tmp_path, "extends = '5090'\n[packages]\ntorch = '==2.11.0'\ntorchvision = '==0.26.0'\ntorchcodec = '>=0.11.1,<0.12'\ncuda = '13.0'\n"))
    with pytest.raises(Conflict, match="570.133.07 on this host is below 580"):
        resolve(profile, host("rtx5090-2x-570"))


def test_conflict_gtx1080ti_not_covered_by_cu128() -> None:
    with pytest.raises(Conflict, match="6.1"):
        resolve(load_profile("5090"), host("gtx1080ti-418"))


def test_rtx4090_runs_cu128_by_binary_compatibility(tmp_path: Path) -> None:
    facts = host("rtx4090-550")
    # The 5090 profile's floor is lerobot's 570.86 (Blackwell); this 4090 box runs driver 550.
    with pytest.raises(Conflict, match="550.163.01 on this host is below 570.86"):
        resolve(load_profile("5090"), facts)
    # With the CUDA 12.x minor-version-compatibility floor instead, cc 8.9 runs the sm_86 cubins.
    profile = load_profile(custom(tmp_path, "extends = '5090'\n[hardware]\ndriver_min = '525.60.13'\n"
                                  "driver_min_source = 'NVIDIA CUDA minor version compatibility (12.x >= 525)'\n"))
    r = resolve(profile, facts)
    assert r.torch["build"] == "cu128"
    assert any("compute capability 8.9" in w for w in r.warnings)


def test_conflict_lerobot_05_on_python_311(here: HostFacts) -> None:
    with pytest.raises(Conflict, match="requires Python >=3.12"):
        resolve(load_profile("cpu"), here, "lerobot==0.5.0", pythons={"3.11": "/usr/bin/python3.11"})


def test_conflict_torchcodec_010_with_torch_214(tmp_path: Path, here: HostFacts) -> None:
    profile = load_profile(custom(tmp_path, f"extends = '{CPU_DEV}'\n[packages]\ntorchcodec = '==0.10.0'\n"))
    with pytest.raises(Conflict, match="0.10") as info:
        resolve(profile, here)
    assert "0.11.1" in info.value.paragraph()


def test_cli_resolve_json_and_host_file(tmp_path: Path) -> None:
    facts = tmp_path / "host.json"
    facts.write_text(host("rtx5090-8x-590").to_json())
    result = run_envkit("resolve", "--profile", "rtx5090", "--host", str(facts), "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["schema_version"] == 1 and data["torch"]["build"] == "cu128" and data["cuda"]["build"] == "12.8"


def test_cli_conflict_exit_1(tmp_path: Path) -> None:
    facts = tmp_path / "host.json"
    facts.write_text(host("gtx1080ti-418").to_json())
    result = run_envkit("resolve", "--profile", "5090", "--host", str(facts))
    assert_user_error(result, "6.1", code=1)


@pytest.mark.parametrize(
    "args,needles",
    [
        (["--lerobot", "./no/such/tree"], ["does not exist"]),
        (["--lerobot", "lerobot==="], ["Cannot parse the lerobot source"]),
        (["--lerobot", "torch==2.8.0"], ["names 'torch', not lerobot"]),
        (["--lerobot", "lerobot @ git+https://example.invalid/lerobot"], ["does not name a commit"]),
        (["--lerobot", "lerobot==9.9.9"], ["No lerobot release known"]),
        (["--host", "/no/such/host.json"], ["does not exist"]),
        (["--platform", "linux-ppc64le"], ["does not target platform linux-ppc64le"]),
    ],
)
def test_cli_bad_input(args: list[str], needles: list[str]) -> None:
    assert_user_error(run_envkit("resolve", "--profile", "cpu", *args), *needles)


def test_bad_host_file_json(tmp_path: Path) -> None:
    bad = tmp_path / "h.json"
    bad.write_text('{"schema_version": 1,\n "os": }')
    assert_user_error(run_envkit("resolve", "--profile", "cpu", "--host", str(bad)), "line 2")


def test_resolve_is_a_pure_function_of_its_inputs(here: HostFacts) -> None:
    a = resolve(load_profile("cpu"), here)
    b = resolve(load_profile("cpu"), here)
    assert a.digest() == b.digest() and a.to_dict() == b.to_dict()
    with pytest.raises(EnvkitError):
        resolve(load_profile("cpu"), here, platform="linux-ppc64le")
