"""Setup as data: the ordered steps that take a fresh server to a doctor-green environment.

`build_plan` is pure: what it needs from disk (the --wheels files, a --from-lock lock and its
hashes, a lerobot tree's layout, envkit's patch file) arrives as `PlanInputs`, gathered at the
edge by `envkit.setup.inputs.gather`; what is accelerator-specific arrives in the resolved tuple's
accelerator block (no backend is looked up here). Each Step says what it does and why, the exact commands (argv lists) and the files it
writes, and carries a digest of its inputs (chained to the steps it builds on), which the engine
(envkit.setup.engine) compares with the state file to skip finished work. `--dry-run` prints this for any profile on
any machine.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envkit.errors import EnvkitError
from envkit.pipconfig import PipSources
from envkit.setup.step import UV, PlanInputs, SetupOptions, Step
from envkit.setup.steps import (doctor, environment, ffmpeg, hooks, lerobot, lerobot_source, libpython, packages, patch, pins,
                                torch, weights)
from envkit.setup.steps.weights import destination
from envkit.setup_choices import SetupChoices, host_digest, host_summary, tuple_digest

if TYPE_CHECKING:
    from envkit.hostfacts import HostFacts
    from envkit.profiles import Profile
    from envkit.resolve import Resolved

SCHEMA_VERSION = 1
__all__ = ["UV", "Plan", "PlanInputs", "SetupOptions", "Step", "build_plan", "diff"]  # Step & co. live in envkit.setup.step


@dataclass(frozen=True)
class Plan:
    profile: str
    prefix: Path
    environment: str  # "venv" | "conda"
    resolved_digest: str
    steps: tuple[Step, ...]
    warnings: tuple[str, ...] = ()
    record: SetupChoices | None = None  # setup's choices, saved in the state for the doctor

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "profile": self.profile, "prefix": str(self.prefix),
                "environment": self.environment, "resolved_digest": self.resolved_digest,
                "steps": [s.to_dict() for s in self.steps], "warnings": list(self.warnings)}

    def render(self) -> str:
        """The plan as text: what --dry-run prints (commands one per line, shell-quoted)."""
        out = [f"envkit setup plan: profile {self.profile} -> {self.prefix} ({self.environment})"]
        for i, step in enumerate(self.steps, 1):
            out.append(f"\n[{i}/{len(self.steps)}] {step.id}: {step.title}")
            out.append(f"    why: {step.why}")
            for argv in step.commands:
                out.append("    $ " + shlex.join(argv))
            for path in step.files:
                out.append(f"    writes: {path}")
            for note in step.notes:
                out.append(f"    note: {note}")
        for warning in self.warnings:
            out.append(f"\nwarning: {warning}")
        return "\n".join(out) + "\n"


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _finalize(steps: list[Step]) -> tuple[Step, ...]:
    """Chain digests: a step's digest covers its inputs and the digests of what it builds on."""
    done: dict[str, str] = {}
    out = []
    for step in steps:
        digest = _digest({"id": step.id, "action": step.action, "inputs": step.inputs,
                          "after": [done[d] for d in step.depends if d in done]})
        done[step.id] = digest
        out.append(replace(step, digest=digest))
    return tuple(out)


def diff(old: list[dict[str, Any]], plan: Plan) -> list[str]:
    """What changed since the plan recorded in the state: one line per step that will run again."""
    before = {s["id"]: s for s in old}
    lines = []
    for step in plan.steps:
        prev = before.get(step.id)
        if prev is None:
            lines.append(f"{step.id}: new step")
            continue
        if prev.get("digest") == step.digest:
            continue
        changed = [f"{k}: {json.dumps(prev.get('inputs', {}).get(k))} -> {json.dumps(v)}"
                   for k, v in step.inputs.items() if prev.get("inputs", {}).get(k) != v]
        gone = [k for k in prev.get("inputs", {}) if k not in step.inputs]
        changed += [f"{k}: removed" for k in gone]
        lines.append(f"{step.id}: " + ("; ".join(changed) if changed else "a step it builds on changed"))
    for step_id in before:
        if not any(s.id == step_id for s in plan.steps):
            lines.append(f"{step_id}: no longer part of the plan")
    return lines


# --- which steps apply, in which order (each step's own build is in envkit.setup.steps) ----------


