"""Plain `str` options and flags without pydantic: the biggest single cost of a short command.

typer 0.2x coerces option values through pydantic TypeAdapters built when an option is first
processed (the `--help` flag included, whose unset value is None rather than a bool), so every
command imported pydantic and built adapters: more time than all of envkit's own work in
`envkit pins --check` (bench/bench_pins.py --breakdown). For an option annotated `str` or
`bool` the adapter gives back the str or bool it was given. `plain_options` gives such options
a coercion that passes those through and hands any other value to typer's own coercion, so
behaviour is unchanged and pydantic is imported only by commands with options of other types.

This reads typer internals (`typer._coercion.RuntimeParam`, a parameter's `type_descriptor`
and `_runtime_param`); where they are missing (an older typer without adapters, or a newer one
that changed them) it does nothing: commands stay correct, only slower, and
tests/test_cli_lazy.py fails to say so.
"""

from __future__ import annotations

from functools import cache
from typing import Any

_PLAIN = (str, bool)


def plain_options(command: Any, ctx: Any | None = None) -> None:
    """Give the plain str/bool options of `command` (its --help too, given the context its own
    context will inherit from) a pass-through coercion."""
    passthrough = _passthrough_class()
    if passthrough is None:
        return
    params = list(getattr(command, "params", ()))
    if ctx is not None and "help_option_names" not in (getattr(command, "context_settings", None) or {}):
        # click caches the help option on first use; made here with the names the command's
        # context inherits from `ctx`, it is the very object the command's parser uses
        params.append(command.get_help_option(ctx))
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", False) is not None:
            continue
        info = descriptor.parameter_info
        if (descriptor.annotation in _PLAIN and descriptor.file_annotation is None
                and getattr(info, "parser", None) is None and param.nargs == 1 and not param.multiple):
            param._runtime_param = passthrough(parameter_info=info, annotation=descriptor.annotation)


@cache
def _passthrough_class() -> type | None:
    try:
        from typer._coercion import RuntimeParam, build_runtime_param
    except ImportError:
        return None

    class PassThrough(RuntimeParam):  # typer's frozen dataclass: same fields, same coerce()
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if type(value) is self.annotation:
                return value
            return build_runtime_param(param.type_descriptor).coerce(value, param=param, ctx=ctx)

    return PassThrough
