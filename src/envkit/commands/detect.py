"""`envkit detect [--json]`: what this machine has (OS, GPUs/NPUs, CANN, tools) and the
profile it suggests. The JSON is the host-facts format other commands read with `--host`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import typer

from envkit.accel.registry import all_backends
from envkit.host import detect, with_suggestion
from envkit.hostfacts import HostFacts, load_host_file
from envkit.record.run import record_detect
from envkit.suggest import visible_profiles


def register(app: typer.Typer) -> None:
    app.command("detect")(detect_command)


def detect_command(
    json_out: bool = typer.Option(False, "--json", help="Print host facts as JSON (schema_version 1)."),
    record: Optional[Path] = typer.Option(None, "--record", metavar="DIR",
                                          help="Also record what detection read as a replayable test scenario in DIR (secrets redacted)."),
    redact_hostname: bool = typer.Option(False, "--redact-hostname", help="With --record: replace this machine's host name too."),
    profiles: Optional[list[str]] = typer.Option(None, "--profiles", metavar="PATH",
                                                 help="Also suggest from these profile files or directories (repeatable; "
                                                      "ENVKIT_PROFILE_PATH adds more)."),
    host: Optional[str] = typer.Option(None, "--host", help="Judge these host facts (envkit detect --json output) instead of this machine."),
) -> None:
    """Detect the OS, accelerators, CANN and tools on this machine, and the profile that fits it."""
    if host is not None:
        facts = load_host_file(host)
    elif record is not None:
        facts = record_detect(record, redact_hostname=redact_hostname)  # the recording replays with the built-in profiles
    else:
        facts = detect(suggest=False)
    visible, unusable = visible_profiles(list(profiles or []), host=facts)
    facts = with_suggestion(facts, visible)
    if unusable:
        facts = dataclasses.replace(facts, warnings=facts.warnings + tuple(unusable))
    if json_out:
        typer.echo(facts.to_json(), nl=False)
        return
    _print_human(facts)


def _gib(n: int | None) -> str:
    return "?" if n is None else f"{n / 2**30:.1f} GiB"


def _print_human(facts: HostFacts) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in _summary_rows(facts):
        table.add_row(key, value)
    console.print(table)
    for w in facts.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
    console.print(f"suggested profile: [bold]{facts.suggested_profile}[/bold]")


def _summary_rows(facts: HostFacts) -> list[tuple[str, str]]:
    rows = [
        ("os", f"{facts.os.distro or facts.os.system} (kernel {facts.os.release})"),
        ("arch", f"{facts.arch} ({facts.platform}), glibc {facts.glibc or '?'}"),
        ("python", f"{facts.python.version} {facts.python.executable or ''}".rstrip()),
        ("cpu / ram", f"{facts.cpu_count or '?'} CPUs, {_gib(facts.ram_bytes)} RAM"),
        ("disk / shm", f"{_gib(facts.disk_free_bytes)} free here, /dev/shm {_gib(facts.shm_bytes)}"),
        ("container", facts.container or "none detected"),
    ]

    for backend in all_backends():  # each accelerator says what it found (plug-ins included)
        rows += backend.host_rows(facts)
    tools = facts.tools
    found = [f"{name}={path}" for name, path in vars(tools).items() if path]
    rows.append(("tools", ", ".join(found) or "none of conda/mamba/micromamba/uv/ffmpeg on PATH"))
    return rows


