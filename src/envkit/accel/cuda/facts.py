"""What `envkit detect` records about NVIDIA GPUs: HostFacts.accelerators["cuda"], written under the
JSON key "nvidia" (schema_version 1)."""

from __future__ import annotations

from dataclasses import dataclass

from envkit.hostfacts import HostFacts, check_choice

NVIDIA_SOURCES = ("nvml", "sysfs", "procfs")


@dataclass(frozen=True)
class GpuFacts:
    index: int
    name: str
    compute_capability: str | None = None  # "12.0"; None when only the driver was seen
    memory_total_bytes: int | None = None

    def capability_tuple(self) -> tuple[int, int] | None:
        return parse_capability(self.compute_capability)


@dataclass(frozen=True)
class NvidiaFacts:
    source: str | None = None  # "nvml" | "sysfs" | "procfs" | None (no driver found)
    driver_version: str | None = None
    cuda_driver_version: str | None = None  # the newest CUDA the driver supports, e.g. "13.1"
    gpus: tuple[GpuFacts, ...] = ()
    device_nodes: tuple[str, ...] = ()
    error: str | None = None  # why NVML failed, verbatim

    def present(self) -> bool:
        """A driver or a GPU was seen."""
        return self.source is not None or bool(self.gpus)

    def max_capability(self) -> tuple[int, int] | None:
        caps = [c for c in (g.capability_tuple() for g in self.gpus) if c is not None]
        return max(caps) if caps else None

    def check(self, source: str, key: str) -> None:
        """What the JSON's types cannot say: the source is one envkit writes."""
        check_choice(source, f"{key}.source", self.source, NVIDIA_SOURCES)


def nvidia(host: HostFacts) -> NvidiaFacts:
    """The host's NVIDIA facts (empty when none were read, e.g. a hand-written --host file)."""
    found = host.accelerators.get("cuda")
    return found if isinstance(found, NvidiaFacts) else NvidiaFacts()


def parse_capability(text: str | None) -> tuple[int, int] | None:
    """"8.9" -> (8, 9); anything else -> None."""
    if not text:
        return None
    major, _, minor = text.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        return None
    return int(major), int(minor)
