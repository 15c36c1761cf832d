"""NVIDIA CUDA: choose a torch build whose kernels cover the GPU and whose CUDA the driver runs."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from envkit.accel.base import AcceleratorBlock, ChoiceContext, Conflict, HookData, LaunchHint, TorchChoice, common_block
from envkit.accel.cuda.arch import capability_supported, driver_at_least
from envkit.accel.cuda.facts import NvidiaFacts, nvidia
from envkit.accel.cuda.host import detect_nvidia, nvidia_warnings
from envkit.accel.cuda.matrix import SECTION, CudaTable, cuda_table
from envkit.compat import matrix
from envkit.fields import Field, matches, regex, specifier

if TYPE_CHECKING:
    from envkit.hostfacts import HostFacts


def _build_name(cuda: str) -> str:
    return "cu" + cuda.replace(".", "")


_CC = matches(r"\d+\.\d+", "a compute capability like '12.0'")
_DRIVER = matches(r"\d+(\.\d+)*", "a driver version like '570.86'")


class CudaBackend:
    name = "cuda"
    title = "NVIDIA GPU"
    check_prefixes = ("cuda.",)
    device = "cuda"
    visible_devices_var: str | None = "CUDA_VISIBLE_DEVICES"
    slurm_gres = "gpu"
    collective = "nccl"
    report_keys = ("cuda", "driver", "nccl")
    profile_fields: dict[str, dict[str, Any]] = {
        "packages": {"cuda": Field("str", "the CUDA build of torch, e.g. '12.8'", check=matches(r"\d+\.\d+", "a CUDA version like '12.8'"))},
        "hardware": {
            "gpu": Field("str", "the GPU model"),
            "compute_capability": Field("str", "a compute capability like '12.0'", check=_CC),
            "driver_min": Field("str", "a driver version like '570.86'", check=_DRIVER),
            "driver_min_source": Field("str", "where the driver floor comes from"),
        },
        "match": {
            "gpu_name": Field("str", "a regular expression searched (case-insensitively) in the GPU's name, e.g. 'RTX 4090'", check=regex),
            "compute_capability": Field("str", "a version range of compute capabilities, e.g. '>=7.0' or '==8.9'", check=specifier),
        },
    }

    def collect(self, boundary: Any) -> NvidiaFacts:
        return detect_nvidia(boundary)[0]

    def detect_warnings(self, host: "HostFacts") -> list[str]:
        return nvidia_warnings(nvidia(host))

    def describe(self, host: "HostFacts") -> str | None:
        gpus = nvidia(host).gpus
        if not gpus:
            return None
        return f"{len(gpus)} x {', '.join(sorted({g.name for g in gpus}))}, driver {nvidia(host).driver_version}"

    def detected(self, host: "HostFacts") -> bool:
        return nvidia(host).present()

    def host_rows(self, host: "HostFacts") -> list[tuple[str, str]]:
        nv = nvidia(host)
        if not nv.present():
            return [("nvidia", "no driver found" + (f" (NVML: {nv.error})" if nv.error else ""))]
        rows = [("nvidia driver", f"{nv.driver_version} via {nv.source}, CUDA {nv.cuda_driver_version or '?'}")]
        for g in nv.gpus:
            rows.append((f"  gpu {g.index}", f"{g.name}, cc {g.compute_capability or '?'}, {_gib(g.memory_total_bytes)}"))
        return rows

    def matches(self, match: dict[str, Any], host: "HostFacts") -> str | None:
        """Every GPU of the host must fit: a mixed box is served by one profile only when all its GPUs are."""
        gpus = nvidia(host).gpus
        if not gpus:
            return None
        said = []
        if "gpu_name" in match:
            pattern = re.compile(match["gpu_name"], re.IGNORECASE)
            if not all(pattern.search(g.name) for g in gpus):
                return None
            said.append(f"GPU name matches {match['gpu_name']!r}")
        if "compute_capability" in match:
            spec = SpecifierSet(match["compute_capability"])
            if not all(g.compute_capability and spec.contains(g.compute_capability) for g in gpus):
                return None
            said.append(f"compute capability {', '.join(sorted({g.compute_capability or '?' for g in gpus}))} in {match['compute_capability']!r}")
        names = ", ".join(sorted({g.name for g in gpus}))
        return f"{len(gpus)} x {names}: " + ("; ".join(said) or "an NVIDIA GPU")

    def check_profile(self, profile, bad) -> None:  # type: ignore[no-untyped-def]
        if "cuda" not in profile.packages:
            raise bad("accelerator 'cuda' needs 'packages.cuda' (the CUDA build of torch)", "add packages.cuda = \"12.8\"")

    def host_warnings(self, ctx: ChoiceContext, host: "HostFacts") -> list[str]:
        if not self.detected(host):
            return [f"this host has no NVIDIA GPU; the tuple is for the profile's target ({ctx.profile.hardware.get('gpu', 'a CUDA GPU')}), not this machine"]

        out = []
        want = ctx.profile.hardware.get("compute_capability")
        seen = sorted({g.compute_capability for g in nvidia(host).gpus if g.compute_capability})
        if want and seen and seen != [want]:
            out.append(f"this host's GPUs have compute capability {', '.join(seen)}; profile '{ctx.profile.name}' targets {want}")
        floor = ctx.profile.hardware.get("driver_min")
        driver = nvidia(host).driver_version
        if floor and driver and not driver_at_least(driver, floor):
            source = ctx.profile.hardware.get("driver_min_source", "the profile's driver floor")
            out.append(f"the NVIDIA driver {driver} is below {floor}, the floor of profile '{ctx.profile.name}' ({source}): "
                       f"resolve and setup will refuse it until the driver is upgraded to >= {floor}")
        return out

    def _capabilities(self, ctx: ChoiceContext) -> list[tuple[str, str]]:
        """(who, cc) pairs the build must cover: the profile's target GPU and, on the target host, every GPU there."""
        needs: list[tuple[str, str]] = []
        want = ctx.profile.hardware.get("compute_capability")
        if want:
            needs.append((ctx.profile.hardware.get("gpu", "the profile's GPU"), want))
        if ctx.host is not None:
            for gpu in nvidia(ctx.host).gpus:
                if gpu.compute_capability and (gpu.name, gpu.compute_capability) not in needs:
                    needs.append((gpu.name, gpu.compute_capability))
        return needs

    def choose_torch(self, ctx: ChoiceContext, candidates: list[str]) -> TorchChoice:
        m = matrix()
        cuda = ctx.profile.packages["cuda"]
        build_name = _build_name(cuda)
        allowed_indexes = {i["name"] for i in ctx.profile.indexes}
        rejected: list[str] = []
        for version in sorted(candidates, key=_vkey, reverse=True):
            builds = cuda_table(m).torch_builds(version, ctx.arch)
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
                reasons=reasons,
                extra={"cuda": cuda},
            )
            self._check_driver(ctx, choice)
            return choice
        raise Conflict(
            f"No torch in '{ctx.profile.packages['torch']}' fits profile '{ctx.profile.name}' on {ctx.arch}: " + "; ".join(rejected),
            fix=self._way_out(ctx, rejected),
        )

    def _way_out(self, ctx: ChoiceContext, rejected: list[str]) -> str:
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

    def _check_driver(self, ctx: ChoiceContext, choice: TorchChoice) -> None:
        host = ctx.host
        cuda = choice.extra.get("cuda")
        if host is None or not nvidia(host).driver_version or cuda is None:
            return
        floor = cuda_table().min_driver(cuda)
        need = [(floor.compat_floor, f"CUDA {cuda}'s minimum driver ({floor.source})")]
        profile_floor = ctx.profile.hardware.get("driver_min")
        if profile_floor:
            need.append((profile_floor, ctx.profile.hardware.get("driver_min_source", "the profile's driver floor")))
        for value, source in need:
            if not driver_at_least(nvidia(host).driver_version, value):
                raise Conflict(
                    f"The NVIDIA driver {nvidia(host).driver_version} on this host is below {value}, the floor for torch "
                    f"{choice.version} {choice.build} ({source})",
                    fix=f"upgrade the driver to >= {value} (e.g. the R580 branch for CUDA 13 builds), or use a profile whose CUDA build this driver runs",
                )

    def hook_env(self, ctx: ChoiceContext) -> dict[str, str]:
        return {}

    def block(self, ctx: ChoiceContext, choice: TorchChoice, torchvision: str) -> AcceleratorBlock:
        cuda = choice.extra["cuda"]
        floor = cuda_table().min_driver(cuda)
        data = {"build": cuda, "min_driver": ctx.profile.hardware.get("driver_min") or floor.compat_floor,
                "toolkit_min_driver": floor.toolkit_min}
        hooks = HookData(env=self.hook_env(ctx), visible_devices_var=self.visible_devices_var)
        return common_block(self.name, choice, torchvision, hooks, key="cuda", data=data,
                            matrix_keys=(("cuda", cuda),),
                            summary=(("cuda", f"{cuda} (driver >= {data['min_driver']})"),))

    # --- doctor ---
    checks_module: str | None = "envkit.accel.cuda.checks"
    probe_fragment: str | None = "envkit.accel.cuda.fragment"
    patch_markers: dict[str, tuple[str, ...]] = {}  # what proves its lerobot patch is installed
    visible_devices_also: tuple[str, ...] = ()
    torch_version_attrs: tuple[str, ...] = ("cuda",)
    device_runtime: str | None = None
    matrix_check: str | None = None
    matrix_sections: tuple[str, ...] = (SECTION,)

    def matrix_row(self, data: dict[str, Any], kind: str, key: str) -> Any:
        return CudaTable(data).raw_row(key)

    # --- launch ---
    def launch_env(self, nproc: int) -> dict[str, str]:
        return {}  # NCCL's defaults; failure_hints names the variables that help when they fail

    def network_vars(self) -> tuple[tuple[str, str], ...]:
        # NCCL picks the first non-docker interface, often not the one between the nodes; the c10d
        # store and gloo (CPU-side collectives) pick the host name's address.
        return (("NCCL_SOCKET_IFNAME", "ifname"), ("GLOO_SOCKET_IFNAME", "ifname"))

    def launch_sources(self, host: "HostFacts | None") -> tuple[str, ...]:
        return ()

    def device_count_code(self) -> str | None:
        return "torch.cuda.device_count()"

    def host_device_count(self, host: "HostFacts | None") -> int | None:
        return len(nvidia(host).gpus) if host is not None and nvidia(host).gpus else None

    def failure_hints(self) -> list:
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


def _gib(n: int | None) -> str:
    return "?" if n is None else f"{n / 2**30:.1f} GiB"


def _vkey(version: str):
    return Version(version)
