"""`envkit bundle --profile P -o FILE.tar`: everything an offline server needs; `--check FILE.tar` lists and verifies one."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from envkit.bundle.build import build
from envkit.bundle.check import check as do_check
from envkit.commands.common import emit_json
from envkit.errors import EnvkitError, StepFailed


def register(app: typer.Typer) -> None:
    app.command("bundle")(bundle)


def bundle(
    profile: Optional[str] = typer.Option(None, "--profile", "-p", help="Profile name, alias or .toml path."),
    platform: Optional[str] = typer.Option(None, "--platform", help="Target: linux-64 or linux-aarch64 (default: this host's, if the profile targets it)."),
    from_lock: Optional[Path] = typer.Option(None, "--from-lock", help="The lock to bundle (default: lockfiles/<profile>)."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="resnet18-f37072fd.pth, checked against the profile's hash."),
    dataset: Optional[Path] = typer.Option(None, "--dataset", help="A small LeRobot dataset root for the doctor's smoke step."),
    envkit_wheel: Optional[Path] = typer.Option(None, "--envkit-wheel", help="envkit's own wheel (default: built from this checkout)."),
    out: Optional[Path] = typer.Option(None, "--output", "-o", help="The bundle to write (FILE.tar)."),
    check: Optional[Path] = typer.Option(None, "--check", help="Verify FILE.tar and list what it holds and lacks."),
    python: Optional[str] = typer.Option(None, "--python", help="X.Y or an interpreter PATH: the Python the lock was made for (default: as `envkit lock`)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Build a reproducible offline bundle (wheels by the lock's hashes, envkit, profile, lock, patch, weights) or check one."""
    if check is not None:
        report = do_check(check.expanduser().absolute())
        if as_json:
            emit_json(report)
        else:
            _print_check(report)
        if report["damaged"]:
            raise StepFailed(f"bundle {check} is damaged: {report['damaged'][0]}" +
                             (f" (and {len(report['damaged']) - 1} more)" if len(report["damaged"]) > 1 else ""),
                             fix="copy it again or rebuild it with `envkit bundle`")
        return
    if not profile or out is None:
        raise EnvkitError("envkit bundle needs --profile and -o FILE.tar (or --check FILE.tar)",
                          fix="envkit bundle --profile cpu --platform linux-64 -o cpu.tar")

    say = (lambda s: None) if as_json else (lambda s: typer.echo(s, err=True))
    result = build(profile, out.expanduser().absolute(), platform, from_lock, weights.expanduser().absolute() if weights else None,
                   dataset.expanduser().absolute() if dataset else None, envkit_wheel, say=say, python=python)
    data = result.to_dict()
    if as_json:
        emit_json(data)
        return
    typer.echo(f"wrote {data['bundle']}: {data['bytes'] / 1e6:.1f} MB in {data['seconds']} s, sha256 {data['sha256']}")
    typer.echo("  " + ", ".join(f"{n} {k}" for k, n in data["members"].items()))
    for gap in data["missing"]:
        typer.echo(f"  not in the bundle: {gap['name']}: {gap['why']}")
    if data["system"].get("ffmpeg"):
        typer.echo(f"  the server must provide: FFmpeg ({data['system']['ffmpeg']['install']})")
    typer.echo(f"  on the server: envkit setup --bundle {out.name} --prefix ENV")


def _print_check(report: dict) -> None:  # type: ignore[type-arg]
    typer.echo(f"{report['bundle']}: profile {report['profile']}, {report['platform']}, Python {report['python']}, "
               f"envkit {report['envkit_version']}")
    for kind, entry in report["contents"].items():
        typer.echo(f"  {kind:8} {entry['members']:4} members  {entry['bytes'] / 1e6:10.1f} MB")
    if report["system"].get("ffmpeg"):
        typer.echo(f"  system   FFmpeg from the server's packages: any of {', '.join(report['system']['ffmpeg']['sonames'])}")
    for gap in report["missing"]:
        typer.echo(f"  missing  {gap['name']}: {gap['why']}")
    for bad in report["damaged"]:
        typer.echo(f"  DAMAGED  {bad}")
    typer.echo("intact: every member has the manifest's sha256" if report["ok"] else "damaged: do not install from it")
