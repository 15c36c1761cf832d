"""What `envkit detect` records about Ascend NPUs and CANN: HostFacts.accelerators["ascend"], written
under the JSON key "ascend" (schema_version 1)."""

from __future__ import annotations

from dataclasses import dataclass, field

from envkit.hostfacts import HostFacts


@dataclass(frozen=True)
class NpuChipFacts:
    index: int
    name: str
    health: str | None = None
    hbm_total_mb: int | None = None


@dataclass(frozen=True)
class NpuSmiFacts:
    path: str
    version: str | None = None
    chips: tuple[NpuChipFacts, ...] = ()
    error: str | None = None  # non-zero exit, timeout or unparsable output


@dataclass(frozen=True)
class CannFacts:
    version: str | None = None  # e.g. "8.3.RC1"
    version_file: str | None = None  # where the version was read
    set_env: tuple[str, ...] = ()  # set_env.sh scripts found on disk
    home_path: str | None = None  # ASCEND_HOME_PATH in this process: None = not sourced
    opp_path: str | None = None  # ASCEND_OPP_PATH in this process


@dataclass(frozen=True)
class AscendFacts:
    device_nodes: tuple[str, ...] = ()
    npu_smi: NpuSmiFacts | None = None
    driver_version: str | None = None
    cann: CannFacts = field(default_factory=CannFacts)

    def chip_nodes(self) -> tuple[str, ...]:
        return tuple(n for n in self.device_nodes if n.removeprefix("/dev/davinci").isdigit())

    def present(self) -> bool:
        """An NPU device node or npu-smi was seen."""
        return bool(self.chip_nodes()) or self.npu_smi is not None


def ascend(host: HostFacts) -> AscendFacts:
    """The host's Ascend facts (empty when none were read, e.g. a hand-written --host file)."""
    found = host.accelerators.get("ascend")
    return found if isinstance(found, AscendFacts) else AscendFacts()
