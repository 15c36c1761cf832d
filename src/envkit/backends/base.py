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
    from pathlib import Path

    from envkit.hostfacts import HostFacts
    from envkit.profiles import Profile
    from envkit.resolve import Resolved

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
    # What training code and launchers get for this accelerator (envkit launch, hooks, smoke):
    device: str  # the --policy.device value lerobot takes: "cuda" | "npu" | "cpu"
    visible_devices_var: str | None  # CUDA_VISIBLE_DEVICES / ASCEND_RT_VISIBLE_DEVICES; None: nothing to select
    collective: str  # torch.distributed backend for multi-process training: "nccl" | "hccl" | "gloo"

    def detected(self, host: "HostFacts") -> bool:
        """Whether this host has the accelerator."""

    def host_warnings(self, ctx: Context, host: "HostFacts") -> list[str]:
        """Ways this host differs from the profile's target that do not block a plan."""

    def choose_torch(self, ctx: Context, candidates: list[str]) -> TorchChoice:
        """The newest candidate torch build that serves the profile (and the host, when it is the target)."""

    def hook_env(self, ctx: Context) -> dict[str, str]:
        """Variables the activation hook must set for this accelerator beyond the profile's [env]."""

    # --- install (envkit setup) ---

    def torch_requirements(self, resolved: "Resolved") -> list[tuple[str, str]]:
        """(distribution, requirement) pairs setup's torch step installs, in order."""

    def local_wheels(self, resolved: "Resolved", wheels: "Path") -> dict[str, "Path"]:
        """distribution -> wheel file in a --wheels directory matching the tuple; raises when a required one is missing."""

    # --- launch ---
    # What `envkit launch` asks of an accelerator (src/envkit/launch/): nothing there branches on its name.

    def launch_env(self, nproc: int) -> dict[str, str]:
        """Variables every training process gets for this collective (the user's own values win)."""

    def launch_sources(self, host: "HostFacts | None") -> tuple[str, ...]:
        """Scripts each training process sources before Python starts (the first that exists), e.g. CANN's set_env.sh."""

    def device_count_code(self) -> str | None:
        """A Python expression the target interpreter evaluates (torch imported) to count visible devices; None: no devices to count."""

    def host_device_count(self, host: "HostFacts | None") -> int | None:
        """How many of this accelerator's devices the host has (what --devices all selects); None: none to count."""

    def failure_hints(self) -> "list[LaunchHint]":
        """Error texts this accelerator's runtime prints in a failed multi-process run, each with its fix."""


def torch_requirements(resolved: "Resolved") -> list[tuple[str, str]]:
    """torch and torchvision as the resolver pinned them (+local label where the index needs it)."""
    local = resolved.torch.get("local")
    torch = f"torch=={resolved.torch['version']}" + (f"+{local}" if local else "")
    vision = f"torchvision=={resolved.torchvision}" + (f"+{local}" if local else "")
    return [("torch", torch), ("torchvision", vision)]


def match_wheels(resolved: "Resolved", wheels: "Path", names: dict[str, str]) -> dict[str, "Path"]:
    """Wheels in `wheels` for each distribution name -> wanted version that fit the target (Python, arch)."""
    from pathlib import Path

    from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
    from packaging.version import Version

    folder = Path(wheels)
    if not folder.is_dir():
        raise EnvkitError(f"--wheels {wheels}: not a directory", fix="pass the directory holding the torch/torch_npu wheels")
    py_tag = "cp" + resolved.python.replace(".", "")
    found: dict[str, "Path"] = {}
    for path in sorted(folder.glob("*.whl")):
        try:
            name, version, _build, tags = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            continue
        wanted = names.get(canonicalize_name(name))
        if wanted is None or version.public != Version(wanted).public:
            continue
        if not any((t.interpreter in (py_tag, "py3") and (resolved.arch in t.platform or t.platform == "any")) for t in tags):
            continue
        found.setdefault(canonicalize_name(name), path)
    return found


# --- launch ---

@dataclass(frozen=True)
class LaunchHint:
    """A recognised failure: a regex over the run's output, what it means, and the fix (variables that help)."""

    id: str
    pattern: str
    summary: str
    fix: str
