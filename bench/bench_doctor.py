"""Side by side in one run, same env: `envkit doctor --no-smoke --json` vs `lerobot-info` vs a bare import,
then the smoke (dataset cached) vs the same `lerobot-train` train + resume commands run by hand.

Usage: python bench/bench_doctor.py [--prefix ENV] [--repeat N] [--only infer]
Default ENV is the tests' cached healthy CPU env (.cache/envs/cpu-healthy). Prints two tables:
median/min wall seconds, exit code, and what each tool tells you (verdicts vs versions only).
Targets: doctor without smoke <= 1.3x the bare import line; smoke <= 1.1x the hand-run commands.
Third table: the smoke with and without smoke.infer; the difference must not exceed smoke.infer's
own time (loading the checkpoint and the timed select_action calls) by more than noise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(argv: list[str], repeat: int) -> tuple[list[float], subprocess.CompletedProcess]:
    walls, last = [], None
    for _ in range(repeat):
        start = time.monotonic()
        last = subprocess.run(argv, capture_output=True, text=True, check=False)
        walls.append(time.monotonic() - start)
    return walls, last


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefix", type=Path, default=ROOT / ".cache" / "envs" / "cpu-healthy")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("infer",), help="run only the with/without smoke.infer table")
    args = parser.parse_args()
    if args.only == "infer":
        smoke_with_without_infer(args.prefix, args.repeat)
        return 0
    env_py = args.prefix / "bin" / "python"
    runs = {
        "envkit doctor --no-smoke --json": [sys.executable, "-c", "import sys; from envkit.cli import main; sys.exit(main())",
                                            "doctor", "--prefix", str(args.prefix), "--no-smoke", "--json"],
        "lerobot-info": [str(args.prefix / "bin" / "lerobot-info")],
        'python -c "import torch, torchcodec, lerobot"': [str(env_py), "-c", "import torch, torchcodec, lerobot"],
    }
    print(f"env: {args.prefix}  repeat: {args.repeat}")
    print(f"{'command':<48} {'median s':>9} {'min s':>7} {'rc':>3}  tells you")
    for name, argv in runs.items():
        walls, proc = timed(argv, args.repeat)
        if name.startswith("envkit"):
            try:
                doc = json.loads(proc.stdout)
                counts: dict[str, int] = {}
                for c in doc["checks"]:
                    counts[c["status"]] = counts.get(c["status"], 0) + 1
                what = f"{len(doc['checks'])} verdicts " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            except (ValueError, KeyError):
                what = "unparsable: " + proc.stderr[-200:]
        elif name == "lerobot-info":
            what = f"{sum(1 for line in proc.stdout.splitlines() if line.startswith('-'))} version lines, no verdicts"
        else:
            what = "imports only (a broken torchcodec >= 0.11 still imports)"
        print(f"{name:<48} {statistics.median(walls):>9.2f} {min(walls):>7.2f} {proc.returncode:>3}  {what}")
    smoke_vs_hand(args.prefix, args.repeat)
    smoke_with_without_infer(args.prefix, args.repeat)
    return 0


def smoke_vs_hand(prefix: Path, repeat: int) -> None:
    """The doctor's smoke (full doctor minus --no-smoke) beside the same two lerobot-train runs by hand."""
    from envkit.doctor.smoke import SMALL_ACT

    cache = ROOT / ".cache" / "bench-doctor"
    env = {**os.environ, "ENVKIT_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "WANDB_MODE": "disabled", "TQDM_DISABLE": "1"}
    doctor = [sys.executable, "-c", "import sys; from envkit.cli import main; sys.exit(main())", "doctor",
              "--prefix", str(prefix), "--no-pretrained-backbone", "--json"]
    subprocess.run(doctor, capture_output=True, env=env, check=False)  # builds and caches the tiny dataset
    datasets = sorted((cache / "doctor").glob("tiny-lerobot-*"))
    if not datasets:
        print("smoke: the doctor did not build its dataset; skipped")
        return
    full = [timed_env(doctor, env) for _ in range(repeat)]
    bare = [timed_env(doctor[:-1] + ["--no-smoke", "--json"], env) for _ in range(repeat)]
    hand = []
    for _ in range(repeat):
        out = Path(tempfile.mkdtemp(prefix="hand-", dir=cache)) / "out"
        train = [str(prefix / "bin" / "lerobot-train"), "--policy.type=act", "--policy.device=cpu", "--policy.push_to_hub=false",
                 "--wandb.enable=false", "--dataset.repo_id=envkit/tiny", f"--dataset.root={datasets[-1]}", "--steps=3",
                 "--batch_size=2", "--num_workers=0", "--save_freq=3", "--eval_freq=0", "--log_freq=1",
                 f"--output_dir={out}", *SMALL_ACT, "--policy.pretrained_backbone_weights=null"]
        resume = [train[0], "--resume=true", f"--config_path={out}/checkpoints/last/pretrained_model/train_config.json", "--steps=5"]
        hand.append(timed_env(train, env) + timed_env(resume, env))
        shutil.rmtree(out.parent, ignore_errors=True)
    smoke = statistics.median(full) - statistics.median(bare)
    by_hand = statistics.median(hand)
    print(f"\n{'smoke (dataset cached)':<48} {'median s':>9}")
    print(f"{'envkit doctor minus doctor --no-smoke':<48} {smoke:>9.2f}")
    print(f"{'lerobot-train 3 steps + resume to 5, by hand':<48} {by_hand:>9.2f}")
    print(f"{'ratio (target <= 1.1x)':<48} {smoke / by_hand:>8.2f}x")


def smoke_with_without_infer(prefix: Path, repeat: int) -> None:
    """The smoke's checks with and without smoke.infer (dataset cached), and smoke.infer's own duration."""
    cache = ROOT / ".cache" / "bench-doctor"
    env = {**os.environ, "ENVKIT_CACHE_DIR": str(cache)}
    base = [sys.executable, "-c", "import sys; from envkit.cli import main; sys.exit(main())", "doctor",
            "--prefix", str(prefix), "--no-pretrained-backbone", "--json"]
    smoke = ["--check", "smoke.dataset", "--check", "smoke.train", "--check", "smoke.resume", "--check", "smoke.device"]
    subprocess.run(base + ["--check", "smoke.dataset"], capture_output=True, env=env, check=False)  # cache the dataset
    without, with_, infer, latency = [], [], [], []
    for _ in range(repeat):  # interleaved, so that a busy neighbour slows both alike
        without.append(timed_env(base + smoke, env))
        start = time.monotonic()
        proc = subprocess.run(base + smoke + ["--check", "smoke.infer"], capture_output=True, text=True, env=env, check=False)
        with_.append(time.monotonic() - start)
        try:
            check = next(c for c in json.loads(proc.stdout)["checks"] if c["id"] == "smoke.infer")
            infer.append(check["duration_ms"] / 1000)
            per_call = re.search(r"([\d.]+ ms per call)", check["summary"])
            latency.append(per_call.group(1) if per_call else check["status"] + ": " + check["summary"][:80])
        except (ValueError, KeyError, StopIteration):
            latency.append("unparsable: " + proc.stderr[-200:])
    print(f"\n{'smoke with / without smoke.infer (dataset cached)':<52} {'median s':>9}")
    print(f"{'doctor smoke.{dataset,train,resume,device}':<52} {statistics.median(without):>9.2f}")
    print(f"{'  + smoke.infer':<52} {statistics.median(with_):>9.2f}")
    print(f"{'difference':<52} {statistics.median(with_) - statistics.median(without):>9.2f}")
    if infer:
        print(f"{'smoke.infer itself (its duration_ms)':<52} {statistics.median(infer):>9.2f}   select_action: {latency[-1]}")


def timed_env(argv: list[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    subprocess.run(argv, capture_output=True, env=env, check=False)
    return time.monotonic() - start


if __name__ == "__main__":
    sys.exit(main())
