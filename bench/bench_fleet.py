"""Fleet set-up time: the Ansible role on three loopback hosts (forks=3) vs three `envkit setup` runs one after another.

Both start from empty prefixes with the same warm uv cache, cpu profile, --no-pretrained-backbone. The
fleet figure includes what the sequential one does not: installing envkit from a wheel on each host,
SSH, and a doctor --no-smoke per host after setup. Root only (the fleet side runs its own sshd).
Run: .venv/bin/python bench/bench_fleet.py   (about 10 minutes on 2 cores)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fleet_loopback import Loopback, build_wheel, ensure_sshd, run_playbook  # noqa: E402


def sequential(workdir: Path, n: int = 3) -> float:
    envkit = Path(sys.executable).with_name("envkit")
    start = time.monotonic()
    for i in range(n):
        subprocess.run([str(envkit), "setup", "--profile", "cpu", "--prefix", str(workdir / f"seq{i}"), "--yes",
                        "--no-pretrained-backbone", "--json"], check=True, capture_output=True, timeout=3600)
    return time.monotonic() - start


def fleet(workdir: Path) -> float:
    wheel = build_wheel(workdir / "dist")
    with Loopback(workdir) as lb:
        inv = lb.inventory(workdir / "inventory.yml", wheel, None, envkit_doctor_smoke=False)
        run = run_playbook(inv, workdir, timeout=3600)
    if run.rc != 0:
        raise SystemExit(run.output[-4000:])
    return run.seconds


def main() -> int:
    reason = ensure_sshd()
    if reason:
        print(f"bench_fleet: skipped ({reason})")
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="envkit-bench-fleet-"))
    try:
        f = fleet(workdir / "fleet")
        s = sequential(workdir / "seq")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{'three hosts, ansible-playbook --forks 3 (install + setup + doctor)':<70} {f:7.0f} s")
    print(f"{'three `envkit setup` runs one after another (setup only)':<70} {s:7.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
