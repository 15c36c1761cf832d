"""Execute (or dry-run) a setup plan: progress on stderr, a log in the prefix, a state file per step.

Each finished step is recorded in <prefix>/.envkit/state.json with its inputs digest; a re-run
skips a step when the digest matches and its cheap on-disk proof (`Step.verify` globs) holds, so
the check never imports torch. A step's work is itself re-runnable: commands are idempotent (uv,
rattler), files are written to a temp name and renamed, a fetched source is patched in a temp
directory before it takes its final name.

Test hook: ENVKIT_TEST_KILL_AT=<step-id> makes the runner SIGKILL itself in the middle of that
step (after its first action); <step-id>@<seconds> kills it and its running command after that
many seconds. The tests use it to prove a killed setup resumes cleanly.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable

from envkit import installed, ownership
from envkit.errors import EnvkitError, StepFailed
from envkit.plan import UV, Plan, Step, diff
from envkit.fsutil import atomic_write, file_digest, not_a
from envkit import secrets
from envkit.procs import die_with_parent
from envkit.secrets import redact
from envkit.state import SetupState, load_state, log_path, state_dir

KILL_VAR = "ENVKIT_TEST_KILL_AT"


class _CommandFailed(Exception):
    def __init__(self, argv: Sequence[str], code: int, hint: str | None = None) -> None:
        super().__init__(f"`{shlex.join(argv)}` exited {code}")
        self.argv, self.code, self.hint = list(argv), code, hint


@dataclass
class RunContext:
    prefix: Path
    state: SetupState
    log: IO[str]
    env: dict[str, str]
    yes: bool = False
    uv: str = "uv"
    resume_cmd: str = "envkit setup ..."
    ran: list[str] = field(default_factory=list)
    doctor_output: dict[str, Any] | None = None
    broken: dict[str, list[str]] = field(default_factory=dict)  # dist-info -> probes found broken: uv reinstalls them

    def write(self, text: str) -> None:
        try:
            self.log.write(redact(text))  # the log is an output edge: no credential in it
            self.log.flush()
        except OSError:
            pass  # a full disk must not hide the real failure behind a log error

    def checkpoint(self, step_id: str) -> None:
        """The test hook: die here, like a power cut or `kill -9`, when asked to."""
        if os.environ.get(KILL_VAR) == step_id:
            self.write(f"# {KILL_VAR}={step_id}: SIGKILL\n")
            os.kill(os.getpid(), signal.SIGKILL)

    def run(self, step: Step, argv: Sequence[str], *, cwd: Path | None = None, capture: bool = False,
            env: dict[str, str] | None = None) -> str:
        """Run one argv (never a shell), output into the log; return stdout when capture is set."""
        argv = [self.uv if a == UV and i == 0 else a for i, a in enumerate(argv)]
        argv += self.reinstall_args(argv)
        self.write(f"$ {shlex.join(argv)}" + (f"   (in {cwd})" if cwd else "") + "\n")
        kill_after = _kill_after(step.id)
        # Index credentials go through the child's environment and a private netrc, never its argv
        # (every local user can read /proc/PID/cmdline); the netrc is removed when the child is done.
        with secrets.child_credentials(argv, env or self.env) as (child_argv, child_env):
            try:
                proc = subprocess.Popen(child_argv, cwd=cwd, env=child_env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE if capture else subprocess.STDOUT,
                                        text=True, errors="replace", preexec_fn=die_with_parent,
                                        start_new_session=True)
            except FileNotFoundError:
                raise _CommandFailed(argv, 127, f"{argv[0]} is not installed or not on PATH") from None
            if self.state.in_flight is not None:  # a kill -9 of envkit: the next setup or undo stops this group first
                self.state.in_flight["pgid"] = proc.pid
                self.state.save()
            return self._wait(step, argv, proc, capture, kill_after)

    def _wait(self, step: Step, argv: Sequence[str], proc: subprocess.Popen[str], capture: bool,
              kill_after: float | None) -> str:
        if capture:
            try:
                out, err = proc.communicate(timeout=kill_after)
            except subprocess.TimeoutExpired:
                proc.kill()
                os.kill(os.getpid(), signal.SIGKILL)
                raise  # unreachable
            self.write(err or "")
            self.write(out if len(out) < 20000 else out[-20000:])
        else:
            # Line by line through ctx.write: the installer's own messages are redacted like ours,
            # and the log's mtime follows the work (undo bounds a killed step's leftovers by it).
            assert proc.stdout is not None
            out = ""
            timer = None
            if kill_after is not None:
                import threading

                def die() -> None:
                    proc.kill()
                    os.kill(os.getpid(), signal.SIGKILL)

                timer = threading.Timer(kill_after, die)
                timer.daemon = True
                timer.start()
            for line in proc.stdout:
                self.write(line)
            proc.wait()
            if timer is not None:
                timer.cancel()
        if proc.returncode != 0:
            raise _CommandFailed(argv, proc.returncode)
        if self.broken:  # repaired ones are not reinstalled again by the step's next command
            still = set(installed.missing(self.prefix, self.broken))
            self.broken = {d: p for d, p in self.broken.items() if d in still}
        return out or ""

    def reinstall_args(self, argv: Sequence[str]) -> list[str]:
        """`uv pip install` skips what it finds installed: a broken distribution must be named to be repaired."""
        if not self.broken or list(argv[1:3]) != ["pip", "install"] or argv[0] != self.uv:
            return []
        return [arg for dist in sorted(self.broken) for arg in ("--reinstall-package", installed.dist_name(dist))]


def _kill_after(step_id: str) -> float | None:
    value = os.environ.get(KILL_VAR, "")
    if "@" in value and value.split("@", 1)[0] == step_id:
        return float(value.split("@", 1)[1])
    return None


# --- executors: one per Step.action ----------------------------------------------------------


def _commands(ctx: RunContext, step: Step) -> None:
    for i, argv in enumerate(step.commands):
        ctx.run(step, argv)
        if i == 0:
            ctx.checkpoint(step.id)


def _venv(ctx: RunContext, step: Step) -> None:
    ctx.run(step, step.commands[0])
    ctx.checkpoint(step.id)


def _system_ffmpeg(ctx: RunContext, step: Step) -> None:
    sonames = step.inputs["sonames"]

    def present() -> str | None:
        listing = ctx.run(step, ["ldconfig", "-p"], capture=True)
        for line in listing.splitlines():
            name = line.strip().split(" ", 1)[0]
            if name in sonames:
                return name
        return None

    found = present()
    ctx.checkpoint(step.id)
    if found:
        ctx.write(f"# system FFmpeg found: {found}\n")
        return
    install = step.params["install"]
    command = _apt_install(ctx, step, install, ["ldconfig", "-p"], f"no system FFmpeg library ({' or '.join(sonames[:2])}...) found")
    if not present():
        raise _CommandFailed(install, 1, f"{command} finished but no libavutil in {sonames} is known to the loader")


def _apt_install(ctx: RunContext, step: Step, install: list[str], checked: list[str], missing: str) -> str:
    """Install a system package with apt-get as root with --yes; otherwise fail with the exact command.
    Returns that command (for the message when the package did not help)."""
    command = shlex.join(["sudo", *install] if os.geteuid() != 0 else install)
    if not ctx.yes or os.geteuid() != 0 or shutil.which("apt-get") is None:
        why = ("pass --yes to let envkit install it" if os.geteuid() == 0 and shutil.which("apt-get")
               else "envkit installs system packages only as root with apt-get")
        raise _CommandFailed(checked, 1, f"{missing}; {why}: run `{command}` and rerun")
    env = {**ctx.env, "DEBIAN_FRONTEND": "noninteractive"}
    ctx.run(step, ["apt-get", "update", "-qq"], env=env)
    ctx.run(step, install, env=env)
    return command


def _system_lib(ctx: RunContext, step: Step) -> None:
    """A shared library the environment's Python must load (libpython3.X): apt-get installs its package
    as root with --yes, else the step fails with the exact command (as for the system FFmpeg)."""
    argv = [str(ctx.prefix / step.commands[0][0]), *step.commands[0][1:]]

    def loads() -> bool:
        try:
            ctx.run(step, argv, capture=True)
        except _CommandFailed:
            return False
        return True

    ctx.checkpoint(step.id)
    if loads():
        ctx.write(f"# {step.inputs['soname']} loads\n")
        return
    install = step.params["install"]
    command = _apt_install(ctx, step, install, argv, f"{step.inputs['soname']} does not load (package {step.inputs['package']})")
    if not loads():
        raise _CommandFailed(install, 1, f"{command} finished but {step.inputs['soname']} still does not load")


def _pins(ctx: RunContext, step: Step) -> None:
    """Write the pins plan the resolver made (step.params["plan"]); the file must still be what it judged."""
    from envkit import pins

    pyproject = Path(step.params["pyproject"])
    planned = step.params["plan"]
    ctx.state.add_unique("pins", str(pyproject))  # before writing: undo must know even after a kill
    if planned.conflicts:
        raise EnvkitError(f"{pyproject}: " + "; ".join(planned.conflicts), fix="edit those entries by hand, then rerun")
    text = pins.read_pyproject(pyproject)
    if text != step.params["old_text"] and text != planned.new_text:
        raise EnvkitError(f"{pyproject} changed after envkit resolved it (its pins were judged on the earlier text)",
                          fix="rerun the same envkit setup command: it judges the file as it is now")
    changed = pins.write_pins(pyproject, planned.new_text, record={"profile": ctx.state.profile})
    ctx.write(f"# pins {'rewritten' if changed else 'already admit the tuple'}: {pyproject}\n")
    ctx.checkpoint(step.id)


def _patch(ctx: RunContext, step: Step) -> None:
    from envkit import lerobot_patch

    tree, patch = Path(step.params["tree"]), lerobot_patch.patch_path(step.params["patch"])
    ctx.write(f"$ git apply --check {shlex.quote(str(patch))}   (in {tree})\n")
    state = lerobot_patch.check_applies(tree, patch)  # raises on a corrupt or non-applying patch: nothing written
    ctx.checkpoint(step.id)
    if state == lerobot_patch.APPLIES:
        ctx.state.add_unique("patched_trees", {"tree": str(tree), "patch": str(patch)})
        ctx.write(f"$ git apply {shlex.quote(str(patch))}   (in {tree})\n")
    ctx.write(f"# patch: {lerobot_patch.apply(tree, patch)}\n")


def _lerobot_source(ctx: RunContext, step: Step) -> None:
    """Fetch lerobot's source, patch a temp copy, then give it its final name (a kill leaves only the temp)."""
    import tarfile

    from envkit import lerobot_patch

    tree = Path(step.params["tree"])
    patch = lerobot_patch.patch_path(step.params["patch"])
    if tree.is_dir() and not lerobot_patch.verify_installed(tree):
        return
    tmp = tree.with_name(tree.name + ".tmp")
    for stale in (tmp, tree):
        if stale.exists():
            shutil.rmtree(stale)
    if step.params["kind"] == "git":
        for argv in step.commands[:2]:
            ctx.run(step, argv)
    else:
        ctx.run(step, step.commands[0])
        archives = sorted(tree.parent.glob(f"lerobot-{step.params['version']}.tar.gz"))
        if not archives:
            raise _CommandFailed(step.commands[0], 1, f"pip download left no lerobot-{step.params['version']}.tar.gz in {tree.parent}")
        if step.params.get("sha256") and file_digest(archives[0]) != step.params["sha256"]:  # --from-lock: the locked archive only
            raise _CommandFailed(step.commands[0], 1, f"{archives[0]} has sha256 {file_digest(archives[0])}, not the lock's "
                                 f"{step.params['sha256']}: the index served another file; remove it and rerun, or re-lock")
        with tarfile.open(archives[0]) as archive:
            tmp.mkdir(parents=True)
            for member in archive.getmembers():
                parts = Path(member.name).parts
                if len(parts) < 2 or ".." in parts or member.issym() or member.islnk():
                    continue  # the top folder, or anything that could escape the tree
                member.name = str(Path(*parts[1:]))
                archive.extract(member, tmp, filter="data") if hasattr(tarfile, "data_filter") else archive.extract(member, tmp)
    ctx.checkpoint(step.id)
    lerobot_patch.apply(tmp, patch)
    os.replace(tmp, tree)


