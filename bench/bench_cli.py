"""Start-up cost of the CLI: `envkit --help` and `envkit detect --json` beside `python -c pass`.

Heavy imports (torch, NVML, rattler, conda_lock) must stay inside the functions that need them.
Run after installing with compiled bytecode (PYTHONDONTWRITEBYTECODE=1 is set on these machines,
so `python -m compileall` the package first, as `make bench` does through pip's install).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
RUNS = 7


def wall(argv: list[str]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def heavy_modules_after(code: str) -> list[str]:
    probe = f"import sys; {code}; print(' '.join(m for m in ('torch', 'pynvml', 'rattler', 'conda_lock', 'tomlkit') if m in sys.modules))"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()


def main() -> None:
    import compileall

    import envkit

    compileall.compile_dir(Path(envkit.__file__).parent, quiet=1)
    rows = [
        ("python -c pass", wall([sys.executable, "-c", "pass"])),
        ("envkit --help", wall([str(BIN / "envkit"), "--help"])),
        ("envkit detect --json", wall([str(BIN / "envkit"), "detect", "--json"])),
        ("envkit resolve --profile cpu --json", wall([str(BIN / "envkit"), "resolve", "--profile", "cpu", "--json"])),
    ]
    base = rows[0][1]
    print(f"{'command':40} {'median s':>9} {'vs python':>10}   ({RUNS} runs each)")
    for name, seconds in rows:
        print(f"{name:40} {seconds:9.3f} {seconds / base:9.1f}x")
    print("heavy modules imported by `import envkit.cli`:", heavy_modules_after("import envkit.cli") or "none")


if __name__ == "__main__":
    main()
