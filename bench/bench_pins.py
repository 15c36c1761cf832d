"""Wall time of `envkit pins --check` on lerobot 0.4.4 beside `python -c "import tomlkit"`.

Target: envkit's own work (the difference of the medians) under 100 ms. Usage:
    .venv/bin/python bench/bench_pins.py [--runs N] [--profile 5090] [--host FILE]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_MS = 100.0


def _wall(cmd: list[str], runs: int) -> list[float]:
    subprocess.run(cmd, capture_output=True)  # warm the page cache and .pyc files first
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--profile", default="5090")
    parser.add_argument("--host", default=str(REPO / "docs" / "examples" / "host-5090.json"))
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from tests.lerobot_sdists import fetch  # the same cached sdist the tests use

    pyproject = fetch("0.4.4")
    envkit = str(Path(sys.executable).with_name("envkit"))
    check = [envkit, "pins", "--profile", args.profile, "--host", args.host, "--lerobot", str(pyproject), "--check"]
    baseline = [sys.executable, "-c", "import tomlkit"]

    base = _wall(baseline, args.runs)
    pins = _wall(check, args.runs)
    b, p = statistics.median(base), statistics.median(pins)
    print(f"{'':28}{'median ms':>10}{'min ms':>10}{'max ms':>10}")
    print(f"{'python -c import tomlkit':28}{b:10.1f}{min(base):10.1f}{max(base):10.1f}")
    print(f"{'envkit pins --check (0.4.4)':28}{p:10.1f}{min(pins):10.1f}{max(pins):10.1f}")
    verdict = "within" if p - b < TARGET_MS else "OVER"
    print(f"envkit's own work: {p - b:.1f} ms ({verdict} the {TARGET_MS:.0f} ms target), {args.runs} runs each")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
