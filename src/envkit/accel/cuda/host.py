"""Reads NVIDIA GPUs through envkit.host's Boundary: NVML (a library reading, replayed from
nvml.json), the /dev/nvidia* nodes and, without NVML, the kernel module's driver version."""

from __future__ import annotations

import re
from typing import Any

from envkit.accel.cuda.arch import MIN_COMPUTE_CAPABILITY
from envkit.accel.cuda.facts import GpuFacts, NvidiaFacts
from envkit.host import Boundary

# The reading's name (a replay reads nvml.json) and what a replay without that file answers.
NVML = "nvml"
NVML_ABSENT = {"error": "NVML Shared Library Not Found"}


def read_nvml() -> dict[str, Any]:
    """This machine's NVML, as the JSON object nvml.json holds ({"error": text} when NVML fails)."""
    try:
        import pynvml  # from nvidia-ml-py; imported here so `envkit --help` stays fast
    except ImportError as exc:
        return {"error": f"pynvml (nvidia-ml-py) is not importable: {exc}"}
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return {"error": str(exc)}
    try:
        return _read(pynvml)
    except pynvml.NVMLError as exc:
        return {"error": str(exc)}
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass


def _read(pynvml: object) -> dict[str, Any]:
    nv = pynvml  # typed as object: the module has no stubs
    driver = _text(nv.nvmlSystemGetDriverVersion())  # type: ignore[attr-defined]
    try:
        cuda = int(nv.nvmlSystemGetCudaDriverVersion_v2())  # type: ignore[attr-defined]
    except nv.NVMLError:  # type: ignore[attr-defined]
        cuda = None
    devices = []
    for i in range(nv.nvmlDeviceGetCount()):  # type: ignore[attr-defined]
        handle = nv.nvmlDeviceGetHandleByIndex(i)  # type: ignore[attr-defined]
        capability = _nvml_optional(nv, lambda: tuple(nv.nvmlDeviceGetCudaComputeCapability(handle)))  # type: ignore[attr-defined]
        devices.append({
            "name": _text(nv.nvmlDeviceGetName(handle)),  # type: ignore[attr-defined]
            "compute_capability": list(capability) if capability else None,
            "memory_total_bytes": _nvml_optional(nv, lambda: int(nv.nvmlDeviceGetMemoryInfo(handle).total)),  # type: ignore[attr-defined]
        })
    return {"driver_version": driver, "cuda_driver_version": cuda, "devices": devices}


def _nvml_optional(nv: object, call):  # type: ignore[no-untyped-def]
    # One unsupported query on one GPU should not cost the whole reading.
    try:
        return call()
    except nv.NVMLError:  # type: ignore[attr-defined]
        return None


def _text(value: object) -> str:
    # Older nvidia-ml-py releases return bytes.
    return value.decode() if isinstance(value, bytes) else str(value)


def detect_nvidia(b: Boundary) -> tuple[NvidiaFacts, list[str]]:
    nodes = tuple(b.glob("/dev/nvidia*"))
    reading = b.reading(NVML, read_nvml, NVML_ABSENT)
    if "error" in reading:
        return _nvidia_without_nvml(b, nodes, str(reading["error"]))
    gpus = tuple(
        GpuFacts(
            index=i,
            name=d["name"],
            compute_capability=f"{d['compute_capability'][0]}.{d['compute_capability'][1]}" if d.get("compute_capability") else None,
            memory_total_bytes=d.get("memory_total_bytes"),
        )
        for i, d in enumerate(reading["devices"])
    )
    facts = NvidiaFacts(
        source="nvml",
        driver_version=reading["driver_version"],
        cuda_driver_version=format_cuda_version(reading.get("cuda_driver_version")),
        gpus=gpus,
        device_nodes=nodes,
    )
    return facts, nvidia_warnings(facts)


def format_cuda_version(value: int | None) -> str | None:
    """NVML's 13010 -> "13.1", 12080 -> "12.8"."""
    if not value:
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"


def _nvidia_without_nvml(b: Boundary, nodes: tuple[str, ...], error: str) -> tuple[NvidiaFacts, list[str]]:
    source, driver = _driver_from_kernel(b)
    facts = NvidiaFacts(source=source, driver_version=driver, device_nodes=nodes, error=error)
    return facts, nvidia_warnings(facts)


def nvidia_warnings(facts: NvidiaFacts) -> list[str]:
    """What detect warns about these facts: a driver without NVML, GPUs too old for the cu128 build."""
    warnings = []
    if facts.source not in (None, "nvml"):
        warnings.append(
            f"NVIDIA driver {facts.driver_version} found (from {facts.source}) but NVML failed ({facts.error}); the GPU "
            "models and compute capability are unknown, so the suggested profile does not use "
            "the GPU. Install the driver's NVML (libnvidia-ml.so.1) or pass --profile 5090 "
            "if the GPU is Volta (sm_70) or newer"
        )
    return warnings + _old_gpu_warnings(facts.gpus)


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
    need = ".".join(map(str, MIN_COMPUTE_CAPABILITY))
    return [
        f"GPU {g.index} ({g.name}) has compute capability {g.compute_capability}; the 5090 "
        f"profile's cu128 torch needs {need} or newer, so this GPU cannot be used by it"
        for g in gpus
        if g.capability_tuple() is not None and g.capability_tuple() < MIN_COMPUTE_CAPABILITY  # type: ignore[operator]
    ]
