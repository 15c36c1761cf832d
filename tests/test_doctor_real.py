"""Real scenarios on this machine against the cached healthy CPU env (slow: they run torch and lerobot)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_util import CPU_DEV
from tests.conftest import by_id, doctor_env, run_doctor

pytestmark = pytest.mark.slow


def test_healthy_env_trains_and_resumes(healthy_env: Path, doctor_cache: Path) -> None:
    rc, doc, err = run_doctor(["--prefix", str(healthy_env), "--no-pretrained-backbone"], doctor_env(doctor_cache))
    checks = by_id(doc)
    bad = {k: (v["status"], v["summary"]) for k, v in checks.items() if v["status"] not in ("ok", "skip")}
    assert rc == 0 and doc["ok"], (bad, err[-2000:])
    assert not bad
    for cid in ("torch.tuple", "torchcodec.load", "torchcodec.ffmpeg", "lerobot.requirements",
                "smoke.dataset", "smoke.train", "smoke.resume", "smoke.infer", "smoke.device"):
        assert checks[cid]["status"] == "ok", (cid, checks[cid])
    assert "loss" in checks["smoke.train"]["summary"]
    assert doc["target"]["source"] == "--prefix"


def _pip_sources() -> list[str]:
    from envkit.pipconfig import read_pip_config

    return read_pip_config().uv_args()


def _shadow_torchcodec(healthy_env: Path, doctor_cache: Path, tmp_path: Path) -> Path:
    """torchcodec 0.10.0 (built for torch 2.10) in a folder that PYTHONPATH puts before the env's 0.17."""
    from envkit.uvbin import find_uv

    shadow = doctor_cache / "shadow-torchcodec-0.10.0"
    if not (shadow / "torchcodec").is_dir():
        tmp = tmp_path / "t"
        subprocess.run([find_uv(), "pip", "install", "--python", str(healthy_env / "bin" / "python"), "--target", str(tmp),
                        "--no-deps", *_pip_sources(), "torchcodec==0.10.0"], check=True, capture_output=True)
        shutil.rmtree(shadow, ignore_errors=True)
        tmp.rename(shadow)
    return shadow


def test_shadowing_torchcodec_010_fails_with_matching_fix(healthy_env: Path, doctor_cache: Path, tmp_path: Path) -> None:
    shadow = _shadow_torchcodec(healthy_env, doctor_cache, tmp_path)
    rc, doc, err = run_doctor(["--prefix", str(healthy_env), "--no-smoke"], doctor_env(doctor_cache, PYTHONPATH=str(shadow)))
    checks = by_id(doc)
    assert rc == 1, err
    assert checks["torch.tuple"]["status"] == "fail"
    assert "torchcodec==0.17.0" in checks["torch.tuple"]["fix"]
    assert checks["torchcodec.load"]["status"] == "fail"
    assert "undefined symbol" in checks["torchcodec.load"]["summary"]
    assert checks["video.backend"]["status"] == "fail"  # lerobot 0.4.4 still picks the broken torchcodec
    assert checks["hooks.launch_env"]["status"] == "warn"  # torchcodec comes from PYTHONPATH


