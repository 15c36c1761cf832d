"""Run the envkit CLI as users do (a subprocess of the installed entry point)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ENVKIT = Path(sys.executable).with_name("envkit")


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_envkit(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120) -> Result:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([str(ENVKIT), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


PROGRESS = ("log: ", "start [", "done  [", "skip  [", "note: ")  # setup's progress lines precede a failure


def assert_user_error(result: Result, *needles: str, code: int = 2) -> None:
    """One clear paragraph on stderr (after any progress lines), the given exit code, no traceback."""
    assert result.code == code, (result.code, result.out, result.err)
    result = Result(result.code, result.out, "".join(ln for ln in result.err.splitlines(keepends=True) if not ln.startswith(PROGRESS)))
    assert "Traceback" not in result.err, result.err
    assert result.err.startswith("envkit: error:"), result.err
    assert result.err.strip().count("\n") == 0, f"not one paragraph: {result.err!r}"
    for needle in needles:
        assert needle in result.err, (needle, result.err)


# The cpu profile with this development machine's limits (Python 3.11, its local torch 2.14.1 wheels):
# real environments built by the tests use it, so they install from the local wheel cache.
CPU_DEV = str(Path(__file__).resolve().parent / "data" / "profiles" / "cpu-dev.toml")
