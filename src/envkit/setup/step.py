"""What a setup step is (data, no I/O), and the options and file inputs its build reads.

Each step module under envkit.setup.steps builds `Step`s from these; envkit.setup.plan orders them and
chains their digests; the engine runs each through the module that owns its `action`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envkit.state import STATE_DIR

if TYPE_CHECKING:
    from envkit.pipconfig import PipSources
    from envkit.resolve import Resolved

UV = "uv"  # argv[0] placeholder; the engine substitutes the uv that envkit ships with


@dataclass(frozen=True)
class SetupOptions:
    prefix: Path
    lerobot: str | None = None
    extras: tuple[str, ...] = ()
    wheels: Path | None = None
    weights: Path | None = None
    offline: bool = False
    yes: bool = False
    visible_devices: str | None = None
    channels: tuple[str, ...] = ()
    index_url: str | None = None  # replaces the default index (PyPI) for every uv call
    from_lock: Path | None = None  # lockfiles/<profile>/ directory
    python_exe: str | None = None  # the interpreter a venv is made from (found on PATH by the caller)
    envkit_python: str = sys.executable  # runs envkit's own children (condaenv, doctor)
    no_pretrained_backbone: bool = False  # passed to the doctor: training uses pretrained_backbone_weights=null
    torch_builds: Any = None  # envkit.torch_builds.TorchBuilds: CPU builds or PyPI's, chosen at the edge
    strict_lock: bool = False  # --from-lock: refuse a lock that lacks a layer instead of solving it from the profile


@dataclass(frozen=True)
class PlanInputs:
    """What build_plan needs from files, read by the caller (envkit.setup.inputs.gather)."""

    local_wheels: dict[str, Path] = field(default_factory=dict)  # distribution -> wheel in --wheels
    lock: Any = None  # envkit.lock.LockSet of --from-lock
    lock_hashes: dict[str, str] = field(default_factory=dict)  # file name in the lock dir -> sha256
    layout_notes: tuple[str, ...] = ()  # envkit.targetenv.layout.plan_facts of the lerobot source
    layout_requires: tuple[str, ...] = ()
    patch_file: str | None = None  # the shipped patch's path


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    why: str
    action: str  # which step module's executor performs it (envkit.setup.steps.KINDS)
    commands: tuple[tuple[str, ...], ...] = ()
    files: tuple[str, ...] = ()
    inputs: dict[str, Any] = field(default_factory=dict)  # what decides the outcome (digest source)
    params: dict[str, Any] = field(default_factory=dict)  # executor details not shown as commands
    depends: tuple[str, ...] = ()
    verify: tuple[str, ...] = ()  # globs (relative to the prefix) that exist once the step is done
    notes: tuple[str, ...] = ()
    digest: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "why": self.why, "commands": [list(c) for c in self.commands],
                "files": list(self.files), "inputs": self.inputs, "depends": list(self.depends),
                "notes": list(self.notes), "digest": self.digest}


# --- what several steps' builds share -------------------------------------------------------


def site(resolved: "Resolved") -> str:
    return f"lib/python{resolved.python}/site-packages"


def overrides_file(options: SetupOptions) -> Path:
    return options.prefix / STATE_DIR / "overrides.txt"


def index_args(resolved: "Resolved", options: SetupOptions, sources: "PipSources") -> list[str]:
    args: list[str] = []
    for index in resolved.indexes:
        if index.get("url"):
            args += ["--index", f"{index['name']}={index['url']}"]
    if options.index_url:
        args += ["--default-index", options.index_url]
    return args + sources.uv_args()


def uv_install(resolved: "Resolved", options: SetupOptions, sources: "PipSources") -> list[str]:
    python = str(options.prefix / "bin" / "python")
    return [UV, "pip", "install", "--python", python, "--compile-bytecode", *index_args(resolved, options, sources)]


def torch_home(options: SetupOptions) -> Path | None:
    """Where the hooks point TORCH_HOME when setup places offline weights (--weights)."""
    return options.prefix / "share" / "envkit" / "torch" if options.weights else None
