"""The ROCm accelerator (src/envkit/accel/rocm/) on its replayed hosts: an 8x Instinct MI300X server
(amd-smi) and a Radeon RX 7900 XTX desktop (rocm-smi only), both transcribed from cited sources
(tests/data/host/*/meta.toml). detect, resolve, setup --dry-run, the doctor and launch --dry-run work
for it; the device string "cuda" a ROCm torch uses never makes the CUDA backend claim the host."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from envkit.accel.registry import get_backend
from envkit.accel.rocm import host as reader
from envkit.accel.rocm import matrix
from envkit.accel.rocm.checks import arch, visible
from envkit.compat import matrix as compat_matrix
from envkit.doctor import registry
from envkit.errors import Conflict
from envkit.host import RecordedBoundary, detect
from envkit.launch.devices import effective_spec, select
from envkit.launch.plan import Request, build
from envkit.launch.rendezvous import Route, parse
from envkit.profiles import load_profile
from envkit.record.verdicts import replay_context
from envkit.resolve import resolve
from tests.cli_util import run_envkit
from tests.test_launch import ARGS, facts

DATA = Path(__file__).parent / "data"
HOSTS = DATA / "host"
GOLDEN = DATA / "launch"
MI300X, XTX = "mi300x-8x-rocm64", "rx7900xtx-rocm64"


def host(name: str):
    return detect(RecordedBoundary(HOSTS / name))


@pytest.fixture(scope="module")
def host_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The replayed hosts as `envkit detect --json` writes them, for --host."""
    out = {}
    for name in (MI300X, XTX):
        path = tmp_path_factory.mktemp("host") / f"{name}.json"
        path.write_text(host(name).to_json())
        out[name] = path
    return out


# --- the host reader ------------------------------------------------------------------------------


def test_mi300x_gpus_come_from_kfd_and_are_named_by_amd_smi() -> None:
    facts = reader.collect(RecordedBoundary(HOSTS / MI300X))
    assert facts is not None and facts["kfd"] and facts["smi"] == "amd-smi"
    gpus = facts["gpus"]
    assert len(gpus) == 8 and {g["gfx"] for g in gpus} == {"gfx942"}
    assert {g["name"] for g in gpus} == {"AMD Instinct MI300X"}
    assert gpus[0]["bdf"] == "0000:05:00.0" and gpus[7]["bdf"] == "0000:e5:00.0" and gpus[7]["kfd_node"] == 9
    assert gpus[0]["memory_total_bytes"] == 206141652992  # 196592 MiB, as rocm-smi reports it (ROCm/ROCm#4750)
    assert facts["rocm_version"] == "6.4.0-47" and facts["driver_version"] == "6.10.10"
    assert facts["device_nodes"][0] == "/dev/kfd" and len(facts["device_nodes"]) == 9


def test_7900xtx_falls_back_to_rocm_smi_and_matches_by_kfd_node() -> None:
    facts = reader.collect(RecordedBoundary(HOSTS / XTX))
    assert facts is not None and facts["smi"] == "rocm-smi"
    (gpu,) = facts["gpus"]
    assert (gpu["name"], gpu["gfx"], gpu["device_id"], gpu["bdf"]) == ("Radeon RX 7900 XTX", "gfx1100", "0x744c", "0000:03:00.0")
    assert facts["driver_version"] == "6.8.0-79-generic"  # the in-box driver reports the kernel release


def test_nvidia_and_ascend_hosts_have_no_rocm_facts() -> None:
    for name in ("rtx5090-8x-590", "atlas-a2-8x-910b2", "gtx1080ti-418"):
        assert reader.collect(RecordedBoundary(HOSTS / name)) is None


@pytest.mark.parametrize(("value", "gfx"), [(90402, "gfx942"), (110000, "gfx1100"), (90010, "gfx90a"), (100300, "gfx1030"),
                                            (120001, "gfx1201"), (0, None)])
def test_kfd_gfx_target_version_is_decoded(value: int, gfx: str | None) -> None:
    assert reader.gfx_name(value) == gfx


