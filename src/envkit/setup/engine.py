"""The setup engine: run (or resume) a plan's steps in order in its prefix, with progress on stderr,
a log in the prefix and a state file entry per finished step.

Each finished step is recorded in <prefix>/.envkit/state.json with its inputs digest; a re-run
skips a step when the digest matches and its cheap on-disk proof (its kind's `verify`) holds, so
the check never imports torch. A step's work is itself re-runnable: commands are idempotent (uv,
rattler), files are written to a temp name and renamed, a fetched source is patched in a temp
directory before it takes its final name. What each step does lives in its module
(envkit.setup.steps); the test hook that kills a step half-way is in envkit.setup.context.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from envkit import installed, ownership
from envkit.errors import EnvkitError, StepFailed
from envkit.secrets import redact
from envkit.setup.context import CommandFailed, RunContext, command_env
from envkit.setup.plan import Plan, diff
from envkit.setup.prefix import locked, prepare_prefix, refuse_foreign, unwritable
from envkit.setup.registry import KINDS
from envkit.setup.step import Step
from envkit.setup.steps import doctor
from envkit.state import SetupState, load_state, log_path, state_dir
from envkit.uvbin import find_uv


def verified(prefix: Path, step: Step) -> bool:
    """The step's cheap on-disk proof, as its kind defines it; no imports, no subprocesses."""
    return KINDS[step.action].verify(prefix, step)


def _disk_note(prefix: Path) -> str:
    try:
        st = os.statvfs(prefix)
    except OSError:
        return ""
    free = st.f_bavail * st.f_frsize
    return f"; only {free // 1024} KiB free on its filesystem (disk full?)" if free < 64 * 1024 * 1024 else ""


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    tail = [ln.strip() for ln in text[-lines:] if ln.strip() and not ln.startswith("$ ")]
    return " | ".join(tail)[-400:]


def _step_done(prefix: Path, state: SetupState, step: Step) -> tuple[bool, list[str]]:
    """Finished with these inputs and still there: its proof holds and every distribution it installed is intact."""
    if not state.finished(step.id, step.digest) or not verified(prefix, step):
        return False, []
    broken = installed.missing(prefix, state.steps[step.id].get("dists") or {})
    return not broken, broken


def execute(plan: Plan, *, yes: bool = False, force_doctor: bool = False, resume_cmd: str = "envkit setup ...",
            progress: Callable[[str, Step, int], Any] | None = None, say: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run the plan in its prefix. Returns a summary dict; raises StepFailed / EnvkitError."""
    prefix = plan.prefix
    # Only checks before the lock; the inventory, the backups and every state write happen under it,
    # so a second setup (or an undo) can never interleave with this one.
    has_state = load_state(prefix) is not None
    if not has_state:
        refuse_foreign(prefix, yes)
    created = not os.path.lexists(prefix)
    try:
        state_dir(prefix).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise unwritable(prefix, exc) from None
    with locked(prefix):
        state = prepare_prefix(prefix, yes, created=created if not has_state else None)
        ownership.adopt_legacy(state)
        if state.preexisting is not None:
            ownership.claim_interrupted(state)  # a killed step's leftovers are setup's, not the user's
        state.profile = plan.profile
        if plan.record is not None:
            state.request = plan.record.to_request()  # the doctor's defaults, also for `envkit doctor --prefix` later
        changes = diff([{"id": k, **v} for k, v in state.steps.items()], plan) if state.steps else []
        for line in changes:
            say(redact(f"plan change: {line}"))
        try:
            log = open(log_path(prefix), "a", encoding="utf-8")
        except OSError as exc:
            raise unwritable(prefix, exc) from None
        with log:
            ctx = RunContext(prefix, state, log, command_env(), yes=yes, uv=find_uv(), resume_cmd=resume_cmd)
            ctx.write(f"\n# envkit setup {plan.profile} -> {prefix} at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n")
            say(f"log: {log_path(prefix)} (every command and its output)")
            skipped: list[str] = []
            for index, step in enumerate(plan.steps, 1):
                done, broken = _step_done(prefix, state, step)
                if step.action == "doctor":
                    if done and doctor.green(ctx, step) and not ctx.ran and not force_doctor:
                        skipped.append(step.id)
                        if progress:
                            progress("skip", step, index)
                        continue
                elif done:
                    skipped.append(step.id)
                    if progress:
                        progress("skip", step, index)
                    continue
                if broken:
                    say(f"repair {step.id}: {', '.join(installed.dist_name(d) for d in broken)} no longer intact in {prefix}")
                    ctx.write(f"# {step.id}: broken since it finished: {', '.join(broken)}\n")
                ctx.broken = {d: state.steps[step.id].get("dists", {}).get(d, []) for d in broken}
                if progress:
                    progress("start", step, index)
                started = time.monotonic()
                started_ns = time.time_ns()
                before = installed.snapshot(prefix)
                if state.preexisting is not None:
                    state.in_flight = {"step": step.id, "started_ns": started_ns}
                    state.save()  # before the step writes: undo can attribute what a kill leaves
                ctx.write(f"\n## step {step.id}: {step.title}\n")
                try:
                    KINDS[step.action].execute(ctx, step)
                except CommandFailed as exc:
                    log_file = log_path(prefix)
                    tail = _log_tail(log_file)
                    _claim(state, started_ns)
                    raise StepFailed(
                        f"setup step '{step.id}' ({step.title}) failed: {exc.hint or exc}{_disk_note(prefix)}. "
                        f"Log: {log_file}" + (f" (last lines: {tail})" if tail and not exc.hint else ""),
                        fix=f"fix the cause, then run `{resume_cmd}` again: finished steps are skipped and '{step.id}' resumes",
                    ) from None
                except OSError as exc:
                    if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
                        raise StepFailed(f"setup step '{step.id}' failed: {exc}{_disk_note(prefix)}. Log: {log_path(prefix)}",
                                         fix=f"free space / fix permissions, then run `{resume_cmd}` again") from None
                    raise
                except EnvkitError:
                    _claim(state, started_ns)
                    raise
                ctx.broken = {}
                _claim(state, started_ns)
                dists = installed.record(prefix, before, state.steps.get(step.id, {}).get("dists"))
                for other in state.steps.values():  # a later install replaced an earlier step's version: it is this step's now
                    for gone in [d for d in other.get("dists") or {} if not (prefix / d).is_dir()]:
                        other["dists"].pop(gone)
                state.record(step.id, step.digest, step.inputs, time.monotonic() - started)
                if dists:
                    state.steps[step.id]["dists"] = dists
                    state.save()
                ctx.ran.append(step.id)
                if progress:
                    progress("done", step, index)
            state.plan = [s.to_dict() for s in plan.steps]
            state.save()
    return {"prefix": str(prefix), "profile": plan.profile, "ran": ctx.ran, "skipped": skipped,
            "changes": [redact(c) for c in changes], "doctor": state.doctor, "log": str(log_path(prefix))}


def _claim(state: SetupState, started_ns: int) -> None:
    """Record what the step made (also when it failed: its partial files are setup's to remove)."""
    if state.preexisting is None:
        return
    try:
        ownership.claim(state, started_ns)
        state.in_flight = None
        state.save()
    except OSError:
        pass  # a full disk: in_flight stays recorded and the next setup or undo claims the step's files
