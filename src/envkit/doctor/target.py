"""Which environment the doctor examines, and how to run a command inside it (hooks applied)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from envkit.errors import EnvkitError
from envkit.fsutil import not_a

HOOK = Path("etc/conda/activate.d/envkit.sh")
# Source the hook with the prefix as an argument ($1), never interpolated into the script text.
_HOOK_RUNNER = 'export CONDA_PREFIX="$1"; . "$1/etc/conda/activate.d/envkit.sh" || exit 97; shift; exec "$@"'


@dataclass(frozen=True)
class Target:
    python: Path
    prefix: Path | None
    source: str  # "--prefix" | "--python" | "CONDA_PREFIX" | "VIRTUAL_ENV" | "PATH"
    hook: Path | None = None

    @property
    def bin_dir(self) -> Path:
        return self.prefix / "bin" if self.prefix else self.python.parent

    def script(self, name: str) -> Path | None:
        """A console script installed beside the interpreter (the env may not be activated)."""
        candidate = self.bin_dir / name
        return candidate if candidate.exists() else None

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """argv as the user's training would run: through the envkit activation hook when present."""
        if self.hook and self.prefix:
            return ["bash", "-c", _HOOK_RUNNER, "envkit-hook", str(self.prefix), *argv]
        return list(argv)

    def environ(self, base: Mapping[str, str]) -> dict[str, str]:
        """The environment for a target process: its bin dir first on PATH, like activation."""
        env = dict(base)
        env["PATH"] = str(self.bin_dir) + os.pathsep + env.get("PATH", "")
        if self.prefix and (self.prefix / "conda-meta").is_dir():
            env["CONDA_PREFIX"] = str(self.prefix)
        elif self.prefix and (self.prefix / "pyvenv.cfg").is_file():
            env["VIRTUAL_ENV"] = str(self.prefix)
        return env

    def describe(self) -> dict[str, str | None]:
        return {"python": str(self.python), "prefix": str(self.prefix) if self.prefix else None,
                "source": self.source, "hook": str(self.hook) if self.hook else None}


def _prefix_python(prefix: Path, flag: str) -> Path:
    for rel in ("bin/python", "bin/python3"):
        if (prefix / rel).exists():
            return prefix / rel
    raise EnvkitError(
        f"{flag} {prefix}: no bin/python in that directory",
        fix="pass the environment's root (the directory holding bin/python), or --python PATH",
    )


def _own(path: Path, own: Path) -> bool:
    try:
        return path.resolve() == own.resolve() or Path(sys.prefix).resolve() in path.resolve().parents
    except OSError:
        return False


def resolve_target(
    prefix: Path | None = None,
    python: Path | None = None,
    environ: Mapping[str, str] | None = None,
    own_executable: Path | None = None,
) -> Target:
    """--prefix / --python when given, else CONDA_PREFIX, else VIRTUAL_ENV, else `python` on PATH."""
    env = os.environ if environ is None else environ
    own = Path(own_executable or sys.executable)
    if prefix and python:
        raise EnvkitError("--prefix and --python name two targets", fix="pass only one of them")
    if python:
        path = Path(python).expanduser()
        if not path.exists():
            raise EnvkitError(f"--python {python}: {not_a('file', path)}", fix="pass the interpreter of the env you train in")
        root = path.parent.parent if path.parent.name == "bin" else None
        return Target(path.absolute(), root, "--python", _hook(root))
    if prefix:
        root = Path(prefix).expanduser().absolute()
        if not root.is_dir():
            raise EnvkitError(f"--prefix {prefix}: {not_a('directory', root)}", fix="pass the root of the env you train in")
        return Target(_prefix_python(root, "--prefix"), root, "--prefix", _hook(root))
    for var in ("CONDA_PREFIX", "VIRTUAL_ENV"):
        value = env.get(var)
        if value and Path(value).is_dir():
            root = Path(value)
            candidate = _prefix_python(root, var)
            if not _own(candidate, own):
                return Target(candidate, root, var, _hook(root))
    for name in ("python", "python3"):
        found = shutil.which(name, path=env.get("PATH"))
        if found and not _own(Path(found), own):
            path = Path(found)
            root = path.parent.parent if path.parent.name == "bin" else None
            return Target(path, root, "PATH", _hook(root))
    raise EnvkitError(
        "no target environment: no --prefix/--python, no active conda env or venv, and no python on PATH besides envkit's own",
        fix="envkit doctor --prefix /path/to/env (or activate the env you train in first)",
    )


def _hook(root: Path | None) -> Path | None:
    if root is None:
        return None
    hook = root / HOOK
    return hook if hook.is_file() else None
