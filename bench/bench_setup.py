"""envkit setup (cpu profile) vs the same package set with plain pip, and the no-op re-run.

One run, side by side, on this machine:
  1. `envkit setup --profile cpu` into a fresh prefix (per-step seconds from its state file; the
     last step is the doctor with its smoke ACT training run);
  2. the seed guide's way with pip: `python3.11 -m venv`, `pip install` torch/torchvision/torchcodec,
     `pip install --no-deps lerobot==0.4.4` and then lerobot's other packages at the versions
     envkit's env holds (pip alone would downgrade torch to satisfy lerobot 0.4.4's pins);
  3. the no-op re-run of envkit setup (target < 1 s), beside conda-lock install's and pixi's
     no-change re-install figures quoted in research (anchors.md: conda/conda-lock#809).
uv and pip download caches are warm where earlier runs filled them; both sides share them.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENVKIT = Path(sys.executable).with_name("envkit")
QUOTED = {"conda-lock install (no change)": 130.0, "pixi install (no change)": 0.6}


def disk_gb(path: Path) -> float:
    """Bytes on disk under path (hard links once, like du), in GB."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total / 1e9


def site_gb(prefix: Path, sub: str) -> float:
    found = list(prefix.glob(f"lib/python3*/site-packages/{sub}"))
    return disk_gb(found[0]) if found else 0.0


def timed(argv: list[str], **kw) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, **kw)
    return time.monotonic() - start, proc


def verification_seconds(prefix: Path) -> tuple[float, int]:
    """What the no-op re-run spends proving finished steps are intact (envkit.installed.missing over every step)."""
    from envkit.installed import missing
    from envkit.state import load_state

    state = load_state(prefix)
    assert state is not None
    dists = [s.get("dists") or {} for s in state.steps.values()]
    times = []
    for _ in range(5):
        start = time.perf_counter()
        broken = [d for step in dists for d in missing(prefix, step)]
        times.append(time.perf_counter() - start)
    assert not broken, broken
    return statistics.median(times), sum(len(d) for d in dists)


def noop_only(prefix: Path) -> int:
    """`bench_setup.py --noop PREFIX`: only the no-op figures, on a prefix set up before (no 5-minute setup)."""
    state = json.loads((prefix / ".envkit" / "state.json").read_text())
    args = [str(ENVKIT), "setup", "--profile", state["profile"], "--prefix", str(prefix), "--yes", "--no-pretrained-backbone", "--json"]
    noop = []
    for _ in range(5):
        seconds, proc = timed(args)
        assert proc.returncode == 0 and json.loads(proc.stdout)["ran"] == [], proc.stderr
        noop.append(seconds)
    seconds, count = verification_seconds(prefix)
    print(f"bench_setup --noop on {os.uname().nodename} ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
    print(f"  envkit setup no-op re-run (median of 5)   {statistics.median(noop):6.2f} s   target < 0.5 s; " + ", ".join(f"{s:.2f}" for s in noop))
    print(f"  of which step verification                {seconds:6.3f} s   {count} distributions, in-process")
    return 0


def main() -> int:
    if sys.argv[1:2] == ["--noop"]:
        return noop_only(Path(sys.argv[2]))
    if shutil.which("python3.11") is None:
        print("bench_setup: skipped (no python3.11 on PATH for the cpu profile)")
        return 0
    work = Path(tempfile.mkdtemp(prefix="envkit-bench-setup-"))
    rows: list[tuple[str, float, str]] = []
    try:
        prefix = work / "envkit-cpu"
        args = [str(ENVKIT), "setup", "--profile", "cpu", "--prefix", str(prefix), "--no-pretrained-backbone", "--json"]
        seconds, proc = timed(args)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        steps = json.loads((prefix / ".envkit" / "state.json").read_text())["steps"]
        install = sum(v["seconds"] for k, v in steps.items() if k != "doctor")
        size = disk_gb(prefix)
        state = json.loads((prefix / ".envkit" / "state.json").read_text())
        builds = state["steps"].get("torch", {}).get("inputs", {}).get("builds", "pypi")
        rows.append(("envkit setup --profile cpu (whole, incl. doctor smoke)", seconds,
                     f"doctor {json.loads(proc.stdout)['doctor']['verdict']}; env {size:.2f} GB on disk "
                     f"(nvidia/ {site_gb(prefix, 'nvidia'):.2f} GB, triton/ {site_gb(prefix, 'triton'):.2f} GB, "
                     f"torch/ {site_gb(prefix, 'torch'):.2f} GB; torch step: {builds} builds)"))
        rows.append(("  of which install steps (env, ffmpeg, torch, lerobot, hooks)", install,
                     ", ".join(f"{k} {v['seconds']:.1f}s" for k, v in steps.items())))
        freeze = subprocess.run([str(ENVKIT), "run", "--prefix", str(prefix), "--", "python", "-m", "pip", "freeze", "--exclude-editable"],
                                capture_output=True, text=True, check=True).stdout.split()
        trio = [r for r in freeze if r.split("==")[0].lower() in ("torch", "torchvision", "torchcodec")]
        rest = [r for r in freeze if r.split("==")[0].lower() not in ("torch", "torchvision", "torchcodec", "lerobot", "pip", "setuptools", "wheel")]
        venv = work / "pip-cpu"
        pip = str(venv / "bin" / "pip")
        start = time.monotonic()
        subprocess.run(["python3.11", "-m", "venv", str(venv)], check=True)
        for argv in ([pip, "install", "-q", *trio], [pip, "install", "-q", "--no-deps", "lerobot==0.4.4"], [pip, "install", "-q", "--no-deps", *rest]):
            subprocess.run(argv, check=True, capture_output=True)  # pip warns once per file:// index entry
        rows.append((f"pip: venv + {len(freeze)} packages, same set (seed guide's commands)", time.monotonic() - start,
                     f"no doctor; env {disk_gb(venv):.2f} GB on disk"))
        noop, redone = [], []
        for _ in range(3):
            seconds, proc = timed(args)
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            again = json.loads(proc.stdout)
            if again["ran"]:  # not a no-op: say what ran and why, do not hide it
                redone.append(f"ran {again['ran']} ({'; '.join(again['changes']) or 'no input changed'})")
            noop.append(seconds)
        rows.append(("envkit setup no-op re-run (median of 3)", statistics.median(noop),
                     "target < 0.5 s; " + ", ".join(f"{s:.2f}" for s in noop) + ("; NOT a no-op: " + " | ".join(redone) if redone else "")))
        seconds, count = verification_seconds(prefix)
        rows.append(("  of which step verification (dist-infos + RECORD probes)", seconds,
                     f"{count} distributions checked in-process, median of 5; no import, no subprocess"))
        for name, value in QUOTED.items():
            rows.append((name, value, "quoted: research anchors.md (conda/conda-lock#809), not measured here"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"bench_setup on {os.uname().nodename} ({os.cpu_count()} CPUs)")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:8.2f} s   {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