def _lerobot_steps(resolved: "Resolved", options: SetupOptions, sources: PipSources, inputs: PlanInputs) -> list[Step]:
    """lerobot's source work (pins, patch or a fetched, patched source), then lerobot itself."""
    lr = resolved.lerobot
    patch_name = lr.get("patch")
    steps: list[Step] = []
    tree: Path | None = None
    if lr["source"]["kind"] == "path":
        tree = Path(lr["source"]["path"])
        steps += [s for s in (pins.build(resolved),) if s is not None]
        if patch_name:
            steps.append(patch.build(resolved, tree, patch_name, in_place=True, patch_file=inputs.patch_file))
    elif patch_name:
        source = lerobot_source.build(resolved, options, inputs)
        tree = Path(source.params["tree"])
        steps.append(source)
    steps.append(lerobot.build(resolved, options, sources, inputs, tree, tuple(s.id for s in steps)))
    return steps


def _lock_steps(view: "Profile", resolved: "Resolved", options: SetupOptions, sources: PipSources,
                inputs: PlanInputs) -> tuple[list[Step], list[str]]:
    """--from-lock: exactly what lockfiles/<profile>/ says (conda layer via rattler, PyPI layer with hashes).

    A lock without its conda layer (conda-forge unreachable where it was made) still installs the
    PyPI layer exactly; the conda base (python, FFmpeg) is then solved from the profile, and the
    plan says so. --strict-lock refuses instead. A profile that patches lerobot builds it from the
    locked source archive (sha256 from the lock) and verifies the patch, as without a lock.
    """
    lock = inputs.lock
    if lock is None:
        raise ValueError("build_plan with --from-lock needs PlanInputs.lock (envkit.setup.inputs.gather reads it)")
    if lock.profile != view.name:
        raise EnvkitError(f"--from-lock {options.from_lock} locks profile '{lock.profile}', not '{view.name}'",
                          fix=f"pass lockfiles/{view.name}")
    if options.extras:
        # the lock installs exactly its own package list (--no-deps): an extra would be dropped silently
        raise EnvkitError(f"--extras {','.join(options.extras)} cannot be added to --from-lock {options.from_lock}: the lock installs "
                          "exactly the packages it was locked with", fix=f"set up without --from-lock to add the extras "
                          f"(envkit setup --profile {view.name} --extras {','.join(options.extras)}), or lock them in")
    platform = resolved.platform
    layers = lock.layers(platform)
    if "pypi" not in layers:
        gap = lock.missing("pypi", platform)
        raise EnvkitError(f"--from-lock {options.from_lock} has no PyPI layer for {platform} ({gap['why']})",
                          fix=f"lock it: {gap['lock_with']}, or set up without --from-lock")
    steps: list[Step] = []
    warnings: list[str] = []
    patched = resolved.lerobot.get("patch")
    if patched:
        steps += [s for s in _lerobot_steps(resolved, options, sources, inputs) if s.id in ("lerobot-source", "patch")]
    if view.environment == "conda" and "conda" in layers:
        steps.append(environment.build_locked(options, inputs, platform))
    elif view.environment == "conda":
        gap = lock.missing("conda", platform)
        if options.strict_lock:
            raise EnvkitError(f"--from-lock {options.from_lock} has no conda layer for {platform} ({gap['why']}); "
                              "--strict-lock installs only what the lock holds",
                              fix=f"lock it on a machine that reaches the channel: {gap['lock_with']}; or drop --strict-lock "
                                  "to solve the conda base (python, FFmpeg) from the profile")
        said = (f"the lock has no conda layer for {platform} ({gap['why']}): the conda base (python, FFmpeg) is solved "
                f"from profile '{view.name}' now, not installed from the lock; the PyPI layer is installed exactly from the lock")
        warnings.append(said)
        short = f"solved from the profile, not installed from the lock: the lock has no conda layer for {platform}"
        env = environment.build(view, resolved, options)
        steps.append(replace(env, notes=(*env.notes, short)))
        solved = ffmpeg.build(resolved, options)
        steps.append(replace(solved, notes=(*solved.notes, short)) if solved.action == "conda" else solved)
    else:
        steps.append(environment.build(view, resolved, options))
        steps.append(ffmpeg.build(resolved, options))
    steps += libpython.build(view, resolved)
    steps.append(packages.build(resolved, options, sources, inputs, lock))
    if patched:
        steps = _locked_patched_lerobot(steps, lock.lerobot_sdist(platform), resolved, options, sources)
    return steps, warnings


