"""NVIDIA CUDA: choose a torch build whose kernels cover the GPU and whose CUDA the driver runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from envkit.backends.base import Conflict, Context, TorchChoice, match_wheels, torch_requirements

if TYPE_CHECKING:
    from envkit.hostfacts import HostFacts


def _build_name(cuda: str) -> str:
    return "cu" + cuda.replace(".", "")


class CudaBackend:
    name = "cuda"
    check_prefixes = ("cuda.",)
    device = "cuda"
    visible_devices_var: str | None = "CUDA_VISIBLE_DEVICES"
    collective = "nccl"

    def detected(self, host: "HostFacts") -> bool:
        return host.nvidia.present()

    def host_warnings(self, ctx: Context, host: "HostFacts") -> list[str]:
        if not self.detected(host):
            return [f"this host has no NVIDIA GPU; the tuple is for the profile's target ({ctx.profile.hardware.get('gpu', 'a CUDA GPU')}), not this machine"]
        want = ctx.profile.hardware.get("compute_capability")
        seen = sorted({g.compute_capability for g in host.nvidia.gpus if g.compute_capability})
        if want and seen and seen != [want]:
            return [f"this host's GPUs have compute capability {', '.join(seen)}; profile '{ctx.profile.name}' targets {want}"]
        return []

    def _capabilities(self, ctx: Context) -> list[tuple[str, str]]:
        """(who, cc) pairs the build must cover: the profile's target GPU and, on the target host, every GPU there."""
        needs: list[tuple[str, str]] = []
        want = ctx.profile.hardware.get("compute_capability")
        if want:
            needs.append((ctx.profile.hardware.get("gpu", "the profile's GPU"), want))
        if ctx.host is not None:
            for gpu in ctx.host.nvidia.gpus:
                if gpu.compute_capability and (gpu.name, gpu.compute_capability) not in needs:
                    needs.append((gpu.name, gpu.compute_capability))
        return needs

    def choose_torch(self, ctx: Context, candidates: list[str]) -> TorchChoice:
        from envkit.compat import capability_supported, matrix

        m = matrix()
        cuda = ctx.profile.packages["cuda"]
        build_name = _build_name(cuda)
        allowed_indexes = {i["name"] for i in ctx.profile.indexes}
        rejected: list[str] = []
        for version in sorted(candidates, key=_vkey, reverse=True):
            builds = m.torch_builds(version, ctx.arch)
            build = builds.get(build_name)
            if build is None:
                default = m.pypi_build(version, ctx.arch)
                rejected.append(f"torch {version} has no {build_name} build (PyPI's is {default})")
                continue
            if build.index != "pypi" and build.index not in allowed_indexes:
                default = builds.get(m.pypi_build(version, ctx.arch))
                archs = " ".join(default.archs) if default else "?"
                gaps = [f"{who} (cc {cc}) needs sm_{cc.replace('.', '')}" for who, cc in self._capabilities(ctx)
                        if default and not capability_supported(list(default.archs), list(default.ptx), cc)[0]]
                rejected.append(
                    f"torch {version} {build_name} comes only from the '{build.index}' index, which the profile does not list; "
                    f"PyPI's torch {version} is {m.pypi_build(version, ctx.arch)} ({archs})"
                    + (f", without kernels for {'; '.join(gaps)}" if gaps else "")
                )
                continue
            uncovered = []
            for who, cc in self._capabilities(ctx):
                ok, why = capability_supported(list(build.archs), list(build.ptx), cc)
                if not ok:
                    uncovered.append(f"{who} (cc {cc}): {why}")
            if uncovered:
                rejected.append(f"torch {version} {build_name} lacks kernels for " + "; ".join(uncovered))
                continue
            reasons = (
                f"torch {version}: newest in the profile's range '{ctx.profile.packages['torch']}' with a {build_name} build "
                f"({'PyPI default' if build.index == 'pypi' else 'index ' + build.index}) covering "
                + ", ".join(f"{who} cc {cc}" for who, cc in self._capabilities(ctx)),
            )
            choice = TorchChoice(
                version=version,
                build=build_name,
                local=None if build.index == "pypi" else build_name,
                index=None if build.index == "pypi" else build.index,
                arch_list=tuple(build.archs),
                ptx=tuple(build.ptx),
                cuda=cuda,
                reasons=reasons,
            )
            self._check_driver(ctx, choice)
            return choice
        raise Conflict(
            f"No torch in '{ctx.profile.packages['torch']}' fits profile '{ctx.profile.name}' on {ctx.arch}: " + "; ".join(rejected),
            fix=self._way_out(ctx, rejected),
        )

    def _way_out(self, ctx: Context, rejected: list[str]) -> str:
        text = " ".join(rejected)
        if "lacks kernels" in text:
            return (
                "pick a torch build whose arch list covers the GPU: for compute capability 12.0 (RTX 50xx) a CUDA >= 12.8 build "
                "(torch >= 2.8 from PyPI, or torch 2.7.x from the PyTorch cu128 index); for GPUs older than sm_70 a cu126 build "
                "(torch 2.7.x from PyPI) in a profile of your own ('extends' this one)"
            )
        return (
            f"widen packages.torch, or add the index that carries the {_build_name(ctx.profile.packages['cuda'])} build to the "
            "profile's [[indexes]] (e.g. name = \"pytorch-cu128\" with its URL and packages = [\"torch\", \"torchvision\"])"
        )

    def _check_driver(self, ctx: Context, choice: TorchChoice) -> None:
        from envkit.compat import driver_at_least, matrix

        host = ctx.host
        if host is None or not host.nvidia.driver_version or choice.cuda is None:
            return
        floor = matrix().cuda_min_driver(choice.cuda)
        need = [(floor.compat_floor, f"CUDA {choice.cuda}'s minimum driver ({floor.source})")]
        profile_floor = ctx.profile.hardware.get("driver_min")
        if profile_floor:
            need.append((profile_floor, ctx.profile.hardware.get("driver_min_source", "the profile's driver floor")))
        for value, source in need:
            if not driver_at_least(host.nvidia.driver_version, value):
                raise Conflict(
                    f"The NVIDIA driver {host.nvidia.driver_version} on this host is below {value}, the floor for torch "
                    f"{choice.version} {choice.build} ({source})",
                    fix=f"upgrade the driver to >= {value} (e.g. the R580 branch for CUDA 13 builds), or use a profile whose CUDA build this driver runs",
                )

    def hook_env(self, ctx: Context) -> dict[str, str]:
        return {}

    def torch_requirements(self, resolved) -> list[tuple[str, str]]:
        return torch_requirements(resolved)

    def local_wheels(self, resolved, wheels) -> dict:
        return match_wheels(resolved, wheels, {"torch": resolved.torch["version"], "torchvision": resolved.torchvision})

    # --- launch ---
    def launch_env(self, nproc: int) -> dict[str, str]:
        return {}  # NCCL's defaults; failure_hints names the variables that help when they fail

    def launch_sources(self, host: "HostFacts | None") -> tuple[str, ...]:
        return ()

    def device_count_code(self) -> str | None:
        return "torch.cuda.device_count()"

    def host_device_count(self, host: "HostFacts | None") -> int | None:
        return len(host.nvidia.gpus) if host is not None and host.nvidia.gpus else None

    def failure_hints(self) -> list:
        from envkit.backends.base import LaunchHint

        return [
            LaunchHint("nccl.timeout", r"Watchdog caught collective operation timeout|WorkNCCL\(.*Timeout\(ms\)",
                       "an NCCL collective timed out: one rank stalled or died while the others waited",
                       "read the first error of each rank above; if it hangs at the first all-reduce on GPUs without "
                       "peer-to-peer (RTX 40xx/50xx) set NCCL_P2P_DISABLE=1, without InfiniBand NCCL_IB_DISABLE=1; "
                       "NCCL_DEBUG=INFO shows where it stops"),
            LaunchHint("nccl.init", r"NCCL error|nccl(UnhandledCuda|System|Internal|Remote)Error|ncclInvalidUsage|ncclUniqueId .* Socket Timeout",
                       "NCCL could not connect the GPUs",
                       "rerun with NCCL_DEBUG=INFO to see the cause; NCCL_P2P_DISABLE=1 for GPUs without peer-to-peer "
                       "(consumer RTX cards), NCCL_IB_DISABLE=1 without InfiniBand, NCCL_SOCKET_IFNAME=<interface> when "
                       "it picks the wrong network; check that every selected GPU is free (nvidia-smi)"),
        ]


def _vkey(version: str):
    from packaging.version import Version

    return Version(version)
