"""What asking the tree costs: the doctor's probe and launch's probe with and without the lerobot
capability probe (doctor/caps_probe.py), on one environment, alternated, N rounds each.

Usage: python bench/bench_caps.py PREFIX [ROUNDS]   (e.g. .cache/envs/cpu-healthy, lerobot 0.4.4)
Target: the capability section adds under 3 s to the doctor's probe (torch is already imported there)
and under 10 s to `envkit launch`'s probe.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from envkit.doctor.collect import run_probe as doctor_probe
from envkit.doctor.target import resolve_target
from envkit.launch.probe import run_probe as launch_probe


def main(prefix: Path, rounds: int) -> int:
    target = resolve_target(prefix=prefix)
    times: dict[str, list[float]] = {}
    section: list[int] = []
    for _ in range(rounds):
        for caps in (False, True):
            start = time.monotonic()
            doc = doctor_probe(target, caps=caps)
            times.setdefault(f"doctor probe, caps={caps}", []).append(time.monotonic() - start)
            if caps:
                section.append(int((doc.get("timings_ms") or {}).get("lerobot_caps") or 0))
            start = time.monotonic()
            launch_probe(prefix.absolute(), "torch.cuda.device_count()", {}, caps=caps)
            times.setdefault(f"launch probe, caps={caps}", []).append(time.monotonic() - start)
    for name, values in times.items():
        print(f"{name:<28} median {statistics.median(values):5.1f} s  (runs: {', '.join(f'{v:.1f}' for v in values)})")
    print(f"{'lerobot_caps section':<28} median {statistics.median(section) / 1000:5.1f} s inside the doctor's probe")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 3))