def _lerobot(ctx: RunContext, step: Step) -> None:
    from envkit import lerobot_patch

    atomic_write(Path(step.params["overrides_file"]), "\n".join(step.params["overrides"]) + "\n")
    ctx.checkpoint(step.id)
    ctx.run(step, step.commands[0])
    if step.params.get("patch"):
        site = ctx.prefix / step.params["site"]
        missing = lerobot_patch.verify_installed(site)
        editable = [a for a in step.commands[0] if a == "-e"]
        if missing and editable:  # an editable install keeps the code in the tree
            missing = lerobot_patch.verify_installed(Path(step.commands[0][step.commands[0].index("-e") + 1]))
        if missing:
            raise _CommandFailed(step.commands[0], 1, "the installed lerobot lacks envkit's NPU patch: " + "; ".join(missing))


def _hooks(ctx: RunContext, step: Step) -> None:
    from envkit.hooks import ACTIVATE, DEACTIVATE, render_activate, render_deactivate

    spec = step.params["spec"]
    atomic_write(ctx.prefix / ACTIVATE, render_activate(spec))
    ctx.checkpoint(step.id)
    atomic_write(ctx.prefix / DEACTIVATE, render_deactivate(spec))


def check_weights(path: Path, sha256: str | None, sha256_prefix: str | None) -> str:
    """The file's sha256 when it matches the profile's hash (full, or torch.hub's leading digits); else EnvkitError."""
    if not Path(path).is_file():
        raise EnvkitError(f"--weights {path}: {not_a('file', path)}", fix="pass the downloaded resnet18-f37072fd.pth")
    actual = file_digest(Path(path))
    if sha256 and actual != sha256:
        raise EnvkitError(f"--weights {path}: sha256 {actual} is not the profile's {sha256}",
                          fix="download the file again from the profile's [assets.resnet18] url and compare its sha256")
    if sha256_prefix and not actual.startswith(sha256_prefix):
        raise EnvkitError(f"--weights {path}: sha256 {actual[:16]}... does not start with {sha256_prefix} "
                          f"(torch.hub names its files after the first hex digits of their sha256)",
                          fix="the file is corrupt or another model: download it again from the profile's [assets.resnet18] url")
    if not sha256 and not sha256_prefix:
        raise EnvkitError("the profile has no [assets.resnet18] sha256 or sha256_prefix to check --weights against",
                          fix="add sha256 (or sha256_prefix) to the profile's [assets.resnet18] table")
    return actual


