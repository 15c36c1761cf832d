"""Option values without pydantic unless one needs it: the biggest single cost of a short command.

typer 0.2x coerces option values through pydantic TypeAdapters, built when an option is first
processed, even when it was not given (an unset `--help` flag is None, not a bool, and so is
an unset `--record PATH`). So every command imported pydantic and built adapters: more time
than all of envkit's own work in `envkit pins --check` (bench/bench_pins.py --breakdown).

`plain_options` gives each option a coercion that answers what needs no adapter itself, with
typer's own rules: an unset value stays None (or () for a multiple option), a str given to a
`str` option and a bool to a `bool` one pass through unchanged (typer's adapters give back the
same value). Any other value is handed to the runtime coercion typer builds, which then
replaces this one. A `Path` option given a string goes to typer's own path coercion
(`coerce_cli_path`: its exists/dir_okay checks and messages) with the value already made a Path,
as typer's adapter would, so that needs no adapter either. So behaviour is typer's, and pydantic
is imported only by a run that gives an int, choice, list... option a value.

This reads typer internals (`typer._coercion.RuntimeParam` and `build_runtime_param`, a
parameter's `type_descriptor` and `_runtime_param`); where they are missing (an older typer
without adapters, or a newer one that changed them) it does nothing: commands stay correct,
only slower, and tests/test_cli_lazy.py fails to say so.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pathlib import Path

try:  # typer's internals (imported by `import typer` anyway); absent from other typer versions
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_path, routes_to_path
except ImportError:  # pragma: no cover
    RuntimeParam = build_runtime_param = coerce_cli_path = routes_to_path = None  # type: ignore[assignment,misc]

_PLAIN = (str, bool)


def plain_options(command: Any, ctx: Any | None = None) -> None:
    """Defer typer's coercion of `command`'s options (its --help too, given the context its
    own context will inherit from) until a value needs it."""
    deferred = _deferred_class()
    if deferred is None:
        return
    params = list(getattr(command, "params", ()))
    if ctx is not None and "help_option_names" not in (getattr(command, "context_settings", None) or {}):
        # click caches the help option on first use; made here with the names the command's
        # context inherits from `ctx`, it is the very object the command's parser uses
        params.append(command.get_help_option(ctx))
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is not None and getattr(param, "_runtime_param", False) is None:
            param._runtime_param = deferred(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation)


@cache
def _deferred_class() -> type | None:
    if RuntimeParam is None:
        return None

    class Deferred(RuntimeParam):  # typer's frozen dataclass; its coerce() keeps None as None
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            info = self.parameter_info
            plain = getattr(info, "parser", None) is None and param.type_descriptor.file_annotation is None
            if plain and self.annotation in _PLAIN and type(value) is self.annotation:
                return value
            path_type = _path_type(self.annotation, info)
            if plain and path_type is not None and type(value) is str:
                # typer's path coercion itself, given the value as the Path its adapter would make
                # (pydantic's Path(str)): the checks (exists, dir_okay...) and errors are typer's
                return coerce_cli_path(path_type(value), info, path_type=path_type, param=param, ctx=ctx)
            param._runtime_param = build_runtime_param(param.type_descriptor)  # typer's own, from now on
            return param._runtime_param.coerce(value, param=param, ctx=ctx)

    return Deferred


def _path_type(annotation: Any, info: Any) -> type | None:
    """The Path class typer coerces an option of `annotation` to, where it is one (else None)."""
    if not routes_to_path(annotation, info):
        return None
    path_type = getattr(info, "path_type", None) or annotation
    return path_type if isinstance(path_type, type) and issubclass(path_type, Path) else None
