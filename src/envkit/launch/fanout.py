"""The SSH edge of `envkit launch --hosts`: a command on every node at once, collected or streamed.

Output is read with a bound (a node cannot grow envkit's memory without end), and a streamed run is
stopped on every node when envkit is interrupted or one node fails: closing an `ssh -tt` session
sends SIGHUP to the remote envkit launch, which stops its ranks."""

from __future__ import annotations

import concurrent.futures
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

MAX_COLLECT = 8 * 1024 * 1024  # a doctor --json is tens of KB
MAX_LINE = 8192


@dataclass
class Collected:
    code: int | None  # None: did not finish in time
    out: str
    err: str


def collect(argvs: dict[str, list[str]], timeout: float) -> dict[str, Collected]:
    """Run each argv, all at once; stdout/stderr kept up to MAX_COLLECT bytes each."""
    def one(argv: list[str]) -> Collected:
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        except OSError as exc:
            return Collected(127, "", str(exc))
        bufs: dict[str, bytes] = {}

        def drain(name: str, stream: IO[bytes]) -> None:
            data = stream.read(MAX_COLLECT)
            bufs[name] = data
            while stream.read(1 << 16):  # keep the pipe flowing, drop the rest
                pass

        threads = [threading.Thread(target=drain, args=(n, s), daemon=True) for n, s in (("out", proc.stdout), ("err", proc.stderr))]
        for t in threads:
            t.start()
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
        for t in threads:
            t.join(5)
        return Collected(code, bufs.get("out", b"").decode("utf-8", "replace"), bufs.get("err", b"").decode("utf-8", "replace"))

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(32, len(argvs)))) as pool:
        futures = {name: pool.submit(one, argv) for name, argv in argvs.items()}
        return {name: f.result() for name, f in futures.items()}


def stream(argvs: dict[str, list[str]], echo: IO[str] | None = None, on_line: Callable[[str, str], None] | None = None) -> dict[str, int]:
    """Run each argv at once, printing its lines as `[node] line`; the first failure or a SIGTERM/SIGINT
    stops the others. Returns each node's exit code."""
    echo = echo or sys.stdout
    lock = threading.Lock()
    procs = {name: subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
             for name, argv in argvs.items()}

    def pump(name: str, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in iter(lambda: proc.stdout.readline(MAX_LINE), b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n").replace("\r", "")
            with lock:
                echo.write(f"[{name}] {line}\n")
                echo.flush()
            if on_line:
                on_line(name, line)

    threads = [threading.Thread(target=pump, args=item, daemon=True) for item in procs.items()]
    for t in threads:
        t.start()

    def stop_all(*_: object) -> None:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()

    def interrupted(signum: int, frame: object) -> None:
        stop_all()
        raise KeyboardInterrupt

    old = {s: signal.signal(s, interrupted) for s in (signal.SIGTERM, signal.SIGHUP)}
    codes: dict[str, int] = {}
    try:
        while len(codes) < len(procs):
            for name, p in procs.items():
                if name not in codes and p.poll() is not None:
                    codes[name] = p.returncode
                    if p.returncode != 0:
                        stop_all()
            time.sleep(0.2)
    except KeyboardInterrupt:
        stop_all()
        for name, p in procs.items():
            codes.setdefault(name, p.wait())
        raise
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for t in threads:
            t.join(5)
    return codes
