"""envkit launch: preflight time alone (target < 3 s), and `envkit launch --no-preflight` time to the
first training step beside the same `python -m torch.distributed.run` command typed by hand
(target within 1.1x).

Uses the test suite's healthy CPU env (.cache/envs/cpu-healthy, lerobot 0.4.4) and its tiny dataset
(.cache/launch/tiny-lerobot-0.4.4); `make test` (or `pytest tests/test_launch_real.py`) builds both.
Both runs train 2 gloo processes for 1 ACT step; they alternate so the shared machine's load hits
both alike. On a GPU/NPU server pass --prefix/--dataset (any lerobot-train arguments work).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST_STEP = "step:1 "
SMALL_ACT = ["--policy.dim_model=64", "--policy.n_heads=2", "--policy.dim_feedforward=128", "--policy.n_encoder_layers=1",
             "--policy.n_decoder_layers=1", "--policy.n_vae_encoder_layers=1", "--policy.latent_dim=8",
             "--policy.chunk_size=10", "--policy.n_action_steps=10"]
ENVKIT = [sys.executable, "-c", "import sys; from envkit.cli import main; sys.exit(main())", "launch"]


def train_args(dataset: Path, out: Path) -> list[str]:
    return [f"--dataset.root={dataset}", "--dataset.repo_id=envkit/tiny", "--policy.type=act", "--steps=1", "--batch_size=2",
            "--num_workers=0", "--save_freq=1000", "--log_freq=1", "--eval_freq=0", "--policy.push_to_hub=false",
            "--wandb.enable=false", "--policy.pretrained_backbone_weights=null", f"--output_dir={out}", *SMALL_ACT]


def to_first_step(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from starting argv to lerobot's first logged step; the run is then stopped."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if FIRST_STEP in line:
            took = time.perf_counter() - start
            for _rest in proc.stdout:  # drain: a full pipe would stall the run
                pass
            proc.wait()
            return took
    proc.wait()
    raise SystemExit(f"no '{FIRST_STEP}' line from: {' '.join(argv[:6])} ... (exit {proc.returncode})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", type=Path, default=ROOT / ".cache" / "envs" / "cpu-healthy")
    parser.add_argument("--dataset", type=Path, default=ROOT / ".cache" / "launch" / "tiny-lerobot-0.4.4")
    parser.add_argument("--devices", default="2")
    parser.add_argument("--runs", type=int, default=2)
    a = parser.parse_args()
    if not (a.prefix / "bin" / "python").exists() or not (a.dataset / "meta" / "info.json").is_file():
        raise SystemExit(f"needs {a.prefix} and {a.dataset}: run `.venv/bin/pytest tests/test_launch_real.py -k dry_run` first")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCELERATE_")}
    env.update({"HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "TQDM_DISABLE": "1"})
    scratch = ROOT / ".cache" / "bench-launch"
    scratch.mkdir(parents=True, exist_ok=True)

    # 1. preflight alone: plan + one probe of the env + the checks, nothing started (--dry-run)
    pre, inner = [], []
    for i in range(3):
        start = time.perf_counter()
        out = subprocess.run([*ENVKIT, "--prefix", str(a.prefix), "--devices", a.devices, "--dry-run", "--json", "--",
                              *train_args(a.dataset, scratch / f"pre-{i}")], capture_output=True, text=True, env=env, check=True)
        pre.append(time.perf_counter() - start)
        inner.append(json.loads(out.stdout)["preflight"]["seconds"])

    # 2. time to the first step: envkit launch --no-preflight vs the plan's own command typed by hand
    plan = json.loads(subprocess.run([*ENVKIT, "--prefix", str(a.prefix), "--devices", a.devices, "--dry-run", "--json",
                                      "--no-preflight", "--", *train_args(a.dataset, scratch / "hand")],
                                     capture_output=True, text=True, env=env, check=True).stdout)["plan"]
    launch, hand = [], []
    for i in range(a.runs):
        for d in ("envkit", "hand"):
            subprocess.run(["rm", "-rf", str(scratch / d)], check=True)
        launch.append(to_first_step([*ENVKIT, "--prefix", str(a.prefix), "--devices", a.devices, "--no-preflight", "--",
                                     *train_args(a.dataset, scratch / "envkit")], env))
        # as a guide types it: the same argv with a port of its own (static rendezvous needs a real one)
        from envkit.launch.prepare import free_port

        by_hand = [x if not x.startswith("--master-port=") else f"--master-port={free_port()}" for x in plan["argv"]]
        hand.append(to_first_step(["bash", "-c", 'PATH="$0/bin:$PATH" exec "$@"', str(a.prefix), *by_hand], {**env, **plan["env"]}))
    subprocess.run(["rm", "-rf", str(scratch)], check=True)

    med_l, med_h = statistics.median(launch), statistics.median(hand)
    print(f"preflight alone (envkit launch --dry-run, {a.devices} processes planned): median {statistics.median(pre):.2f} s wall "
          f"[{', '.join(f'{x:.2f}' for x in pre)}], of which plan+probe {statistics.median(inner):.2f} s   target < 3 s")
    print(f"to the first training step, {a.devices} processes ({plan['launcher']}):")
    print(f"  envkit launch --no-preflight        median {med_l:6.2f} s  [{', '.join(f'{x:.2f}' for x in launch)}]")
    print(f"  python -m torch.distributed.run ... median {med_h:6.2f} s  [{', '.join(f'{x:.2f}' for x in hand)}]")
    print(f"  ratio {med_l / med_h:.3f}x   target <= 1.1x")


if __name__ == "__main__":
    main()
