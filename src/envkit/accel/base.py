"""The one interface every accelerator backend implements (cuda, ascend, cpu, and plug-ins).

A backend owns everything accelerator-specific before training starts:
- detect: is the accelerator on this host (`detected`), does a profile's `[hardware.match]` fit
  it (`matches`), how the host differs from a profile's target (`host_warnings`);
- profiles: the `[packages]`/`[hardware]`/`[hardware.match]` keys it adds to the schema and the
  combinations it requires (`check_profile`);
- resolve (choosing): the torch build (`choose_torch`) and the accelerator block of the resolved
  tuple (`block`), which records what install needs as data: requirements, wheels, hook
  variables and scripts, its share of the lock manifest;
- training: the device string, the visible-devices variable and the collective.

Choosing and installing are split: `plan.py` and `hooks.py` read the block (data), never the
backend, so this module imports neither `resolve` nor `plan`. A new accelerator is one backend
module, one doctor check module and one profile (docs/backends.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from envkit.errors import Conflict, EnvkitError

if TYPE_CHECKING:
    from envkit.fields import Field
    from envkit.hostfacts import HostFacts

__all__ = ["ARCH_OF_PLATFORM", "AcceleratorBlock", "Backend", "ChoiceContext", "Conflict", "HookData", "TorchChoice",
           "WheelNeed", "match_wheels", "torch_requirements"]

ARCH_OF_PLATFORM = {"linux-64": "x86_64", "linux-aarch64": "aarch64"}
# The per-vendor keys schema_version 1 of the resolved tuple's JSON always carries (null when
# another backend resolved it). Kept so state files and lock manifests written before backends
# were plug-ins keep their digests; a plug-in's block adds its own key instead.
LEGACY_BLOCK_KEYS = ("torch_npu", "cuda")


@dataclass(frozen=True)
class TorchChoice:
    version: str  # "2.8.0"
    build: str  # "cu128" | "cpu" | "cu130"
    local: str | None = None  # local version label to request ("cpu" -> torch==2.7.1+cpu)
    index: str | None = None  # index name when not the default index
    arch_list: tuple[str, ...] = ()
    ptx: tuple[str, ...] = ()
    reasons: tuple[str, ...] = field(default=())
    extra: dict[str, Any] = field(default_factory=dict)  # backend-own facts of the choice (CUDA, torch_npu, CANN)

    @property
    def requirement(self) -> str:
        return f"torch=={self.version}+{self.local}" if self.local else f"torch=={self.version}"


class ProfileView(Protocol):
    """What a backend reads of a (per-platform) profile: envkit.profiles.Profile is one. A Protocol, so
    this module does not import profiles (which asks the registry, which checks against this module)."""

    @property
    def name(self) -> str: ...
    @property
    def packages(self) -> dict[str, Any]: ...
    @property
    def hardware(self) -> dict[str, Any]: ...
    @property
    def indexes(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class ChoiceContext:
    """What a backend needs to choose: the per-platform profile view and the host (if it is the target)."""

    profile: ProfileView
    host: "HostFacts | None"  # None when the host is not the profile's target
    arch: str
    python: str


@dataclass(frozen=True)
class WheelNeed:
    """A distribution setup installs that a --wheels directory may (or must) hold."""

    dist: str  # canonical name: "torch", "torch-npu"
    version: str
    required: bool = False  # an offline box cannot get it elsewhere
    why: str = ""  # for the error when a required one is missing
    fix: str = ""


@dataclass(frozen=True)
class HookData:
    """What the activation hook does for this accelerator (hooks.py renders it; no names hard-coded there)."""

    env: dict[str, str] = field(default_factory=dict)  # set as is, beyond the profile's [env]
    source_first: tuple[str, ...] = ()  # scripts: the first that exists is sourced (CANN set_env.sh)
    source_saves: tuple[str, ...] = ()  # variables those scripts change: saved and restored
    visible_devices_var: str | None = None  # what --visible-devices sets; None: nothing to select


@dataclass(frozen=True)
class AcceleratorBlock:
    """The accelerator's part of a resolved tuple, chosen by its backend.

    `key`/`data` are recorded in the tuple's JSON (e.g. "cuda": {...}, "torch_npu": {...}); the
    rest is what install needs, as data, so the plan never asks the backend again.
    """

    backend: str
    key: str | None = None
    data: dict[str, Any] | None = None
    requirements: tuple[tuple[str, str], ...] = ()  # (distribution, requirement) the torch step installs, in order
    resolved_requirements: tuple[str, ...] = ()  # added to the tuple's requirement list (lock layer)
    verify: tuple[tuple[str, str], ...] = ()  # (dist-info name, version) present once installed
    title: str = ""  # added to the torch step's title (", torch_npu 2.7.1")
    wheels: tuple[WheelNeed, ...] = ()
    hooks: HookData = field(default_factory=HookData)
    matrix_keys: tuple[tuple[str, str], ...] = ()  # the matrix rows the lock manifest records
    summary: tuple[tuple[str, str], ...] = ()  # rows `envkit resolve` prints

    def to_json(self) -> dict[str, Any]:
        """The block's share of the resolved tuple's JSON (schema_version 1 layout)."""
        out: dict[str, Any] = {k: None for k in LEGACY_BLOCK_KEYS}
        if self.key is not None:
            out[self.key] = self.data
        return out


class Backend(Protocol):
    name: str
    title: str  # what people call the hardware, for messages: "NVIDIA GPU", "Ascend NPU"
    check_prefixes: tuple[str, ...]  # doctor check ids of this accelerator ("cuda.", "npu.")
    # What training code and launchers get for this accelerator (envkit launch, hooks, smoke):
    device: str  # the --policy.device value lerobot takes: "cuda" | "npu" | "cpu"
    visible_devices_var: str | None  # CUDA_VISIBLE_DEVICES / ASCEND_RT_VISIBLE_DEVICES; None: nothing to select
    # Variables of a lower runtime layer that restrict the same devices before visible_devices_var does
    # (ROCm: ROCR_VISIBLE_DEVICES beneath HIP_VISIBLE_DEVICES); envkit sets only visible_devices_var.
    visible_devices_also: tuple[str, ...]
    slurm_gres: str | None  # the generic resource SLURM schedules these devices as ("gpu"); None: CPU processes
    collective: str  # torch.distributed backend for multi-process training: "nccl" | "hccl" | "gloo"
    # Profile keys this accelerator adds: section ("packages", "hardware", "match") -> key -> Field.
    profile_fields: dict[str, dict[str, "Field"]]
    # Keys of a doctor report's `versions` this accelerator adds (fleet compares them across hosts).
    report_keys: tuple[str, ...]

    # --- detect ---

    def collect(self, boundary: Any) -> Any:
        """Its host facts, read through envkit.host's Boundary (files, globs, commands, library readings),
        stored in HostFacts.accelerators[name]: a JSON object, or the dataclass its folder declares as
        FACTS; None when it finds nothing (the host's JSON then has no entry for it)."""

    def detect_warnings(self, host: "HostFacts") -> list[str]:
        """What `envkit detect` warns about this accelerator on the host (its facts are already collected)."""

    def describe(self, host: "HostFacts") -> str | None:
        """A few words for a recorded scenario's one-line description ("8 x NVIDIA H100, driver 570"); None:
        nothing of it on this host."""

    def detected(self, host: "HostFacts") -> bool:
        """Whether this host has the accelerator."""

    def host_rows(self, host: "HostFacts") -> list[tuple[str, str]]:
        """(label, text) rows `envkit detect` prints for this accelerator (none when absent and unremarkable)."""

    def matches(self, match: dict[str, Any], host: "HostFacts") -> str | None:
        """Why the host fits a profile's [hardware.match] table (None: it does not)."""

    def host_warnings(self, ctx: ChoiceContext, host: "HostFacts") -> list[str]:
        """Ways this host differs from the profile's target that do not block a plan."""

    # --- profiles ---

    def check_profile(self, profile: ProfileView, bad: Callable[[str, str], EnvkitError]) -> None:
        """Raise bad(message, fix) when the (per-platform) profile lacks what this accelerator needs."""

    # --- resolve ---

    def choose_torch(self, ctx: ChoiceContext, candidates: list[str]) -> TorchChoice:
        """The newest candidate torch build that serves the profile (and the host, when it is the target)."""

    def hook_env(self, ctx: ChoiceContext) -> dict[str, str]:
        """Variables the activation hook must set for this accelerator beyond the profile's [env]."""

    def block(self, ctx: ChoiceContext, choice: TorchChoice, torchvision: str) -> AcceleratorBlock:
        """The accelerator block of the resolved tuple: what it records and what install needs."""

    # --- doctor ---
    # Dotted module paths (strings, so resolve/plan never import the doctor); envkit.doctor.accel
    # says what each must export. None: the doctor has nothing specific to check for this backend.
    checks_module: str | None  # its doctor checks (CHECKS) and hooks the generic checks consult
    probe_fragment: str | None  # stdlib-only module with probe(torch) -> dict, run inside the target interpreter
    # Markers (file under lerobot/ -> strings) its lerobot patch plants; envkit.lerobot_patch checks them
    # after install. {}: the backend ships no patch.
    patch_markers: dict[str, tuple[str, ...]]

    # torch.version attributes its torch builds set (("cuda",); a ROCm build sets "hip"): the probes record
    # them in the torch facts, so the backend, not the device string, says whose torch it is.
    torch_version_attrs: tuple[str, ...]
    # The module training code must import before `device` is usable (an out-of-tree torch extension); None: none.
    device_runtime: str | None

    # --- the compatibility matrix ---
    # compat.toml sections this accelerator parses itself (envkit.compat keeps the generic ones):
    # the row kinds a lock manifest's matrix_keys may name for it ("cuda", "torch_npu").
    matrix_sections: tuple[str, ...]
    # Dotted module with its package's `envkit matrix check/propose` hooks (envkit.matrixcheck.check.accel_hooks
    # lists what it exports); None: the accelerator adds no package of its own to the index checks.
    matrix_check: str | None

    def matrix_row(self, data: dict[str, Any], kind: str, key: str) -> Any:
        """The raw compat.toml row (of `data`, the parsed file) for one of its matrix_sections: what a lock
        manifest's row digest covers."""

    # --- launch ---
    # What `envkit launch` asks of an accelerator (src/envkit/launch/): nothing there branches on its name.

    def launch_env(self, nproc: int) -> dict[str, str]:
        """Variables every training process gets for this collective (the user's own values win)."""

    def network_vars(self) -> tuple[tuple[str, str], ...]:
        """(VARIABLE, "ifname" | "ip") that point this collective at the network interface reaching the other
        nodes; a multi-node launch fills them from the route to the rendezvous host (the user's values win)."""

    def launch_sources(self, host: "HostFacts | None") -> tuple[str, ...]:
        """Scripts each training process sources before Python starts (the first that exists), e.g. CANN's set_env.sh."""

    def device_count_code(self) -> str | None:
        """A Python expression the target interpreter evaluates (torch imported) to count visible devices; None: no devices to count."""

    def host_device_count(self, host: "HostFacts | None") -> int | None:
        """How many of this accelerator's devices the host has (what --devices all selects); None: none to count."""

    def failure_hints(self) -> "list[LaunchHint]":
        """Error texts this accelerator's runtime prints in a failed multi-process run, each with its fix."""


def torch_requirements(choice: TorchChoice, torchvision: str) -> tuple[tuple[str, str], ...]:
    """torch and torchvision as the resolver pinned them (+local label where the index needs it)."""
    local = choice.local
    vision = f"torchvision=={torchvision}" + (f"+{local}" if local else "")
    return (("torch", choice.requirement), ("torchvision", vision))


def common_block(backend: str, choice: TorchChoice, torchvision: str, hooks: HookData, **rest: Any) -> AcceleratorBlock:
    """A block with the torch/torchvision part every backend shares; `rest` adds the backend's own."""
    requirements = torch_requirements(choice, torchvision) + tuple(rest.pop("requirements", ()))
    verify = (("torch", choice.version), ("torchvision", torchvision)) + tuple(rest.pop("verify", ()))
    wheels = (WheelNeed("torch", choice.version), WheelNeed("torchvision", torchvision)) + tuple(rest.pop("wheels", ()))
    return AcceleratorBlock(backend, requirements=requirements, verify=verify, wheels=wheels, hooks=hooks, **rest)


def match_wheels(block: AcceleratorBlock, python: str, arch: str, wheels: "Path") -> dict[str, "Path"]:
    """Wheels in `wheels` for the block's distributions that fit the target (Python, arch).

    File I/O: called at the edge (the setup command), never from plan.py. A required wheel that
    is missing is an EnvkitError with the backend's reason and fix."""


    folder = Path(wheels)
    if not folder.is_dir():
        raise EnvkitError(f"--wheels {wheels}: not a directory", fix="pass the directory holding the torch wheels")
    names = {w.dist: w.version for w in block.wheels}
    py_tag = "cp" + python.replace(".", "")
    found: dict[str, Path] = {}
    for path in sorted(folder.glob("*.whl")):
        try:
            name, version, _build, tags = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            continue
        wanted = names.get(canonicalize_name(name))
        if wanted is None or version.public != Version(wanted).public:
            continue
        if not any((t.interpreter in (py_tag, "py3") and (arch in t.platform or t.platform == "any")) for t in tags):
            continue
        found.setdefault(canonicalize_name(name), path)
    for need in block.wheels:
        if need.required and need.dist not in found:
            raise EnvkitError(f"--wheels {wheels} holds no {need.dist} {need.version} wheel for Python {python} on {arch} ({need.why})",
                              fix=need.fix or f"put the {need.dist} {need.version} wheel into that directory, or drop --wheels")
    return found


# --- launch ---

@dataclass(frozen=True)
class LaunchHint:
    """A recognised failure: a regex over the run's output, what it means, and the fix (variables that help)."""

    id: str
    pattern: str
    summary: str
    fix: str
