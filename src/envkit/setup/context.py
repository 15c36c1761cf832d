"""What a step's executor works with: the run's context (log, state, environment, uv) and its commands.

Test hook: ENVKIT_TEST_KILL_AT=<step-id> makes setup SIGKILL itself in the middle of that step
(after its first action, `RunContext.checkpoint`); <step-id>@<seconds> kills it and its running
command after that many seconds. The tests use it to prove a killed setup resumes cleanly.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from envkit import installed, secrets
from envkit.pipconfig import read_pip_config
from envkit.procs import die_with_parent
from envkit.secrets import redact
from envkit.setup.step import UV, Step
from envkit.state import SetupState

KILL_VAR = "ENVKIT_TEST_KILL_AT"


class CommandFailed(Exception):
    """A command (or a step's own check) failed: the engine turns it into StepFailed with the log's tail."""

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
        kill_after = kill_after_seconds(step.id)
        # Index credentials go through the child's environment and a private netrc, never its argv
        # (every local user can read /proc/PID/cmdline); the netrc is removed when the child is done.
        with secrets.child_credentials(argv, env or self.env) as (child_argv, child_env):
            try:
                proc = subprocess.Popen(child_argv, cwd=cwd, env=child_env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE if capture else subprocess.STDOUT,
                                        text=True, errors="replace", preexec_fn=die_with_parent,
                                        start_new_session=True)
            except FileNotFoundError:
                raise CommandFailed(argv, 127, f"{argv[0]} is not installed or not on PATH") from None
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
            raise CommandFailed(argv, proc.returncode)
        if self.broken:  # repaired ones are not reinstalled again by the step's next command
            still = set(installed.missing(self.prefix, self.broken))
            self.broken = {d: p for d, p in self.broken.items() if d in still}
        return out or ""

    def reinstall_args(self, argv: Sequence[str]) -> list[str]:
        """`uv pip install` skips what it finds installed: a broken distribution must be named to be repaired."""
        if not self.broken or list(argv[1:3]) != ["pip", "install"] or argv[0] != self.uv:
            return []
        return [arg for dist in sorted(self.broken) for arg in ("--reinstall-package", installed.dist_name(dist))]


def kill_after_seconds(step_id: str) -> float | None:
    value = os.environ.get(KILL_VAR, "")
    if "@" in value and value.split("@", 1)[0] == step_id:
        return float(value.split("@", 1)[1])
    return None


def run_commands(ctx: RunContext, step: Step) -> None:
    """The plain executor: each argv in order (uv and rattler are idempotent: a rerun finishes the work)."""
    for i, argv in enumerate(step.commands):
        ctx.run(step, argv)
        if i == 0:
            ctx.checkpoint(step.id)


def apt_install(ctx: RunContext, step: Step, install: list[str], checked: list[str], missing: str) -> str:
    """Install a system package with apt-get as root with --yes; otherwise fail with the exact command.
    Returns that command (for the message when the package did not help)."""
    command = shlex.join(["sudo", *install] if os.geteuid() != 0 else install)
    if not ctx.yes or os.geteuid() != 0 or shutil.which("apt-get") is None:
        why = ("pass --yes to let envkit install it" if os.geteuid() == 0 and shutil.which("apt-get")
               else "envkit installs system packages only as root with apt-get")
        raise CommandFailed(checked, 1, f"{missing}; {why}: run `{command}` and rerun")
    env = {**ctx.env, "DEBIAN_FRONTEND": "noninteractive"}
    ctx.run(step, ["apt-get", "update", "-qq"], env=env)
    ctx.run(step, install, env=env)
    return command


def command_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")  # never fetch an interpreter behind the user's back
    env.update(read_pip_config().uv_env())
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONHOME"):
        env.pop(var, None)  # the caller's environment must not redirect installs into the target
    return env
