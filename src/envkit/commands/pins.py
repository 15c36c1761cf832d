"""`envkit pins --profile P --lerobot PATH [--check | --diff | --write | --restore] [--json]`.

Judges lerobot's pins against the profile's resolved tuple for its target platform and, on
--write, rewrites only the specifiers that block it (backup beside the file; --restore undoes).
The plan is envkit.pins (pure); the files are read and written here through envkit.pin_files.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from envkit import pin_files, pins
from envkit.commands.common import emit_json, host_facts
from envkit.errors import EnvkitError
from envkit.profiles import load_profile
from envkit.pythons import for_resolve
from envkit.resolve import resolve
from envkit.source import parse_source

if TYPE_CHECKING:
    from envkit.pins import PinPlan

_MODES = ("check", "diff", "write", "restore")


def register(app: typer.Typer) -> None:
    @app.command("pins")
    def pins_cmd(
        profile: str = typer.Option(None, "--profile", "-p", help="Profile name, alias or .toml path."),
        lerobot: str = typer.Option(..., "--lerobot", help="lerobot source tree (clone, fork, repo/lerobot/ subfolder) or its pyproject.toml."),
        check: bool = typer.Option(False, "--check", help="Exit 1 when pins must change, 0 when they need not (the default mode)."),
        diff: bool = typer.Option(False, "--diff", help="Print the rewrite as a unified diff; write nothing."),
        write: bool = typer.Option(False, "--write", help="Apply the rewrite atomically, keeping pyproject.toml.envkit-orig."),
        restore: bool = typer.Option(False, "--restore", help="Put the original pyproject.toml back, byte for byte."),
        force: bool = typer.Option(False, "--force", help="With --restore: restore even if the file changed since envkit wrote it."),
        host: str = typer.Option(None, "--host", help="Resolve against these host facts (envkit detect --json output)."),
        platform: str = typer.Option(None, "--platform", help="linux-64 or linux-aarch64 (default: as resolve chooses)."),
        python: str = typer.Option(None, "--python", help="X.Y or an interpreter PATH: the Python the markers are judged for (default: as resolve chooses)."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Rewrite lerobot's torch/torchvision/torchcodec pins for a profile: minimal, exact, reversible."""
        mode = _mode(check=check, diff=diff, write=write, restore=restore)
        if mode == "restore":
            _exit(_restore(lerobot, force, as_json))
            return
        if profile is None:
            raise EnvkitError(f"envkit pins --{mode} needs --profile", fix="pass --profile 5090, atlas-a2, cpu or a profile .toml path")
        _exit(_run(mode, profile, lerobot, host, platform, as_json, python))


def _exit(code: int) -> None:
    # sys.exit, not typer.Exit: the app runs with standalone_mode=False, where click turns
    # typer.Exit into a return value that cli.main does not pass on.
    if code:
        sys.exit(code)


def _mode(**flags: bool) -> str:
    chosen = [name for name, on in flags.items() if on]
    if len(chosen) > 1:
        raise EnvkitError(f"--{' and --'.join(chosen)} cannot be combined", fix="pick one of --check, --diff, --write, --restore")
    return chosen[0] if chosen else "check"


