"""The hardware boundary: the only module that reads NVML, /proc, /sys, /dev and npu-smi.

`detect()` turns what a `Boundary` reports into `HostFacts`. `RealBoundary` reads this machine;
`RecordedBoundary` replays a scenario directory (tests/data/host/<name>/) so the parsing and
the decisions can be tested against outputs transcribed from real machines.
"""

from __future__ import annotations

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
from typing import Protocol

from envkit.accel.cuda.backend import MIN_COMPUTE_CAPABILITY as MIN_CUDA_COMPUTE_CAPABILITY
from envkit.hostfacts import (
    AscendFacts,
    CannFacts,
    GpuFacts,
    HostFacts,
    NpuChipFacts,
    NpuSmiFacts,
    NvidiaFacts,
    OsFacts,
    PythonFacts,
    ToolsFacts,
)

NPU_SMI_TIMEOUT_S = 10.0
ASCEND_ROOT = "/usr/local/Ascend"
TOOL_NAMES = ("conda", "mamba", "micromamba", "uv", "ffmpeg")

# Where CANN installs its activation script: the classic toolkit layout, the newer `cann/`
# layout (torch_npu 2.14 README) and the inference-only nnae package (research/ascend.md §3.4).
SET_ENV_CANDIDATES = (
    f"{ASCEND_ROOT}/ascend-toolkit/set_env.sh",
    f"{ASCEND_ROOT}/cann/set_env.sh",
    f"{ASCEND_ROOT}/nnae/set_env.sh",
)
NPU_SMI_PATHS = ("/usr/local/bin/npu-smi", "/usr/local/sbin/npu-smi")


# --- what a boundary returns ---------------------------------------------------------------


class NvmlUnavailable(Exception):
    """NVML could not be loaded or queried; the message is NVML's own text."""


@dataclass(frozen=True)
class NvmlDevice:
    name: str
    compute_capability: tuple[int, int] | None
    memory_total_bytes: int | None


@dataclass(frozen=True)
class NvmlReading:
    driver_version: str
    cuda_driver_version: int | None  # NVML's integer form: 13010 means 13.1
    devices: tuple[NvmlDevice, ...]


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

    def nvml(self) -> NvmlReading:
        """Raises NvmlUnavailable."""
        ...

    def read_text(self, path: str) -> str | None: ...

    def exists(self, path: str) -> bool: ...

    def glob(self, pattern: str) -> list[str]:
        """`pattern` is absolute, e.g. "/dev/nvidia*"; returns absolute paths."""
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

    def nvml(self) -> NvmlReading:
        try:
            import pynvml  # from nvidia-ml-py; imported here so `envkit --help` stays fast
        except ImportError as exc:
            raise NvmlUnavailable(f"pynvml (nvidia-ml-py) is not importable: {exc}") from None
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            raise NvmlUnavailable(str(exc)) from None
        try:
            return _read_nvml(pynvml)
        except pynvml.NVMLError as exc:
            raise NvmlUnavailable(str(exc)) from None
        finally:
            try:
                pynvml.nvmlShutdown()
            except pynvml.NVMLError:
                pass

    def read_text(self, path: str) -> str | None:
        try:
            return Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def glob(self, pattern: str) -> list[str]:
        import glob as _glob

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


def _read_nvml(pynvml: object) -> NvmlReading:
    nv = pynvml  # typed as object: the module has no stubs
    driver = _text(nv.nvmlSystemGetDriverVersion())  # type: ignore[attr-defined]
    try:
        cuda = int(nv.nvmlSystemGetCudaDriverVersion_v2())  # type: ignore[attr-defined]
    except nv.NVMLError:  # type: ignore[attr-defined]
        cuda = None
    devices = []
    for i in range(nv.nvmlDeviceGetCount()):  # type: ignore[attr-defined]
        handle = nv.nvmlDeviceGetHandleByIndex(i)  # type: ignore[attr-defined]
        devices.append(
            NvmlDevice(
                name=_text(nv.nvmlDeviceGetName(handle)),  # type: ignore[attr-defined]
                compute_capability=_nvml_optional(
                    nv, lambda: tuple(nv.nvmlDeviceGetCudaComputeCapability(handle))  # type: ignore[attr-defined]
                ),
                memory_total_bytes=_nvml_optional(
                    nv, lambda: int(nv.nvmlDeviceGetMemoryInfo(handle).total)  # type: ignore[attr-defined]
                ),
            )
        )
    return NvmlReading(driver, cuda, tuple(devices))


