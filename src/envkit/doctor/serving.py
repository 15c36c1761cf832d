"""The policy server's side of smoke.serve: lerobot's pins for its async extra, a free loopback port,
and the server process, started in its own session and stopped with everything it started.

No process may outlive the check: the server runs in a new session (its own process group), is
stopped with SIGTERM then SIGKILL to that group, and every process still in that session is then
found with psutil (a worker that called setpgid escapes the group, not the session) and killed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from envkit.procs import die_with

STOP_GRACE_S = 10


def extra_requirements(requires: list[str], extra: str, package: str = "lerobot",
                       env: dict[str, str] | None = None) -> list[Requirement]:
    """What `package[extra]` adds, following self-references (lerobot[async] -> lerobot[grpcio-dep])."""
    base = dict(env or default_environment())
    out: list[Requirement] = []
    seen: set[str] = set()
    todo = [extra]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for text in requires:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if req.marker is None or not req.marker.evaluate({**base, "extra": name}):
                continue
            if req.marker.evaluate({**base, "extra": ""}):
                continue  # not conditional on the extra: a base requirement
            if req.name.lower() == package:
                todo += sorted(req.extras)
            else:
                out.append(req)
    return out


def mismatches(reqs: list[Requirement], installed: dict[str, str | None]) -> list[str]:
    """'grpcio 1.60.0 (lerobot wants ==1.73.1)' for each pin the installed version breaks or lacks."""
    bad = []
    for req in reqs:
        have = installed.get(req.name.lower())
        if have is None:
            bad.append(f"{req.name} missing (lerobot wants {req.specifier or 'any'})")
            continue
        try:
            fits = req.specifier.contains(Version(have), prereleases=True)
        except InvalidVersion:
            fits = False
        if not fits:
            bad.append(f"{req.name} {have} (lerobot wants {req.specifier})")
    return bad


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on loopback now; the server binds it a moment later (a lost race is retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen | None = None
    sid: int | None = None
    started: float = 0.0
    leftovers: list[str] = field(default_factory=list)  # processes that outlived SIGKILL of the group

    def start(self, env: dict[str, str], cwd: Path) -> None:
        self.started = time.monotonic()
        log = open(self.log_path, "wb")  # noqa: SIM115 (kept open for the child's lifetime)
        try:
            # its own session (stopped as one), and SIGTERM from the kernel if envkit dies first, even by kill -9
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                         start_new_session=True, preexec_fn=die_with(os.getpid()))
        finally:
            log.close()
        self.sid = self.proc.pid  # the session leader's pid is the session (and group) id

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def members(self) -> list:  # psutil.Process list
        """Every live process of the server's session, by psutil (zombies aside)."""
        import psutil

        found = []
        if self.sid is None:
            return found
        for proc in psutil.process_iter(["pid", "status"]):
            try:
                if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getsid(proc.pid) == self.sid:
                    found.append(proc)
            except (ProcessLookupError, PermissionError, psutil.Error, OSError):
                continue
        return found

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL after a grace period, then psutil for anything left in the session."""
        import psutil

        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.sid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        deadline = time.monotonic() + 5
        rest = self.members()
        while rest and time.monotonic() < deadline:
            for proc in rest:
                try:
                    proc.kill()
                except psutil.Error:
                    pass
            psutil.wait_procs(rest, timeout=1)
            rest = self.members()
        self.leftovers = [f"{p.pid} ({' '.join(p.cmdline()[:3])})" for p in rest if p.is_running()]