def _run(mode: str, profile: str, lerobot: str, host: str | None, platform: str | None, as_json: bool, python: str | None = None) -> int:
    source = parse_source(lerobot)

    prof, facts = load_profile(profile), host_facts(host)
    minor, pythons = for_resolve(python, prof.environment, other_host=host is not None, host=facts)
    resolved = resolve(prof, facts, source, platform, python=minor, pythons=pythons)
    if source.kind != "path" or source.pyproject is None:
        return _index_source(resolved, as_json)
    pyproject = source.pyproject
    plan = resolved.pin_plan  # the resolver already judged this file; planning it twice doubled --check's cost
    # The text as it stands: for the diff, or to plan here when the resolver did not (--check needs neither).
    text = pin_files.read_pyproject(pyproject) if mode == "diff" or plan is None else None
    if plan is None:
        assert text is not None
        plan = pins.plan_pyproject(text, resolved.pin_targets(), resolved.marker_env(),
                                   index_urls=resolved.index_urls(), source_name=str(pyproject))
    written = False
    if mode == "write" and not plan.conflicts:
        record = {"profile": resolved.profile, "platform": resolved.platform,
                  "changes": [c.to_dict() for c in plan.changes]}
        written = pin_files.write_pins(pyproject, plan.new_text, record=record)
    result = _result(mode, resolved, pyproject, plan, written, text)
    if as_json:
        emit_json(result)
    else:
        _print(mode, result, plan, pyproject)
    if plan.conflicts or (mode == "check" and plan.changes):
        return 1
    return 0


def _result(mode: str, resolved: Any, pyproject: Path, plan: PinPlan, written: bool, text: str | None) -> dict[str, Any]:
    backup = pin_files.backup_paths(pyproject)[0]
    out: dict[str, Any] = {
        "schema_version": 1, "mode": mode, "pyproject": str(pyproject), "profile": resolved.profile,
        "platform": resolved.platform, "targets": resolved.pin_targets(),
        "must_change": bool(plan.changes), **plan.to_dict(), "written": written,
        "backup": str(backup) if written or backup.exists() else None,
        "overrides": pins.overrides(resolved.pin_targets()),
    }
    if mode == "diff":
        assert text is not None
        out["diff"] = pins.unified_diff(text, plan.new_text, pyproject.name)
    return out


def _print(mode: str, result: dict[str, Any], plan: PinPlan, pyproject: Path) -> None:
    if mode == "diff":
        sys.stdout.write(result["diff"])
    elif plan.changes:
        verb = {"check": "must change", "write": "changed" if result["written"] else "already applied"}[mode]
        print(f"{pyproject}: {len(plan.changes)} pin(s) {verb} for profile {result['profile']} ({result['platform']}):")
        for c in plan.changes:
            where = f" [{c.marker}]" if c.marker else ""
            print(f"  {c.location}: {c.package} {c.old} -> {c.new}  (resolved {c.resolved}){where}")
        if result["written"]:
            print(f"  original kept in {pin_files.backup_paths(pyproject)[0].name}; undo with --restore")
    else:
        print(f"{pyproject}: lerobot's pins admit {_tuple(result['targets'])}; nothing to change")
    for conflict in plan.conflicts:
        print(f"  conflict: {conflict}", file=sys.stderr)


def _tuple(targets: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in targets.items())


def _index_source(resolved: Any, as_json: bool) -> int:
    """lerobot from an index has no file to rewrite: report the blocking Requires-Dist and the overrides."""
    changes = resolved.lerobot.get("pin_changes", [])
    if as_json:
        emit_json({"schema_version": 1, "mode": "check", "pyproject": None, "profile": resolved.profile,
                   "platform": resolved.platform, "targets": resolved.pin_targets(), "must_change": bool(changes),
                   "changes": changes, "conflicts": [], "written": False, "backup": None, "overrides": resolved.overrides})
    else:
        for c in changes:
            print(f"  {c['location']}: {c['package']} {c['old']} excludes {c['resolved']}")
        print("install with: " + " ".join(f"--override '{o}'" for o in resolved.overrides))
    return 1 if changes else 0


def _restore(lerobot: str, force: bool, as_json: bool) -> int:
    pyproject = pin_files.find_pyproject(Path(lerobot).expanduser())
    restored = pin_files.restore_pins(pyproject, force=force)
    if as_json:
        emit_json({"schema_version": 1, "mode": "restore", "pyproject": str(pyproject), "restored": restored})
    elif restored:
        print(f"{pyproject}: original restored from {pin_files.backup_paths(pyproject)[0].name}")
    else:
        print(f"{pyproject}: no envkit backup beside it; nothing to restore")
    return 0