def _nvml_optional(nv: object, call):  # type: ignore[no-untyped-def]
    # One unsupported query on one GPU should not cost the whole reading.
    try:
        return call()
    except nv.NVMLError:  # type: ignore[attr-defined]
        return None


def _text(value: object) -> str:
    # Older nvidia-ml-py releases return bytes.
    return value.decode() if isinstance(value, bytes) else str(value)


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

    Layout: system.json (SystemReading fields), nvml.json (NvmlReading, or {"error": text}),
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

    def nvml(self) -> NvmlReading:
        data = self._json("nvml.json", {"error": "NVML Shared Library Not Found"})
        assert isinstance(data, dict)
        if "error" in data:
            raise NvmlUnavailable(data["error"])
        devices = tuple(
            NvmlDevice(
                name=d["name"],
                compute_capability=tuple(d["compute_capability"]) if d.get("compute_capability") else None,  # type: ignore[arg-type]
                memory_total_bytes=d.get("memory_total_bytes"),
            )
            for d in data["devices"]
        )
        return NvmlReading(data["driver_version"], data.get("cuda_driver_version"), devices)

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
    nvidia, nv_warnings = detect_nvidia(b)
    ascend, npu_warnings = detect_ascend(b)
    warnings = nv_warnings + npu_warnings
    if nvidia.gpus and ascend.present():
        warnings.append(
            "both NVIDIA GPUs and Ascend NPUs are present; never install torch_npu into the "
            "CUDA environment (torch_npu refuses a second accelerator)"
        )
    collected = _plugin_facts(b)
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
        nvidia=nvidia,
        ascend=ascend,
        tools=detect_tools(b),
        system_ffmpeg=detect_system_ffmpeg(b),
        accelerators=collected,
        warnings=tuple(warnings),
    )
    return with_suggestion(facts, profiles) if suggest else facts


def _plugin_facts(b: Boundary) -> dict:
    """Facts plug-in backends read through the same boundary (so their scenarios replay too)."""
    from envkit.accel import get_backend, plugins

    out = {}
    for name in plugins():
        found = get_backend(name).collect(b)
        if found is not None:
            out[name] = found
    return out


def with_suggestion(facts: HostFacts, profiles: list | None = None) -> HostFacts:
    """The facts with the profile that fits them (from the built-in profiles, or `profiles`) and its warnings."""
    import dataclasses

    from envkit.suggest import suggest, visible_profiles

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


# --- NVIDIA --------------------------------------------------------------------------------


def detect_nvidia(b: Boundary) -> tuple[NvidiaFacts, list[str]]:
    nodes = tuple(b.glob("/dev/nvidia*"))
    try:
        reading = b.nvml()
    except NvmlUnavailable as exc:
        return _nvidia_without_nvml(b, nodes, str(exc))
    gpus = tuple(
        GpuFacts(
            index=i,
            name=d.name,
            compute_capability=f"{d.compute_capability[0]}.{d.compute_capability[1]}" if d.compute_capability else None,
            memory_total_bytes=d.memory_total_bytes,
        )
        for i, d in enumerate(reading.devices)
    )
    facts = NvidiaFacts(
        source="nvml",
        driver_version=reading.driver_version,
        cuda_driver_version=format_cuda_version(reading.cuda_driver_version),
        gpus=gpus,
        device_nodes=nodes,
    )
    return facts, _old_gpu_warnings(gpus)


def format_cuda_version(value: int | None) -> str | None:
    """NVML's 13010 -> "13.1", 12080 -> "12.8"."""
    if not value:
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"


def _nvidia_without_nvml(b: Boundary, nodes: tuple[str, ...], error: str) -> tuple[NvidiaFacts, list[str]]:
    source, driver = _driver_from_kernel(b)
    facts = NvidiaFacts(source=source, driver_version=driver, device_nodes=nodes, error=error)
    warnings = []
    if source is not None:
        warnings.append(
            f"NVIDIA driver {driver} found (from {source}) but NVML failed ({error}); the GPU "
            "models and compute capability are unknown, so the suggested profile does not use "
            "the GPU. Install the driver's NVML (libnvidia-ml.so.1) or pass --profile 5090 "
            "if the GPU is Volta (sm_70) or newer"
        )
    return facts, warnings


