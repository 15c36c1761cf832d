"""Small helpers shared by the check modules (versions, the matrix, fix commands)."""

from __future__ import annotations

import shlex
from typing import Any

from packaging.version import InvalidVersion, Version

from envkit.compat import matrix as load_matrix
from envkit.doctor.facts import known_arch
from envkit.doctor.model import Context
from envkit.errors import EnvkitError


def base(version: str | None) -> str | None:
    """'2.14.1+cu130' -> '2.14.1'."""
    return version.split("+", 1)[0] if version else None


def local(version: str | None) -> str | None:
    """'2.14.1+cu130' -> 'cu130'; None when there is no local part."""
    return version.split("+", 1)[1] if version and "+" in version else None


def vtuple(version: str | None) -> tuple[int, ...]:
    try:
        return Version(base(version) or "0").release
    except InvalidVersion:
        return (0,)


def matrix() -> Any | None:
    """envkit's compatibility matrix (callers still handle None: the checks say so)."""
    return load_matrix()


def known(fn: Any, *args: Any) -> Any | None:
    """Call a matrix query; None when the matrix does not know the version (EnvkitError)."""
    try:
        return fn(*args)
    except (EnvkitError, KeyError, ValueError):
        return None


def q(text: str) -> str:
    return shlex.quote(str(text))


def pip_install(ctx: Context, *specs: str, no_deps: bool = False, index_url: str | None = None) -> str:
    """A copy-paste install command into the target env (pip is always there; uv may not be)."""
    parts = [q(ctx.python_cmd()), "-m", "pip", "install"]
    if no_deps:
        parts.append("--no-deps")
    if index_url:
        parts += ["--index-url", index_url]
    parts += [q(s) for s in specs]
    return " ".join(parts)


def arch(ctx: Context) -> str:
    return str(ctx.probe.get("marker_env", {}).get("platform_machine") or known_arch(ctx.host) or "x86_64")


def profile_get(ctx: Context, name: str) -> Any | None:
    """A field of the resolved tuple (preferred) or of the profile, when --profile was given."""
    for source in (ctx.resolved, ctx.profile):
        if source is None:
            continue
        value = getattr(source, name, None)
        if value is None and isinstance(source, dict):
            value = source.get(name)
        if value is not None:
            return value
    return None


def err_text(section: dict[str, Any], key: str = "import_error") -> str:
    err = section.get(key) or {}
    return f"{err.get('type', '')}: {err.get('message', '')}".strip(": ") if err else ""


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
