"""The hardware boundary: the only way detection reads the machine (/proc, /sys, /dev, commands, libraries).

`detect()` turns what a `Boundary` reports into `HostFacts`; each accelerator's reader
(envkit.accel.<name>) asks the same boundary through its backend's `collect`. `RealBoundary` reads this machine;
`RecordedBoundary` replays a scenario directory (tests/data/host/<name>/) so the parsing and
the decisions can be tested against outputs transcribed from real machines.
"""

from __future__ import annotations

import dataclasses
import glob as _glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from envkit.accel.registry import all_backends
from envkit.hostfacts import HostFacts, OsFacts, PythonFacts, ToolsFacts
from envkit.suggest import suggest, visible_profiles

TOOL_NAMES = ("conda", "mamba", "micromamba", "uv", "ffmpeg")

# --- what a boundary returns ---------------------------------------------------------------


@dataclass(frozen=True)
class SystemReading:
    system: str
    release: str
    machine: str
    glibc: str | None
    python_version: str
    python_executable: str | None
    cpu_count: int | None
    ram_bytes: int | None
    disk_free_bytes: int | None
    shm_bytes: int | None


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str


class Boundary(Protocol):
    """Everything detect() may ask the machine. Each method is small so a replay is easy."""

    @property
    def env(self) -> Mapping[str, str]: ...

    def system(self) -> SystemReading: ...

    def reading(self, name: str, read: Callable[[], dict[str, Any]], absent: dict[str, Any]) -> dict[str, Any]:
        """What only a library tells (e.g. a vendor's management library), as a JSON object: `read()`
        on this machine; the recorded <name>.json in a replay, or `absent` when it holds none."""
        ...

    def read_text(self, path: str) -> str | None: ...

    def exists(self, path: str) -> bool: ...

    def glob(self, pattern: str) -> list[str]:
        """`pattern` is absolute, e.g. "/dev/dri/*"; returns absolute paths."""
        ...

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult | None:
        """None when the program does not exist."""
        ...

    def which(self, name: str) -> str | None: ...


# --- this machine --------------------------------------------------------------------------


class RealBoundary:
    def __init__(self, disk_path: str | Path = ".") -> None:
        self._disk_path = str(disk_path)

    @property
    def env(self) -> Mapping[str, str]:
        return os.environ

    def system(self) -> SystemReading:
        uname = platform.uname()
        return SystemReading(
            system=uname.system,
            release=uname.release,
            machine=uname.machine,
            glibc=_glibc_version(),
            python_version=platform.python_version(),
            python_executable=sys.executable or None,
            cpu_count=_cpu_count(),
            ram_bytes=_ram_bytes(),
            disk_free_bytes=_disk_free(self._disk_path),
            shm_bytes=_fs_size("/dev/shm"),
        )

    def reading(self, name: str, read: Callable[[], dict[str, Any]], absent: dict[str, Any]) -> dict[str, Any]:
        return read()

    def read_text(self, path: str) -> str | None:
        try:
            return Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def glob(self, pattern: str) -> list[str]:

        return sorted(_glob.glob(pattern))

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult | None:
        try:
            proc = subprocess.run(
                list(argv), capture_output=True, text=True, timeout=timeout, check=False
            )
        except FileNotFoundError:
            return None
        except subprocess.TimeoutExpired:
            return CommandResult(124, "")
        except OSError as exc:  # e.g. permission denied: report, do not crash detect
            return CommandResult(126, str(exc))
        return CommandResult(proc.returncode, proc.stdout)

    def which(self, name: str) -> str | None:
        return shutil.which(name)


def _glibc_version() -> str | None:
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError, AttributeError):
        text = ""
    if text.startswith("glibc "):
        return text.split()[1]
    lib, version = platform.libc_ver()
    return version if lib == "glibc" and version else None


def _cpu_count() -> int | None:
    # The CPUs this process may use (cgroups/taskset), which is what DataLoader workers get.
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def _ram_bytes() -> int | None:
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().total)


def _disk_free(path: str) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def _fs_size(path: str) -> int | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_blocks * st.f_frsize


# --- a recorded machine --------------------------------------------------------------------


