"""Side by side in one run, same env: `envkit doctor --no-smoke --json` vs `lerobot-info` vs a bare import.

Usage: python bench/bench_doctor.py [--prefix ENV] [--repeat N]
Default ENV is the tests' cached healthy CPU env (.cache/envs/cpu-healthy). Prints one table:
median/min wall seconds, exit code, and what each tool tells you (verdicts vs versions only).
"""

from __future__ import annotations

import argparse
import json
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
    args = parser.parse_args()
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
