"""cli.py loads a command's module only when that command runs; --help still lists them all."""

from __future__ import annotations

import inspect
import subprocess
import sys
import types
from pathlib import Path
from typing import Optional

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


def test_help_imports_no_command_module() -> None:
    assert _commands_after("--help") == []


def test_listing_is_what_the_command_modules_register() -> None:
    """cli.LISTING (what `envkit --help` prints without importing the modules) against the modules."""
    group = cli.LazyCommands(name="envkit")
    group._load_all()
    ctx = typer.Context(group)
    real = []
    for name in sorted(group.commands, key=lambda n: group._order[n]):
        command = group.commands[name]
        module = command.callback.__module__ if command.callback else None
        first = inspect.cleandoc(command.short_help or command.help or "").split("\n\n")[0]
        real.append((name, isinstance(command, typer.core.TyperGroup), first, module))
    listed = [(name, group_, text, f"envkit.commands.{module}") for name, module, group_, text in cli.LISTING]
    # a group's callback may be typer's own (no module of ours): compare its module where it has one
    assert [r[:3] for r in real] == [r[:3] for r in listed]
    assert all(r[3] in (None, "typer.main", listed[i][3]) for i, r in enumerate(real)), real
    assert group.list_commands(ctx) == [r[0] for r in real]
    assert not group.commands.keys() - {r[0] for r in listed}


def test_help_from_the_listing_is_the_help_of_the_loaded_commands(capsys: pytest.CaptureFixture[str]) -> None:
    def root_help(load_all: bool) -> str:
        group = typer.main.get_group(cli.app)  # a fresh root group: nothing loaded
        if load_all:
            group._load_all()  # every command loaded: the help reads the commands themselves
        ctx = typer.Context(group, info_name="envkit")
        capsys.readouterr()
        group.format_help(ctx, ctx.make_formatter())  # typer's rich help prints as it goes
        return capsys.readouterr().out

    listed, loaded = root_help(False), root_help(True)
    assert listed == loaded and "Rewrite lerobot's torch/torchvision/torchcodec pins" in listed


def test_command_in_a_module_of_another_name_and_typo_suggestions() -> None:
    hook = run_envkit("shell-hook", "--help")  # registered by run.py
    assert hook.code == 0 and "--prefix" in hook.out
    typo = run_envkit("pinz")
    assert typo.code == 2 and "Did you mean 'pins'?" in typo.err


def _hello_module() -> types.ModuleType:
    """A command added the documented way: a module with register(app), named in COMMAND_MODULES."""
    module = types.ModuleType("envkit.commands.hello")

    def register(app: typer.Typer) -> None:
        @app.command("hello")
        def hello(name: str = typer.Option("world", "--name", help="Who to greet."),
                  times: int = typer.Option(1, "--times", help="How often."),
                  loud: bool = typer.Option(False, "--loud", help="Shout."),
                  title: Optional[str] = typer.Option(None, "--title"),
                  where: Optional[Path] = typer.Option(None, "--where"),
                  tag: list[str] = typer.Option([], "--tag"),
                  must: Optional[Path] = typer.Option(None, "--must", exists=True, dir_okay=False)) -> None:
            """Greet someone (a command registered in a test)."""
            text = f"hello {title + ' ' if title else ''}{name}"
            print("\n".join([text.upper() if loud else text] * times))
            print(repr(where), repr(tag))

    module.register = register  # type: ignore[attr-defined]
    return module


HELLO_RUNS = (["hello", "--name", "envkit"], ["hello", "--times", "2", "--loud", "--title", "dr"], ["hello", "--times", "two"],
              ["hello", "--where", "a/b", "--tag", "x", "--tag", "y"], ["hello", "--loud", "--help"], ["hello", "--name"],
              # a Path option with checks: envkit.plain_options calls typer's path coercion without pydantic
              ["hello", "--must", "/nonexistent/file"], ["hello", "--must", "/"], ["hello", "--must", __file__])