def _driver_from_kernel(b: Boundary) -> tuple[str | None, str | None]:
    # /sys/module/nvidia/version is the one NVIDIA recommends; /proc needs parsing and its
    # wording differs between the proprietary and the open kernel module.
    text = (b.read_text("/sys/module/nvidia/version") or "").strip()
    if re.fullmatch(r"\d+(\.\d+)+", text):
        return "sysfs", text
    version = parse_proc_driver_version(b.read_text("/proc/driver/nvidia/version") or "")
    if version:
        return "procfs", version
    return None, None


def parse_proc_driver_version(text: str) -> str | None:
    """'NVRM version: NVIDIA UNIX [Open ]Kernel Module [for x86_64]  565.57.01  ...' -> '565.57.01'."""
    m = re.search(r"Kernel Module(?:\s+for\s+\S+)?\s+(\d+\.\d+(?:\.\d+)?)", text)
    return m.group(1) if m else None


def _old_gpu_warnings(gpus: tuple[GpuFacts, ...]) -> list[str]:
    need = ".".join(map(str, MIN_CUDA_COMPUTE_CAPABILITY))
    return [
        f"GPU {g.index} ({g.name}) has compute capability {g.compute_capability}; the 5090 "
        f"profile's cu128 torch needs {need} or newer, so this GPU cannot be used by it"
        for g in gpus
        if g.capability_tuple() is not None and g.capability_tuple() < MIN_CUDA_COMPUTE_CAPABILITY  # type: ignore[operator]
    ]


# --- Ascend --------------------------------------------------------------------------------


def detect_ascend(b: Boundary) -> tuple[AscendFacts, list[str]]:
    nodes = sorted(set(b.glob("/dev/davinci*")) | {p for p in ("/dev/devmm_svm", "/dev/hisi_hdc") if b.exists(p)})
    npu_smi = _npu_smi(b)
    facts = AscendFacts(
        device_nodes=tuple(nodes),
        npu_smi=npu_smi,
        driver_version=parse_version_info(b.read_text(f"{ASCEND_ROOT}/driver/version.info") or ""),
        cann=_cann(b),
    )
    return facts, _ascend_warnings(facts)


def _npu_smi(b: Boundary) -> NpuSmiFacts | None:
    path = b.which("npu-smi") or next((p for p in NPU_SMI_PATHS if b.exists(p)), None)
    if path is None:
        return None
    result = b.run([path, "info"], timeout=NPU_SMI_TIMEOUT_S)
    if result is None:
        return NpuSmiFacts(path=path, error="npu-smi could not be started")
    if result.returncode != 0:
        return NpuSmiFacts(path=path, error=f"`npu-smi info` exited {result.returncode}")
    version, chips = parse_npu_smi_info(result.stdout)
    error = None if chips else "no NPU rows found in `npu-smi info` output"
    return NpuSmiFacts(path=path, version=version, chips=chips, error=error)


_NPU_SMI_HEADER = re.compile(r"npu-smi\s+\S+\s+Version:\s*(\S+)")
# "| 0     910B3               | OK            | 96.1        38      ..." (NPU id, name, health)
_NPU_ROW = re.compile(r"^\|\s*(\d+)\s+(\S+)\s*\|\s*([A-Za-z][\w-]*)\s*\|")
# "| 0                         | 0000:C1:00.0  | 0   0    / 0          3159 / 65536         |"
_CHIP_ROW = re.compile(r"^\|\s*\d+(?:\s+\d+)?\s*\|\s*[0-9A-Fa-fx:.]+\s*\|(.*)\|\s*$")
_USED_TOTAL = re.compile(r"(\d+)\s*/\s*(\d+)")


def parse_npu_smi_info(text: str) -> tuple[str | None, tuple[NpuChipFacts, ...]]:
    """Version and one entry per chip row pair of `npu-smi info`'s table.

    The second row of each pair ends with HBM-Usage(MB) "used / total". Parsing stops at the
    process table, whose rows look like chip rows.
    """
    header = _NPU_SMI_HEADER.search(text)
    chips: list[NpuChipFacts] = []
    pending: tuple[str, str] | None = None
    for line in text.splitlines():
        if "Process id" in line or "Process name" in line:
            break
        row = _NPU_ROW.match(line)
        if row and not _CHIP_ROW.match(line):
            pending = (row.group(2), row.group(3))
            continue
        chip = _CHIP_ROW.match(line)
        if chip and pending:
            pairs = _USED_TOTAL.findall(chip.group(1))
            hbm = int(pairs[-1][1]) if pairs else None
            chips.append(NpuChipFacts(index=len(chips), name=pending[0], health=pending[1], hbm_total_mb=hbm))
            pending = None
    return (header.group(1) if header else None), tuple(chips)


