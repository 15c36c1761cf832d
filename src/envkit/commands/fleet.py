"""`envkit fleet report DIR`: one view of many hosts' doctor reports (as the Ansible role fetches them)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from envkit.fleet import MARK, interesting_checks, load_dir, markdown, problem_rows, tuple_keys

fleet_app = typer.Typer(help="Many hosts at once: merge the doctor reports the Ansible role (ansible/) fetched.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(fleet_app, name="fleet")


@fleet_app.command("report")
def report(
    directory: Path = typer.Argument(..., help="Directory holding one `envkit doctor --json` output per host, named HOST.json."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    as_markdown: bool = typer.Option(False, "--markdown", help="Print Markdown tables (for an issue or a wiki page)."),
) -> None:
    """Hosts x checks, each failure with its fix, hosts whose tuple differs from the majority; exit 1 if any host is red."""
    fleet = load_dir(directory)
    if as_json:
        typer.echo(json.dumps(fleet.to_dict(), indent=2))
    elif as_markdown:
        typer.echo(markdown(fleet), nl=False)
    else:
        _print_human(fleet)
    if fleet.red:
        raise SystemExit(1)  # not typer.Exit: see commands/doctor.py


def _print_human(fleet) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table


    console = Console(highlight=False, soft_wrap=True)
    colour = {"green": "green", "yellow": "yellow", "red": "red"}
    # The tuple most hosts share once, then per host only where it departs from it: this stays
    # readable at 80 columns for a rack of hosts, where a hosts x versions table would not.
    console.print("majority tuple: " + ", ".join(f"{escape(k)} {escape(fleet.majority[k] or 'none')}" for k in tuple_keys(fleet)
                                                 if k in fleet.majority and fleet.majority[k] is not None))
    hosts = Table(title=f"{len(fleet.hosts)} host(s), {len(fleet.red)} red", title_justify="left")
    for col in ("host", "verdict", "problems", "differs from the majority"):
        hosts.add_column(col)
    for h in fleet.hosts:
        stray = fleet.strays.get(h.host, {})
        off = ", ".join(f"[bold red]{escape(k)} {escape(v or 'none')} ≠[/]" + (f" ({escape(fleet.majority[k] or 'none')})" if k in fleet.majority else "")
                        for k, v in stray.items())
        n = sum(c.status in ("fail", "error", "warn") for c in h.checks)
        hosts.add_row(escape(h.host), f"[{colour[h.verdict]}]{h.verdict}[/]", str(n), off or "-")
    console.print(hosts)
    rows = interesting_checks(fleet)
    same = len(fleet.check_ids) - len(rows)
    if rows:
        checks = Table(title="checks that are not ok on every host", title_justify="left")
        checks.add_column("check")
        for h in fleet.hosts:
            checks.add_column(escape(h.host), justify="center")
        style = {"ok": "green", "warn": "yellow", "fail": "red", "error": "magenta", "skip": "dim"}
        for cid in rows:
            marks = [f"[{style.get(s or '', 'dim')}]{MARK.get(s, '?')}[/]" for s in (h.status_of(cid) for h in fleet.hosts)]
            checks.add_row(escape(cid), *marks)
        console.print(checks)
    console.print(f"{same} check(s) ok (or skipped) on every host")
    problems = problem_rows(fleet)
    if problems:
        console.print("\n[bold]problems[/]")
        for host, cid, status, summary, fix in problems:
            console.print(f" [{style_for(status)}]{MARK.get(status, '?')}[/] {escape(host)} {escape(cid)}: {escape(summary)}")
            if fix:
                console.print(f"     [bold]fix:[/] {escape(fix)}")


def style_for(status: str) -> str:
    return {"warn": "yellow", "fail": "red", "error": "magenta"}.get(status, "dim")
