"""`envkit run --prefix DIR -- CMD ...` and `envkit shell-hook --prefix DIR` (for eval), hooks applied."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import typer

from envkit.errors import EnvkitError
from envkit.hooks import run_argv, shell_hook


def register(app: typer.Typer) -> None:
    @app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def run_cmd(
        ctx: typer.Context,
        prefix: Path = typer.Option(..., "--prefix", help="The environment (as given to envkit setup)."),
    ) -> None:
        """Run a command inside the environment with its activation hooks applied (exit status passed on)."""
        argv = list(ctx.args)
        if argv and argv[0] == "--":
            argv = argv[1:]
        bash = shutil.which("bash")
        if bash is None:
            raise EnvkitError("envkit run needs bash to source the activation scripts", fix="install bash")
        full = run_argv(prefix, argv, bash)
        os.execv(bash, full)  # replace envkit: signals and the exit status belong to the command

    @app.command("shell-hook")
    def shell_hook_cmd(
        prefix: Path = typer.Option(..., "--prefix", help="The environment (as given to envkit setup)."),
    ) -> None:
        """Print shell code that enters the environment: eval "$(envkit shell-hook --prefix DIR)"; leave with envkit_deactivate."""
        typer.echo(shell_hook(prefix), nl=False)