class RecordedBoundary:
    """Replays tests/data/host/<scenario>/.

    Layout: system.json (SystemReading fields), <name>.json for each library reading (e.g. nvml.json:
    the object the CUDA backend's reader returns, or {"error": text}),
    files/<absolute path> (file contents; empty files stand for device nodes and binaries),
    commands/<program>_<args>.txt (stdout of a command; commands/<program>_<args>.rc holds its
    exit status when not 0), env.json, which.json ({name: path}), meta.toml (where every value
    came from) and, in recorded scenarios (`envkit detect --record`), host.json: the live facts.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._files = self.root / "files"
        self._env = self._json("env.json", {})
        self._which = self._json("which.json", {})

    def _json(self, name: str, default: object) -> object:
        p = self.root / name
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else default

    def _mirror(self, path: str) -> Path:
        return self._files / path.lstrip("/")

    @property
    def env(self) -> Mapping[str, str]:
        return dict(self._env)  # type: ignore[arg-type]

    def system(self) -> SystemReading:
        return SystemReading(**self._json("system.json", {}))  # type: ignore[arg-type]

    def reading(self, name: str, read: Callable[[], dict[str, Any]], absent: dict[str, Any]) -> dict[str, Any]:
        data = self._json(f"{name}.json", absent)
        assert isinstance(data, dict)
        return data

    def read_text(self, path: str) -> str | None:
        p = self._mirror(path)
        return p.read_text(encoding="utf-8") if p.is_file() else None

    def exists(self, path: str) -> bool:
        return self._mirror(path).exists()

    def glob(self, pattern: str) -> list[str]:
        if not self._files.is_dir():
            return []
        return sorted("/" + str(p.relative_to(self._files)) for p in self._files.glob(pattern.lstrip("/")))

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult | None:
        name = "_".join([Path(argv[0]).name, *argv[1:]])
        p = self.root / "commands" / f"{name}.txt"
        if not p.is_file():
            return None
        rc = p.with_suffix(".rc")  # recorded non-zero exit status; absent means 0
        code = int(rc.read_text(encoding="utf-8").strip()) if rc.is_file() else 0
        return CommandResult(code, p.read_text(encoding="utf-8"))

    def which(self, name: str) -> str | None:
        return self._which.get(name)  # type: ignore[union-attr]


# --- detection -----------------------------------------------------------------------------


def detect(boundary: Boundary | None = None, profiles: list | None = None, suggest: bool = True) -> HostFacts:
    """This machine's facts (or a replayed one's). `suggest=False` skips judging the profiles against
    them (suggested_profile keeps its default): for commands that are given the profile anyway."""
    b = boundary if boundary is not None else RealBoundary()
    sysr = b.system()
    collected = _accelerator_facts(b)
    facts = HostFacts(
        os=OsFacts(sysr.system, sysr.release, _distro(b)),
        arch=sysr.machine,
        platform=conda_platform(sysr.system, sysr.machine),
        glibc=sysr.glibc,
        python=PythonFacts(sysr.python_version, sysr.python_executable),
        cpu_count=sysr.cpu_count,
        ram_bytes=sysr.ram_bytes,
        disk_free_bytes=sysr.disk_free_bytes,
        shm_bytes=sysr.shm_bytes,
        container=detect_container(b),
        tools=detect_tools(b),
        system_ffmpeg=detect_system_ffmpeg(b),
        accelerators=collected,
    )
    facts = dataclasses.replace(facts, warnings=tuple(w for backend in all_backends() for w in backend.detect_warnings(facts)))
    return with_suggestion(facts, profiles) if suggest else facts


def _accelerator_facts(b: Boundary) -> dict[str, Any]:
    """What every backend reads through the boundary (so a replay answers them all), by backend name."""
    out = {}
    for backend in all_backends():
        found = backend.collect(b)
        if found is not None:
            out[backend.name] = found
    return out


def with_suggestion(facts: HostFacts, profiles: list | None = None) -> HostFacts:
    """The facts with the profile that fits them (from the built-in profiles, or `profiles`) and its warnings."""


    if profiles is None:
        profiles, _ = visible_profiles([], host=facts)
    chosen = suggest(facts, profiles)
    return dataclasses.replace(facts, suggested_profile=chosen.profile_file or chosen.profile,
                               warnings=tuple(dict.fromkeys(facts.warnings + chosen.warnings)))


def conda_platform(system: str, machine: str) -> str:
    """uname -s/-m -> conda subdir (linux-64, linux-aarch64, osx-arm64, ...)."""
    m = machine.lower()
    arch = {"x86_64": "64", "amd64": "64", "aarch64": "aarch64", "arm64": "aarch64"}.get(m, m)
    if system == "Darwin":
        return "osx-arm64" if arch == "aarch64" else "osx-64"
    if system == "Windows":
        return "win-64"
    return f"linux-{arch}"


def _distro(b: Boundary) -> str | None:
    text = b.read_text("/etc/os-release") or b.read_text("/usr/lib/os-release")
    if not text:
        return None
    values = _key_values(text)
    name = values.get("PRETTY_NAME") or values.get("NAME")
    return name or None


def _key_values(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.lstrip().startswith("#"):
            out[key.strip()] = value.strip().strip('"').strip("'")
    return out


def detect_container(b: Boundary) -> str | None:
    env = b.env
    # Kubernetes first: a pod also runs under docker/containerd, but k8s is the useful answer.
    if env.get("KUBERNETES_SERVICE_HOST"):
        return "kubernetes"
    if b.exists("/run/.containerenv"):
        return "podman"
    if b.exists("/.dockerenv"):
        return "docker"
    hinted = env.get("container", "").strip().lower()  # set by systemd-nspawn, lxc, podman
    if hinted:
        return hinted if hinted in ("docker", "podman", "lxc") else "container"
    cgroup = b.read_text("/proc/1/cgroup") or ""
    for needle, kind in (("kubepods", "kubernetes"), ("docker", "docker"), ("libpod", "podman"), ("lxc", "lxc"), ("containerd", "container")):
        if needle in cgroup:
            return kind
    return None


def detect_tools(b: Boundary) -> ToolsFacts:
    found = {name: b.which(name) for name in TOOL_NAMES}
    # conda/micromamba are often shell functions with the binary off PATH; their hooks export these.
    found["conda"] = found["conda"] or b.env.get("CONDA_EXE") or None
    found["micromamba"] = found["micromamba"] or b.env.get("MAMBA_EXE") or None
    return ToolsFacts(**found)


# The directories Debian/Ubuntu/RHEL's loaders search by default (multiarch first).
SYSTEM_LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
                   "/usr/lib64", "/usr/lib", "/lib64", "/lib", "/usr/local/lib")


def detect_system_ffmpeg(b: Boundary) -> tuple[str, ...]:
    """libavutil.so.N present in the system library directories (Debian 12's FFmpeg 5.1: libavutil.so.57)."""
    found = set()
    for folder in SYSTEM_LIB_DIRS:
        for path in b.glob(f"{folder}/libavutil.so.*"):
            name = path.rsplit("/", 1)[-1]
            if re.fullmatch(r"libavutil\.so\.\d+", name):
                found.add(name)
    return tuple(sorted(found, key=lambda n: int(n.rsplit(".", 1)[1])))


