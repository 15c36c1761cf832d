"""The Python interpreters this host has, for a venv profile (the edge: runs interpreters and uv).

Where a venv can be built from: `python3.X` on PATH, the interpreter envkit itself runs on, and
the Pythons uv manages (installed ones; with UV_PYTHON_DOWNLOADS not `never`, also the ones uv
would download on demand). Each is identified by its real path, so a pyenv shim or /bin vs
/usr/bin is one interpreter.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from envkit.errors import EnvkitError
from envkit.pyversions import KNOWN_MINORS, MINOR, UV_DOWNLOAD, minor_of
from envkit.uvbin import find_uv

if TYPE_CHECKING:
    from envkit.hostfacts import HostFacts


def probe(executable: str) -> tuple[str, str] | None:
    """(minor version, real path) of an interpreter, or None when it does not run."""
    try:
        out = subprocess.run([executable, "-c", "import os, sys; print('%d.%d' % sys.version_info[:2]); print(os.path.realpath(sys.executable))"],
                             capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split()
    return (lines[0], lines[1]) if len(lines) == 2 else None


def _uv_pythons() -> dict[str, str]:
    try:
        uv = find_uv()
    except EnvkitError:
        return {}
    # setup runs uv with UV_PYTHON_DOWNLOADS=never unless the user allows downloads explicitly.
    downloads = os.environ.get("UV_PYTHON_DOWNLOADS", "never") != "never"
    # Only uv's own Pythons: PATH is searched here already (uv would run every pyenv shim again).
    argv = [uv, "python", "list", "--output-format", "json", "--python-preference", "only-managed"] + ([] if downloads else ["--only-installed"])
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
        rows = json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
    found: dict[str, str] = {}
    for row in rows:
        if row.get("implementation") != "cpython" or row.get("variant", "default") != "default":
            continue
        version = str(row.get("version", ""))
        if not version.replace(".", "").isdigit():
            continue  # a pre-release (3.16.0a2): never chosen behind the user's back
        minor = minor_of(version)
        path = row.get("path")
        if minor in KNOWN_MINORS and minor not in found:
            found[minor] = os.path.realpath(path) if path else UV_DOWNLOAD
    return found


def _on_path(minor: str) -> str | None:
    exe = shutil.which(f"python{minor}")
    if not exe:
        return None
    real = os.path.realpath(exe)
    try:
        with open(real, "rb") as handle:
            if handle.read(4) == b"\x7fELF":
                return real  # a real interpreter binary named python3.X: no need to run it
    except OSError:
        return None
    got = probe(exe)  # a wrapper (pyenv shim, script): ask it, it may not really run
    return got[1] if got and got[0] == minor else None


class HostPythons(Mapping[str, str]):
    """minor -> interpreter for a venv: looked up when asked (a pyenv shim costs a process start).

    `present(minor)` sees PATH and envkit's own interpreter; `get`/`[]` also give UV_DOWNLOAD for
    a Python uv would fetch (asked of uv only then, once)."""

    def __init__(self, with_uv: bool = True) -> None:
        self._own = ("%d.%d" % sys.version_info[:2], os.path.realpath(sys.executable))
        self._found: dict[str, str | None] = {}
        self._uv: dict[str, str] | None = None if with_uv else {}

    def present(self, minor: str) -> str | None:
        if minor == self._own[0]:
            return self._own[1]
        if not self._found:
            # Every python3.X on PATH at once: a wrapper (pyenv shim) costs a process start each.
            with concurrent.futures.ThreadPoolExecutor(max_workers=len(KNOWN_MINORS)) as pool:
                self._found = dict(zip(KNOWN_MINORS, pool.map(_on_path, KNOWN_MINORS)))
        return self._found.get(minor)

    def _from_uv(self) -> dict[str, str]:
        if self._uv is None:
            self._uv = _uv_pythons()
        return self._uv

    def __getitem__(self, minor: str) -> str:
        found = self.present(minor) or self._from_uv().get(minor)
        if found is None:
            raise KeyError(minor)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter([m for m in KNOWN_MINORS if m in self])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def probed(self) -> list[str]:
        """The minors known to be on this host so far (for messages; runs nothing)."""
        return [self._own[0], *(m for m, v in self._found.items() if v and m != self._own[0])]


def host_pythons(with_uv: bool = True) -> dict[str, str]:
    """minor -> interpreter (real path, or UV_DOWNLOAD) for every Python a venv can be built on here."""
    return dict(HostPythons(with_uv))


def parse_request(value: str) -> tuple[str, str | None]:
    """--python X.Y or --python PATH -> (minor, interpreter path or None)."""
    if MINOR.fullmatch(value):
        return value, None
    path = Path(value).expanduser()
    exe = str(path) if path.exists() else shutil.which(value)
    got = probe(exe) if exe else None
    if got is None:
        raise EnvkitError(f"--python {value}: not a minor version like 3.12 and not a Python interpreter that runs",
                          fix="pass --python 3.12 (a version) or --python /usr/bin/python3.12 (an interpreter)")
    return got


def for_resolve(request: str | None, environment: str, other_host: bool,
                host: "HostFacts | None" = None) -> tuple[str | None, Mapping[str, str] | None]:
    """(--python as a minor, the interpreters a venv may use) for resolve(); None where not known.

    A plan for another machine (--host FILE) sees only the interpreter its facts name (the one
    envkit ran on there), not this host's. --python PATH is the one interpreter then."""
    if request is not None:
        minor, exe = parse_request(request) if not other_host or not Path(request).is_absolute() else (None, None)
        if minor is None:  # a path on the other machine: its version is in the path's name, or unknown
            minor = minor_of(Path(request).name.removeprefix("python")) if Path(request).name.startswith("python3.") else None
            if minor is None:
                raise EnvkitError(f"--python {request} with --host: a path on that machine cannot be run here",
                                  fix="pass --python X.Y with --host, or a path named python3.X")
            return minor, {minor: request}
        if exe is not None:
            return minor, {minor: exe}
        return minor, _interpreters(environment, other_host, host)
    return None, _interpreters(environment, other_host, host)


def _interpreters(environment: str, other_host: bool, host: "HostFacts | None") -> Mapping[str, str] | None:
    if environment != "venv":
        return None  # conda provides any Python
    if not other_host:
        return HostPythons()
    if host is not None and host.python.version:
        return {minor_of(host.python.version): host.python.executable or f"python{minor_of(host.python.version)}"}
    return None


def venv_interpreter(minor: str, pythons: Mapping[str, str] | None) -> str | None:
    """What `uv venv --python` is given: the interpreter's path, or the version for uv to fetch; None: not on this host."""
    exe = (pythons or {}).get(minor)
    if exe == UV_DOWNLOAD:
        return minor
    return exe
