"""CLI wiring: fast start-up, usage errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys

from tests.cli_util import run_envkit


def test_cli_import_stays_light() -> None:
    probe = "import sys, envkit.cli; print([m for m in ('torch', 'pynvml', 'rattler', 'conda_lock') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_help_lists_every_command() -> None:
    result = run_envkit("--help")
    assert result.code == 0
    for command in ("detect", "profiles", "resolve", "pins", "setup", "run", "doctor", "lock"):
        assert command in result.out, command


def test_usage_error_is_exit_2_without_traceback() -> None:
    result = run_envkit("resolve", "--no-such-flag")
    assert result.code == 2 and "Traceback" not in result.err
    result = run_envkit("resolve")  # --profile missing
    assert result.code == 2 and "Traceback" not in result.err and "--profile" in result.err
