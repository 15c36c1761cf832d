"""Plain CPU: the newest torch in range, from PyPI (or the CPU index when the profile asks for +cpu)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from envkit.backends.base import Conflict, Context, TorchChoice, match_wheels, torch_requirements

if TYPE_CHECKING:
    from envkit.hostfacts import HostFacts


class CpuBackend:
    name = "cpu"
    check_prefixes = ()
    device = "cpu"
    visible_devices_var: str | None = None
    collective = "gloo"

    def detected(self, host: "HostFacts") -> bool:
        return True

    def host_warnings(self, ctx: Context, host: "HostFacts") -> list[str]:
        if host.nvidia.present():
            return ["this host has an NVIDIA GPU; the cpu profile will not use it (profile 5090 would)"]
        if host.ascend.present():
            return ["this host has Ascend NPUs; the cpu profile will not use them (profile atlas-a2 would)"]
        return []

    def choose_torch(self, ctx: Context, candidates: list[str]) -> TorchChoice:
        from packaging.version import Version

        from envkit.compat import matrix

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

    def hook_env(self, ctx: Context) -> dict[str, str]:
        return {}

    def torch_requirements(self, resolved) -> list[tuple[str, str]]:
        return torch_requirements(resolved)

    def local_wheels(self, resolved, wheels) -> dict:
        return match_wheels(resolved, wheels, {"torch": resolved.torch["version"], "torchvision": resolved.torchvision})

    # --- launch ---
    def launch_env(self, nproc: int) -> dict[str, str]:
        return {}

    def launch_sources(self, host: "HostFacts | None") -> tuple[str, ...]:
        return ()

    def device_count_code(self) -> str | None:
        return None  # processes, not devices: any count runs

    def host_device_count(self, host: "HostFacts | None") -> int | None:
        return None

    def failure_hints(self) -> list:
        from envkit.backends.base import LaunchHint

        return [
            LaunchHint("gloo.connect", r"Gloo connectFullMesh failed|gloo/transport/tcp/pair\.cc",
                       "gloo could not connect the processes",
                       "set GLOO_SOCKET_IFNAME=lo for a run on one machine (gloo picks the host name's interface)"),
        ]