def _locked_patched_lerobot(steps: list[Step], sdist: dict[str, str] | None, resolved: "Resolved", options: SetupOptions,
                            sources: PipSources) -> list[Step]:
    """The locked wheel of lerobot lacks envkit's NPU patch: rebuild it from the locked sdist, patched and verified."""
    source = next((s for s in steps if s.id == "lerobot-source"), None)
    if source is None:  # a local tree (--lerobot PATH) is patched in place by the 'patch' step
        tree = Path(resolved.lerobot["source"]["path"])
    else:
        if sdist is None or sdist.get("version") != source.params.get("version"):
            raise EnvkitError(f"--from-lock {options.from_lock} records no source archive of lerobot {source.params.get('version')} "
                              "to build the patched lerobot from",
                              fix=f"re-lock with this envkit: envkit lock --profile {resolved.profile} --platform {resolved.platform} --layer pypi")
        steps[steps.index(source)] = lerobot_source.with_locked_sha256(source, sdist["sha256"])
        tree = Path(source.params["tree"])
    steps.append(lerobot.build_locked(resolved, options, sources, tree, (sdist or {}).get("sha256"), tuple(s.id for s in steps)))
    return steps


def build_plan(
    profile: "Profile",
    resolved: "Resolved",
    options: SetupOptions,
    sources: PipSources | None = None,
    set_env_candidates: tuple[str, ...] | None = None,
    inputs: PlanInputs | None = None,
    host: "HostFacts | None" = None,
) -> Plan:
    """The setup plan for one resolved tuple (pure: files it needs come in `inputs`; `host`: the facts it
    was resolved for, recorded so that the doctor can say when the host changed since)."""
    sources = sources if sources is not None else PipSources()
    inputs = inputs if inputs is not None else PlanInputs()
    if options.wheels is not None and not inputs.local_wheels and any(w.required for w in resolved.accel.wheels):
        raise ValueError("build_plan with --wheels needs PlanInputs.local_wheels (envkit.setup.inputs.gather finds them)")
    view = profile.for_platform(resolved.platform)
    warnings = list(resolved.warnings) + list(getattr(sources, "warnings", lambda: [])())
    if options.from_lock is not None:
        steps, said = _lock_steps(view, resolved, options, sources, inputs)
        warnings += said
    else:
        lerobot_steps = _lerobot_steps(resolved, options, sources, inputs)
        # Source work first (pins, patch): a patch that does not apply is refused before minutes of installs.
        steps = [s for s in lerobot_steps if s.id != "lerobot"]
        steps.append(environment.build(view, resolved, options))
        steps.append(ffmpeg.build(resolved, options))
        steps += libpython.build(view, resolved)
        steps.append(torch.build(resolved, options, sources, inputs))
        steps += [s for s in lerobot_steps if s.id == "lerobot"]
    steps.append(hooks.build(resolved, options, set_env_candidates))
    steps += [s for s in (weights.build(view, options),) if s is not None]
    record = _record(view, resolved, options, host)
    # The profile's file for a user's profile (its name is unknown to `load_profile`), the name for a built-in one.
    steps.append(doctor.build(options, record.profile_file or view.name, resolved.digest(), tuple(s.id for s in steps)))
    return Plan(view.name, options.prefix, view.environment, resolved.digest(), _finalize(steps), tuple(warnings), record)


def _record(view: "Profile", resolved: "Resolved", options: SetupOptions, host: "HostFacts | None") -> SetupChoices:
    """What the doctor needs to judge this prefix later without flags (envkit.targetenv.setup_record reads it)."""
    source = resolved.lerobot["source"]
    lerobot_src = None
    if options.lerobot:
        lerobot_src = source.get("path") if source.get("kind") == "path" else (source.get("text") or options.lerobot)
    placed = destination(view, options)
    return SetupChoices(
        profile=view.name, profile_file=view.user_file, platform=resolved.platform, python=resolved.python,
        lerobot=lerobot_src, overrides=tuple(resolved.overrides), no_pretrained_backbone=options.no_pretrained_backbone,
        weights=str(placed) if placed is not None else None,
        extras=tuple(sorted(set(resolved.lerobot.get("extras", [])) | set(options.extras))),
        from_lock=str(options.from_lock) if options.from_lock else None,
        tuple_digest=tuple_digest(resolved), profile_digest=resolved.profile_digest,
        host_digest=host_digest(host) if host is not None else None,
        host=host_summary(host) if host is not None else {})
