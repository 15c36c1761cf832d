"""cli.py loads a command's module only when that command runs; --help still lists them all."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest
import typer
from typer.testing import CliRunner

from envkit import cli
from tests.cli_util import run_envkit


def _modules_after(*argv: str) -> list[str]:
    probe = ("import sys; from envkit.cli import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.startswith('envkit.commands.')))")
    out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=True).stdout
    return eval(out.strip().splitlines()[-1])  # a list literal printed by the probe


def _commands_after(*argv: str) -> list[str]:
    """The command modules (not helpers such as commands/common.py) a run imported."""
    return [m for m in _modules_after(*argv) if m.rsplit(".", 1)[1] in cli.COMMAND_MODULES]


def test_one_command_imports_only_its_module() -> None:
    assert _commands_after("pins", "--help") == ["envkit.commands.pins"]
    assert _commands_after("resolve", "--help") == ["envkit.commands.resolve"]


def test_help_imports_every_command_module() -> None:
    loaded = _modules_after("--help")
    assert {f"envkit.commands.{m}" for m in cli.COMMAND_MODULES} <= set(loaded)


def test_help_lists_every_command_with_its_help_in_registration_order() -> None:
    out = run_envkit("--help").out
    names = ["detect", "resolve", "pins", "setup", "run", "shell-hook", "doctor", "lock", "profiles", "matrix", "fleet"]
    positions = [out.find(f" {name} ") for name in names]
    assert all(p >= 0 for p in positions), dict(zip(names, positions))
    assert positions == sorted(positions), "plain commands first, then groups, each in registration order"
    assert "Rewrite lerobot's torch/torchvision/torchcodec pins" in out


def test_command_in_a_module_of_another_name_and_typo_suggestions() -> None:
    hook = run_envkit("shell-hook", "--help")  # registered by run.py
    assert hook.code == 0 and "--prefix" in hook.out
    typo = run_envkit("pinz")
    assert typo.code == 2 and "Did you mean 'pins'?" in typo.err


def test_a_new_command_module_registers_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command added the documented way: a module with register(app), named in COMMAND_MODULES."""
    module = types.ModuleType("envkit.commands.hello")

    def register(app: typer.Typer) -> None:
        @app.command("hello")
        def hello(name: str = typer.Option("world", "--name", help="Who to greet.")) -> None:
            """Greet someone (a command registered in a test)."""
            print(f"hello {name}")

    module.register = register  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "envkit.commands.hello", module)
    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "hello"))
    runner = CliRunner()
    assert runner.invoke(cli.app, ["hello", "--name", "envkit"]).output == "hello envkit\n"
    listing = runner.invoke(cli.app, ["--help"]).output
    assert "hello" in listing and "Greet someone" in listing
