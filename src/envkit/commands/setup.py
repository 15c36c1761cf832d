"""`envkit setup --profile P [--prefix DIR] ...`: fresh server -> doctor-green env; `--undo` reverses it."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Optional

import typer

from envkit import torch_builds
from envkit.bundle.install import adjust_plan, bundle_options
from envkit.commands.common import emit_json, host_facts
from envkit.errors import EnvkitError
from envkit.host import detect
from envkit.pipconfig import read_pip_config
from envkit.profiles import load_profile
from envkit.progress import StepProgress
from envkit.pythons import for_resolve, venv_interpreter
from envkit.resolve import resolve
from envkit.setup.engine import execute
from envkit.setup.inputs import gather
from envkit.setup.plan import SetupOptions, build_plan
from envkit.setup.steps.weights import check_weights
from envkit.setup.undo import undo as do_undo
from envkit.source import ALLOW_BRANCH_VAR

DEFAULT_PREFIX = Path(".envkit-env")


def register(app: typer.Typer) -> None:
    app.command("setup")(setup)


def setup(
    profile: Optional[str] = typer.Option(None, "--profile", "-p", help="Profile name, alias or .toml path."),
    prefix: Path = typer.Option(DEFAULT_PREFIX, "--prefix", help="Where the environment goes (created if missing)."),
    lerobot: Optional[str] = typer.Option(None, "--lerobot", help="lerobot SRC: 'lerobot==0.4.4', git URL@commit, or a local tree."),
    extras: Optional[str] = typer.Option(None, "--extras", help="lerobot extras, comma-separated (aloha,pusht)."),
    wheels: Optional[Path] = typer.Option(None, "--wheels", help="Local wheel directory for torch/torchvision(/torch_npu)."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="resnet18-f37072fd.pth to place in TORCH_HOME for offline use."),
    offline: bool = typer.Option(False, "--offline", help="Hooks set HF_HUB_OFFLINE=1 and HF_DATASETS_OFFLINE=1."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (steps, commands, files, why) and change nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Allow system packages (apt-get) and installing into an existing non-envkit "
                             "directory (its files are backed up first); with --undo: leave files setup did not create and go on."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan (with --dry-run) or the result as JSON."),
    visible_devices: Optional[str] = typer.Option(None, "--visible-devices", help="GPU/NPU ids the hooks expose, e.g. 0,1."),
    doctor: bool = typer.Option(False, "--doctor", help="Run the doctor again even when nothing changed."),
    from_lock: Optional[Path] = typer.Option(None, "--from-lock", help="Install exactly what lockfiles/<profile>/ says."),
    cpu_index: Optional[str] = typer.Option(None, "--cpu-index", help="Your mirror of the profile's [cpu_builds] index (CPU-only torch builds)."),
    strict_lock: bool = typer.Option(False, "--strict-lock", help="With --from-lock: refuse a lock that lacks a layer (default: solve that layer from the profile, and say so)."),
    channel: Optional[list[str]] = typer.Option(None, "--channel", help="Conda channel (repeatable; default: the profile's)."),
    index_url: Optional[str] = typer.Option(None, "--index-url", help="Replace the default Python package index."),
    host: Optional[str] = typer.Option(None, "--host", help="Plan for these host facts (envkit detect --json) instead of this machine."),
    platform: Optional[str] = typer.Option(None, "--platform", help="linux-64 or linux-aarch64 (default: this host's, if the profile targets it)."),
    no_pretrained_backbone: bool = typer.Option(False, "--no-pretrained-backbone",
                                                help="You train with --policy.pretrained_backbone_weights=null: the doctor does not ask for ResNet18 weights."),
    allow_branch: bool = typer.Option(False, "--allow-branch", help="Accept a --lerobot git ref that is a branch (not reproducible: warned)."),
    undo: bool = typer.Option(False, "--undo", help="Remove exactly what setup recorded at --prefix, restore what it replaced, leave the rest (docs/safety.md)."),
    python: Optional[str] = typer.Option(None, "--python", help="X.Y or an interpreter PATH (default: the newest the profile, lerobot, torch and this host allow)."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help="Install offline from an `envkit bundle` tar (every member's hash is checked first)."),
) -> None:
    """Set up a LeRobot training environment from a profile, step by step, resumable, ending with the doctor."""

    prefix = prefix.expanduser().absolute()
    if undo:

        ask = (lambda question: typer.confirm(question, default=False)) if sys.stdin.isatty() and sys.stderr.isatty() else None
        lines = do_undo(prefix, yes=yes, confirm=ask if not as_json else None)
        if as_json:

            emit_json({"prefix": str(prefix), "undone": lines})
            return
        for line in lines:
            typer.echo(line)
        return
    if allow_branch:


        os.environ[ALLOW_BRANCH_VAR] = "1"  # the children (the doctor step) resolve the same source
    unpacked = None
    if bundle is not None:  # verified and unpacked into the prefix, then the ordinary --from-lock setup, offline

        unpacked, profile, from_lock, weights, platform = bundle_options(bundle, prefix, profile, weights, platform, yes, dry_run)
        offline, no_pretrained_backbone = True, no_pretrained_backbone or weights is None
    if not profile:
        raise EnvkitError("envkit setup needs --profile", fix="envkit setup --profile cpu (envkit profiles lists them)")

    prof = load_profile(profile)
    facts = host_facts(host) if host or not dry_run else _quiet_facts()

    minor, pythons = for_resolve(python, prof.environment, other_host=host is not None, host=facts)
    resolved = resolve(prof, facts, lerobot, platform, python=minor, pythons=pythons)
    python_exe = None
    if prof.for_platform(resolved.platform).environment == "venv" and not dry_run:
        python_exe = venv_interpreter(resolved.python, pythons)
        if python_exe is None:
            raise EnvkitError(
                f"profile '{resolved.profile}' builds a venv on Python {resolved.python} (--python), and this host has no python{resolved.python}",
                fix=f"install Python {resolved.python} (apt-get install python{resolved.python}-venv, or uv python install {resolved.python}) "
                    "and rerun, or pass --python PATH to an interpreter",
            )
    options = SetupOptions(
        prefix=prefix, lerobot=lerobot, extras=tuple(e.strip() for e in (extras or "").split(",") if e.strip()),
        wheels=wheels.expanduser().absolute() if wheels else None,
        weights=weights.expanduser().absolute() if weights else None, offline=offline, yes=yes,
        visible_devices=visible_devices, channels=tuple(channel or ()), index_url=index_url,
        from_lock=from_lock.expanduser().absolute() if from_lock else None, python_exe=python_exe, no_pretrained_backbone=no_pretrained_backbone,
        strict_lock=strict_lock, torch_builds=_torch_builds(prof, resolved, cpu_index, from_lock is not None),
    )
    if weights is not None and not dry_run:

        asset = prof.for_platform(resolved.platform).assets.get("resnet18", {})
        check_weights(options.weights, asset.get("sha256"), asset.get("sha256_prefix"))  # bad input: exit 2 before any work

    plan = build_plan(prof, resolved, options, unpacked.sources() if unpacked else read_pip_config(),
                      inputs=gather(prof, resolved, options), host=facts)
    if unpacked is not None:

        plan = adjust_plan(plan, unpacked)
    if dry_run:
        if as_json:
            emit_json(plan.to_dict())
        else:
            typer.echo(plan.render(), nl=False)
        return
    for warning in plan.warnings if not as_json else ():
        typer.echo(f"warning: {warning}", err=True)
    summary = _execute(plan, options, as_json, doctor, _resume_command())
    if as_json:
        emit_json(summary)


def _torch_builds(prof, resolved, cpu_index: str | None, from_lock: bool):  # type: ignore[no-untyped-def]
    """CPU builds of torch where the profile's [cpu_builds] index (or --cpu-index) answers, else PyPI's (the plan says so)."""

    wanted = prof.for_platform(resolved.platform).data.get("cpu_builds")
    if not wanted or from_lock:  # a lock installs exactly what it holds
        return None
    why = torch_builds.probe(wanted, cpu_index)
    return torch_builds.choose(wanted, why, resolved.accelerator, resolved.platform, resolved.torch["version"], cpu_index)


def _quiet_facts():
    """A dry run on any machine: this host's facts when readable, else none (the plan is for the target)."""
    try:

        return detect(suggest=False)  # the profile is given: no need to judge them all
    except Exception:  # noqa: BLE001 - detection problems must not block printing a plan
        return None


