"""typer's rich help without rich.markdown and rich.traceback: a third of what `envkit --help` costs.

typer formats help with typer.rich_utils, which imports rich.markdown (markdown-it, pygments)
and rich.traceback (rich.pretty, attrs) at its top. It uses them only for the "markdown" markup
mode and for pretty tracebacks; envkit uses neither (typer's default "rich" mode, pretty
exceptions off), yet they are most of rich_utils' import time.

`import_rich_utils` imports typer.rich_utils with stand-ins for the two names it takes from
those modules; a stand-in imports its real module the first time it is used, so nothing
behaves differently, and the stand-in modules are gone from sys.modules once rich_utils has
its names (a later `import rich.markdown` gets the real one). Any surprise (another typer,
another rich) falls back to the ordinary import. tests/test_cli_lazy.py compares the help with
and without it.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_DEFERRED = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}


def _stand_in(module: str, name: str) -> type:
    """A class named like rich's (so `Markdown | Text` annotations still evaluate) whose calls and
    attributes are the real class's, imported on first use."""

    def real() -> Any:
        return getattr(importlib.import_module(module), name)

    class Meta(type):
        def __getattr__(cls, attr: str) -> Any:  # e.g. Traceback.from_exception
            return getattr(real(), attr)

    def new(cls: type, *args: Any, **kwargs: Any) -> Any:
        return real()(*args, **kwargs)

    return Meta(name, (), {"__new__": new, "__module__": module})


def import_rich_utils() -> None:
    if "typer.rich_utils" in sys.modules:
        return
    placed: dict[str, types.ModuleType] = {}
    try:
        for module, name in _DEFERRED.items():
            if module not in sys.modules:
                stub = types.ModuleType(module)
                setattr(stub, name, _stand_in(module, name))
                placed[module] = sys.modules[module] = stub
        importlib.import_module("typer.rich_utils")
    except Exception:  # pragma: no cover - a typer or rich this does not know: the ordinary import
        sys.modules.pop("typer.rich_utils", None)
    finally:
        for module, stub in placed.items():
            if sys.modules.get(module) is stub:
                del sys.modules[module]
