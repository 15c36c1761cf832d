"""Accelerator backends behind one Protocol (base.Backend): a table of built-ins plus plug-ins.

A separate distribution adds an accelerator by declaring an entry point in the group
`envkit.backends` (name = the profile's `accelerator`, value = "module:BackendClass"); envkit
never has to be edited. The built-in table wins over an entry point of the same name, so a
plug-in cannot silently replace cuda/ascend/cpu.
"""

from __future__ import annotations

from dataclasses import dataclass
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
                    if name not in BUILTIN:
                        found.setdefault(name.strip(), _EntryPoint(name.strip(), value.strip(), entry.name))
    return found


def installed() -> dict[str, str]:
    """Every backend name envkit can use here -> where it comes from (for messages and `envkit profiles`)."""
    out = {name: f"built in ({target})" for name, target in BUILTIN.items()}
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
    import importlib

    if name in BUILTIN:
        module, _, attr = BUILTIN[name].partition(":")
        return getattr(importlib.import_module(module), attr)()
    ep = _entry_points()[name]
    module, _, attr = ep.value.partition(":")
    try:
        target: object = importlib.import_module(module.strip())
        for part in attr.strip().split(".") if attr.strip() else ():
            target = getattr(target, part)
    except Exception as exc:  # noqa: BLE001 - a broken plug-in is the user's installation, not a traceback
        raise EnvkitError(f"the backend '{name}' (entry point {ep.value} in {ep.dist}) does not import: {type(exc).__name__}: {exc}",
                          fix="reinstall or remove the distribution that provides it") from None
    backend = target() if isinstance(target, type) else target
    if getattr(backend, "name", None) != name:
        raise EnvkitError(f"the backend registered as '{name}' ({ep.value} in {ep.dist}) calls itself {getattr(backend, 'name', None)!r}",
                          fix=f"make its `name` attribute '{name}', or register it under its own name")
    missing = _missing_members(backend)
    if missing:
        raise EnvkitError(f"the backend '{name}' ({ep.value} in {ep.dist}) lacks {', '.join(missing)} of envkit's Backend protocol "
                          "(src/envkit/backends/base.py; docs/backends.md lists each member)",
                          fix=f"add them to the backend, or upgrade the distribution that provides '{name}' to one written for this envkit")
    return backend  # type: ignore[return-value]


def _missing_members(backend: object) -> list[str]:
    """The Protocol's attributes and methods a (plug-in) backend does not have: named at load, not as an
    AttributeError deep inside a later command."""
    from envkit.backends.base import Backend

    wanted = set(getattr(Backend, "__annotations__", {}))
    wanted |= {k for k, v in vars(Backend).items() if callable(v) and not k.startswith("_")}
    return sorted(m for m in wanted if not hasattr(backend, m))


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
