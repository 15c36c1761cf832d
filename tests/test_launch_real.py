"""envkit launch for real on this CPU machine: 2 gloo processes of lerobot 0.4.4's lerobot-train (slow).

Kept to two training runs, started together: each trains 3 ACT steps and writes one checkpoint,
and the two launches rendezvous on different ports.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

SMALL_ACT = ("--policy.dim_model=64", "--policy.n_heads=2", "--policy.dim_feedforward=128", "--policy.n_encoder_layers=1",
             "--policy.n_decoder_layers=1", "--policy.n_vae_encoder_layers=1", "--policy.latent_dim=8",
             "--policy.chunk_size=10", "--policy.n_action_steps=10")


@pytest.fixture(scope="session")
def tiny_dataset(healthy_env: Path) -> Path:
    """A tiny LeRobot dataset written by the env's own lerobot (doctor/make_dataset.py), built once."""
    root = ROOT / ".cache" / "launch" / "tiny-lerobot-0.4.4"
    if (root / "meta" / "info.json").is_file():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = root.parent / f"staging-{time.time_ns()}"
    script = ROOT / "src" / "envkit" / "doctor" / "make_dataset.py"
    subprocess.run([str(healthy_env / "bin" / "python"), str(script), str(staging), "envkit/tiny", "lerobot.datasets.lerobot_dataset"],
                   check=True, capture_output=True, timeout=600)
    staging.rename(root)
    return root


