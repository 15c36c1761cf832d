"""Run a launch plan: the launcher inside the environment (hooks applied), its output streamed through,
then the recognised failures explained and the throughput lerobot logged summarised."""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from envkit import procs
from envkit.hooks import run_argv
from envkit.launch.failures import Explanation, explain
from envkit.launch.plan import LaunchPlan
from envkit.launch.throughput import Throughput, summarise

FIRST_STEP = re.compile(r"step:\S+\s.*loss:")
KEEP_LINES = 4000  # the tail kept for explanations; the log itself goes to the user's terminal


@dataclass
class RunOutcome:
    returncode: int
    seconds: float
    first_step_s: float | None
    explanations: list[Explanation] = field(default_factory=list)
    throughput: Throughput | None = None
    log_tail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"returncode": self.returncode, "seconds": round(self.seconds, 2),
                "first_step_s": round(self.first_step_s, 2) if self.first_step_s is not None else None,
                "explanations": [e.to_dict() for e in self.explanations],
                "throughput": self.throughput.to_dict() if self.throughput else None}


class Stopped(SystemExit):
    """envkit was sent SIGTERM/SIGHUP (`kill`, a closed terminal, a scheduler's cancel) while ranks ran."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)


def _stop(signum: int, _frame: object) -> None:
    raise Stopped(signum)


def _stop_group(proc: subprocess.Popen[str]) -> None:
    """Every rank of the launch's session, not only the launcher: TERM, then KILL after 30 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _reap_after_launcher(proc: subprocess.Popen[str], orphans: list[int], before: set[int]) -> None:
    """When the launcher exits, stop whatever it left: its process group, and every descendant that
    envkit (a subreaper) inherited. TERM first, KILL after 10 s."""
    proc.wait()
    left = [p for p in procs.descendants() if p != proc.pid and p not in before and not _is_zombie(p)]
    if not left:
        return
    orphans.extend(left)
    for pid in left:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(not _is_zombie(p) and _alive(p) for p in left):
        _reap(left)
        time.sleep(0.1)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    time.sleep(0.1)
    _reap(left)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return True


def _reap(pids: list[int]) -> None:
    """Collect the exit status of inherited orphans (a subreaper must, or they stay zombies); only
    these pids: another thread's Popen must keep its own child's status."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass  # not (or no longer) envkit's child


def argv_in_env(plan: LaunchPlan) -> list[str]:
    inner = plan.command()[plan.command().index("--") + 1:]  # env VAR=... launcher ...
    return run_argv(Path(plan.prefix), inner, shutil.which("bash") or "bash")


def execute(plan: LaunchPlan, hints: list, echo: IO[str] | None = None, batch_size: int | None = None,
            base_env: dict[str, str] | None = None) -> RunOutcome:
    env = dict(os.environ if base_env is None else base_env)  # plan.env is set by `env` after the hooks
    start = time.monotonic()
    first: float | None = None
    tail: collections.deque[str] = collections.deque(maxlen=KEEP_LINES)
    stats: list[str] = []  # every training log line, for the throughput (a few per log_freq)
    # Its own session: Ctrl-C here stops every rank, not only the launcher.
    procs.become_subreaper()  # ranks whose launcher dies (kill -9 of torchrun) become envkit's, not init's
    before = set(procs.descendants())  # envkit's other children (another thread's) are never the launch's
    proc = subprocess.Popen(argv_in_env(plan), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1, errors="replace", start_new_session=True,
                            preexec_fn=procs.die_with(os.getpid()))
    orphans: list[int] = []
    # The launcher gone, its ranks must go too: they would train on, holding the output pipe open, and
    # envkit would wait for them with no verdict.
    watcher = threading.Thread(target=_reap_after_launcher, args=(proc, orphans, before), daemon=True)
    watcher.start()
    out = echo if echo is not None else sys.stdout
    # Handlers can be set only on the main thread (the doctor may run smoke.multi on another one).
    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGHUP)} if main else {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            out.flush()
            tail.append(line)
            if "updt_s:" in line or "ffective batch size" in line:
                stats.append(line)
            if first is None and FIRST_STEP.search(line):
                first = time.monotonic() - start
        rc = proc.wait()
    except (KeyboardInterrupt, Stopped):
        _stop_group(proc)
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    watcher.join(timeout=60)
    text = "".join(tail)
    explanations = explain(text, hints) if rc != 0 else []
    if rc < 0 or orphans:
        how = f"was killed by signal {-rc}" if rc < 0 else f"exited {rc}"
        explanations.insert(0, Explanation(
            "launch.launcher_died", f"the launcher {how}" + (f"; envkit stopped the {len(orphans)} process(es) it left "
                                                            "running (ranks)" if orphans else ""),
            "see what killed it (dmesg for the OOM killer, the scheduler's log); rerun the same envkit launch command",
            ""))
    return RunOutcome(returncode=rc, seconds=time.monotonic() - start, first_step_s=first,
                      explanations=explanations,
                      throughput=summarise("".join(stats), batch_size), log_tail="".join(list(tail)[-40:]))
