"""CUDA and NPU checks fed with probe/host boundaries: transcribed (tests/data/probe/*/SOURCE.md)
and recorded by `envkit doctor --record` (tests/data/recorded/*), every directory found by itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envkit.doctor import registry
from envkit.doctor.model import Context
from envkit.record.verdicts import replay_context
from tests.scenarios import is_recorded, probe_scenarios, scenario_id

DATA = Path(__file__).parent / "data" / "probe"
SCENARIOS = probe_scenarios()


def load(name: str | Path) -> tuple[Context, dict[str, str]]:
    d = name if isinstance(name, Path) else DATA / name
    assert (d / "SOURCE.md").is_file(), "every scenario says where it came from"
    if is_recorded(d):
        assert "RECORDED" in (d / "SOURCE.md").read_text(), "a recorded scenario says so"
    return replay_context(d), json.loads((d / "expect.json").read_text())


def run(ctx: Context) -> dict:
    results = registry.run_checks(registry.select(registry.all_checks(), smoke=False), ctx)
    return {r.id: r for r in results}


def test_transcribed_scenarios_are_found() -> None:
    assert len([p for p in SCENARIOS if p.parent == DATA]) >= 7


@pytest.mark.parametrize("name", SCENARIOS, ids=scenario_id)
def test_scenario_statuses(name: Path) -> None:
    ctx, expect = load(name)
    results = run(ctx)
    assert not [r for r in results.values() if r.status.value == "error"], [r.details for r in results.values() if r.status.value == "error"]
    got = {cid: results[cid].status.value for cid in expect}
    assert got == expect
    for r in results.values():
        if r.status.value == "fail":
            assert r.fix, f"{r.id} fails without a fix"


def test_5090_old_torch_fix_names_a_cu128_build() -> None:
    results = run(load("rtx5090-torch271-pypi")[0])
    assert "12.0" in results["cuda.arch"].summary
    assert "cu128" in results["cuda.arch"].fix and "torch==2.7.1" in results["cuda.arch"].fix
    assert "no kernel image" in results["cuda.kernel"].summary


def test_cuda13_with_r570_driver_says_580() -> None:
    results = run(load("cuda13-build-driver570")[0])
    assert "580" in results["cuda.driver"].summary
    assert "580" in results["cuda.driver"].fix


def test_4090_runs_by_binary_compatibility() -> None:
    results = run(load("rtx4090-cu128")[0])
    assert "sm_86" in results["cuda.arch"].summary


def test_cann_not_sourced_names_set_env() -> None:
    results = run(load("atlas-a2-cann-not-sourced")[0])
    assert "source /usr/local/Ascend/ascend-toolkit/set_env.sh" in results["npu.cann"].fix
    assert "torch_npu" in results["torch.import"].summary


def test_torch_npu_mismatch_fix_reinstalls_matching_torch() -> None:
    results = run(load("atlas-a2-torch-npu-mismatch")[0])
    assert "torch==2.8.0" in results["npu.torch_npu"].fix
    assert "2.9.1" in results["npu.torch_npu"].summary


def test_unpatched_lerobot_quotes_the_upstream_error() -> None:
    results = run(load("atlas-a2-lerobot-unpatched")[0])
    assert "Unknown device npu" in results["npu.lerobot"].summary
    assert "envkit setup" in results["npu.lerobot"].fix


def test_cpu_torch_on_gpu_host_fails() -> None:
    ctx, _ = load("rtx5090-torch280-driver570")
    ctx.probe["torch"] = {"version": "2.8.0+cpu", "cuda": None, "cuda_facts": {"built": False}}
    ctx.probe["dists"]["torch"] = "2.8.0+cpu"
    results = run(ctx)
    assert results["torch.build"].status.value == "fail"
    assert "CPU-only" in results["torch.build"].summary


def test_cuda_torch_on_npu_host_fails() -> None:
    ctx, _ = load("atlas-a2-lerobot-unpatched")
    ctx.probe["torch"]["cuda"] = "12.8"
    results = run(ctx)
    assert results["torch.build"].status.value == "fail"
    assert "Two accelerators" in results["torch.build"].summary
