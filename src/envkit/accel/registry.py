"""Loading backends: get_backend by name, every installed one, and what they declare together.

Built-ins (the folders envkit.accel finds) and entry points go through the same `_load`: imported,
name-checked and checked against the Protocol (envkit.accel.base.Backend).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from envkit.accel import ENTRY_POINT_GROUP, builtins, entry_points, installed, load_target
from envkit.accel.base import Backend
from envkit.errors import EnvkitError
from envkit.hostfacts import HostFacts, OsFacts, PythonFacts


def _unknown(name: str, where: str | None) -> EnvkitError:
    names = ", ".join(sorted(installed()))
    place = f"{where}: " if where else ""
    return EnvkitError(
        f"{place}accelerator '{name}' has no installed backend; the installed ones are: {names}",
        fix=f"set accelerator to one of those, or install the distribution that provides '{name}' "
            f"(it registers an entry point in the group '{ENTRY_POINT_GROUP}')",
    )


@lru_cache(maxsize=None)
def _load(name: str) -> Backend:
    """Import, name-check and Protocol-check a backend: built-ins and entry points alike."""
    if name in builtins():  # declared by its folder: src/envkit/accel/<name>/__init__.py
        value, kind, origin = builtins()[name], "BACKEND", f"envkit.accel.{name}"
    else:
        ep = entry_points()[name]
        value, kind, origin = ep.value, "entry point", ep.dist
    try:
        target = load_target(value)
    except Exception as exc:  # noqa: BLE001 - a broken plug-in is the user's installation, not a traceback
        raise EnvkitError(f"the backend '{name}' ({kind} {value} in {origin}) does not import: {type(exc).__name__}: {exc}",
                          fix="reinstall or remove the distribution that provides it") from None
    backend = target() if isinstance(target, type) else target
    if getattr(backend, "name", None) != name:
        raise EnvkitError(f"the backend registered as '{name}' ({value} in {origin}) calls itself {getattr(backend, 'name', None)!r}",
                          fix=f"make its `name` attribute '{name}', or register it under its own name")
    missing = _missing_members(backend)
    if missing:
        raise EnvkitError(f"the backend '{name}' ({value} in {origin}) lacks {', '.join(missing)} of envkit's Backend protocol "
                          "(src/envkit/accel/base.py; docs/backends.md lists each member)",
                          fix=f"add them to the backend, or upgrade the distribution that provides '{name}' to one written for this envkit")
    return backend  # type: ignore[return-value]


def _missing_members(backend: object) -> list[str]:
    """The Protocol's attributes and methods a (plug-in) backend does not have: named at load, not as an
    AttributeError deep inside a later command."""
    wanted = set(getattr(Backend, "__annotations__", {}))
    wanted |= {k for k, v in vars(Backend).items() if callable(v) and not k.startswith("_")}
    return sorted(m for m in wanted if not hasattr(backend, m))


def get_backend(name: str, where: str | None = None) -> Backend:
    """The backend for an accelerator name; an EnvkitError listing the installed ones when unknown.

    `where` names the file or field the name came from, for the message."""
    if name not in builtins() and name not in entry_points():
        raise _unknown(name, where)
    return _load(name)


def all_backends() -> list[Backend]:
    """Every installed backend (built-ins first), e.g. for the keys they add to reports."""
    return [get_backend(name) for name in installed()]


def patch_markers() -> dict[str, tuple[str, ...]]:
    """The markers (file under lerobot/ -> strings) that prove a backend's lerobot patch is installed,
    from every installed backend (envkit.lerobot_patch verifies them)."""
    out: dict[str, tuple[str, ...]] = {}
    for backend in all_backends():
        for rel, markers in backend.patch_markers.items():
            out[rel] = out.get(rel, ()) + tuple(m for m in markers if m not in out.get(rel, ()))
    return out


@lru_cache(maxsize=1)
def _bare_host() -> HostFacts:
    unknown = "unknown"
    return HostFacts(os=OsFacts(unknown, unknown), arch=unknown, platform=unknown, python=PythonFacts(unknown))


def is_fallback(backend: Backend) -> bool:
    """A backend that detects itself even on a host with no hardware facts at all (plain CPU)."""
    return bool(backend.detected(_bare_host()))


def on_host(host: HostFacts) -> list[Backend]:
    """The accelerators this host has, by each backend's own detection; fallbacks last."""
    found = [b for b in all_backends() if b.detected(host)]
    return sorted(found, key=is_fallback)


def in_use(host: HostFacts, profile: Any | None) -> Backend:
    """The accelerator training should use: the profile's, else the first one the host has."""
    if profile is not None:
        return get_backend(str(profile.accelerator))
    found = on_host(host)
    if found:
        return found[0]
    fallbacks = [b for b in all_backends() if is_fallback(b)]
    return fallbacks[0] if fallbacks else all_backends()[-1]
