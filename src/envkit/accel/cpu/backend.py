"""Plain CPU: the newest torch in range, from PyPI (or the CPU index when the profile asks for +cpu)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from packaging.version import Version

from envkit.accel.base import AcceleratorBlock, ChoiceContext, Conflict, HookData, LaunchHint, TorchChoice, common_block
from envkit.accel.registry import all_backends
from envkit.compat import matrix

if TYPE_CHECKING:
    from envkit.hostfacts import HostFacts


class CpuBackend:
    name = "cpu"
    title = "CPU"
    check_prefixes: tuple[str, ...] = ()
    device = "cpu"
    visible_devices_var: str | None = None
    slurm_gres = None
    collective = "gloo"
    profile_fields: dict[str, dict[str, Any]] = {}  # a CPU needs nothing beyond the common keys
    report_keys: tuple[str, ...] = ()

    def collect(self, boundary: Any) -> dict[str, Any] | None:
        return None

    def detect_warnings(self, host: "HostFacts") -> list[str]:
        return []

    def describe(self, host: "HostFacts") -> str | None:
        return None

    def detected(self, host: "HostFacts") -> bool:
        return True

    def host_rows(self, host: "HostFacts") -> list[tuple[str, str]]:
        return []  # the cpu / ram row is everyone's

    def matches(self, match: dict[str, Any], host: "HostFacts") -> str | None:
        return "every host has a CPU"

    def host_warnings(self, ctx: ChoiceContext, host: "HostFacts") -> list[str]:
        # Whatever accelerator this host has goes unused; name it (plug-ins included).
        for other in all_backends():
            if other.name != self.name and other.detected(host):
                return [f"this host has a {other.title}; the cpu profile will not use it (a profile with accelerator = \"{other.name}\" would)"]
        return []

    def check_profile(self, profile, bad) -> None:  # type: ignore[no-untyped-def]
        return None

    def choose_torch(self, ctx: ChoiceContext, candidates: list[str]) -> TorchChoice:
        if not candidates:
            raise Conflict(
                f"No torch release in the matrix satisfies '{ctx.profile.packages['torch']}' on Python {ctx.python}",
                fix="widen packages.torch in the profile",
            )
        m = matrix()
        version = max(candidates, key=Version)
        want_local = ctx.profile.packages.get("torch_local")
        default = m.pypi_build(version, ctx.arch)
        if want_local:
            index = next((i["name"] for i in ctx.profile.indexes if "torch" in i.get("packages", [])), None)
            if index is None:
                raise Conflict(
                    f"Profile '{ctx.profile.name}' asks for torch=={version}+{want_local}, but no [[indexes]] entry serves torch",
                    fix="add an [[indexes]] table with the PyTorch CPU index and packages = [\"torch\", \"torchvision\"]",
                )
            return TorchChoice(version, want_local, local=want_local, index=index,
                               reasons=(f"torch {version}+{want_local} from index {index} (the profile asks for a {want_local} build)",))
        note = f"torch {version}: newest in '{ctx.profile.packages['torch']}' for Python {ctx.python}; PyPI's build is {default}"
        if default != "cpu":
            note += " (it runs on the CPU; its CUDA libraries stay unused)"
        return TorchChoice(version, default, reasons=(note,))

    def hook_env(self, ctx: ChoiceContext) -> dict[str, str]:
        return {}

    def block(self, ctx: ChoiceContext, choice: TorchChoice, torchvision: str) -> AcceleratorBlock:
        return common_block(self.name, choice, torchvision, HookData(env=self.hook_env(ctx)))

    # --- doctor ---
    checks_module: str | None = None
    probe_fragment: str | None = None
    patch_markers: dict[str, tuple[str, ...]] = {}  # what proves its lerobot patch is installed
    visible_devices_also: tuple[str, ...] = ()
    torch_version_attrs: tuple[str, ...] = ()
    device_runtime: str | None = None
    matrix_check: str | None = None
    matrix_sections: tuple[str, ...] = ()

    def matrix_row(self, data: dict[str, Any], kind: str, key: str) -> Any:
        raise KeyError(kind)  # owns no section

    # --- launch ---
    def launch_env(self, nproc: int) -> dict[str, str]:
        return {}

    def network_vars(self) -> tuple[tuple[str, str], ...]:
        return (("GLOO_SOCKET_IFNAME", "ifname"),)  # gloo otherwise binds the host name's address

    def launch_sources(self, host: "HostFacts | None") -> tuple[str, ...]:
        return ()

    def device_count_code(self) -> str | None:
        return None  # processes, not devices: any count runs

    def host_device_count(self, host: "HostFacts | None") -> int | None:
        return None

    def failure_hints(self) -> list:
        return [
            LaunchHint("gloo.connect", r"Gloo connectFullMesh failed|gloo/transport/tcp/pair\.cc",
                       "gloo could not connect the processes",
                       "set GLOO_SOCKET_IFNAME=lo for a run on one machine (gloo picks the host name's interface)"),
        ]
