"""Facts about the environment a launch runs in: one run of target_probe.py inside it (hooks applied)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from envkit import procs, secrets
from envkit.errors import EnvkitError

PROBE_TIMEOUT_S = 120


def run_probe(prefix: Path, count_code: str | None, extra_env: Mapping[str, str],
              environ: Mapping[str, str] | None = None, dists: Mapping[str, tuple[str, ...]] | None = None,
              env_prefixes: tuple[str, ...] = ()) -> dict[str, Any]:
    """The probe's JSON, from the env's own python with its activation hooks applied, then `extra_env`
    (set after the hooks, as the launch sets them). `dists` and `env_prefixes`: what the backend's
    launch checks read (its probe fragment's DISTS and ENV_PREFIXES)."""
    from envkit.hooks import run_argv

    script = Path(__file__).with_name("target_probe.py").read_text()
    python = _python(prefix)
    assigns = [f"{k}={v}" for k, v in extra_env.items()]
    argv = run_argv(prefix, ["env", *assigns, str(python), "-c", script, json.dumps(
        {"count": count_code, "dists": {k: list(v) for k, v in (dists or {}).items()}, "env_prefixes": list(env_prefixes),
         "secret_names": secrets.probe_rule()})])
    env = dict(os.environ if environ is None else environ)
    try:
        proc = procs.run_bounded(argv, env=env, timeout=PROBE_TIMEOUT_S)  # a flooding env is stopped, not buffered
    except subprocess.TimeoutExpired:
        raise EnvkitError(f"the environment at {prefix} did not answer within {PROBE_TIMEOUT_S} s",
                          fix=f"check it with envkit doctor --prefix {prefix}") from None
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = (proc.stderr or proc.stdout).strip()[-800:]
        raise EnvkitError(f"{python} could not describe the environment (exit {proc.returncode}): {tail}",
                          fix=f"envkit doctor --prefix {prefix} shows what is broken") from None


def _python(prefix: Path) -> Path:
    for rel in ("bin/python", "bin/python3"):
        if (prefix / rel).exists():
            return prefix / rel
    raise EnvkitError(f"--prefix {prefix}: no bin/python in that directory",
                      fix="pass the environment's root (the directory holding bin/python), as given to envkit setup")


def env_facts(prefix: Path, probe: dict[str, Any], source_tree: str | None, environ: Mapping[str, str],
              hook_env: Mapping[str, str] | None = None):
    """EnvFacts for the plan: the installed lerobot's layout (doctor.layout) and whether it trains distributed."""
    from envkit.doctor.layout import classify, package_dir
    from envkit.doctor.probe import tree_facts
    from envkit.launch.plan import EnvFacts, distributed_support

    lerobot_dir = probe.get("lerobot_dir")
    importable = bool(lerobot_dir)
    if not lerobot_dir and source_tree:
        pkg = package_dir(Path(source_tree))
        lerobot_dir = str(pkg) if pkg else None
    layout, distributed = None, None
    if lerobot_dir:
        layout = classify(tree_facts(lerobot_dir), probe.get("lerobot_version"), probe.get("console_scripts"))
        if layout.train_module:
            rel = layout.train_module.split(".", 1)[1].replace(".", "/") + ".py"
            try:
                distributed = distributed_support((Path(lerobot_dir) / rel).read_text(encoding="utf-8", errors="replace"))
            except OSError:
                distributed = None
    return EnvFacts(prefix=str(prefix), python=str(_python(prefix)), layout=layout, distributed=distributed,
                    lerobot_importable=importable, source_tree=source_tree,
                    cpu_count=int(probe.get("cpu_count") or os.cpu_count() or 1), environ=dict(environ),
                    hook_env=dict(hook_env or {}))