def test_amd_smi_layouts_old_and_new() -> None:
    entry = {"gpu": 0, "asic": {"market_name": "AMD Instinct MI300X", "target_graphics_version": "gfx942"},
             "bus": {"bdf": "0000:05:00.0"}, "driver": {"version": "6.10.10"}, "vram": {"size": "196592 MB"}}
    for text in (json.dumps([entry]), json.dumps({"gpu_data": [entry]})):
        gpus, driver, problem = reader.parse_amd_smi_static(text)
        assert problem is None and driver == "6.10.10" and gpus[0]["memory_total_bytes"] == 196592 * 2**20
    # ROCm 6.2's amd-smi prints no target: "N/A" is unknown, and the KFD topology supplies it.
    entry["asic"]["target_graphics_version"] = "N/A"
    assert reader.parse_amd_smi_static(json.dumps([entry]))[0][0]["gfx"] is None
    assert reader.parse_amd_smi_static("not json")[2] == "its output is not JSON"


def test_old_rocm_smi_spelling_and_its_system_object() -> None:
    text = json.dumps({"card1": {"Card series": "Radeon RX 7900 XTX", "Card model": "0x744c"}, "system": {"Driver version": "6.10.5"},
                       "card0": {"Card Series": "AMD Instinct MI300X", "GFX Version": "gfx942", "Node ID": "2"}})
    gpus, problem = reader.parse_rocm_smi_names(text)
    assert problem is None and [g["index"] for g in gpus] == [0, 1] and gpus[0]["node"] == 2
    assert gpus[1]["name"] == "Radeon RX 7900 XTX" and gpus[1]["gfx"] is None
    assert reader.parse_rocm_smi_driver(text) == "6.10.5"


# --- detect -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [MI300X, XTX])
def test_detect_suggests_the_rocm_profile_and_cuda_does_not_claim_the_host(name: str) -> None:
    facts = host(name)
    assert facts.suggested_profile == "rocm"
    assert get_backend("rocm").detected(facts)
    # a ROCm torch trains on the device string "cuda", but no backend but rocm sees this host
    assert not get_backend("cuda").detected(facts) and not get_backend("ascend").detected(facts)


def test_detect_cli_prints_the_gpus(host_files: dict[str, Path]) -> None:
    res = run_envkit("detect", "--host", str(host_files[MI300X]))
    assert res.code == 0, res.err
    text = " ".join(res.out.split())
    assert "AMD Instinct MI300X, gfx942" in text and "gpu 7" in text and "ROCm 6.4.0-47" in text and "rocm" in text


# --- resolve -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [MI300X, XTX])
def test_resolve_picks_the_rocm64_wheel_from_the_profiles_index(name: str, host_files: dict[str, Path]) -> None:
    res = run_envkit("resolve", "--profile", "rocm", "--host", str(host_files[name]), "--json")
    assert res.code == 0, res.err
    tuple_ = json.loads(res.out)
    assert tuple_["accelerator"] == "rocm" and tuple_["cuda"] is None and tuple_["torch_npu"] is None
    assert tuple_["rocm"]["build"] == "6.4" and tuple_["rocm"]["index"] == "pytorch-rocm6.4"
    assert {"gfx942", "gfx1100"} <= set(tuple_["rocm"]["arch_list"])
    assert "torch==2.8.0+rocm6.4" in tuple_["requirements"]


