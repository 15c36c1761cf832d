"""Huawei Ascend: a CPU build of torch plus the torch_npu release built for the host's CANN."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from envkit.accel.ascend.facts import AscendFacts, ascend
from envkit.accel.ascend.host import SET_ENV_CANDIDATES, ascend_warnings, detect_ascend
from envkit.accel.ascend.matrix import SECTION, CannVersion, NpuTable, npu_table
from envkit.accel.ascend.patch import PATCH_MARKERS
from envkit.accel.base import AcceleratorBlock, ChoiceContext, Conflict, HookData, LaunchHint, TorchChoice, WheelNeed, common_block
from envkit.accel.registry import get_backend
from envkit.compat import matrix
from envkit.fields import Field, regex, specifier

if TYPE_CHECKING:
    from envkit.hostfacts import HostFacts


# What CANN's set_env.sh changes (research ascend.md 3.4): the hook saves them so deactivation restores them.
CANN_VARS = ("PATH", "LD_LIBRARY_PATH", "PYTHONPATH", "ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH", "ASCEND_OPP_PATH",
             "ASCEND_AICPU_PATH", "TOOLCHAIN_HOME", "ASCEND_NNAE_HOME")


def _cann_check(value: Any) -> str | None:
    try:
        CannVersion(value)
    except ValueError:
        return "a CANN version such as '8.3.RC1' or '9.1.0'"
    return None


class AscendBackend:
    name = "ascend"
    title = "Ascend NPU"
    check_prefixes = ("npu.",)
    device = "npu"
    visible_devices_var: str | None = "ASCEND_RT_VISIBLE_DEVICES"
    slurm_gres = "npu"  # gres.conf Name=npu on Ascend SLURM clusters
    collective = "hccl"
    report_keys = ("torch_npu", "cann")
    profile_fields: dict[str, dict[str, Any]] = {
        "packages": {"torch_npu": Field("str", "a version specifier for torch_npu, which fails beside another accelerator's "
                                               "torch ('Two accelerators cannot be used at the same time')", check=specifier)},
        "hardware": {
            "npu": Field("str", "the NPU model"),
            "cann_min": Field("str", "a CANN version", check=_cann_check),
            "set_env": Field("list[str]", "absolute paths of CANN's set_env.sh candidates"),
        },
        "match": {
            "npu_name": Field("str", "a regular expression searched (case-insensitively) in npu-smi's chip name, e.g. '910B'", check=regex),
        },
    }

    def collect(self, boundary: Any) -> AscendFacts:
        return detect_ascend(boundary)[0]

    def detect_warnings(self, host: "HostFacts") -> list[str]:
        out = ascend_warnings(ascend(host))
        if getattr(host.accelerators.get("cuda"), "gpus", ()) and ascend(host).present():
            out.append("both NVIDIA GPUs and Ascend NPUs are present; never install torch_npu into the "
                       "CUDA environment (torch_npu refuses a second accelerator)")
        return out

    def describe(self, host: "HostFacts") -> str | None:
        return f"Ascend NPU, CANN {ascend(host).cann.version or '?'}" if ascend(host).present() else None

    def detected(self, host: "HostFacts") -> bool:
        return ascend(host).present()

    def host_rows(self, host: "HostFacts") -> list[tuple[str, str]]:
        asc = ascend(host)
        if not asc.present() and not asc.cann.set_env:
            return [("ascend", "no NPU found")]
        smi = asc.npu_smi
        rows = [("ascend", f"{len(asc.chip_nodes())} davinci nodes, driver {asc.driver_version or '?'}, npu-smi {smi.version if smi else 'missing'}")]
        for c in smi.chips if smi else ():
            rows.append((f"  npu {c.index}", f"{c.name}, {c.health or '?'}, HBM {c.hbm_total_mb or '?'} MB"))
        cann = asc.cann
        sourced = f"sourced ({cann.home_path})" if cann.home_path else "not sourced"
        rows.append(("cann", f"{cann.version or '?'}, {sourced}"))
        return rows

    def matches(self, match: dict[str, Any], host: "HostFacts") -> str | None:
        """Only /dev/davinciN nodes count: npu-smi without them (driver not loaded, a container started
        without the devices) cannot train on an NPU."""
        nodes = ascend(host).chip_nodes()
        if not nodes:
            return None
        chips = ascend(host).npu_smi.chips if ascend(host).npu_smi else ()
        if "npu_name" in match:
            pattern = re.compile(match["npu_name"], re.IGNORECASE)
            if not chips or not all(pattern.search(c.name) for c in chips):
                return None
            return f"{len(nodes)} NPU device nodes; chip name matches {match['npu_name']!r}"
        return f"{len(nodes)} NPU device nodes (/dev/davinciN)"

    def check_profile(self, profile, bad) -> None:  # type: ignore[no-untyped-def]
        pk = profile.packages
        if "torch_npu" not in pk:
            raise bad("accelerator 'ascend' needs 'packages.torch_npu'", "add packages.torch_npu, e.g. \">=2.7.1,<2.7.2\"")
        if pk.get("torch_local") not in (None, "cpu"):
            raise bad("torch_npu needs a CPU build of torch, but 'packages.torch_local' asks for another", "set packages.torch_local = \"cpu\"")

    def host_warnings(self, ctx: ChoiceContext, host: "HostFacts") -> list[str]:
        warnings = []
        if not self.detected(host):
            warnings.append(f"this host has no Ascend NPU; the tuple is for the profile's target ({ctx.profile.hardware.get('npu', 'Ascend')}), not this machine")
            return warnings
        if get_backend("cuda").detected(host):
            warnings.append("this host also has an NVIDIA GPU: never install torch_npu into a CUDA environment (torch_npu refuses two accelerators)")
        cann = ascend(host).cann
        if cann.version and cann.home_path is None:
            where = cann.set_env[0] if cann.set_env else "<CANN>/set_env.sh"
            warnings.append(f"CANN {cann.version} is installed but not sourced in this shell (ASCEND_HOME_PATH unset); the hooks will source {where}")
        return warnings

    def _cann(self, ctx: ChoiceContext) -> tuple[str, str]:
        floor = ctx.profile.hardware.get("cann_min")
        host_cann = ascend(ctx.host).cann.version if ctx.host is not None else None
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

    def choose_torch(self, ctx: ChoiceContext, candidates: list[str]) -> TorchChoice:
        m = matrix()
        cann, cann_reason = self._cann(ctx)
        npu_spec = SpecifierSet(ctx.profile.packages["torch_npu"])
        rejected: list[str] = []
        for version in sorted(candidates, key=Version, reverse=True):
            npu = npu_table(m).torch_npu_for(version, cann)
            if npu is None:
                rejected.append(f"no torch_npu for torch {version} is built for CANN <= {cann}")
                continue
            if not npu_spec.contains(npu, prereleases=True):
                rejected.append(f"torch_npu {npu} (for torch {version}, CANN {cann}) is outside '{npu_spec}'")
                continue
            row = npu_table(m).row(npu)
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
            return TorchChoice(version, "cpu", local=local, index=index, reasons=reasons, extra={"torch_npu": npu, "cann": str(cann)})
        # Which newer CANN has a torch_npu for these torch releases with a wheel for this Python (the way out).
        newer = sorted((r for r in npu_table(m).rows() if r.torch in candidates and r.python.contains(ctx.python, prereleases=True)
                        and npu_spec.contains(r.torch_npu, prereleases=True)), key=lambda r: r.cann)
        hint = (f"run on a host with CANN >= {newer[0].cann} (torch_npu {newer[0].torch_npu} has a Python {ctx.python} wheel), "
                "or resolve for one with --host FILE (its envkit detect --json); " if newer else "")
        raise Conflict(
            f"No torch/torch_npu pair fits profile '{ctx.profile.name}' on {ctx.arch} with CANN {cann}: " + "; ".join(rejected),
            fix=hint + "or upgrade CANN to a release that has a torch_npu for this torch (Ascend/pytorch COMPATIBILITY)",
        )

    def hook_env(self, ctx: ChoiceContext) -> dict[str, str]:
        return {}

    def block(self, ctx: ChoiceContext, choice: TorchChoice, torchvision: str) -> AcceleratorBlock:
        npu, cann = choice.extra["torch_npu"], choice.extra["cann"]
        # CANN's own set_env.sh sets its toolkit paths; the hook sources the first install found.
        hooks = HookData(env=self.hook_env(ctx), source_first=tuple(ctx.profile.hardware.get("set_env", [])),
                         source_saves=CANN_VARS, visible_devices_var=self.visible_devices_var)
        py = ctx.python.replace(".", "")
        # An offline Atlas box brings its own wheels: torch_npu must be among them (it follows the host's CANN).
        wheel = WheelNeed("torch-npu", npu, required=True,
                          why=f"profile '{ctx.profile.name}' needs torch_npu {npu} for CANN {cann}",
                          fix=f"put torch_npu-{npu}-cp{py}-*-manylinux*_{ctx.arch}.whl into that directory (from PyPI or "
                              "Ascend's release page), or drop --wheels on a connected machine")
        return common_block(self.name, choice, torchvision, hooks, key="torch_npu", data={"version": npu, "cann": cann},
                            requirements=(("torch-npu", f"torch-npu=={npu}"),), resolved_requirements=(f"torch-npu=={npu}",),
                            verify=(("torch_npu", npu),), title=f", torch_npu {npu}", wheels=(wheel,),
                            matrix_keys=(("torch_npu", npu),), summary=(("torch_npu", f"{npu} (CANN {cann})"),))

    # --- doctor ---
    checks_module: str | None = "envkit.accel.ascend.checks"
    probe_fragment: str | None = "envkit.accel.ascend.fragment"
    patch_markers: dict[str, tuple[str, ...]] = PATCH_MARKERS  # what proves its lerobot patch is installed
    visible_devices_also: tuple[str, ...] = ()
    torch_version_attrs: tuple[str, ...] = ()
    device_runtime: str | None = "torch_npu"
    matrix_check: str | None = "envkit.accel.ascend.matrixcheck"
    matrix_sections: tuple[str, ...] = (SECTION,)

    def matrix_row(self, data: dict[str, Any], kind: str, key: str) -> Any:
        return NpuTable(data).raw_row(key)

    # --- launch ---
    def launch_env(self, nproc: int) -> dict[str, str]:
        # HCCL's 120 s link-setup default is shorter than rank 0 can take to load a dataset while the
        # other ranks wait (EI0006); the allocator setting is the Atlas ACT recipe's run_train.sh.
        return {"HCCL_CONNECT_TIMEOUT": "600", "PYTORCH_NPU_ALLOC_CONF": "expandable_segments:True"}

    def network_vars(self) -> tuple[tuple[str, str], ...]:
        # Rank-table-free multi-node HCCL: HCCL_IF_IP is this node's address for the host-side
        # handshake, HCCL_SOCKET_IFNAME the interface (CANN environment variable reference).
        return (("HCCL_IF_IP", "ip"), ("HCCL_SOCKET_IFNAME", "ifname"), ("GLOO_SOCKET_IFNAME", "ifname"))

    def launch_sources(self, host: "HostFacts | None") -> tuple[str, ...]:
        """CANN's set_env.sh, sourced in every training process: found on the host, else CANN's usual places."""
        found = tuple(ascend(host).cann.set_env) if host is not None else ()
        return found or tuple(SET_ENV_CANDIDATES)

    def device_count_code(self) -> str | None:
        return "(__import__('torch_npu'), torch.npu.device_count())[1]"

    def host_device_count(self, host: "HostFacts | None") -> int | None:
        if host is None:
            return None
        chips = ascend(host).npu_smi.chips if ascend(host).npu_smi is not None else ()
        return len(chips) or len(ascend(host).chip_nodes()) or None

    def failure_hints(self) -> list:
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