def test_a_new_command_module_registers_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "envkit.commands.hello", _hello_module())
    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "hello"))
    runner = CliRunner()
    assert runner.invoke(cli.app, ["hello", "--name", "envkit"]).output == "hello envkit\nNone []\n"
    assert runner.invoke(cli.app, ["hello", "--times", "2", "--loud", "--title", "dr"]).output == "HELLO DR WORLD\nHELLO DR WORLD\nNone []\n"
    assert runner.invoke(cli.app, ["hello", "--where", "a/b"]).output.endswith("PosixPath('a/b') []\n")
    bad = runner.invoke(cli.app, ["hello", "--times", "two"])
    assert bad.exit_code == 2 and "--times" in bad.output, bad.output
    listing = runner.invoke(cli.app, ["--help"]).output
    assert "hello" in listing and "Greet someone" in listing


def test_deferred_coercion_is_typers_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every outcome (values, types, usage errors, help) is the same with envkit.plain_options off."""
    monkeypatch.setitem(sys.modules, "envkit.commands.hello", _hello_module())
    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "hello"))
    runner = CliRunner()
    with_it = [(r.exit_code, r.output) for r in (runner.invoke(cli.app, argv) for argv in HELLO_RUNS)]
    monkeypatch.setattr(cli, "plain_options", lambda *args, **kwargs: None)
    without = [(r.exit_code, r.output) for r in (runner.invoke(cli.app, argv) for argv in HELLO_RUNS)]
    assert with_it == without
    assert [code for code, _ in with_it] == [0, 0, 2, 0, 0, 2, 2, 2, 0]


def test_pins_check_parses_its_options_without_pydantic() -> None:
    """typer 0.2x builds a pydantic TypeAdapter per option; str options and flags must not need one
    (envkit.plain_options). Fails when a typer release changes the internals that relies on."""
    from envkit import plain_options

    if plain_options._deferred_class() is None:
        pytest.fail("typer._coercion.RuntimeParam is gone: envkit.plain_options no longer applies to this typer")
    probe = ("import sys; from envkit.cli import main\n"
             "main(['pins', '--profile', 'cpu', '--lerobot', 'lerobot==0.4.4', '--platform', 'linux-64', '--check'])\n"
             "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('pydantic')}))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]", (proc.stdout, proc.stderr)


def test_package_dir_is_the_one_importlib_resources_names() -> None:
    """envkit.resources skips importing importlib.resources (start-up time); it must find the same place."""
    from importlib import resources

    import envkit.resources

    assert Path(str(resources.files("envkit"))) == envkit.resources._PACKAGE
    assert (envkit.resources.package_file("compat.toml")).is_file()


def test_help_without_rich_markdown_is_the_same_help() -> None:
    """envkit.light_help: `envkit --help` skips rich.markdown/rich.traceback and prints what typer prints
    with them (here imported first, so light_help leaves typer's import alone)."""
    probe = ("import sys\n{first}from envkit.cli import main\nmain(sys.argv[1:])\n"
             "print(sorted(m for m in ('rich.markdown', 'rich.traceback', 'markdown_it') if m in sys.modules))")
    for argv in (["--help"], ["pins", "--help"], ["matrix", "--help"]):
        light = subprocess.run([sys.executable, "-c", probe.format(first=""), *argv], capture_output=True, text=True)
        full = subprocess.run([sys.executable, "-c", probe.format(first="import typer.rich_utils\n"), *argv],
                              capture_output=True, text=True)
        assert light.returncode == full.returncode == 0, (light.stderr, full.stderr)
        light_help, light_mods = light.stdout.rsplit("\n", 2)[0], light.stdout.splitlines()[-1]
        full_help, full_mods = full.stdout.rsplit("\n", 2)[0], full.stdout.splitlines()[-1]
        assert light_mods == "[]" and full_mods != "[]"
        assert light_help == full_help and "Usage: envkit" in light_help
