"""Option values without pydantic unless one needs it: the biggest single cost of a short command.

typer 0.2x coerces option values through pydantic TypeAdapters, built when an option is first
processed, even when it was not given (an unset `--help` flag is None, not a bool, and so is
an unset `--record PATH`). So every command imported pydantic and built adapters: more time
than all of envkit's own work in `envkit pins --check` (bench/bench_pins.py --breakdown).

`plain_options` gives each option a coercion that answers what needs no adapter itself, with
typer's own rules: an unset value stays None (or () for a multiple option), a str given to a
`str` option and a bool to a `bool` one pass through unchanged (typer's adapters give back the
same value). Any other value is handed to the runtime coercion typer builds, which then
replaces this one. So behaviour is typer's, and pydantic is imported only by a run that gives
a Path, int, choice... option a value.

This reads typer internals (`typer._coercion.RuntimeParam` and `build_runtime_param`, a
parameter's `type_descriptor` and `_runtime_param`); where they are missing (an older typer
without adapters, or a newer one that changed them) it does nothing: commands stay correct,
only slower, and tests/test_cli_lazy.py fails to say so.
"""

from __future__ import annotations

from functools import cache
from typing import Any

try:  # typer's internals (imported by `import typer` anyway); absent from other typer versions
    from typer._coercion import RuntimeParam, build_runtime_param
except ImportError:  # pragma: no cover
    RuntimeParam = build_runtime_param = None  # type: ignore[assignment,misc]

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
            if (self.annotation in _PLAIN and type(value) is self.annotation and getattr(info, "parser", None) is None
                    and param.type_descriptor.file_annotation is None):
                return value
            param._runtime_param = build_runtime_param(param.type_descriptor)  # typer's own, from now on
            return param._runtime_param.coerce(value, param=param, ctx=ctx)

    return Deferred
