"""envkit bundle (cpu profile, linux-64, the committed lock) and offline `setup --bundle` vs an online setup.

One run, side by side, on this machine:
  1. `envkit bundle --profile cpu --from-lock lockfiles/cpu`: build time and size (wheels come from the
     local mirror pip is configured with where it holds them, else PyPI, then envkit's cache);
  2. the same command again into another file: time, and whether the two tars are byte-identical;
  3. `envkit setup --bundle` inside `unshare -n` (no network at all; plain when not root) with an EMPTY uv
     cache, as on a fresh air-gapped server: every wheel unpacked from the bundle, evdev built from its
     sdist with the bundled setuptools;
  4. the online setup a fresh connected server would do, also with an empty uv cache:
     `envkit setup --profile cpu --from-lock lockfiles/cpu` (the same package set, from the indexes).
Both setups end with the doctor's smoke ACT step and share the doctor's dataset cache.
Target: offline within 1.2x of online.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from envkit.fsutil import file_digest

ENVKIT = Path(sys.executable).with_name("envkit")
REPO = Path(__file__).resolve().parents[1]


def run(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    proc = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    return time.monotonic() - started, proc


def must(what: str, proc: subprocess.CompletedProcess[str]) -> None:
    if proc.returncode != 0:
        sys.exit(f"{what} failed (exit {proc.returncode}): {proc.stderr[-2000:]}")


def steps(prefix: Path) -> str:
    state = json.loads((prefix / ".envkit" / "state.json").read_text())
    return ", ".join(f"{k} {v.get('seconds', 0):.0f}s" for k, v in state["steps"].items())


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-bundle-", dir=REPO / ".cache" if (REPO / ".cache").is_dir() else None))
    doctor = {"ENVKIT_CACHE_DIR": str(REPO / ".cache" / "doctor")}
    lock = ["--from-lock", str(REPO / "lockfiles" / "cpu")]
    try:
        build = ["bundle", "--profile", "cpu", "--platform", "linux-64", *lock, "--json"]
        t_build, proc = run([str(ENVKIT), *build, "-o", str(work / "a.tar")], {})
        must("envkit bundle", proc)
        t_again, proc = run([str(ENVKIT), *build, "-o", str(work / "b.tar")], {})
        must("envkit bundle (again)", proc)
        same = file_digest(work / "a.tar") == file_digest(work / "b.tar")
        size = (work / "a.tar").stat().st_size

        offline_wrap = ["unshare", "-n"] if os.geteuid() == 0 and shutil.which("unshare") else []
        t_off, proc = run([*offline_wrap, str(ENVKIT), "setup", "--bundle", str(work / "a.tar"), "--prefix", str(work / "offline"), "--json"],
                          {**doctor, "UV_CACHE_DIR": str(work / "uv-offline")})
        must("envkit setup --bundle", proc)
        off_steps = steps(work / "offline")
        shutil.rmtree(work / "offline")
        shutil.rmtree(work / "uv-offline", ignore_errors=True)
        t_on, proc = run([str(ENVKIT), "setup", "--profile", "cpu", *lock, "--prefix", str(work / "online"),
                          "--no-pretrained-backbone", "--json"], {**doctor, "UV_CACHE_DIR": str(work / "uv-online")})
        must("envkit setup --from-lock (online)", proc)
        on_steps = steps(work / "online")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print("envkit bundle, cpu profile, linux-64, lockfiles/cpu (this machine: 2 cores)")
    print(f"  {'bundle build':38} {t_build:8.1f} s   {size / 1e9:.2f} GB")
    print(f"  {'bundle rebuild (same inputs)':38} {t_again:8.1f} s   byte-identical: {'yes' if same else 'NO'}")
    print(f"  {'setup --bundle, offline' + (' (unshare -n)' if offline_wrap else ''):38} {t_off:8.1f} s   empty uv cache")
    print(f"  {'setup --from-lock, online':38} {t_on:8.1f} s   empty uv cache")
    print(f"  offline / online: {t_off / t_on:.2f}x (target <= 1.2x)")
    print(f"  offline steps: unpack+verify {t_off - sum_steps(off_steps):.0f}s, {off_steps}")
    print(f"  online steps:  {on_steps}")


def sum_steps(text: str) -> float:
    return sum(float(part.rsplit(" ", 1)[1].rstrip("s")) for part in text.split(", ") if part)


if __name__ == "__main__":
    main()