def _profile(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text('schema_version = 1\nname = "mine"\nextends = "rocm"\n' + body)
    return path


def _with_gfx(name: str, gfx: str):
    facts = host(name)
    rocm = dict(facts.accelerators["rocm"])
    rocm["gpus"] = [{**g, "gfx": gfx} for g in rocm["gpus"]]
    return dataclasses.replace(facts, accelerators={**facts.accelerators, "rocm": rocm})


def test_a_gpu_the_wheel_has_no_code_objects_for_is_refused_with_the_override_hint(tmp_path: Path) -> None:
    # ROCm 6.2's wheels list neither gfx1101 (RX 7800 XT) nor gfx1102; the 6.4 ones do.
    mine = _profile(tmp_path, '[packages]\ntorch = ">=2.5,<2.6"\ntorchvision = ">=0.20,<0.21"\ntorchcodec = ">=0.1,<0.2"\n'
                              'rocm = "6.2"\n[hardware]\ngfx = ["gfx1100"]\n'
                              '[[indexes]]\nname = "pytorch-rocm6.2"\nurl = "https://example.invalid/whl/rocm6.2"\npackages = ["torch", "torchvision"]\n')
    with pytest.raises(Conflict) as info:
        resolve(load_profile(str(mine)), _with_gfx(XTX, "gfx1101"))
    assert "gfx1101" in str(info.value) and "HSA_OVERRIDE_GFX_VERSION=11.0.0" in info.value.fix
    assert resolve(load_profile("rocm"), _with_gfx(XTX, "gfx1101")).accel.data["build"] == "6.4"


def test_an_index_the_profile_does_not_list_is_named_in_the_fix(tmp_path: Path) -> None:
    mine = _profile(tmp_path, '[packages]\nrocm = "6.3"\n')
    with pytest.raises(Conflict) as info:
        resolve(load_profile(str(mine)), host(MI300X))
    assert "pytorch-rocm6.3" in str(info.value) and "[[indexes]]" in info.value.fix


def test_an_unknown_rocm_build_is_a_profile_error(tmp_path: Path) -> None:
    res = run_envkit("resolve", "--profile", str(_profile(tmp_path, '[packages]\nrocm = "5.9"\n')))
    assert res.code == 2 and "packages.rocm" in res.err and "6.4" in res.err and "Traceback" not in res.err


def test_the_build_table_is_consistent() -> None:
    for b in matrix.builds():
        assert b.index == f"pytorch-{b.local}" and set(b.checked) <= set(b.torch)
        assert "gfx942" in b.archs and "gfx1100" in b.archs  # MI300X and RX 7900 XTX: every ROCm >= 6.0 build
        assert set(b.hip) <= set(b.torch)
    assert matrix.build("2.8.0+rocm6.4", "6.4") is not None and matrix.from_local("rocm6.2.4") == "6.2.4"


def test_a_lock_manifest_digests_the_rocm_row_it_used() -> None:
    m = compat_matrix()
    assert m.row_digest(("rocm", "6.4")) != m.row_digest(("rocm", "6.3"))
    assert m.row_digest(("torch", "2.8.0"), ("rocm", "6.4")) == m.row_digest(("rocm", "6.4"), ("torch", "2.8.0"))


# --- setup --dry-run --------------------------------------------------------------------------------


def test_setup_dry_run_installs_the_rocm_wheels_and_sets_hip_visible_devices(host_files: dict[str, Path], tmp_path: Path) -> None:
    res = run_envkit("setup", "--profile", "rocm", "--host", str(host_files[MI300X]), "--dry-run", "--json",
                     "--prefix", str(tmp_path / "env"), "--visible-devices", "0,1", env={"PIP_CONFIG_FILE": "/dev/null"})
    assert res.code == 0, res.err
    steps = {s["id"]: s for s in json.loads(res.out)["steps"]}
    torch_cmd = steps["torch"]["commands"][0]
    assert "torch==2.8.0+rocm6.4" in torch_cmd and "torchvision==0.23.0+rocm6.4" in torch_cmd
    assert "pytorch-rocm6.4=https://download.pytorch.org/whl/rocm6.4" in torch_cmd  # the profile's URL
    assert steps["hooks"]["inputs"]["env"]["HIP_VISIBLE_DEVICES"] == "0,1"
    assert "CUDA_VISIBLE_DEVICES" not in steps["hooks"]["inputs"]["env"]


# --- doctor -------------------------------------------------------------------------------------------


def _run(directory: str) -> dict:
    ctx = replay_context(DATA / "probe" / directory)
    return {r.id: r for r in registry.run_checks(registry.select(registry.all_checks(), smoke=False), ctx)}


def test_doctor_on_the_mi300x_passes_rocm_and_skips_cuda_although_torch_cuda_answers() -> None:
    results = _run("mi300x-8x-torch291-rocm64")
    assert all(results[c].status.value == "ok" for c in ("rocm.devices_nodes", "rocm.build", "rocm.arch", "rocm.kernel", "rocm.visible"))
    assert all(r.status.value == "skip" for cid, r in results.items() if cid.startswith("cuda."))
    assert "HIP 6.4.43484-123eb5128" in results["torch.build"].summary


def test_doctor_names_the_rocm_wheel_for_a_cuda_torch_on_an_amd_host() -> None:
    results = _run("rx7900xtx-torch280-cuda-build")
    assert results["rocm.build"].status.value == "fail"
    assert "torch==2.8.0+rocm6.4" in results["rocm.build"].fix and "--index-url https://download.pytorch.org/whl/rocm6.4" in results["rocm.build"].fix


def test_doctor_arch_fails_for_a_missing_target_with_the_override_hint() -> None:
    ctx = replay_context(DATA / "probe" / "rx7900xtx-torch280-rocm63")
    object.__setattr__(ctx, "host", _with_gfx(XTX, "gfx1101"))
    facts = ctx.probe["torch"]["rocm_facts"]
    facts["arch_list"] = [a for a in facts["arch_list"] if a not in ("gfx1101", "gfx1102")]  # as a ROCm 6.2 wheel
    outcome = arch(ctx)
    assert outcome.status.value == "fail" and "gfx1101" in outcome.summary
    assert "HSA_OVERRIDE_GFX_VERSION=11.0.0" in outcome.fix
    ctx.probe["env"]["HSA_OVERRIDE_GFX_VERSION"] = "11.0.0"
    assert arch(ctx).status.value == "warn"


def test_doctor_visible_devices_read_rocr_then_hip() -> None:
    ctx = replay_context(DATA / "probe" / "mi300x-8x-torch291-rocm64")
    ctx.probe["env"] = {"ROCR_VISIBLE_DEVICES": "0,1,2,3", "HIP_VISIBLE_DEVICES": "0,1"}
    ctx.probe["torch"]["rocm_facts"]["device_count"] = 2
    assert visible(ctx).status.value == "ok"
    ctx.probe["env"] = {"HIP_VISIBLE_DEVICES": "-1"}
    assert visible(ctx).status.value == "fail"


# --- launch --dry-run --------------------------------------------------------------------------------


def test_launch_dry_run_on_8_mi300x_golden() -> None:
    backend = get_backend("rocm")
    h = host(MI300X)
    selection = select("all", backend.host_device_count(h), True)
    assert selection.nproc == 8
    plan = build(Request(launcher="torchrun", mixed_precision="bf16", train_args=ARGS), facts("rocm"), "rocm", backend,
                 selection, 29517, backend.launch_sources(h))
    assert "--policy.device=cuda" in plan.argv and "--nproc-per-node=8" in plan.argv
    text = plan.render()
    path = GOLDEN / "rocm-mi300x-8gpu-torchrun-bf16.txt"
    if os.environ.get("ENVKIT_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text(), f"{path} differs; ENVKIT_UPDATE_GOLDEN=1 rewrites it (review the diff)"


def test_launch_selects_gpus_with_hip_visible_devices_and_points_rccl_at_the_network() -> None:
    backend = get_backend("rocm")
    assert (backend.device, backend.collective, backend.visible_devices_var) == ("cuda", "nccl", "HIP_VISIBLE_DEVICES")
    two = build(Request(train_args=ARGS), facts("rocm"), "rocm", backend, select("0,1", 8, True), 29517)
    assert two.env["HIP_VISIBLE_DEVICES"] == "0,1" and "CUDA_VISIBLE_DEVICES" not in two.env
    nodes = parse(2, 1, "10.20.0.11:29400")
    multi = build(Request(train_args=ARGS, nodes=nodes), facts("rocm", route=Route("bond0", "10.20.0.12")), "rocm", backend,
                  select("all", 8, True), 29400)
    assert multi.env["NCCL_SOCKET_IFNAME"] == "bond0"  # RCCL reads NCCL's variable names
    hints = {h.id for h in backend.failure_hints()}
    assert {"rocm.no_code_object", "rccl.init"} <= hints


def test_devices_all_under_a_rocr_restriction_counts_what_it_leaves() -> None:
    """A scheduler's ROCR_VISIBLE_DEVICES=4,5,6,7 leaves 4 GPUs, which HIP numbers 0..3."""
    backend = get_backend("rocm")
    spec = effective_spec("all", backend.visible_devices_var, {"ROCR_VISIBLE_DEVICES": "4,5,6,7"}, backend.visible_devices_also)
    assert spec == "0,1,2,3" and select(spec, 8, True).nproc == 4
    assert effective_spec("all", backend.visible_devices_var, {"HIP_VISIBLE_DEVICES": "1"}, backend.visible_devices_also) == "1"
