"""`envkit lock [--profile P ...] [--platform X ...] [--layer conda|pypi|all] [--channel URL]
[--exclude-newer DATE] [--wheels DIR] [--lockfiles DIR] [--check]`."""

from __future__ import annotations

from pathlib import Path

import typer

from envkit.errors import EnvkitError
from envkit.lock import check, lock


def register(app: typer.Typer) -> None:
    @app.command("lock")
    def lock_cmd(
        profile: list[str] = typer.Option(None, "--profile", "-p", help="Profile name, alias or .toml path (repeatable; default: every built-in profile)."),
        platform: list[str] = typer.Option(None, "--platform", help="linux-64 or linux-aarch64 (repeatable; default: the profile's platforms)."),
        layer: str = typer.Option("all", "--layer", help="conda, pypi or all."),
        channel: list[str] = typer.Option(None, "--channel", help="conda channel name or URL replacing the profile's (repeatable)."),
        exclude_newer: str = typer.Option(None, "--exclude-newer", help="Ignore packages uploaded after DATE (default: the profile's [lock] exclude_newer)."),
        wheels: Path = typer.Option(None, "--wheels", help="Directory of wheels standing in for the profile's extra indexes (their hashes are recorded)."),
        lockfiles: Path = typer.Option(Path("lockfiles"), "--lockfiles", help="Where lockfiles/<profile>/ live."),
        skip_unreachable: bool = typer.Option(False, "--skip-unreachable", help="Lock what answers; report (not fail on) unreachable indexes/channels. "
                                              "With --check: a layer recorded as unreachable when locked is reported, not failed."),
        check_only: bool = typer.Option(False, "--check", help="Do not lock: exit 1 if a layer is missing or stale, naming it and the command that locks it."),
        python: str = typer.Option(None, "--python", help="X.Y or an interpreter PATH (default: what setup takes here: a venv profile's "
                                   "newest interpreter on this host that fits, a conda profile's newest Python that fits)."),
        reresolve: bool = typer.Option(False, "--resolve", help="With --check: re-resolve each PyPI layer with today's uv (network) "
                                       "and call it stale only if the packages differ."),
    ) -> None:
        """Write reproducible lockfiles per profile: conda layer (py-rattler) + PyPI layer (uv), one conda-lock.yml."""
        if check_only:
            _check(profile, platform, layer, channel, exclude_newer, wheels, lockfiles, skip_unreachable, reresolve, python)
            return
        if reresolve:
            raise EnvkitError("--resolve only goes with --check", fix="envkit lock --check --resolve ...")

        reports = lock(profile or None, platform or None, layer, channel or None, exclude_newer, wheels, lockfiles,
                       skip_unreachable=skip_unreachable, python=python)
        for report in reports:
            for lay, plat, count, seconds in report.locked:
                typer.echo(f"{report.root}: {lay} layer for {plat}: {count} packages ({seconds:.1f} s)")
            for lay, plat, exc in report.skipped:
                typer.echo(f"{report.root}: {lay} layer for {plat}: skipped: {exc.paragraph()}", err=True)


def _check(profile, platform, layer, channel, exclude_newer, wheels, lockfiles, skip_unreachable=False, reresolve=False, python=None) -> None:
    stale = False
    for result in check(profile or None, platform or None, layer, channel or None, exclude_newer, wheels, lockfiles,
                        skip_unreachable=skip_unreachable, reresolve=reresolve, python=python):
        for line in result.notes:
            typer.echo(f"{result.root}: note: {line}", err=True)
        for line in result.unlocked:
            typer.echo(f"{result.root}: not locked here (--skip-unreachable): {line}", err=True)
        if not result.judged and result.ok:
            typer.echo(f"{result.root}: nothing locked")
            continue
        if result.ok:
            judged = ", ".join(f"{lay} {plat}" for lay, plat in result.judged)
            typer.echo(f"{result.root}: up to date ({judged})" if judged else f"{result.root}: nothing locked that was asked for")
            continue
        stale = True
        for line in result.stale:
            typer.echo(f"{result.root}: {'missing' if ' is not locked (' in line else 'stale'}: {line}", err=True)
    if stale:
        typer.echo("Fix: lock the missing layers and re-lock the stale ones with the commands above, then commit lockfiles/", err=True)
        # SystemExit, not typer.Exit: with standalone_mode=False click turns Exit into a return value.
        raise SystemExit(1)
