"""Run one of the doctor's in-target scripts (infer.py, serve_client.py) in the target env and read
the JSON line it prints. The script runs as a copy in a fresh directory, so envkit's own package
directory is never on the target's sys.path (as the probe and make_dataset do)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from envkit.doctor import smoke as run
from envkit.doctor.model import Context


def script_argv(ctx: Context, name: str, workdir: Path, *args: str) -> list[str]:
    """The target's python running a copy of doctor/NAME (placed in `workdir`)."""
    source = Path(__file__).with_name(name)
    copy = workdir / f"envkit_{name}"
    shutil.copy(source, copy)
    return [ctx.python_cmd(), str(copy), *args]


def last_json(text: str) -> dict[str, Any] | None:
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def run_json(ctx: Context, name: str, *args: str, timeout: int = 600) -> tuple[dict[str, Any] | None, run.RunResult]:
    """(the script's JSON document or None, the run: exit code, log, seconds)."""
    with tempfile.TemporaryDirectory(prefix="envkit-target-") as tmp:
        argv = script_argv(ctx, name, Path(tmp), *args)
        result = run._run(ctx, argv, Path(tmp), timeout=timeout)
    return last_json(result.log), result
