"""Activation hooks: set, then restore exactly; quoting of hostile paths; run and shell-hook."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from envkit.accel.ascend.backend import CANN_VARS  # the variables the Ascend backend says set_env.sh changes
from envkit.hooks import ACTIVATE, DEACTIVATE, HookSpec, hooks_current, remove_hooks, render_activate, run_argv, shell_hook, write_hooks
from tests.cli_util import run_envkit

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="bash needed to source the hooks")

HOSTILE = "env with space and 'quote' $HOME `x`"


def _prefix(tmp_path: Path, name: str = HOSTILE) -> Path:
    prefix = tmp_path / name
    (prefix / "bin").mkdir(parents=True)
    (prefix / "lib").mkdir()
    (prefix / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return prefix


def _env_after(script: str, prefix: Path, base: dict[str, str]) -> dict[str, str]:
    """Run bash with `base` as the whole environment and return the environment at the end."""
    proc = subprocess.run(["bash", "-c", script + '\nenv -0', "x", str(prefix)], env=base, capture_output=True, check=True)
    pairs = [item.split(b"=", 1) for item in proc.stdout.split(b"\0") if b"=" in item]
    return {k.decode(): v.decode() for k, v in pairs if k not in (b"_", b"SHLVL", b"PWD", b"OLDPWD")}


BASE = {"PATH": "/usr/bin:/bin", "HOME": "/root", "MUJOCO_GL": "glfw", "LD_LIBRARY_PATH": "/opt/x"}


def test_activate_sets_and_deactivate_restores_exactly(tmp_path: Path) -> None:
    prefix = _prefix(tmp_path)
    spec = HookSpec(prefix, "cpu", {"MUJOCO_GL": "egl", "OMP_NUM_THREADS": "1", "WEIRD": "a 'b' $c"},
                    ld_library_path=(str(prefix / "lib"),), pythonpath=(str(prefix / "src"),))
    write_hooks(spec)
    act = f'. "$1/{ACTIVATE}"'
    deact = f'. "$1/{DEACTIVATE}"'
    inside = _env_after(act, prefix, BASE)
    assert inside["MUJOCO_GL"] == "egl" and inside["OMP_NUM_THREADS"] == "1" and inside["WEIRD"] == "a 'b' $c"
    assert inside["LD_LIBRARY_PATH"] == f"{prefix}/lib:/opt/x"
    assert inside["PYTHONPATH"] == f"{prefix}/src"  # was unset: no trailing ':'
    # sourcing twice (nested activation) applies nothing twice
    assert _env_after(act + "\n" + act, prefix, BASE)["LD_LIBRARY_PATH"] == f"{prefix}/lib:/opt/x"
    after = _env_after(act + "\n" + deact, prefix, BASE)
    assert after == _env_after(":", prefix, BASE)  # unset ones unset again, set ones back, helpers gone


def test_cann_set_env_sourced_and_undone(tmp_path: Path) -> None:
    prefix = _prefix(tmp_path)
    set_env = tmp_path / "Ascend dir" / "set_env.sh"
    set_env.parent.mkdir()
    set_env.write_text('export ASCEND_HOME_PATH=/usr/local/Ascend/latest\nexport PATH=/usr/local/Ascend/bin:$PATH\n'
                       'export LD_LIBRARY_PATH=/usr/local/Ascend/lib64:$LD_LIBRARY_PATH\nset -- clobbered\n')
    spec = HookSpec(prefix, "atlas-a2", {"MUJOCO_GL": "osmesa"}, ld_library_path=(str(prefix / "lib"),),
                    source_first=(str(tmp_path / "missing" / "set_env.sh"), str(set_env)), source_saves=CANN_VARS)
    write_hooks(spec)
    inside = _env_after(f'. "$1/{ACTIVATE}"', prefix, BASE)
    assert inside["ASCEND_HOME_PATH"] == "/usr/local/Ascend/latest"
    assert inside["PATH"].startswith("/usr/local/Ascend/bin:")
    assert inside["LD_LIBRARY_PATH"].split(":")[:2] == [f"{prefix}/lib", "/usr/local/Ascend/lib64"]
    # the fake set_env.sh resets the positional parameters: keep the prefix in a variable
    after = _env_after(f'p="$1"; . "$p/{ACTIVATE}"\n. "$p/{DEACTIVATE}"; unset p', prefix, BASE)
    assert after == _env_after(":", prefix, BASE)


def test_rewriting_hooks_never_duplicates(tmp_path: Path) -> None:
    prefix = _prefix(tmp_path)
    spec = HookSpec(prefix, "cpu", {"MUJOCO_GL": "egl"})
    write_hooks(spec)
    first = (prefix / ACTIVATE).read_text()
    write_hooks(spec)
    assert (prefix / ACTIVATE).read_text() == first == render_activate(spec)
    assert first.count("MUJOCO_GL='egl'") == 1
    assert hooks_current(spec)
    assert not list((prefix / ACTIVATE).parent.glob("*.tmp"))
    (prefix / "etc/conda/activate.d/other.sh").write_text(":\n")  # another package's hook stays
    remove_hooks(prefix)
    assert not (prefix / ACTIVATE).exists() and (prefix / "etc/conda/activate.d/other.sh").exists()
    assert not (prefix / DEACTIVATE).parent.exists()


def test_envkit_run_applies_hooks_and_passes_exit_status(tmp_path: Path) -> None:
    prefix = _prefix(tmp_path)
    write_hooks(HookSpec(prefix, "cpu", {"MUJOCO_GL": "egl"}))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "_ENVKIT_ACTIVE")}
    res = run_envkit("run", "--prefix", str(prefix), "--", "sh", "-c", 'echo "$MUJOCO_GL|$VIRTUAL_ENV|$1"; exit 3', "sh", "a b", env=env)
    assert res.code == 3, res.err
    assert res.out.strip() == f"egl|{prefix}|a b"
    bad = run_envkit("run", "--prefix", str(tmp_path / "nope"), "--", "true")
    assert bad.code == 2 and "not an environment" in bad.err
    assert run_argv(prefix, ["true"])[3] == "envkit-run"


def test_shell_hook_enters_and_leaves_exactly(tmp_path: Path) -> None:
    prefix = _prefix(tmp_path)
    write_hooks(HookSpec(prefix, "cpu", {"MUJOCO_GL": "egl"}, ld_library_path=(str(prefix / "lib"),)))
    text = shell_hook(prefix)
    script = f'eval {__import__("shlex").quote(text)}\necho "$MUJOCO_GL|$VIRTUAL_ENV|$(command -v envkit_deactivate)" >&2\nenvkit_deactivate'
    proc = subprocess.run(["bash", "-c", script, "x", str(prefix)], env=BASE, capture_output=True, text=True, check=True)
    assert proc.stderr.strip() == f"egl|{prefix}|envkit_deactivate"
    assert _env_after(script, prefix, BASE) == _env_after(":", prefix, BASE)