def _resume_command() -> str:
    args = [a for a in sys.argv[1:]]
    return "envkit " + shlex.join(args) if args else "envkit setup ..."


def _execute(plan, options, as_json: bool, force_doctor: bool, resume: str) -> dict:
    from rich.console import Console


    console = Console(stderr=True, soft_wrap=True)

    def say(text: str) -> None:
        if not as_json:
            console.print(text, markup=False, highlight=False)

    for warning in plan.warnings:  # before any work: e.g. a lock layer solved from the profile instead
        say(f"note: {warning}")
    progress = StepProgress(console, len(plan.steps), quiet=as_json)
    try:
        summary = execute(plan, yes=options.yes, force_doctor=force_doctor, resume_cmd=resume, progress=progress, say=say)
    finally:
        progress.close()
    last = summary.get("doctor") or {}
    if not as_json:
        if "doctor" in summary["skipped"]:
            console.print(f"nothing changed: last doctor verdict {last.get('verdict')} at {last.get('at')} "
                          f"(envkit setup --doctor runs it again)", highlight=False)
        else:
            console.print(f"environment ready at {plan.prefix}: doctor {last.get('verdict', '?')}", highlight=False)
        # what the installed lerobot really has (forks: python -m ...) with the arguments its config accepts
        command = last.get("train_command") or (last.get("train_entry") or "lerobot-train") + " ..."
        console.print(f"  run inside it:  envkit run --prefix {shlex.quote(str(plan.prefix))} -- {command}", highlight=False)
        console.print(f"  enter it:       eval \"$(envkit shell-hook --prefix {shlex.quote(str(plan.prefix))})\"", highlight=False)
    return summary