def _weights(ctx: RunContext, step: Step) -> None:
    source, dest = Path(step.params["source"]), Path(step.params["dest"])
    check_weights(source, step.inputs.get("sha256"), step.inputs.get("sha256_prefix"))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    with open(source, "rb") as src, open(tmp, "wb") as out:
        first = True
        for block in iter(lambda: src.read(1 << 20), b""):
            out.write(block)
            if first:
                out.flush()
                ctx.checkpoint(step.id)  # dies with a half-written temp file, never a half-written dest
                first = False
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, dest)


def _doctor(ctx: RunContext, step: Step) -> None:
    from envkit.doctor.verdict import DoctorReport

    argv = list(step.commands[0])
    ctx.write(f"$ {shlex.join(argv)}\n")
    proc = subprocess.run(argv, env=ctx.env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    ctx.write(proc.stdout[-20000:] + proc.stderr[-20000:])
    ctx.checkpoint(step.id)
    try:
        report: DoctorReport | None = DoctorReport.from_json(proc.stdout)
    except ValueError:
        report = None  # the doctor stopped before judging (bad input, a probe that could not run): stderr says why
    verdict = "green" if proc.returncode == 0 and report is not None and report.ok else "red"
    ctx.state.doctor = {"verdict": verdict, "exit_code": proc.returncode, "digest": step.digest,
                        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        "failed": [c.id for c in report.failed] if report else [],
                        "summary": report.summary_text() if report else None,
                        "train_entry": report.versions.get("train_entry") if report else None,
                        "train_command": report.train_command if report else None}
    ctx.state.save()
    ctx.doctor_output = report.to_dict() if report else None
    if verdict != "green":
        tail = (proc.stderr.strip().splitlines() or ["no report printed"])[-1]
        raise _CommandFailed(argv, proc.returncode or 1,
                             "the environment is built but the doctor is not green: "
                             + (f"failed {report.failure_text()}" if report and report.failed else tail))


EXECUTORS: dict[str, Callable[[RunContext, Step], None]] = {
    "commands": _commands, "conda": _commands, "venv": _venv, "system-ffmpeg": _system_ffmpeg, "system-lib": _system_lib, "pins": _pins,
    "patch": _patch, "lerobot-source": _lerobot_source, "lerobot": _lerobot, "hooks": _hooks, "weights": _weights,
    "doctor": _doctor,
}


# --- the run ----------------------------------------------------------------------------------


def verified(prefix: Path, step: Step) -> bool:
    """The step's cheap on-disk proof (globs under the prefix); no imports, no subprocesses."""
    return all(any(prefix.glob(pattern)) for pattern in step.verify)


def _unwritable(prefix: Path, exc: OSError) -> EnvkitError:
    if exc.errno == errno.ENOSPC:
        return EnvkitError(f"Cannot write to {prefix}: the disk is full", fix="free space there or choose another --prefix")
    return EnvkitError(f"Cannot write to {prefix}: {exc.strerror or exc}",
                       fix="choose a --prefix you can write to (or fix its permissions / remount it read-write)")


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


def _foreign_entries(prefix: Path) -> list[str]:
    return sorted(p.name for p in prefix.iterdir() if p.name != ".envkit") if prefix.is_dir() else []


def _refuse_foreign(prefix: Path, yes: bool) -> list[str]:
    """Checks that write nothing: a file, or a non-empty directory envkit did not make (without --yes)."""
    if os.path.lexists(prefix) and not prefix.is_dir():
        raise EnvkitError(f"--prefix {prefix} is a file", fix="choose a directory path for the environment")
    try:
        entries = _foreign_entries(prefix)
    except OSError as exc:
        raise _unwritable(prefix, exc) from None
    if entries and not yes:
        kind = "a conda environment" if "conda-meta" in entries else "a virtual environment" if "pyvenv.cfg" in entries else "files"
        raise EnvkitError(f"{prefix} already holds {kind} that envkit did not create ({', '.join(entries[:4])})",
                          fix="choose another --prefix (an empty or new directory), or pass --yes to install into it: envkit then "
                              "backs up every file there first and undo puts them back")
    return entries


def prepare_prefix(prefix: Path, yes: bool, created: bool | None = None) -> SetupState:
    """Create the prefix (or adopt an envkit one) and take its inventory before anything is written.

    A non-empty directory envkit did not make is refused without --yes; with --yes every file in it
    is copied to .envkit/backup/ first, so undo can give each one back byte for byte. `execute`
    calls this under the prefix lock (`created`: whether the prefix existed before it made .envkit/).
    """
    try:
        existing = load_state(prefix)
    except PermissionError as exc:
        raise _unwritable(prefix, exc) from None
    if existing is not None:
        pending = [r for r in existing.preexisting or [] if not r.endswith("/") and r not in existing.backed_up
                   and (os.path.islink(prefix / r) or os.path.isfile(prefix / r))]
        if pending:
            _backup(existing)  # killed while backing up: no step has run yet, finish the copies
        return existing
    if created is None:
        created = not os.path.lexists(prefix)
    entries = _refuse_foreign(prefix, yes)
    preexisting, size = ownership.take_inventory(prefix) if entries else ([], 0)
    if size > ownership.BACKUP_LIMIT:
        raise EnvkitError(f"{prefix} already holds {size >> 20} MiB of files envkit did not create; setup backs up everything "
                          f"it might overwrite before writing and copies at most {ownership.BACKUP_LIMIT >> 20} MiB",
                          fix="choose a new or empty --prefix")
    try:
        state_dir(prefix).mkdir(parents=True, exist_ok=True)
        state = SetupState(prefix=prefix, created_prefix=created, preexisting=preexisting)
        state.save()
        if preexisting:
            _backup(state)
    except OSError as exc:
        raise _unwritable(prefix, exc) from None
    return state


def _backup(state: SetupState) -> None:
    try:
        ownership.backup_preexisting(state)
    except OSError as exc:
        raise _unwritable(state.prefix, exc) from None


@contextmanager
def _locked(prefix: Path, what: str = "setup") -> Iterator[None]:
    """One process at a time per prefix: setup and undo take the same lock."""
    path = state_dir(prefix) / "lock"
    try:
        handle = open(path, "a")
    except OSError as exc:
        raise _unwritable(prefix, exc) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise EnvkitError(f"another envkit setup or undo is running on {prefix}, so this {what} did not start",
                              fix="wait for it to finish, then rerun") from None
        yield


def command_env() -> dict[str, str]:
    from envkit.pipconfig import read_pip_config

    env = dict(os.environ)
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")  # never fetch an interpreter behind the user's back
    env.update(read_pip_config().uv_env())
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONHOME"):
        env.pop(var, None)  # the caller's environment must not redirect installs into the target
    return env


def _step_done(prefix: Path, state: SetupState, step: Step) -> tuple[bool, list[str]]:
    """Finished with these inputs and still there: the globs hold and every distribution it installed is intact."""
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
        _refuse_foreign(prefix, yes)
    created = not os.path.lexists(prefix)
    try:
        state_dir(prefix).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(prefix, exc) from None
    with _locked(prefix):
        state = prepare_prefix(prefix, yes, created=created if not has_state else None)
        ownership.adopt_legacy(state)
        if state.preexisting is not None:
            ownership.claim_interrupted(state)  # a killed step's leftovers are setup's, not the user's
        state.profile = plan.profile
        if plan.record:
            state.request = dict(plan.record)  # the doctor's defaults, also for `envkit doctor --prefix` later
        changes = diff([{"id": k, **v} for k, v in state.steps.items()], plan) if state.steps else []
        for line in changes:
            say(redact(f"plan change: {line}"))
        from envkit.uvbin import find_uv

        try:
            log = open(log_path(prefix), "a", encoding="utf-8")
        except OSError as exc:
            raise _unwritable(prefix, exc) from None
        with log:
            ctx = RunContext(prefix, state, log, command_env(), yes=yes, uv=find_uv(), resume_cmd=resume_cmd)
            ctx.write(f"\n# envkit setup {plan.profile} -> {prefix} at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n")
            say(f"log: {log_path(prefix)} (every command and its output)")
            skipped: list[str] = []
            for index, step in enumerate(plan.steps, 1):
                done, broken = _step_done(prefix, state, step)
                if step.action == "doctor":
                    green = (state.doctor or {}).get("verdict") == "green" and (state.doctor or {}).get("digest") == step.digest
                    if done and green and not ctx.ran and not force_doctor:
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
                    EXECUTORS[step.action](ctx, step)
                except _CommandFailed as exc:
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


# --- undo -------------------------------------------------------------------------------------


def _check_undo_target(prefix: Path) -> None:
    if prefix.is_symlink():
        raise EnvkitError(f"--prefix {prefix} is a symbolic link (to {os.readlink(prefix)}); undo does not follow links, "
                          "so it cannot be sure which directory setup recorded",
                          fix=f"pass the directory itself: envkit setup --undo --prefix {prefix.resolve()}")
    if not prefix.is_dir():
        raise EnvkitError(f"{prefix} holds no envkit setup (it does not exist), so there is nothing to undo",
                          fix="pass the --prefix you gave to `envkit setup`")
    if not os.access(prefix, os.W_OK):
        why = "is on a read-only filesystem" if _read_only(prefix) else "is not writable by you"
        raise EnvkitError(f"Cannot undo in {prefix}: it {why}; nothing was removed",
                          fix=f"remount {prefix} read-write (or run as its owner), then rerun `envkit setup --undo`")


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def undo(prefix: Path, *, yes: bool = False, confirm: Callable[[str], bool] | None = None) -> list[str]:
    """Give the prefix back: remove what setup recorded as its own, restore what it replaced, leave the rest.

    Unknown entries (neither there before setup nor made by it) are left in place; undo refuses
    when there are any unless `yes` (or `confirm` says so), because the user may have meant them
    to go with the environment and should decide.
    """
    prefix = Path(prefix).expanduser().absolute()
    _check_undo_target(prefix)
    state = load_state(prefix)
    if state is None:
        raise EnvkitError(f"{prefix} holds no envkit setup (no {state_dir(prefix) / 'state.json'})",
                          fix="pass the --prefix you gave to `envkit setup`; envkit removes only what it recorded")
    with _locked(prefix, "undo"):
        state = load_state(prefix) or state
        if state.preexisting is None and not ownership.adopt_legacy(state):
            return _undo_legacy(prefix, state)
        ownership.claim_interrupted(state)
        unknown = sorted(ownership.survey(state, None, None).unknown + ownership.user_made(state))
        if unknown and not yes:
            # every one of them, wherever it is: the user decides with the whole list in front of them
            shown = ", ".join(unknown[:50]) + (f" and {len(unknown) - 50} more" if len(unknown) > 50 else "")
            question = (f"{prefix} holds {len(unknown)} entr{'y' if len(unknown) == 1 else 'ies'} setup did not create ({shown}); "
                        "undo removes only setup's own files and leaves these. Go on?")
            if confirm is None or not confirm(question):
                raise EnvkitError(f"{prefix} holds {len(unknown)} entr{'y' if len(unknown) == 1 else 'ies'} that setup did not create "
                                  f"({shown}); nothing was removed",
                                  fix="move them elsewhere if they should survive outside the prefix, or rerun with --yes: undo "
                                      "then removes only what setup recorded and leaves these where they are")
        done: list[str] = []
        done += _undo_sources(prefix, state)
        removed = ownership.remove_owned(state)
        if removed:
            done.append(f"removed {len(removed)} entr{'y' if len(removed) == 1 else 'ies'} setup created in {prefix} "
                        f"({', '.join(sorted(removed)[:6])}{', ...' if len(removed) > 6 else ''})")
        for rel in ownership.restore_backups(state):
            done.append(f"restored {prefix / rel} from the backup setup took before writing")
        for rel in unknown:
            done.append(f"left {prefix / rel}: setup did not create it")
        try:
            shutil.rmtree(state_dir(prefix))
        except OSError as exc:
            raise ownership._fs_error(prefix, state_dir(prefix), exc) from None
        done.append(f"removed {state_dir(prefix)} (setup's record, log and backups)")
    if state.created_prefix:
        if os.path.ismount(prefix):
            done.append(f"left {prefix}: it is a mount point")
        elif any(prefix.iterdir()):
            done.append(f"left {prefix}: setup created it, but it still holds what setup did not create")
        else:
            prefix.rmdir()
            done.append(f"removed {prefix} (setup created it)")
    else:
        done.append(f"left {prefix} itself: it existed before setup")
    return done


def _undo_sources(prefix: Path, state: SetupState) -> list[str]:
    """Pins and patches in the user's lerobot tree: restored from their backups, reversed."""
    from envkit import pins

    done: list[str] = []
    for pyproject in state.pins:
        if pins.restore_pins(Path(pyproject)):
            done.append(f"restored {pyproject} from its backup")
    git = shutil.which("git")
    for entry in state.patched_trees:
        tree = Path(entry["tree"])
        if not tree.is_dir():
            done.append(f"left the NPU patch record of {tree}: the tree is gone")
        elif git and not str(tree).startswith(str(prefix)):
            proc = subprocess.run([git, "apply", "--reverse", entry["patch"]], cwd=tree, capture_output=True, text=True, check=False)
            done.append(f"reversed the NPU patch in {tree}" if proc.returncode == 0
                        else f"could not reverse the NPU patch in {tree}: {proc.stderr.strip()}")
    return done


def _undo_legacy(prefix: Path, state: SetupState) -> list[str]:
    """A state written before setup kept an inventory: remove only the files envkit itself writes."""
    from envkit.hooks import remove_hooks

    done = _undo_sources(prefix, state)
    try:
        for path in remove_hooks(prefix):
            done.append(f"removed {path}")
        if (prefix / "share" / "envkit").exists():
            shutil.rmtree(prefix / "share" / "envkit")
            done.append(f"removed {prefix / 'share' / 'envkit'}")
        shutil.rmtree(state_dir(prefix))
    except OSError as exc:
        raise ownership._fs_error(prefix, prefix, exc) from None
    done.append(f"removed {state_dir(prefix)}; this prefix was set up by an envkit that kept no inventory, so the "
                "packages stay: remove the directory yourself if it held nothing else")
    return done
