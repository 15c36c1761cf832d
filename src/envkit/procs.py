"""Children die with envkit, and their output is read with a bound.

A `kill -9` of envkit must not leave `uv pip install` writing GBs into a prefix that undo is about to
remove, nor training ranks running on the accelerators. Linux's PR_SET_PDEATHSIG has the kernel kill a
child when its parent dies, whatever killed the parent; PR_SET_CHILD_SUBREAPER makes orphaned grandchildren
(ranks whose torchrun died) envkit's to find and stop.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
MAX_CAPTURE = 16 << 20  # 16 MiB: far more than a probe prints (its partial documents included); a flood is cut


def _load_prctl() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None  # not Linux: the process-group kill in the callers still applies


# Loaded here, in the parent: a preexec_fn runs between fork and exec, where loading a library can deadlock.
_PRCTL = _load_prctl()


def _prctl(option: int, value: int) -> bool:
    return _PRCTL is not None and _PRCTL(option, value, 0, 0, 0) == 0


def die_with_parent() -> None:
    """preexec_fn: SIGKILL this child when its parent dies (after fork, before exec)."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died between fork and prctl
        os._exit(1)


def die_with(parent: int) -> Any:
    """A preexec hook for a child in its own session (the launcher, the policy server): it gets SIGTERM when envkit dies, even by kill -9, so the ranks
    (in their own session, out of reach of the terminal's signals) never outlive envkit on the cards.
    torchrun passes the TERM on to its workers. Linux only; elsewhere a no-op."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # loaded before the fork: nothing is imported in the child
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def hook() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM))
        if os.getppid() != parent:  # envkit died between fork and prctl
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


def become_subreaper() -> bool:
    """Orphaned descendants are re-parented to this process instead of PID 1, so they can be found and stopped."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def descendants(pid: int | None = None) -> list[int]:
    """Every live process below `pid` (default: this process), from /proc."""
    root = os.getpid() if pid is None else pid
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_descendants(pid: int | None = None) -> list[int]:
    """SIGKILL every descendant of `pid`; the pids it signalled."""
    killed = []
    for child in descendants(pid):
        try:
            os.kill(child, signal.SIGKILL)
            killed.append(child)
        except OSError:
            pass
    return killed


def _boot_ns() -> int:
    with open("/proc/stat", encoding="ascii") as f:
        for line in f:
            if line.startswith("btime "):
                return int(line.split()[1]) * 1_000_000_000
    raise OSError("no btime in /proc/stat")


def group_members(pgid: int, started_after_ns: int) -> list[int]:
    """Live processes of process group `pgid` that started after `started_after_ns` (wall clock):
    a recycled group id of some unrelated, older process is never taken for setup's."""
    try:
        boot, tick = _boot_ns(), os.sysconf("SC_CLK_TCK")
        entries = os.listdir("/proc")
    except (OSError, ValueError):
        return []
    found = []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().decode(errors="replace").rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # fields[0] is state (field 3): pgrp is field 5, starttime field 22
        if fields[0] != "Z" and int(fields[2]) == pgid and boot + int(fields[19]) * 1_000_000_000 // tick >= started_after_ns - 2_000_000_000:
            found.append(int(entry))
    return found


def stop_group(pgid: int, started_after_ns: int, wait_s: float = 10.0) -> list[int]:
    """SIGKILL what is left of a killed run's process group, and wait until it is gone."""
    members = group_members(pgid, started_after_ns)
    for pid in members:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + wait_s
    while members and group_members(pgid, started_after_ns) and time.monotonic() < deadline:
        time.sleep(0.05)
    return members


@dataclass
class Bounded:
    returncode: int
    stdout: str
    stderr: str
    overflow: bool  # the child printed more than the limit: it was killed, and only the limit was kept


def run_bounded(argv: Sequence[str], *, timeout: float, limit: int = MAX_CAPTURE, **popen: Any) -> Bounded:
    """subprocess.run(capture_output=True) whose memory is bounded: a child that floods stdout or stderr
    past `limit` bytes is killed at once (with its process group) instead of growing envkit without end.
    Raises subprocess.TimeoutExpired like subprocess.run."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=die_with_parent, **popen)
    bufs: dict[str, bytearray] = {"out": bytearray(), "err": bytearray()}
    flooded = threading.Event()

    def drain(name: str, stream: IO[bytes]) -> None:
        buf = bufs[name]
        while chunk := stream.read1(1 << 16):
            if len(buf) + len(chunk) > limit:
                buf += chunk[: limit - len(buf)]
                flooded.set()
                _kill_group(proc.pid)
                break
            buf += chunk
        stream.close()

    readers = [threading.Thread(target=drain, args=(n, s), daemon=True) for n, s in (("out", proc.stdout), ("err", proc.stderr))]
    for t in readers:
        t.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.wait()
        raise
    finally:
        for t in readers:
            t.join(timeout=5)
    if flooded.is_set():
        _kill_group(proc.pid)
    return Bounded(proc.returncode, bufs["out"].decode(errors="replace"), bufs["err"].decode(errors="replace"), flooded.is_set())


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
