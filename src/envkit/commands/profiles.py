"""`envkit profiles [show NAME] [--json]`: list the built-in profiles or show one."""

from __future__ import annotations

import typer

from envkit.commands.common import emit_json
from envkit.profiles import list_profiles, load_profile


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="List hardware profiles, or show one.", no_args_is_help=False, invoke_without_command=True)

    @group.callback()
    def list_(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """List the built-in profiles."""
        if ctx.invoked_subcommand is not None:
            return

        profiles = list_profiles()
        if as_json:
            emit_json([{"name": p.name, "aliases": list(p.aliases), "version": p.version, "accelerator": p.accelerator,
                        "platforms": list(p.platforms), "python": p.python, "description": p.description, "path": str(p.path)}
                       for p in profiles])
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title="envkit profiles")
        for column in ("name", "aliases", "accelerator", "platforms", "python", "description"):
            table.add_column(column)
        for p in profiles:
            table.add_row(p.name, ", ".join(p.aliases), p.accelerator, ", ".join(p.platforms), p.python, p.description)
        Console().print(table)

    @group.command("show")
    def show(name: str = typer.Argument(..., help="Profile name, alias or .toml path."),
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Show one profile with extends applied."""
        profile = load_profile(name)
        if as_json:
            emit_json({"path": str(profile.path), **profile.to_dict()})
            return
        import tomlkit

        typer.echo(f"# {profile.path}")
        typer.echo(tomlkit.dumps(profile.to_dict()))

    app.add_typer(group, name="profiles")
