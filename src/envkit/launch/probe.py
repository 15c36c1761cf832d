"""Facts about the environment a launch runs in: one run of target_probe.py inside it (hooks applied)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from envkit import procs, secrets
from envkit.cachedir import cache_root
from envkit.errors import EnvkitError
from envkit.hooks import run_argv
from envkit.launch.plan import EnvFacts
from envkit.lerobot_caps import from_probe
from envkit.targetenv.layout import classify, package_dir
from envkit.targetenv.probe import tree_facts

PROBE_TIMEOUT_S = 120


def run_probe(prefix: Path, count_code: str | None, extra_env: Mapping[str, str],
              environ: Mapping[str, str] | None = None, dists: Mapping[str, tuple[str, ...]] | None = None,
              env_prefixes: tuple[str, ...] = (), caps: bool = True, torch_version: tuple[str, ...] = ()) -> dict[str, Any]:
    """The probe's JSON, from the env's own python with its activation hooks applied, then `extra_env`
    (set after the hooks, as the launch sets them). `dists` and `env_prefixes`: what the backend's
    launch checks read (its probe fragment's DISTS and ENV_PREFIXES). `caps`: also the lerobot
    capability probe (doctor/caps_probe.py), copied beside the script as the doctor's probe does."""
    prefix = Path(prefix).absolute()  # the probe runs from an empty temporary directory
    python = _python(prefix)
    assigns = [f"{k}={v}" for k, v in extra_env.items()]
    spec = {"count": count_code, "dists": {k: list(v) for k, v in (dists or {}).items()}, "env_prefixes": list(env_prefixes),
            "torch_version": list(torch_version),
            "secret_names": secrets.probe_rule(), "caps": "envkit_caps_probe" if caps else None,
            "caps_cache": str(caps_cache(prefix)) if caps else None}
    env = dict(os.environ if environ is None else environ)
    with tempfile.TemporaryDirectory(prefix="envkit-launch-probe-") as tmp:
        # Copies run from an empty directory: nothing of envkit's package can shadow the env's modules.
        script = Path(tmp) / "envkit_target_probe.py"
        shutil.copy(Path(__file__).with_name("target_probe.py"), script)
        if caps:
            shutil.copy(Path(__file__).parents[1] / "doctor" / "caps_probe.py", Path(tmp) / "envkit_caps_probe.py")
        argv = run_argv(prefix, ["env", *assigns, str(python), str(script), json.dumps(spec)])
        try:
            proc = procs.run_bounded(argv, env=env, timeout=PROBE_TIMEOUT_S, cwd=tmp)  # a flooding env is stopped, not buffered
        except subprocess.TimeoutExpired:
            raise EnvkitError(f"the environment at {prefix} did not answer within {PROBE_TIMEOUT_S} s",
                              fix=f"check it with envkit doctor --prefix {prefix}") from None
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = (proc.stderr or proc.stdout).strip()[-800:]
        raise EnvkitError(f"{python} could not describe the environment (exit {proc.returncode}): {tail}",
                          fix=f"envkit doctor --prefix {prefix} shows what is broken") from None


def caps_cache(prefix: Path) -> Path:
    """Where the launch probe keeps this environment's capability document (envkit's cache, one file per prefix)."""
    return cache_root() / "caps" / (hashlib.sha256(str(prefix).encode()).hexdigest()[:24] + ".json")


def _python(prefix: Path) -> Path:
    for rel in ("bin/python", "bin/python3"):
        if (prefix / rel).exists():
            return prefix / rel
    raise EnvkitError(f"--prefix {prefix}: no bin/python in that directory",
                      fix="pass the environment's root (the directory holding bin/python), as given to envkit setup")


def env_facts(prefix: Path, probe: dict[str, Any], source_tree: str | None, environ: Mapping[str, str],
              hook_env: Mapping[str, str] | None = None):
    """EnvFacts for the plan: the installed lerobot's layout (targetenv.layout) and what its own code says it
    can do (the capability probe: training module, distributed machinery, mixed-precision setting)."""
    lerobot_dir = probe.get("lerobot_dir")
    importable = bool(lerobot_dir)
    if not lerobot_dir and source_tree:
        pkg = package_dir(Path(source_tree))
        lerobot_dir = str(pkg) if pkg else None
    layout = None
    if lerobot_dir:
        layout = classify(tree_facts(lerobot_dir), probe.get("lerobot_version"), probe.get("console_scripts"))
    return EnvFacts(prefix=str(prefix), python=str(_python(prefix)), layout=layout, caps=from_probe(probe),
                    lerobot_importable=importable, source_tree=source_tree,
                    cpu_count=int(probe.get("cpu_count") or os.cpu_count() or 1), environ=dict(environ),
                    hook_env=dict(hook_env or {}))