def test_red_doctor_fails_setups_doctor_step_with_its_fix(healthy_env: Path, doctor_cache: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's doctor step reads the doctor's typed report: a red verdict fails the step, naming the fix."""
    from envkit.errors import StepFailed
    from envkit.setup.engine import execute
    from envkit.setup.plan import Plan, Step, _finalize
    from envkit.state import load_state

    shadow = _shadow_torchcodec(healthy_env, doctor_cache, tmp_path)
    for key, value in doctor_env(doctor_cache, PYTHONPATH=str(shadow)).items():
        monkeypatch.setenv(key, value)
    argv = (sys.executable, "-c", "from envkit.cli import run_main; run_main()", "doctor", "--prefix", str(healthy_env),
            "--profile", CPU_DEV, "--no-pretrained-backbone", "--no-smoke", "--json")
    prefix = tmp_path / "runner state"
    plan = Plan("cpu", prefix, "venv", "x", _finalize([Step("doctor", "envkit doctor", "test", "doctor", commands=(argv,))]))
    with pytest.raises(StepFailed) as failed:
        execute(plan, resume_cmd="test")
    message = failed.value.paragraph()
    assert "doctor is not green" in message and "torchcodec.load" in message, message
    assert "fix: " in message and "torchcodec==0.17.0" in message, message
    recorded = load_state(prefix).doctor
    assert recorded["verdict"] == "red" and "torchcodec.load" in recorded["failed"] and "fail" in recorded["summary"]


def test_ffmpeg_libraries_hidden(healthy_env: Path, doctor_cache: Path) -> None:
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -m is not permitted here (needs CAP_SYS_ADMIN)")
    libs = sorted(str(p) for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib") for p in Path(d).glob("libav*.so.*"))
    assert libs, "system FFmpeg is expected on this machine"
    # A private mount namespace: /dev/null over each libav*.so.* hides FFmpeg from this run only.
    script = 'for f in "$@"; do case "$f" in --) shift; break;; esac; mount --bind /dev/null "$f"; shift; done; exec "$@"'
    wrap = ["unshare", "-m", "bash", "-c", script, "hide", *libs, "--"]
    rc, doc, err = run_doctor(["--prefix", str(healthy_env), "--no-smoke"], doctor_env(doctor_cache), wrap=wrap)
    checks = by_id(doc)
    assert rc == 1, err
    assert checks["torchcodec.load"]["status"] == "fail"
    assert "FFmpeg" in checks["torchcodec.load"]["summary"]
    assert "ffmpeg" in checks["torchcodec.load"]["fix"]


def test_v21_dataset_gives_the_converter_command(healthy_env: Path, doctor_cache: Path, tmp_path: Path) -> None:
    root = tmp_path / "my_v21"
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "info.json").write_text(json.dumps({
        "codebase_version": "v2.1", "fps": 30, "total_episodes": 1, "total_frames": 10,
        "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet", "video_path": None,
        "features": {"action": {"dtype": "float32", "shape": [6]}, "observation.state": {"dtype": "float32", "shape": [6]},
                     "observation.environment_state": {"dtype": "float32", "shape": [4]}}}))
    rc, doc, err = run_doctor(["--prefix", str(healthy_env), "--no-smoke", "--dataset", str(root)], doctor_env(doctor_cache))
    checks = by_id(doc)
    assert rc == 1, err
    assert checks["dataset.version"]["status"] == "fail"
    assert checks["dataset.version"]["fix"].startswith("python -m lerobot.datasets.v30.convert_dataset_v21_to_v30 --repo-id=local/my_v21")


def test_resnet_weights_absent_offline(healthy_env: Path, doctor_cache: Path, tmp_path: Path) -> None:
    env = doctor_env(doctor_cache, TORCH_HOME=str(tmp_path / "torch"), HF_HUB_OFFLINE="1")
    rc, doc, err = run_doctor(["--prefix", str(healthy_env), "--check", "system"], env)
    check = by_id(doc)["system.backbone_weights"]
    assert rc == 1 and check["status"] == "fail", (check, err)
    assert "resnet18-f37072fd.pth" in check["fix"] and str(tmp_path / "torch") in check["fix"]


def test_accelerate_use_cpu_warns(healthy_env: Path, doctor_cache: Path) -> None:
    env = doctor_env(doctor_cache, ACCELERATE_USE_CPU="true", HF_TOKEN="hf_do_not_print")
    rc, doc, err = run_doctor(["--prefix", str(healthy_env), "--check", "hooks"], env)
    check = by_id(doc)["hooks.accelerate"]
    assert rc == 0 and check["status"] == "warn", (check, err)
    assert check["fix"] == "unset ACCELERATE_USE_CPU"
    assert "hf_do_not_print" not in json.dumps(doc) + err
    rc, _, _ = run_doctor(["--prefix", str(healthy_env), "--check", "hooks", "--fail-on", "warn"], env)
    assert rc == 1


def test_cli_usage_errors_exit_2(healthy_env: Path, doctor_cache: Path) -> None:
    rc, _, err = run_doctor(["--prefix", str(healthy_env), "--check", "nope"], doctor_env(doctor_cache))
    assert rc == 2 and "unknown check" in err and "Traceback" not in err
    rc, _, err = run_doctor(["--prefix", "/nonexistent/env"], doctor_env(doctor_cache))
    assert rc == 2 and "Traceback" not in err
