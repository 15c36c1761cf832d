"""`envkit resolve --profile P [--lerobot SRC] [--host FILE] [--platform P] [--json]`."""

from __future__ import annotations

import os

import typer

from envkit.commands.common import emit_json, host_facts
from envkit.profiles import load_profile
from envkit.pythons import for_resolve
from envkit.resolve import resolve
from envkit.source import ALLOW_BRANCH_VAR


def register(app: typer.Typer) -> None:
    @app.command("resolve")
    def resolve_cmd(
        profile: str = typer.Option(..., "--profile", "-p", help="Profile name, alias or .toml path."),
        lerobot: str = typer.Option(None, "--lerobot", help="lerobot SRC: 'lerobot==0.4.2', a git URL@commit, or a path."),
        host: str = typer.Option(None, "--host", help="Resolve against these host facts (envkit detect --json output)."),
        platform: str = typer.Option(None, "--platform", help="linux-64 or linux-aarch64 (default: this host's, if the profile targets it)."),
        python: str = typer.Option(None, "--python", help="X.Y or an interpreter PATH (default: the newest the profile, lerobot, torch and the host allow)."),
        as_json: bool = typer.Option(False, "--json", help="Print the resolved tuple as JSON."),
        allow_branch: bool = typer.Option(False, "--allow-branch", help="Accept a --lerobot git ref that is a branch (not reproducible: warned)."),
    ) -> None:
        """Turn a profile into one exact tuple for its target, and say why (exit 1 on a conflict)."""
        if allow_branch:

            os.environ[ALLOW_BRANCH_VAR] = "1"


        prof = load_profile(profile)
        facts = host_facts(host)
        minor, pythons = for_resolve(python, prof.environment, other_host=host is not None, host=facts)
        resolved = resolve(prof, facts, lerobot, platform, python=minor, pythons=pythons)
        if as_json:
            emit_json(resolved.to_dict())
            return
        _print(resolved)


def _print(r) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"profile {r.profile} on {r.platform} (python {r.python})", show_header=False)
    table.add_column("what")
    table.add_column("resolved")
    torch = r.torch["version"] + (f"+{r.torch['local']}" if r.torch["local"] else "") + f"  ({r.torch['build']})"
    rows = [("torch", torch), ("torchvision", r.torchvision), ("video", f"{r.video_backend} {r.torchcodec or ''}".strip()),
            ("ffmpeg", f"{r.ffmpeg['major']} from {r.ffmpeg['source']} ({r.ffmpeg['avutil_soname']})")]
    rows += list(r.accel.summary)  # the accelerator's own rows (CUDA build, torch_npu and CANN, ...)
    rows.append(("lerobot", f"{r.lerobot['version'] or '?'} ({r.lerobot['source']['kind']})"))
    changes = r.lerobot["pin_changes"]
    rows.append(("pin changes", "none" if not changes else "\n".join(f"{c['package']}: {c['old']} -> {c['new']}" for c in changes)))
    for index in r.indexes:
        rows.append((f"index {index['name']}", f"{index['url']} for {', '.join(index['packages'])}"))
    for what, value in rows:
        table.add_row(what, value)
    console.print(table)
    for reason in r.reasons:
        console.print(f"  [dim]why:[/] {reason}")
    for warning in r.warnings:
        console.print(f"  [yellow]warning:[/] {warning}")
