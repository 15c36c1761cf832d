"""envkit launch --slurm against a real one-node SLURM cluster (Debian's slurmctld + slurmd + munge,
started by the test): the sbatch script trains 3 ACT steps of lerobot 0.4.4 to a checkpoint, and
--slurm-status maps a finished and a failed job (a bad dataset path) to verdicts with the fix."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from envkit.launch.slurm import SlurmRequest, parse_sacct, parse_scontrol, script, verdicts
from tests import slurm_cluster
from tests.test_launch_real import SMALL_ACT, _env, tiny_dataset  # noqa: F401 (a session fixture)

ENVKIT = [sys.executable, "-c", "import sys; from envkit.cli import main; sys.exit(main())"]


def test_script_runs_one_launch_per_node_with_slurms_node_id() -> None:
    text = script(SlurmRequest(nodes=2, per_node=8, gres="gpu", partition="a100", time="24:00:00"), ["/opt/py", "-m", "envkit"],
                  "/shared/envs/5090", ["--launcher", "torchrun", "--mixed-precision", "bf16"], ["--policy.type=act", "--dataset.root=/d x"],
                  "/shared/runs")
    assert "#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=1" in text and "#SBATCH --gres=gpu:8" in text
    assert "#SBATCH --partition=a100" in text and "#SBATCH --time=24:00:00" in text
    srun = next(ln for ln in text.splitlines() if ln.startswith("srun "))
    inner = srun.split("bash -c ", 1)[1]
    # single-quoted for the batch step, so each node's task expands its own SLURM_NODEID
    assert inner.startswith("'") and '--node-rank "$SLURM_NODEID"' in inner and "'\"'\"'--dataset.root=/d x'\"'\"'" in inner
    assert "/opt/py -m envkit launch --prefix /shared/envs/5090 --devices 8" in inner


def test_job_states_parse() -> None:
    line = ("JobId=7 JobName=envkit-act UserId=root(0) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ExitCode=1:0 "
            "RunTime=00:00:09 NodeList=vm WorkDir=/tmp/a b StdOut=/tmp/a b/envkit-slurm-7.out")
    st = parse_scontrol(line, "7")
    assert st and st.state == "FAILED" and st.failed and st.fields["WorkDir"] == "/tmp/a b" and st.stdout.endswith("-7.out")
    assert parse_scontrol("slurm_load_jobs error: Invalid job id specified", "9") is None
    acct = parse_sacct("7|COMPLETED|0:0|vm|00:01:02\n7.batch|COMPLETED|0:0|vm|00:01:02\n", "7")
    assert acct and acct.state == "COMPLETED" and not acct.failed
    (v,) = verdicts({0: {"preflight": {"checks": [{"id": "launch.dataset", "status": "fail", "summary": "s", "fix": "f"}]}, "run": None}})
    assert v.failed == [{"id": "launch.dataset", "summary": "s", "fix": "f"}]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    why = slurm_cluster.available()
    if why:
        pytest.skip(why)
    with slurm_cluster.cluster(tmp_path_factory.mktemp("slurm")) as env:
        yield env


def _status(job: str, env: dict[str, str], cwd: Path, until_done_s: float = 900) -> tuple[int, dict]:
    deadline = time.monotonic() + until_done_s
    while True:
        proc = subprocess.run([*ENVKIT, "launch", "--slurm-status", job, "--json"], capture_output=True, text=True, env=env, cwd=cwd)
        if proc.returncode != 3 or time.monotonic() > deadline:
            return proc.returncode, json.loads(proc.stdout)
        time.sleep(2)


@pytest.mark.slow
def test_sbatch_trains_to_a_checkpoint_and_a_bad_dataset_is_classified(slurm: dict[str, str], healthy_env: Path,
                                                                       tiny_dataset: Path, tmp_path: Path) -> None:  # noqa: F811
    env = {**_env(), **slurm}
    out = tmp_path / "run"
    train = [f"--dataset.root={tiny_dataset}", "--dataset.repo_id=envkit/tiny", "--policy.type=act", "--steps=3", "--batch_size=2",
             "--num_workers=0", "--save_freq=3", "--log_freq=1", "--eval_freq=0", "--policy.push_to_hub=false", "--wandb.enable=false",
             "--policy.pretrained_backbone_weights=null", f"--output_dir={out}", *SMALL_ACT]
    sub = subprocess.run([*ENVKIT, "launch", "--slurm", "--nodes", "1", "--devices", "2", "--prefix", str(healthy_env), "--", *train],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert sub.returncode == 0, sub.stderr
    job = sub.stdout.split("SLURM job ")[1].split()[0]
    code, doc = _status(job, env, tmp_path)
    assert code == 0, (doc, (tmp_path / f"envkit-slurm-{job}.out").read_text()[-3000:])
    assert doc["state"] == "COMPLETED" and doc["verdicts"][0]["returncode"] == 0
    assert (out / "checkpoints" / "000003" / "pretrained_model" / "model.safetensors").is_file()
    log = (tmp_path / f"envkit-slurm-{job}.out").read_text()
    assert "this node serves the rendezvous" in log and "(global batch 4)" in log
    bad = [a if not a.startswith("--dataset.root=") else f"--dataset.root={tmp_path / 'nowhere'}" for a in train]
    bad = [a if not a.startswith("--output_dir=") else f"--output_dir={tmp_path / 'run-bad'}" for a in bad]
    sub = subprocess.run([*ENVKIT, "launch", "--slurm", "--devices", "1", "--prefix", str(healthy_env), "--", *bad],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    job = sub.stdout.split("SLURM job ")[1].split()[0]
    code, doc = _status(job, env, tmp_path)
    assert code == 1 and doc["state"] == "FAILED"
    (failed,) = doc["verdicts"][0]["failed"]
    assert failed["id"] == "launch.dataset" and "holds no LeRobot dataset" in failed["summary"] and failed["fix"]
    text = subprocess.run([*ENVKIT, "launch", "--slurm-status", job], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert f"SLURM job {job}: FAILED" in text.stdout and "node 0: launch.dataset" in text.stdout and "fix:" in text.stdout
