"""Test fixture: build a virtual environment with uv for the doctor's real scenarios (not envkit setup).

It records its overrides where `envkit setup` does (<prefix>/.envkit/state.json, "request"), so
the doctor judges this env exactly as it judges one setup made.

Why uv with overrides: lerobot's published pins (e.g. torch<2.11 in 0.4.4) conflict with the
tuple a profile chooses; `--override` replaces them without editing the wheel. Why
`--compile-bytecode`: with PYTHONDONTWRITEBYTECODE=1 nothing is ever cached, and importing
lerobot_train costs 10 s instead of 4 s. Why pip's sources: uv ignores pip.conf.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from envkit.errors import StepFailed
from envkit.pipconfig import PipSources, read_pip_config
from envkit.state import SetupState
from envkit.uvbin import find_uv

MARKER = ".envkit-build.json"


@dataclass(frozen=True)
class EnvSpec:
    requirements: tuple[str, ...]
    overrides: tuple[str, ...] = ()
    python: str = "3.11"  # a version request or an interpreter path, as `uv venv --python` takes it
    extra_args: tuple[str, ...] = ()

    def digest(self, sources: PipSources) -> str:
        blob = json.dumps([self.requirements, self.overrides, self.python, self.extra_args, sources.uv_args()])
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class EnvBuild:
    prefix: Path
    python: Path
    reused: bool
    seconds: float
    log: Path | None = None
    commands: list[list[str]] = field(default_factory=list)


def env_python(prefix: Path) -> Path:
    return prefix / "bin" / "python"


def is_built(prefix: Path, spec: EnvSpec, sources: PipSources | None = None) -> bool:
    marker = prefix / MARKER
    if not marker.is_file() or not env_python(prefix).exists() or not (prefix / ".envkit" / "state.json").is_file():
        return False
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return recorded.get("digest") == spec.digest(sources or read_pip_config())


def build_env(
    prefix: Path,
    spec: EnvSpec,
    sources: PipSources | None = None,
    environ: Mapping[str, str] | None = None,
    reuse: bool = True,
    log_path: Path | None = None,
) -> EnvBuild:
    """Create (or reuse) a venv at `prefix` holding `spec`; raise StepFailed with the log on failure.

    The marker file is written last, so an interrupted build is never mistaken for a finished one.
    """
    sources = read_pip_config() if sources is None else sources
    prefix = Path(prefix).absolute()
    started = time.monotonic()
    if reuse and is_built(prefix, spec, sources):
        return EnvBuild(prefix, env_python(prefix), True, time.monotonic() - started)
    if prefix.exists():
        shutil.rmtree(prefix)  # a half-built or different env: venv paths are baked in, so rebuild
    prefix.parent.mkdir(parents=True, exist_ok=True)
    uv = find_uv()
    env = dict(os.environ if environ is None else environ)
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")  # never fetch an interpreter behind the user's back
    env.update(sources.uv_env())
    log_path = log_path or prefix.parent / f"{prefix.name}.build.log"
    commands: list[list[str]] = [[uv, "venv", "--seed", "--python", spec.python, str(prefix)]]
    install = [uv, "pip", "install", "--python", str(env_python(prefix)), "--compile-bytecode"]
    if spec.overrides:
        overrides_file = prefix.parent / f"{prefix.name}.overrides.txt"
        overrides_file.write_text("\n".join(spec.overrides) + "\n")
        install += ["--override", str(overrides_file)]
    install += [*sources.uv_args(), *spec.extra_args, *spec.requirements]
    commands.append(install)
    with open(log_path, "w") as log:
        for argv in commands:
            log.write("$ " + " ".join(argv) + "\n")
            log.flush()
            proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
            if proc.returncode != 0:
                raise StepFailed(
                    f"building the environment at {prefix} failed: `{' '.join(argv[:3])} ...` exited {proc.returncode} (log: {log_path})",
                    fix=f"read the end of {log_path}; rerun after fixing the cause (the partial env is rebuilt)",
                )
    SetupState(prefix=prefix, request={"overrides": list(spec.overrides)}).save()
    (prefix / MARKER).write_text(json.dumps({"digest": spec.digest(sources), "spec": spec.__dict__}, default=list))
    return EnvBuild(prefix, env_python(prefix), False, time.monotonic() - started, log_path, commands)
