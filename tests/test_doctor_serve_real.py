"""Real, on this machine's CPU, in the tests' cached lerobot 0.4.4 env: the smoke checkpoint acts
(smoke.infer), the release's own policy server serves it to a client made of lerobot's own
async-inference modules over loopback gRPC (smoke.serve), nothing outlives it (psutil), and bad
checkpoints get one-paragraph verdicts (doctor --checkpoint).

lerobot's `async` extra is not in the shared healthy env: its pinned grpcio/protobuf (read from the
env's own lerobot metadata) go into a --target folder that PYTHONPATH puts in front, as
test_doctor_real shadows torchcodec; a wrong protobuf the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import psutil
import pytest

from envkit.doctor import serving
from envkit.train_args import SMALL_ACT
from tests.conftest import by_id, doctor_env, run_doctor

pytestmark = pytest.mark.slow


def _uv_target(env: Path, dest: Path, specs: list[str]) -> Path:
    from envkit.pipconfig import read_pip_config
    from envkit.uvbin import find_uv

    if not dest.is_dir():
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run([find_uv(), "pip", "install", "--python", str(env / "bin" / "python"), "--target", str(tmp), "--no-deps",
                        *read_pip_config().uv_args(), *specs], check=True, capture_output=True)
        tmp.rename(dest)
    return dest


def _lerobot_pins(env: Path) -> list[str]:
    out = subprocess.run([str(env / "bin" / "python"), "-c", "import importlib.metadata as m, json; print(json.dumps(m.requires('lerobot')))"],
                         capture_output=True, text=True, check=True)
    reqs = serving.extra_requirements(json.loads(out.stdout), "async")
    return sorted(f"{r.name}{r.specifier}" for r in reqs if r.name in ("grpcio", "protobuf"))


@pytest.fixture(scope="module")
def async_overlay(healthy_env: Path, doctor_cache: Path) -> Path:
    pins = _lerobot_pins(healthy_env)
    assert pins == ["grpcio==1.73.1", "protobuf<6.32.0,>=6.31.1"]  # lerobot 0.4.4's own
    name = "async-overlay-" + hashlib.sha256(json.dumps(pins).encode()).hexdigest()[:10]
    return _uv_target(healthy_env, doctor_cache / name, pins)


@pytest.fixture(scope="module")
def dataset(healthy_env: Path, doctor_cache: Path) -> Path:
    rc, doc, err = run_doctor(["--prefix", str(healthy_env), "--check", "smoke.dataset"], doctor_env(doctor_cache))
    assert rc == 0, err
    return Path(by_id(doc)["smoke.dataset"]["summary"].split(" dataset at ")[1].split(" (")[0])


@pytest.fixture(scope="module")
def checkpoint(healthy_env: Path, dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 ACT steps with the env's lerobot-train, as the smoke trains (its small ACT)."""
    small_act = [f"--{name}={value}" for name, value in SMALL_ACT]

    out = tmp_path_factory.mktemp("train") / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "TQDM_DISABLE": "1"}
    proc = subprocess.run([str(healthy_env / "bin" / "lerobot-train"), "--policy.type=act", "--policy.device=cpu",
                           "--policy.push_to_hub=false", "--wandb.enable=false", "--dataset.repo_id=envkit/tiny",
                           f"--dataset.root={dataset}", "--steps=3", "--batch_size=2", "--num_workers=0", "--save_freq=3",
                           "--eval_freq=0", f"--output_dir={out}", *small_act, "--policy.pretrained_backbone_weights=null"],
                          capture_output=True, text=True, env=env, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "checkpoints" / "last" / "pretrained_model"


def _servers() -> list[int]:
    found = []
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "async_inference.policy_server" in cmd and "--host=127.0.0.1" in cmd and p.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(p.info["pid"])
    return found


def test_smoke_infers_and_serves_over_loopback_grpc(healthy_env: Path, doctor_cache: Path, async_overlay: Path) -> None:
    before = set(_servers())
    env = doctor_env(doctor_cache, PYTHONPATH=str(async_overlay))
    rc, doc, err = run_doctor(["--prefix", str(healthy_env), "--no-pretrained-backbone", "--check", "smoke", "--check", "smoke.serve"], env)
    checks = by_id(doc)
    infer, serve = checks["smoke.infer"], checks["smoke.serve"]
    assert infer["status"] == "ok", (infer, err[-2000:])
    assert "action [1, 6] float32" in infer["summary"] and "ms per call" in infer["summary"]
    assert "make_pre_post_processors" in infer["summary"]  # 0.4.4 has the processors; found by import
    assert serve["status"] == "ok", (serve, err[-2000:])
    assert "lerobot.async_inference.policy_server on 127.0.0.1:" in serve["summary"]
    assert "4 action chunks of 10 x [6] float32" in serve["summary"] and "no process left" in serve["summary"]
    port = serve["summary"].split("127.0.0.1:")[1].split(":")[0]
    assert f"PolicyServer started on 127.0.0.1:{port}" in serve["details"]  # the real server's own log
    assert set(_servers()) - before == set()  # no policy server outlived the check
    for cid in ("smoke.train", "smoke.resume", "smoke.device"):
        assert checks[cid]["status"] == "ok", checks[cid]
    assert rc == 0 or any(c["status"] == "fail" and not c["id"].startswith("smoke") for c in doc["checks"]), err


def test_serve_refuses_grpc_stack_off_lerobots_pins(healthy_env: Path, doctor_cache: Path, tmp_path: Path) -> None:
    # no async extra at all: grpcio is missing
    rc, doc, err = run_doctor(["--prefix", str(healthy_env), "--check", "smoke.serve"], doctor_env(doctor_cache))
    check = by_id(doc)["smoke.serve"]
    assert rc == 1 and check["status"] == "fail", (check, err[-1000:])
    assert "grpcio missing (lerobot wants ==1.73.1)" in check["summary"]
    py = str(healthy_env / "bin" / "python")
    assert check["fix"].startswith(f"{py} -m pip install grpcio==1.73.1 'protobuf<6.32.0,>=6.31.1';"), check["fix"]
    # a protobuf below lerobot's pin in front of the env
    old = _uv_target(healthy_env, doctor_cache / "overlay-protobuf-5.29.5", ["grpcio==1.73.1", "protobuf==5.29.5"])
    rc, doc, err = run_doctor(["--prefix", str(healthy_env), "--check", "smoke.serve"], doctor_env(doctor_cache, PYTHONPATH=str(old)))
    check = by_id(doc)["smoke.serve"]
    assert rc == 1 and check["status"] == "fail", (check, err[-1000:])
    assert "protobuf 5.29.5 (lerobot wants <6.32.0,>=6.31.1)" in check["summary"] and "Traceback" not in check["summary"]
    assert "'protobuf<6.32.0,>=6.31.1'" in check["fix"] and "envkit setup with --extras async" in check["fix"]


def _bad(src: Path, dest: Path, kind: str, healthy_env: Path) -> Path:
    shutil.copytree(src, dest)
    config = dest / "config.json"
    data = json.loads(config.read_text())
    if kind == "newer":  # fields this release's ACTConfig does not have, as a newer lerobot writes them
        data["use_relative_actions"] = True
        config.write_text(json.dumps(data))
    elif kind == "truncated":
        weights = dest / "model.safetensors"
        os.truncate(weights, weights.stat().st_size // 2)
    elif kind == "cameras":  # trained on a dataset whose camera was called "wrist"
        data["input_features"] = {k.replace(".front", ".wrist"): v for k, v in data["input_features"].items()}
        config.write_text(json.dumps(data))
    elif kind == "cuda":
        data["device"] = "cuda"
        config.write_text(json.dumps(data))
    elif kind == "other-type":  # a diffusion config (written by lerobot's own API) beside ACT's weights
        code = ("import sys; from pathlib import Path; from lerobot.configs.policies import PreTrainedConfig; "
                "from lerobot.policies.factory import make_policy_config; a = PreTrainedConfig.from_pretrained(sys.argv[1]); "
                "make_policy_config('diffusion', input_features=a.input_features, output_features=a.output_features, "
                "device='cpu')._save_pretrained(Path(sys.argv[1]))")
        subprocess.run([str(healthy_env / "bin" / "python"), "-c", code, str(dest)], check=True, capture_output=True)
    return dest


@pytest.mark.parametrize("kind, failing, words", [
    ("newer", "checkpoint.config", ["use_relative_actions", "newer", "envkit setup --lerobot"]),
    ("truncated", "checkpoint.weights", ["truncated", "sha256sum"]),
    ("cameras", "checkpoint.features", ["observation.images.wrist", "observation.images.front", "rename"]),
    ("other-type", "checkpoint.weights", ["'diffusion'", "different policies"]),
    ("cuda", "checkpoint.device", ["'cuda'", "--policy.device=cpu"]),
])
def test_bad_checkpoints_get_one_paragraph_verdicts(kind: str, failing: str, words: list[str], healthy_env: Path,
                                                    doctor_cache: Path, checkpoint: Path, dataset: Path, tmp_path: Path) -> None:
    bad = _bad(checkpoint, tmp_path / kind, kind, healthy_env)
    rc, doc, err = run_doctor(["--prefix", str(healthy_env), "--check", "checkpoint", "--checkpoint", str(bad),
                               "--dataset", str(dataset)], doctor_env(doctor_cache))
    checks = by_id(doc)
    assert rc == 1, err[-2000:]
    check = checks[failing]
    text = check["summary"] + " " + (check["fix"] or "")
    assert check["status"] == "fail" and all(w in text for w in words), check
    assert "Traceback" not in text and "\n" not in check["summary"] and "Traceback" not in err
    failed = [c["id"] for c in doc["checks"] if c["status"] in ("fail", "error")]
    assert failed == [failing], failed  # one verdict, the others pass or wait
    if kind == "cuda":  # the weights are still checked, on the CPU
        assert checks["checkpoint.weights"]["status"] == "ok" and checks["checkpoint.act"]["status"] == "ok"


def test_good_checkpoint_acts_on_the_dataset(healthy_env: Path, doctor_cache: Path, checkpoint: Path, dataset: Path) -> None:
    rc, doc, err = run_doctor(["--prefix", str(healthy_env), "--check", "checkpoint", "--checkpoint", str(checkpoint),
                               "--dataset", str(dataset)], doctor_env(doctor_cache))
    checks = by_id(doc)
    assert rc == 0 and all(c["status"] == "ok" for c in checks.values()), (checks, err[-2000:])
    assert "action [1, 6] float32" in checks["checkpoint.act"]["summary"]


def test_serve_skips_a_tree_without_async_inference(healthy_env: Path, doctor_cache: Path, tmp_path: Path) -> None:
    """The draccus-era lerobot.common tree forks vendor (no async inference) in front of the env: a precise skip."""
    from tests.lerobot_trees import fork_project

    tree = fork_project(tmp_path) / "lerobot"
    rc, doc, err = run_doctor(["--prefix", str(healthy_env), "--check", "smoke.serve"], doctor_env(doctor_cache, PYTHONPATH=str(tree)))
    check = by_id(doc)["smoke.serve"]
    assert check["status"] == "skip", (check, err[-1000:])
    assert "has no async inference" in check["summary"] and "lerobot.common.async_inference.policy_server" in check["summary"]


def test_setup_extras_async_resolves_lerobots_pins_beside_the_tuple(healthy_env: Path, tmp_path: Path) -> None:
    """setup's own lerobot step for --extras async, resolved for real (uv --dry-run) against the healthy env,
    which holds the cpu profile's tuple: lerobot's pinned grpcio/protobuf come in, the torch tuple stays."""
    from envkit.pipconfig import read_pip_config
    from envkit.profiles import load_profile
    from envkit.resolve import resolve
    from envkit.setup.plan import SetupOptions, build_plan
    from envkit.uvbin import find_uv
    from tests.cli_util import CPU_DEV

    profile = load_profile(CPU_DEV)  # this machine's Python 3.11 and its local torch wheels, like the healthy env
    resolved = resolve(profile, None, None, "linux-64")
    plan = build_plan(profile, resolved, SetupOptions(prefix=tmp_path / "env", extras=("async",)))
    argv = list({s.id: s for s in plan.steps}["lerobot"].commands[0])
    overrides = tmp_path / "overrides.txt"
    overrides.write_text("\n".join(resolved.overrides) + "\n")  # what the runner writes at PREFIX/.envkit/overrides.txt
    argv[0] = find_uv()
    argv[argv.index("--python") + 1] = str(healthy_env / "bin" / "python")
    argv[argv.index("--override") + 1] = str(overrides)
    proc = subprocess.run([*argv[:-1], "--dry-run", *read_pip_config().uv_args(), argv[-1]], capture_output=True, text=True, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-2000:]
    assert "+ grpcio==1.73.1" in out and "+ protobuf==6.31.1" in out, out[-2000:]
    assert not any(line.strip().startswith(("- torch", "+ torch")) for line in out.splitlines()), out[-2000:]
