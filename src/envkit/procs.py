"""Children die with envkit, and their output is read with a bound.

A `kill -9` of envkit must not leave `uv pip install` writing GBs into a prefix that undo is about to
remove, nor training ranks running on the accelerators. Linux's PR_SET_PDEATHSIG has the kernel kill a
child when its parent dies, whatever killed the parent; PR_SET_CHILD_SUBREAPER makes orphaned grandchildren
(ranks whose torchrun died) envkit's to find and stop.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
from typing import IO

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
MAX_CAPTURE = 1 << 20  # 1 MiB: more than any probe's JSON; a child that floods stdout is cut, not buffered


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False  # not Linux: the process-group kill in the callers still applies


def die_with_parent() -> None:
    """preexec_fn: SIGKILL this child when its parent dies (after fork, before exec)."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died between fork and prctl
        os._exit(1)


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
    import time

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


def read_bounded(stream: IO[str], limit: int = MAX_CAPTURE) -> tuple[str, bool]:
    """(the first `limit` characters of `stream`, whether more came); the rest is read and dropped,
    so the child never blocks on a full pipe and envkit's memory stays bounded."""
    head = stream.read(limit)
    more = False
    while stream.read(1 << 16):
        more = True
    return head, more
