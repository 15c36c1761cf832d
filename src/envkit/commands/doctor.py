"""`envkit doctor`: verify the env the user trains in, layer by layer, each failure with its fix."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer

from envkit.assets import act_backbone
from envkit.doctor import registry
from envkit.doctor import report as render
from envkit.doctor.collect import host_facts, run_probe
from envkit.doctor.model import Context
from envkit.doctor.target import resolve_target
from envkit.errors import EnvkitError
from envkit.fsutil import not_a
from envkit.profiles import load_profile
from envkit.record.run import DoctorRecording
from envkit.resolve import resolve
from envkit.targetenv.setup_record import recorded_choices


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    prefix: Optional[Path] = typer.Option(None, "--prefix", help="Root of the env to examine (default: active conda env / venv)."),
    python: Optional[Path] = typer.Option(None, "--python", help="Interpreter of the env to examine."),
    profile: Optional[str] = typer.Option(None, "--profile", help="Profile whose tuple and device the env should have."),
    dataset: Optional[Path] = typer.Option(None, "--dataset", help="A LeRobot dataset root to check (and train the smoke on)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", metavar="DIR",
                                              help="A lerobot checkpoint (.../checkpoints/last/pretrained_model) to check: config, "
                                                   "features against --dataset, device, weights, actions."),
    no_smoke: bool = typer.Option(False, "--no-smoke", help="Skip the real training smoke test."),
    check: Optional[list[str]] = typer.Option(None, "--check", help="Run only these check ids or categories (repeatable)."),
    list_checks: bool = typer.Option(False, "--list-checks", help="List the check ids and exit."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    fail_on: str = typer.Option("fail", "--fail-on", help="Exit 1 on 'fail' (default) or also on 'warn'."),
    report: bool = typer.Option(False, "--report", help="Print a Markdown block for a lerobot bug report."),
    no_pretrained_backbone: Optional[bool] = typer.Option(
        None, "--no-pretrained-backbone/--pretrained-backbone",
        help="You train with --policy.pretrained_backbone_weights=null: ResNet18 weights are not needed "
             "(default: what `envkit setup` recorded in the prefix, else pretrained)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show details of every check."),
    record: Optional[Path] = typer.Option(None, "--record", metavar="DIR",
                                          help="Also record this machine and env (host boundary, probe, verdicts) as a replayable test scenario in DIR."),
    redact_hostname: bool = typer.Option(False, "--redact-hostname", help="With --record: replace this machine's host name too."),
) -> None:
    """Check every layer of a LeRobot training env, then prove it with a real ACT training step."""
    if fail_on not in ("fail", "warn"):
        raise EnvkitError(f"--fail-on {fail_on!r} is not 'fail' or 'warn'", fix="envkit doctor --fail-on warn")
    checks = registry.all_checks()
    if list_checks:
        for c in checks:
            typer.echo(f"{c.id:<26} {c.title}" + ("  [smoke]" if c.slow else ""))
        raise typer.Exit(0)
    selected = registry.select(checks, check or (), smoke=not no_smoke)
    if dataset is not None and not dataset.is_dir():
        raise EnvkitError(f"--dataset {dataset}: {not_a('directory', dataset)}", fix="pass the dataset root (holding meta/info.json)")
    if checkpoint is not None and not checkpoint.is_dir():
        raise EnvkitError(f"--checkpoint {checkpoint}: {not_a('directory', checkpoint)}",
                          fix="pass a checkpoint's pretrained_model directory, e.g. OUTPUT_DIR/checkpoints/last/pretrained_model")
    recording = None
    if record is not None:
        recording = DoctorRecording(record, redact_hostname=redact_hostname)
    ctx = _context(prefix, python, profile, dataset, no_pretrained_backbone, recording)
    ctx.scratch["requested_checks"] = tuple(check or ())  # opt-in checks (smoke.multi) run when named
    if checkpoint is not None:
        ctx.scratch["checkpoint"] = checkpoint.absolute()
    results = registry.run_checks(selected, ctx)

    verdict = render.build(ctx, results, fail_on)
    if recording is not None:
        recording.finish(ctx, results, verdict.to_json())
    if as_json:
        typer.echo(verdict.to_json())
    elif report:
        typer.echo(render.markdown(ctx, results))
    else:
        render.print_human(ctx, results, verbose)
    code = verdict.exit_code
    if code:
        # SystemExit, not typer.Exit: with standalone_mode=False click turns Exit into a return
        # value, which envkit.cli.main does not pass on.
        raise SystemExit(code)


def _context(prefix: Path | None, python: Path | None, profile_ref: str | None, dataset: Path | None,
             no_pretrained_backbone: bool | None = None, recording=None):  # type: ignore[no-untyped-def]
    """The checks' context; what setup recorded in the prefix fills every choice no flag made."""
    target = resolve_target(prefix, python)
    recorded = recorded_choices(target.prefix)
    host = recording.host_facts() if recording is not None else host_facts()
    profile = resolved = None
    lerobot = None
    same = False
    ref = profile_ref or recorded.profile_ref()
    if ref:
        profile = load_profile(ref)  # a bad name raises EnvkitError (exit 2)
        same = recorded.profile is not None and profile.name == recorded.profile
        lerobot = recorded.lerobot if same else None  # the recorded source belongs to the recorded profile
        resolved = _resolve(profile, host, lerobot, recorded.platform if same else None, _env_python(target, recorded))

    started = time.monotonic()
    probe = run_probe(target, dataset.absolute() if dataset else None, weights=act_backbone(profile))
    # setup's overrides and extras (async: smoke.serve runs) hold for any profile; its source and its
    # digest only for the profile it installed; a --(no-)pretrained-backbone flag wins over the record
    choices = replace(recorded, lerobot=lerobot, tuple_digest=recorded.tuple_digest if same else None,
                      no_pretrained_backbone=(no_pretrained_backbone if no_pretrained_backbone is not None
                                              else recorded.no_pretrained_backbone))
    ctx = Context(probe=probe, host=host, profile=profile, resolved=resolved, target=target,
                  dataset=dataset.absolute() if dataset else None, environ=dict(os.environ), setup=choices)
    ctx.scratch["probe_seconds"] = round(time.monotonic() - started, 2)
    if profile is not None and profile.video_backend == "pyav":
        ctx.scratch["video_backend"] = "pyav"
    return ctx


def _env_python(target, recorded) -> str | None:  # type: ignore[no-untyped-def]
    """The environment's Python minor: what setup recorded, else its lib/pythonX.Y (a profile may allow several)."""
    if recorded.python:
        return recorded.python
    base = target.prefix if target.prefix is not None else target.python.parent.parent
    found = sorted(p.name[len("python"):] for p in (base / "lib").glob("python3.*") if p.is_dir())
    return found[0] if len(found) == 1 else None


def _resolve(profile, host, lerobot: str | None = None, platform: str | None = None, python: str | None = None):  # type: ignore[no-untyped-def]
    """The profile's tuple for this host (HostFacts); None when it does not resolve (torch.profile says so)."""
    try:
        return resolve(profile, host, lerobot, platform, python=python)
    except (EnvkitError, ValueError, TypeError, KeyError):
        return None
