"""The typer app: wires the command modules together, turns EnvkitError into one paragraph."""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Any

import typer
from typer.core import TyperGroup

from envkit import secrets as redact
from envkit.errors import EnvkitError
from envkit.plain_options import plain_options

# One module per command under envkit.commands, in `envkit --help` order; each exposes
# register(app). A new command is one module plus its name here.
COMMAND_MODULES = ("profiles", "detect", "resolve", "pins", "setup", "run", "doctor", "lock", "matrix", "fleet", "launch", "bundle")


class LazyCommands(TyperGroup):
    """The root group, importing a command's module only when that command is asked for.

    Running one command used to import every command module (and what each imports at top
    level: host facts, doctor models...). Now `envkit pins` imports commands/pins.py alone; a
    command is looked for in the module of its own name first (`shell-hook` -> shell_hook), then
    in every module, so `--help`, completion and "did you mean" still see all of them.
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._order: dict[str, tuple[int, int, int]] = {}  # name -> (is group, module, position)
        self._loaded: set[str] = set()

    def _load(self, module: str) -> None:
        if module in self._loaded:
            return
        self._loaded.add(module)
        sub = typer.Typer(add_completion=False)
        importlib.import_module(f"envkit.commands.{module}").register(sub)
        built = typer.main.get_group(sub)
        index = COMMAND_MODULES.index(module) if module in COMMAND_MODULES else len(COMMAND_MODULES)
        for position, (name, command) in enumerate(built.commands.items()):
            self.commands.setdefault(name, command)
            # typer lists plain commands before groups, each in registration order: keep that
            self._order.setdefault(name, (int(isinstance(command, TyperGroup)), index, position))

    def _load_all(self) -> None:
        for module in COMMAND_MODULES:
            self._load(module)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands:
            own = cmd_name.replace("-", "_")
            if own in COMMAND_MODULES:
                self._load(own)
        if cmd_name not in self.commands:
            self._load_all()  # e.g. shell-hook lives in run.py; an unknown name gets its suggestions
        return self.commands.get(cmd_name)

    def list_commands(self, ctx: Any) -> list[str]:
        self._load_all()
        return sorted(self.commands, key=lambda name: self._order.get(name, (2, 0, 0)))

    # typer's option coercion deferred (no pydantic unless a value needs it) for the root and the
    # command it runs; a subcommand group's own commands keep typer's (see plain_options).
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        plain_options(self, ctx)
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            plain_options(command, ctx)
        return name, command, rest


app = typer.Typer(
    name="envkit",
    help="Provision and verify LeRobot training environments (RTX 5090 / Ascend Atlas A2 / CPU).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=LazyCommands,
)


@app.callback()
def _root() -> None:
    """Keeps every command a named subcommand, however many are registered."""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    redact.register_argv(args)  # e.g. --wandb.api_key=... passed through to lerobot-train
    redact.install()  # the one output edge: nothing printed below carries a credential
    try:
        rc = app(args=args, prog_name="envkit", standalone_mode=False)
    except EnvkitError as exc:
        if debug:
            traceback.print_exc()
        print(f"envkit: error: {exc.paragraph()}", file=sys.stderr)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:  # raised by code paths that call sys.exit themselves
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except KeyboardInterrupt:
        print("envkit: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # usage errors of typer's click, and the unexpected
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()  # a usage error: click prints it with the command's usage line
            return exc.exit_code
        if type(exc).__name__ == "Abort":
            print("envkit: aborted", file=sys.stderr)
            return 1
        raise
    return rc if isinstance(rc, int) else 0


def run_main() -> None:
    sys.exit(main())
