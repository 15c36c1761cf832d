"""Time `make lock-pypi` (the PyPI layers of every profile, uv) warm, beside conda-lock's figures.

conda-lock's pip solver cannot lock torch 2.8 on linux unpatched (conda/conda-lock#395); patched it
took 37-70 s for the same pip set (research/lock-feasibility.md, measured 2026-11-26).
Writes into a temporary lockfiles dir, so the committed lockfiles/ are not touched.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENVKIT = Path(sys.executable).with_name("envkit")
TARGET_S = 10.0


def run_once(out: Path) -> float:
    started = time.monotonic()
    proc = subprocess.run([str(ENVKIT), "lock", "--layer", "pypi", "--skip-unreachable", "--lockfiles", str(out)],
                          cwd=REPO, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"bench_lock: envkit lock failed ({proc.returncode}): {proc.stderr.strip()}")
    return seconds


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-lock-") as tmp:
        out = Path(tmp)
        cold = run_once(out)  # fills uv's cache if it was empty
        warm = [run_once(out) for _ in range(2)]
        same = all((out / p.relative_to(REPO / "lockfiles")).read_bytes() == p.read_bytes()
                   for p in (REPO / "lockfiles").rglob("*") if p.is_file()) if (REPO / "lockfiles").is_dir() else None
    best = min(warm)
    print("lock-pypi (cpu x2 + 5090 + atlas-a2 aarch64; uv, hashes):")
    print(f"  envkit first run {cold:5.1f} s, warm {best:5.1f} s (target < {TARGET_S:.0f} s)")
    print("  conda-lock, same pip set: unpatched fails (no manylinux_2_27 tag, conda-lock#395); patched 37-70 s")
    if same is not None:
        print(f"  byte-identical to the committed lockfiles/: {same}")
    return 0 if best < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