def parse_version_info(text: str) -> str | None:
    """`Version=24.1.rc2` line of /usr/local/Ascend/driver/version.info."""
    m = re.search(r"^\s*Version\s*=\s*(\S+)", text, re.MULTILINE)
    return m.group(1) if m else None


def _cann(b: Boundary) -> CannFacts:
    env = b.env
    set_env = [p for p in SET_ENV_CANDIDATES if b.exists(p)]
    set_env += [p for p in b.glob(f"{ASCEND_ROOT}/cann-*/set_env.sh") if p not in set_env]
    version, version_file = _cann_version(b)
    return CannFacts(
        version=version,
        version_file=version_file,
        set_env=tuple(set_env),
        home_path=env.get("ASCEND_HOME_PATH") or None,
        opp_path=env.get("ASCEND_OPP_PATH") or None,
    )


def _cann_homes(b: Boundary) -> list[str]:
    env = b.env
    homes = [env.get("ASCEND_HOME_PATH"), env.get("ASCEND_TOOLKIT_HOME"), f"{ASCEND_ROOT}/ascend-toolkit/latest", f"{ASCEND_ROOT}/cann"]
    homes += sorted(b.glob(f"{ASCEND_ROOT}/cann-*"), reverse=True)
    homes.append(f"{ASCEND_ROOT}/nnae/latest")
    seen: list[str] = []
    for h in homes:
        if h and h.rstrip("/") not in seen:
            seen.append(h.rstrip("/"))
    return seen


def _cann_version(b: Boundary) -> tuple[str | None, str | None]:
    """The first home with a readable version wins: the sourced one, then the default layouts.

    version.cfg lines look like `toolkit_running_version=[7.3.0.1.231:8.0.RC2]` (seen in public
    docs). `<arch>-linux/ascend_toolkit_install.info` (`version=`) and `version.info`
    (`Version=`) are fallbacks seen only in third-party scripts: UNVERIFIED layouts.
    """
    for home in _cann_homes(b):
        path = f"{home}/version.cfg"
        version = parse_version_cfg(b.read_text(path) or "")
        if version:
            return version, path
        for path in b.glob(f"{home}/*-linux/ascend_toolkit_install.info"):
            m = re.search(r"^\s*version\s*=\s*(\S+)", b.read_text(path) or "", re.MULTILINE)
            if m:
                return m.group(1), path
        path = f"{home}/version.info"
        version = parse_version_info(b.read_text(path) or "")
        if version:
            return version, path
    return None, None


def parse_version_cfg(text: str) -> str | None:
    """`toolkit_running_version=[7.3.0.1.231:8.0.RC2]` -> '8.0.RC2' (any *_running_version as fallback)."""
    for key in (r"toolkit_running_version", r"\w+_running_version"):
        m = re.search(rf"^\s*{key}\s*=\s*\[(?:[^:\]]*:)?([^\]]+)\]", text, re.MULTILINE)
        if m:
            return m.group(1).strip()
    return None


def _ascend_warnings(facts: AscendFacts) -> list[str]:
    if not facts.present():
        return []
    warnings = []
    if not facts.chip_nodes():
        warnings.append(f"npu-smi is installed ({facts.npu_smi.path if facts.npu_smi else '?'}) but there is no /dev/davinciN "
                        "device node: the NPU driver is not loaded, or this container was started without "
                        "--device /dev/davinciN; the suggested profile is therefore not atlas-a2")
    if facts.npu_smi is None:
        warnings.append("Ascend device nodes exist but npu-smi was not found (/usr/local/bin or PATH)")
    elif facts.npu_smi.error:
        warnings.append(f"npu-smi at {facts.npu_smi.path}: {facts.npu_smi.error}")
    cann = facts.cann
    if not cann.set_env:
        warnings.append(f"no CANN set_env.sh found under {ASCEND_ROOT} (ascend-toolkit/, cann/, nnae/); install the CANN toolkit")
    elif cann.home_path is None:
        warnings.append(
            f"CANN is not sourced in this shell (ASCEND_HOME_PATH is unset); run `source {cann.set_env[0]}` "
            "before using torch_npu"
        )
    return warnings