def _env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH") and not k.startswith("ACCELERATE_")}
    env.update({"HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "TQDM_DISABLE": "1"})
    return env


def _launch(prefix: Path, dataset: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from envkit.cli import main; sys.exit(main())", "launch", "--prefix", str(prefix),
            "--devices", "2", *extra, "--", f"--dataset.root={dataset}", "--dataset.repo_id=envkit/tiny", "--policy.type=act",
            "--steps=3", "--batch_size=2", "--num_workers=0", "--save_freq=3", "--log_freq=1", "--eval_freq=0",
            "--policy.push_to_hub=false", "--wandb.enable=false", "--policy.pretrained_backbone_weights=null",
            f"--output_dir={out}", *SMALL_ACT]


def test_two_concurrent_launches_train_on_two_processes_each(healthy_env: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    outs = [tmp_path / "run-a", tmp_path / "run-b"]
    procs = [subprocess.Popen(_launch(healthy_env, tiny_dataset, out, "--json"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=_env()) for out in outs]
    results = [p.communicate(timeout=900) for p in procs]
    docs = []
    for p, (stdout, stderr) in zip(procs, results):
        assert p.returncode == 0, stderr[-3000:]
        docs.append(json.loads(stdout))
    ports = [d["plan"]["port"] for d in docs]
    assert ports[0] != ports[1], ports  # two launches on one machine never share a rendezvous port
    for doc, out, (_stdout, log) in zip(docs, outs, results):
        plan = doc["plan"]
        assert plan["nproc"] == 2 and plan["launcher"] == "torchrun" and "--policy.device=cpu" in plan["train_args"]
        assert doc["preflight"]["ok"] and all(c["status"] in ("ok", "skip") for c in doc["preflight"]["checks"]), doc["preflight"]
        assert "[rank1]" in log and "[rank0]" in log  # two processes really trained
        assert "Effective batch size: 2 x 2 = 4" in log
        assert log.count("Checkpoint policy after step 3") == 1  # only the main process saves
        assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["000003", "last"]
        assert (out / "checkpoints" / "000003" / "pretrained_model" / "model.safetensors").is_file()
        t = doc["run"]["throughput"]
        assert t["global_batch"] == 4 and t["steps_per_s"] > 0 and t["samples_per_s"] == pytest.approx(4 * t["steps_per_s"], rel=1e-2)  # both rounded in the JSON
        assert doc["run"]["first_step_s"] is not None


def test_existing_output_dir_fails_in_preflight_with_the_fix(healthy_env: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    proc = subprocess.run(_launch(healthy_env, tiny_dataset, out, "--json"), capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    check = {c["id"]: c for c in doc["preflight"]["checks"]}["launch.output_dir"]
    assert check["status"] == "fail" and "--resume=true" in check["fix"] and f"--output_dir={out}_" in check["fix"]
    assert doc["run"] is None and not (out / "checkpoints").exists()  # nothing was started


def test_dry_run_prints_the_command_without_starting(healthy_env: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "never"
    proc = subprocess.run(_launch(healthy_env, tiny_dataset, out, "--dry-run", "--no-preflight"), capture_output=True, text=True,
                          env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "-m torch.distributed.run" in proc.stdout and "--nproc-per-node=2" in proc.stdout
    assert "-m lerobot.scripts.lerobot_train" in proc.stdout and "OMP_NUM_THREADS=1" in proc.stdout
    assert not out.exists()
    assert shutil.which("bash")


def test_doctor_smoke_multi_trains_two_processes_through_launch(healthy_env: Path, doctor_cache: Path) -> None:
    from tests.conftest import by_id, doctor_env, run_doctor

    rc, doc, err = run_doctor(["--prefix", str(healthy_env), "--check", "smoke.multi", "--no-pretrained-backbone"],
                              doctor_env(doctor_cache))
    check = by_id(doc)["smoke.multi"]
    assert rc == 0 and check["status"] == "ok", (check, err[-2000:])
    assert "2 processes (torchrun, gloo" in check["summary"] and "saved one checkpoint" in check["summary"]
    assert check["details"].startswith(f"envkit launch --prefix {healthy_env} --devices 2 -- ")



def test_ranks_never_outlive_a_killed_or_terminated_launch(healthy_env: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    """kill -9 of envkit (its launcher gets SIGTERM through PR_SET_PDEATHSIG) and a plain `kill`
    (envkit stops the launch's whole session): within a minute no rank is left holding a device."""
    import os
    import signal

    import psutil

    # A long run that writes nothing once training started (as a real one between log lines), so a
    # rank cannot die of a broken output pipe: only the signal envkit arranges can stop it.
    quiet = {"--steps=3": "--steps=1000000", "--log_freq=1": "--log_freq=1000000", "--save_freq=3": "--save_freq=1000000"}
    procs = {how: subprocess.Popen([quiet.get(a, a) for a in _launch(healthy_env, tiny_dataset, tmp_path / how, "--no-preflight")],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env())
             for how in ("kill-9", "term")}
    ranks: dict[str, list[psutil.Process]] = {}
    try:
        for how, proc in procs.items():
            assert proc.stdout is not None
            for line in proc.stdout:  # until the training loop starts: every rank is up
                if "Start offline training" in line:
                    break
            assert proc.poll() is None, f"{how}: the launch ended before training"
            launcher, = psutil.Process(proc.pid).children()  # torchrun (it renames itself pt_elastic)
            workers = launcher.children()
            assert len(workers) == 2 and all("lerobot_train" in " ".join(w.cmdline()) for w in workers), workers
            ranks[how] = [launcher, *workers]
        procs["kill-9"].send_signal(signal.SIGKILL)
        procs["term"].send_signal(signal.SIGTERM)
        assert procs["kill-9"].wait(timeout=30) == -signal.SIGKILL
        for how in procs:
            _gone, alive = psutil.wait_procs(ranks[how], timeout=60)
            assert not alive, (how, [(p.pid, p.cmdline()) for p in alive])
        assert procs["term"].wait(timeout=30) == 128 + signal.SIGTERM  # it waited for its ranks, then said so
    finally:
        for proc in procs.values():
            proc.kill()
        for p in sum(ranks.values(), []):
            try:
                os.killpg(p.pid, signal.SIGKILL) if p.pid == os.getpgid(p.pid) else p.kill()
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass
