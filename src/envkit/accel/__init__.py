"""The accelerator registry: every backend behind one Protocol (envkit.accel.base.Backend).

Two sources, one loader. A built-in accelerator is a subpackage of envkit.accel whose
`__init__.py` declares `BACKEND = "module:Class"` and `ORDER` (found by scanning this package, so
adding one is adding a folder). A separate distribution adds an accelerator by declaring an entry point
in the group `envkit.backends` (name = the profile's `accelerator`, value = "module:Class").
Both are imported, name-checked and checked against the Protocol by the same code (`_load`).
A built-in wins over an entry point of the same name, so a plug-in cannot silently replace one.
Generic code asks this module; it never imports an accelerator's folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from envkit.errors import EnvkitError

if TYPE_CHECKING:
    from envkit.accel.base import Backend

ENTRY_POINT_GROUP = "envkit.backends"



@lru_cache(maxsize=1)
def builtins() -> dict[str, str]:
    """name -> "module:Class" of the built-in accelerators: each subpackage of envkit.accel that
    declares BACKEND. Only those small `__init__` modules are imported here; a backend module is
    imported when asked for (envkit --help imports none)."""
    import importlib
    import pkgutil

    found: list[tuple[int, str, str]] = []
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg:
            continue
        package = importlib.import_module(f"{__name__}.{info.name}")
        target = getattr(package, "BACKEND", None)
        if isinstance(target, str):
            found.append((int(getattr(package, "ORDER", 50)), info.name, target))
    return {name: target for _, name, target in sorted(found)}


@dataclass(frozen=True)
class _EntryPoint:
    name: str
    value: str  # "module:Class"
    dist: str  # the .dist-info it came from, for messages


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, _EntryPoint]:
    """The group's entry points of every distribution on sys.path (the first of a name wins, as in
    importlib.metadata). Read straight from each *.dist-info/entry_points.txt that mentions the
    group: importlib.metadata.entry_points() parses every distribution's metadata first, which
    cost hundreds of milliseconds per envkit command on a full environment."""
    import configparser
    import os
    import sys

    found: dict[str, _EntryPoint] = {}
    for base in sys.path:
        try:
            entries = sorted(os.scandir(base or "."), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if not entry.name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(entry.path, "entry_points.txt"), encoding="utf-8") as handle:
                    text = handle.read()
            except OSError:
                continue
            if ENTRY_POINT_GROUP not in text:
                continue
            parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
            parser.optionxform = str  # type: ignore[assignment,method-assign]  # names are case-sensitive
            try:
                parser.read_string(text)
            except configparser.Error:
                continue
            if parser.has_section(ENTRY_POINT_GROUP):
                for name, value in parser.items(ENTRY_POINT_GROUP):
                    if name not in builtins():
                        found.setdefault(name.strip(), _EntryPoint(name.strip(), value.strip(), entry.name))
    return found


def installed() -> dict[str, str]:
    """Every backend name envkit can use here -> where it comes from (for messages and `envkit profiles`)."""
    out = {name: f"built in ({target})" for name, target in builtins().items()}
    for name, ep in _entry_points().items():
        out[name] = f"entry point {ep.value} from {ep.dist}"
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
    """Import, name-check and Protocol-check a backend: built-ins and entry points alike."""
    import importlib

    if name in builtins():
        value, origin = builtins()[name], f"envkit.accel.{name}"
    else:
        ep = _entry_points()[name]
        value, origin = ep.value, ep.dist
    module, _, attr = value.partition(":")
    try:
        target: object = importlib.import_module(module.strip())
        for part in attr.strip().split(".") if attr.strip() else ():
            target = getattr(target, part)
    except Exception as exc:  # noqa: BLE001 - a broken plug-in is the user's installation, not a traceback
        raise EnvkitError(f"the backend '{name}' (entry point {value} in {origin}) does not import: {type(exc).__name__}: {exc}",
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
    from envkit.accel.base import Backend

    wanted = set(getattr(Backend, "__annotations__", {}))
    wanted |= {k for k, v in vars(Backend).items() if callable(v) and not k.startswith("_")}
    return sorted(m for m in wanted if not hasattr(backend, m))


def get_backend(name: str, where: str | None = None) -> "Backend":
    """The backend for an accelerator name; an EnvkitError listing the installed ones when unknown.

    `where` names the file or field the name came from, for the message."""
    if name not in builtins() and name not in _entry_points():
        raise _unknown(name, where)
    return _load(name)


def plugins() -> list[str]:
    """Names of the backends that entry points add (not the built-ins)."""
    return sorted(_entry_points())


def known(name: str) -> bool:
    return name in builtins() or name in _entry_points()


def all_backends() -> list["Backend"]:
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
