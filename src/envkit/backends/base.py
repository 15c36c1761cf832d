"""The one interface every accelerator backend implements (cuda, ascend, cpu).

A backend answers, for its accelerator: is it on this host (detect), which torch build fits the
profile and host (resolve), which variables its hooks set (install), and which doctor check
families apply (checks). A new accelerator is one module here plus one profile file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from envkit.errors import EnvkitError

if TYPE_CHECKING:
    from envkit.hostfacts import HostFacts
    from envkit.profiles import Profile

ARCH_OF_PLATFORM = {"linux-64": "x86_64", "linux-aarch64": "aarch64"}


class Conflict(EnvkitError):
    """No tuple satisfies profile + host + lerobot; the message explains, the fix is the way out (exit 1)."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message, fix, exit_code=1)


@dataclass(frozen=True)
class TorchChoice:
    version: str  # "2.8.0"
    build: str  # "cu128" | "cpu" | "cu130"
    local: str | None = None  # local version label to request ("cpu" -> torch==2.7.1+cpu)
    index: str | None = None  # index name when not the default index
    arch_list: tuple[str, ...] = ()
    ptx: tuple[str, ...] = ()
    cuda: str | None = None
    torch_npu: str | None = None
    cann: str | None = None
    reasons: tuple[str, ...] = field(default=())

    @property
    def requirement(self) -> str:
        return f"torch=={self.version}+{self.local}" if self.local else f"torch=={self.version}"


@dataclass(frozen=True)
class Context:
    """What a backend needs to choose: the per-platform profile view and the host (if it is the target)."""

    profile: "Profile"
    host: "HostFacts | None"  # None when the host is not the profile's target
    arch: str
    python: str


class Backend(Protocol):
    name: str
    check_prefixes: tuple[str, ...]

    def detected(self, host: "HostFacts") -> bool:
        """Whether this host has the accelerator."""

    def host_warnings(self, ctx: Context, host: "HostFacts") -> list[str]:
        """Ways this host differs from the profile's target that do not block a plan."""

    def choose_torch(self, ctx: Context, candidates: list[str]) -> TorchChoice:
        """The newest candidate torch build that serves the profile (and the host, when it is the target)."""

    def hook_env(self, ctx: Context) -> dict[str, str]:
        """Variables the activation hook must set for this accelerator beyond the profile's [env]."""
