"""Accelerator backends behind one Protocol (base.Backend): a table of built-ins plus plug-ins.

A separate distribution adds an accelerator by declaring an entry point in the group
`envkit.backends` (name = the profile's `accelerator`, value = "module:BackendClass"); envkit
never has to be edited. The built-in table wins over an entry point of the same name, so a
plug-in cannot silently replace cuda/ascend/cpu.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from envkit.errors import EnvkitError

if TYPE_CHECKING:
    from envkit.backends.base import Backend

ENTRY_POINT_GROUP = "envkit.backends"

# name -> "module:Class"; imported only when asked for (envkit --help stays fast).
BUILTIN: dict[str, str] = {
    "cuda": "envkit.backends.cuda:CudaBackend",
    "ascend": "envkit.backends.ascend:AscendBackend",
    "cpu": "envkit.backends.cpu:CpuBackend",
}
BACKENDS = tuple(BUILTIN)  # the built-in names (older callers import this)


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, object]:
    from importlib.metadata import entry_points

    found: dict[str, object] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in BUILTIN:
            found.setdefault(ep.name, ep)
    return found


def installed() -> dict[str, str]:
    """Every backend name envkit can use here -> where it comes from (for messages and `envkit profiles`)."""
    out = {name: f"built in ({target})" for name, target in BUILTIN.items()}
    for name, ep in _entry_points().items():
        dist = getattr(getattr(ep, "dist", None), "name", None)
        out[name] = f"entry point {ep.value}" + (f" from {dist}" if dist else "")  # type: ignore[attr-defined]
    return out


def _unknown(name: str, where: str | None) -> EnvkitError:
    names = ", ".join(sorted(installed()))
    place = f"{where}: " if where else ""
    return EnvkitError(
        f"{place}accelerator '{name}' has no installed backend; the installed ones are: {names}",
        fix=f"set accelerator to one of those, or install the distribution that provides '{name}' "
            f"(it registers an entry point in the group '{ENTRY_POINT_GROUP}')",
    )


@lru_cache(maxsize=None)
def _load(name: str) -> "Backend":
    import importlib

    if name in BUILTIN:
        module, _, attr = BUILTIN[name].partition(":")
        return getattr(importlib.import_module(module), attr)()
    ep = _entry_points()[name]
    try:
        target = ep.load()  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - a broken plug-in is the user's installation, not a traceback
        raise EnvkitError(f"the backend '{name}' (entry point {ep.value}) does not import: {type(exc).__name__}: {exc}",  # type: ignore[attr-defined]
                          fix="reinstall or remove the distribution that provides it") from None
    backend = target() if isinstance(target, type) else target
    if getattr(backend, "name", None) != name:
        raise EnvkitError(f"the backend registered as '{name}' ({ep.value}) calls itself {getattr(backend, 'name', None)!r}",  # type: ignore[attr-defined]
                          fix=f"make its `name` attribute '{name}', or register it under its own name")
    return backend


def get_backend(name: str, where: str | None = None) -> "Backend":
    """The backend for an accelerator name; an EnvkitError listing the installed ones when unknown.

    `where` names the file or field the name came from, for the message."""
    if name not in BUILTIN and name not in _entry_points():
        raise _unknown(name, where)
    return _load(name)


def plugins() -> list[str]:
    """Names of the backends that entry points add (not the built-ins)."""
    return sorted(_entry_points())


def known(name: str) -> bool:
    return name in BUILTIN or name in _entry_points()


def all_backends() -> list["Backend"]:
    """Every installed backend (built-ins first), e.g. for the keys they add to reports."""
    return [get_backend(name) for name in installed()]
