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

import configparser
import importlib
import os
import pkgutil
import sys
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any

ENTRY_POINT_GROUP = "envkit.backends"



@lru_cache(maxsize=1)
def _declarations() -> dict[str, ModuleType]:
    """The subpackages of envkit.accel that declare BACKEND, by name, in their ORDER. Only those small
    `__init__` modules are imported here; a backend module is imported when asked for (envkit --help
    imports none)."""
    found: list[tuple[int, str, ModuleType]] = []
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg:
            continue
        package = importlib.import_module(f"{__name__}.{info.name}")
        if isinstance(getattr(package, "BACKEND", None), str):
            found.append((int(getattr(package, "ORDER", 50)), info.name, package))
    return {name: package for _, name, package in sorted(found, key=lambda f: (f[0], f[1]))}


def builtins() -> dict[str, str]:
    """name -> "module:Class" of the built-in accelerators (what each folder's BACKEND declares)."""
    return {name: package.BACKEND for name, package in _declarations().items()}


def load_target(value: str) -> Any:
    """The object a "module:attr.path" names (entry points and the folders' declarations)."""
    module, _, attr = value.partition(":")
    target: object = importlib.import_module(module.strip())
    for part in attr.strip().split(".") if attr.strip() else ():
        target = getattr(target, part)
    return target


@lru_cache(maxsize=1)
def facts_layout() -> dict[str, tuple[str | None, type]]:
    """name -> (top-level JSON key or None, dataclass) of the built-ins whose folder declares
    FACTS = (key, "module:Class"): the typed host facts envkit.hostfacts reads and writes for them."""
    out: dict[str, tuple[str | None, type]] = {}
    for name, package in _declarations().items():
        declared = getattr(package, "FACTS", None)
        if declared is not None:
            key, target = declared
            out[name] = (key, load_target(target))
    return out


@dataclass(frozen=True)
class _EntryPoint:
    name: str
    value: str  # "module:Class"
    dist: str  # the .dist-info it came from, for messages


@lru_cache(maxsize=1)
def entry_points() -> dict[str, _EntryPoint]:
    """The group's entry points of every distribution on sys.path (the first of a name wins, as in
    importlib.metadata). Read straight from each *.dist-info/entry_points.txt that mentions the
    group: importlib.metadata.entry_points() parses every distribution's metadata first, which
    cost hundreds of milliseconds per envkit command on a full environment."""

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
    for name, ep in entry_points().items():
        out[name] = f"entry point {ep.value} from {ep.dist}"
    return out


def plugins() -> list[str]:
    """Names of the backends that entry points add (not the built-ins)."""
    return sorted(entry_points())


def known(name: str) -> bool:
    return name in builtins() or name in entry_points()
