"""Huawei Ascend: a CPU build of torch plus the torch_npu release built for the host's CANN."""

from __future__ import annotations

from typing import TYPE_CHECKING

from envkit.backends.base import Conflict, Context, TorchChoice, match_wheels, torch_requirements

if TYPE_CHECKING:
    from envkit.hostfacts import HostFacts


class AscendBackend:
    name = "ascend"
    check_prefixes = ("npu.",)
    device = "npu"
    visible_devices_var: str | None = "ASCEND_RT_VISIBLE_DEVICES"
    collective = "hccl"

    def detected(self, host: "HostFacts") -> bool:
        return host.ascend.present()

    def host_warnings(self, ctx: Context, host: "HostFacts") -> list[str]:
        warnings = []
        if not self.detected(host):
            warnings.append(f"this host has no Ascend NPU; the tuple is for the profile's target ({ctx.profile.hardware.get('npu', 'Ascend')}), not this machine")
            return warnings
        if host.nvidia.present():
            warnings.append("this host also has an NVIDIA GPU: never install torch_npu into a CUDA environment (torch_npu refuses two accelerators)")
        cann = host.ascend.cann
        if cann.version and cann.home_path is None:
            where = cann.set_env[0] if cann.set_env else "<CANN>/set_env.sh"
            warnings.append(f"CANN {cann.version} is installed but not sourced in this shell (ASCEND_HOME_PATH unset); the hooks will source {where}")
        return warnings

    def _cann(self, ctx: Context) -> tuple[str, str]:
        from envkit.compat import CannVersion

        floor = ctx.profile.hardware.get("cann_min")
        host_cann = ctx.host.ascend.cann.version if ctx.host is not None else None
        if host_cann:
            if floor and CannVersion(host_cann) < CannVersion(floor):
                raise Conflict(
                    f"CANN {host_cann} on this host is older than {floor}, the floor of profile '{ctx.profile.name}'",
                    fix=f"install CANN >= {floor} (toolkit and kernels for 910B), or write a profile for your CANN with an older torch_npu",
                )
            return host_cann, f"CANN {host_cann} found on this host"
        if floor:
            return floor, f"no CANN found on this host; resolved for the profile's floor CANN {floor}"
        raise Conflict("No CANN version: none found on this host and the profile has no hardware.cann_min",
                       fix="set hardware.cann_min in the profile or run on the Ascend host")

    def choose_torch(self, ctx: Context, candidates: list[str]) -> TorchChoice:
        from packaging.specifiers import SpecifierSet
        from packaging.version import Version

        from envkit.compat import matrix

        m = matrix()
        cann, cann_reason = self._cann(ctx)
        npu_spec = SpecifierSet(ctx.profile.packages["torch_npu"])
        rejected: list[str] = []
        for version in sorted(candidates, key=Version, reverse=True):
            npu = m.torch_npu_for(version, cann)
            if npu is None:
                rejected.append(f"no torch_npu for torch {version} is built for CANN <= {cann}")
                continue
            if not npu_spec.contains(npu, prereleases=True):
                rejected.append(f"torch_npu {npu} (for torch {version}, CANN {cann}) is outside '{npu_spec}'")
                continue
            row = m.torch_npu_row(npu)
            if not row.python.contains(ctx.python, prereleases=True):
                rejected.append(f"torch_npu {npu} has no wheel for Python {ctx.python} ({row.python})")
                continue
            needs_cpu_local = ctx.arch == "x86_64" and row.x86_64_requires_cpu_local
            pypi_is_cpu = m.pypi_build(version, ctx.arch) == "cpu"
            local, index = None, None
            if needs_cpu_local or not pypi_is_cpu:
                index = next((i["name"] for i in ctx.profile.indexes if "torch" in i.get("packages", [])), None)
                if index is None:
                    raise Conflict(
                        f"torch_npu {npu} on {ctx.arch} needs torch=={version}+cpu (a CPU build), which PyPI does not serve, "
                        f"and profile '{ctx.profile.name}' lists no index for torch",
                        fix="add [[platform.linux-64.indexes]] name = \"pytorch-cpu\" with the PyTorch CPU index URL and packages = [\"torch\", \"torchvision\"], or use --wheels DIR with local wheels",
                    )
                local = "cpu"
            reasons = (
                f"torch {version} (CPU build{', +cpu from ' + index if index else ' from PyPI'}): torch_npu needs a CPU torch",
                f"torch_npu {npu}: built for torch {row.torch} and CANN {row.cann}; {cann_reason}",
            )
            return TorchChoice(version, "cpu", local=local, index=index, torch_npu=npu, cann=str(cann), reasons=reasons)
        raise Conflict(
            f"No torch/torch_npu pair fits profile '{ctx.profile.name}' on {ctx.arch} with CANN {cann}: " + "; ".join(rejected),
            fix="upgrade CANN to a release that has a torch_npu for this torch (Ascend/pytorch COMPATIBILITY), or widen packages.torch/torch_npu",
        )

    def hook_env(self, ctx: Context) -> dict[str, str]:
        return {}

    def torch_requirements(self, resolved) -> list[tuple[str, str]]:
        assert resolved.torch_npu is not None
        return [*torch_requirements(resolved), ("torch-npu", f"torch-npu=={resolved.torch_npu['version']}")]

    def local_wheels(self, resolved, wheels) -> dict:
        """An offline Atlas box brings its own wheels: torch_npu must be among them (it follows the host's CANN)."""
        from envkit.errors import EnvkitError

        want = {"torch": resolved.torch["version"], "torchvision": resolved.torchvision,
                "torch-npu": resolved.torch_npu["version"]}
        found = match_wheels(resolved, wheels, want)
        if "torch-npu" not in found:
            raise EnvkitError(
                f"--wheels {wheels} holds no torch_npu {want['torch-npu']} wheel for Python {resolved.python} on {resolved.arch} "
                f"(profile '{resolved.profile}' needs it for CANN {resolved.torch_npu['cann']})",
                fix=f"put torch_npu-{want['torch-npu']}-cp{resolved.python.replace('.', '')}-*-manylinux*_{resolved.arch}.whl "
                    "into that directory (from PyPI or Ascend's release page), or drop --wheels on a connected machine",
            )
        return found

    # --- launch ---
    def launch_env(self, nproc: int) -> dict[str, str]:
        # HCCL's 120 s link-setup default is shorter than rank 0 can take to load a dataset while the
        # other ranks wait (EI0006); the allocator setting is the Atlas ACT recipe's run_train.sh.
        return {"HCCL_CONNECT_TIMEOUT": "600", "PYTORCH_NPU_ALLOC_CONF": "expandable_segments:True"}

    def launch_sources(self, host: "HostFacts | None") -> tuple[str, ...]:
        """CANN's set_env.sh, sourced in every training process: found on the host, else CANN's usual places."""
        from envkit.host import SET_ENV_CANDIDATES

        found = tuple(host.ascend.cann.set_env) if host is not None else ()
        return found or tuple(SET_ENV_CANDIDATES)

    def device_count_code(self) -> str | None:
        return "(__import__('torch_npu'), torch.npu.device_count())[1]"

    def host_device_count(self, host: "HostFacts | None") -> int | None:
        if host is None:
            return None
        chips = host.ascend.npu_smi.chips if host.ascend.npu_smi is not None else ()
        return len(chips) or len(host.ascend.chip_nodes()) or None

    def failure_hints(self) -> list:
        from envkit.backends.base import LaunchHint

        return [
            LaunchHint("hccl.timeout", r"EI0006|Getting socket times out|socket establish timeout",
                       "HCCL timed out connecting the NPUs: a rank was slow (loading the dataset) or died",
                       "read the first error of each rank above; raise HCCL_CONNECT_TIMEOUT (120-7200 s; envkit launch "
                       "sets 600) and HCCL_EXEC_TIMEOUT for long first steps"),
            LaunchHint("hccl.port", r"HcclSocket\]\[Listen\].*fail",
                       "HCCL could not listen on its port: leftover ranks of an earlier run hold it",
                       "stop the leftover training processes (npu-smi info lists them), then launch again"),
            LaunchHint("hccl.init", r"ERR02\d{3}|call hccl api failed|HCCL function error",
                       "HCCL failed between the NPUs",
                       "check `npu-smi info` (every selected NPU healthy and free); raise HCCL_CONNECT_TIMEOUT; "
                       "ASCEND_GLOBAL_LOG_LEVEL=1 ASCEND_SLOG_PRINT_TO_STDOUT=1 print HCCL's own log"),
            LaunchHint("cann.not_sourced", r"lib(hccl|ascendcl)\.so: cannot open shared object",
                       "the CANN environment is not set in the training processes",
                       "install the CANN toolkit where set_env.sh is looked for (/usr/local/Ascend/ascend-toolkit/set_env.sh); "
                       "envkit launch sources it in every process"),
            LaunchHint("lerobot.unknown_npu", r"Unknown device '?npu",
                       "this lerobot does not know the npu device: its NPU patch is missing",
                       "set the environment up with `envkit setup --profile atlas-a2` (it patches lerobot's device "
                       "list); `envkit doctor --check npu` names what is missing"),
        ]
