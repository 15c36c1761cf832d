"""The typer app: wires the command modules together, turns EnvkitError into one paragraph."""

from __future__ import annotations

import importlib
import sys
import traceback
from dataclasses import dataclass
from typing import Any

import typer
from typer._click.utils import make_default_short_help
from typer.core import TyperGroup

from envkit import secrets
from envkit.errors import EnvkitError
from envkit.light_help import import_rich_utils
from envkit.plain_options import plain_options

# One module per command under envkit.commands, in `envkit --help` order; each exposes
# register(app). A new command is one module plus its name here (and its row in LISTING).
COMMAND_MODULES = ("profiles", "detect", "resolve", "pins", "setup", "run", "doctor", "lock", "matrix", "fleet", "launch", "bundle")

# Each command as `envkit --help` lists it: (name, its module, a group?, the first paragraph of its
# help), plain commands first, then groups, as typer orders them. The listing reads this, so
# `envkit --help` imports no command module (with their imports at the top, that is all of envkit).
# tests/test_cli_lazy.py checks it against the modules; a module missing here is imported to list it.
LISTING: tuple[tuple[str, str, bool, str], ...] = (
    ("detect", "detect", False, "Detect the OS, accelerators, CANN and tools on this machine, and the profile that fits it."),
    ("resolve", "resolve", False, "Turn a profile into one exact tuple for its target, and say why (exit 1 on a conflict)."),
    ("pins", "pins", False, "Rewrite lerobot's torch/torchvision/torchcodec pins for a profile: minimal, exact, reversible."),
    ("setup", "setup", False, "Set up a LeRobot training environment from a profile, step by step, resumable, ending with the doctor."),
    ("run", "run", False, "Run a command inside the environment with its activation hooks applied (exit status passed on)."),
    ("shell-hook", "run", False,
     'Print shell code that enters the environment: eval "$(envkit shell-hook --prefix DIR)"; leave with envkit_deactivate.'),
    ("doctor", "doctor", False, "Check every layer of a LeRobot training env, then prove it with a real ACT training step."),
    ("lock", "lock", False, "Write reproducible lockfiles per profile: conda layer (py-rattler) + PyPI layer (uv), one conda-lock.yml."),
    ("launch", "launch", False,
     "Train on all (or the selected) GPUs/NPUs of this server with lerobot-train: torchrun/accelerate, hooks applied, a free port."),
    ("bundle", "bundle", False,
     "Build a reproducible offline bundle (wheels by the lock's hashes, envkit, profile, lock, patch, weights) or check one."),
    ("profiles", "profiles", True, "List hardware profiles, or show one."),
    ("matrix", "matrix", True, "Check the compatibility matrix against the index; draft new rows."),
    ("fleet", "fleet", True, "Many hosts at once: merge the doctor reports the Ansible role (ansible/) fetched."),
)


@dataclass(frozen=True)
class Listed:
    """A command as the root help lists it (what typer's help reads of a command), module unimported."""

    name: str
    help: str
    short_help: None = None
    hidden: bool = False
    deprecated: bool = False
    rich_help_panel: None = None

    def get_short_help_str(self, limit: int = 45) -> str:  # click's plain help (TYPER_USE_RICH=0)
        return make_default_short_help(self.help, limit)


class LazyCommands(TyperGroup):
    """The root group, importing a command's module only when that command is asked for.

    Running one command used to import every command module (and what each imports at top
    level: host facts, doctor models...). Now `envkit pins` imports commands/pins.py alone; a
    command is looked for in the module of its own name first (`shell-hook` -> shell_hook), then
    in LISTING. `--help` and "did you mean" list the commands from LISTING, importing none.
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._order: dict[str, tuple[int, int, int]] = {}  # name -> (is group, module, position)
        self._loaded: set[str] = set()
        self._listing = False  # formatting the root help: commands not loaded are their Listed rows

    def _load(self, module: str) -> None:
        if module in self._loaded:
            return
        self._loaded.add(module)
        sub = typer.Typer(add_completion=False)
        importlib.import_module(f"envkit.commands.{module}").register(sub)
        built = typer.main.get_group(sub)
        for position, (name, command) in enumerate(built.commands.items()):
            self.commands.setdefault(name, command)
            # typer lists plain commands before groups, each in registration order: keep that
            self._order.setdefault(name, (int(isinstance(command, TyperGroup)), _module_index(module), position))

    def _load_all(self) -> None:
        for module in COMMAND_MODULES:
            self._load(module)

    def _load_unlisted(self) -> None:
        listed = {module for _, module, _, _ in LISTING}
        for module in COMMAND_MODULES:
            if module not in listed:
                self._load(module)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands:
            row = next((r for r in LISTING if r[0] == cmd_name), None)
            if row is not None and self._listing:
                return Listed(row[0], row[3])
            own = row[1] if row is not None else cmd_name.replace("-", "_")
            if own in COMMAND_MODULES:
                self._load(own)
        if cmd_name not in self.commands:
            # a module LISTING does not know yet; for an unknown name, typer's "did you mean" reads
            # the loaded commands: an error path, so it may import them all
            self._load_all()
        return self.commands.get(cmd_name)

    def list_commands(self, ctx: Any) -> list[str]:
        self._load_unlisted()
        order = dict(self._order)
        positions: dict[str, int] = {}
        for name, module, group, _help in LISTING:
            positions[module] = positions.get(module, -1) + 1
            order.setdefault(name, (int(group), _module_index(module), positions[module]))
        names = {*self.commands, *(row[0] for row in LISTING)}
        return sorted(names, key=lambda name: order.get(name, (2, 0, 0)))

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

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


def _module_index(module: str) -> int:
    return COMMAND_MODULES.index(module) if module in COMMAND_MODULES else len(COMMAND_MODULES)


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
    if not args or "--help" in args:
        import_rich_utils()  # before typer imports it, without what envkit's help never uses
    secrets.register_argv(args)  # e.g. --wandb.api_key=... passed through to lerobot-train
    secrets.install()  # the one output edge: nothing printed below carries a credential
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
