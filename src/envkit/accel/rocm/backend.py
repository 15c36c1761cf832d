"""AMD GPUs through ROCm: a ROCm build of torch from PyTorch's ROCm wheel index whose gfx arch list
covers every GPU, trained on with the device string "cuda" (HIP reuses torch.cuda) and RCCL behind
torch.distributed's "nccl" backend name."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from packaging.version import Version

from envkit.accel.base import AcceleratorBlock, ChoiceContext, Conflict, HookData, LaunchHint, TorchChoice, common_block
from envkit.accel.rocm import host as reader
from envkit.accel.rocm import matrix
from envkit.accel.rocm.facts import NAME, gfx_targets, gpus, override_for, rocm
from envkit.fields import Field, each, matches, regex

if TYPE_CHECKING:
    from envkit.hostfacts import HostFacts

_GFX = matches(r"gfx[0-9]+[0-9a-f]*", "an LLVM gfx target like 'gfx942'")


class RocmBackend:
    name = NAME
    title = "AMD GPU"
    check_prefixes = ("rocm.",)
    device = "cuda"  # lerobot's --policy.device: a ROCm torch answers to "cuda" ('rocm' or 'hip' are not valid)
    # HIP's own selector (CUDA_VISIBLE_DEVICES is its alias); ROCR_VISIBLE_DEVICES, applied below it by the
    # ROCm runtime, stays the user's (e.g. a scheduler's) and HIP's indices count what it leaves.
    visible_devices_var: str | None = "HIP_VISIBLE_DEVICES"
    visible_devices_also: tuple[str, ...] = ("ROCR_VISIBLE_DEVICES",)
    slurm_gres = "gpu"
    collective = "nccl"  # torch.distributed's name; a ROCm build runs RCCL behind it
    report_keys = ("rocm", "hip", "rccl")
    patch_markers: dict[str, tuple[str, ...]] = {}  # lerobot trains on "cuda" unchanged
    profile_fields: dict[str, dict[str, Any]] = {
        "packages": {"rocm": Field("str", "the ROCm build of torch, e.g. '6.4' (its wheels are torch==X+rocm6.4)",
                                   check=matches(r"\d+\.\d+(\.\d+)?", "a ROCm version like '6.4' or '6.2.4'"))},
        "hardware": {
            "gpu": Field("str", "the GPU model(s) the profile is for"),
            "gfx": Field("list[str]", "the gfx targets the torch build must carry, e.g. [\"gfx942\", \"gfx1100\"]", check=each(_GFX)),
        },
        "match": {
            "gfx": Field("str", "a regular expression every AMD GPU's gfx target must match, e.g. '^gfx(942|1100)$'", check=regex),
            "gpu_name": Field("str", "a regular expression searched (case-insensitively) in the GPUs' names, e.g. 'MI300X'", check=regex),
        },
    }

    # --- detect ---

    def collect(self, boundary: Any) -> dict[str, Any] | None:
        return reader.collect(boundary)

    def detect_warnings(self, host: "HostFacts") -> list[str]:
        facts = rocm(host)
        out = [f"AMD GPU: {e}" for e in facts.get("errors") or []]
        if gpus(host) and not facts.get("kfd"):
            out.append("AMD GPUs without /dev/kfd: the ROCm runtime cannot reach them (load amdgpu; in a container pass "
                       "--device=/dev/kfd --device=/dev/dri)")
        return out

    def describe(self, host: "HostFacts") -> str | None:
        found = gpus(host)
        if not found:
            return None
        names = ", ".join(sorted({str(g.get("name") or g.get("gfx") or "AMD GPU") for g in found}))
        return f"{len(found)} x {names}, ROCm {rocm(host).get('rocm_version') or '?'}"

    def detected(self, host: "HostFacts") -> bool:
        facts = rocm(host)
        return bool(facts.get("gpus")) or bool(facts.get("kfd"))

    def host_rows(self, host: "HostFacts") -> list[tuple[str, str]]:
        facts = rocm(host)
        if not facts:
            return []
        tool = facts.get("smi") or "no amd-smi/rocm-smi"
        rows = [("rocm", f"ROCm {facts.get('rocm_version') or '?'}, amdgpu {facts.get('driver_version') or '?'}, "
                         f"{'/dev/kfd' if facts.get('kfd') else 'no /dev/kfd'}, names via {tool}")]
        for g in gpus(host):
            parts = [str(g.get("name") or "AMD GPU"), str(g.get("gfx") or "gfx?"), _gib(g.get("memory_total_bytes")), g.get("bdf")]
            rows.append((f"  gpu {g.get('index')}", ", ".join(str(p) for p in parts if p)))
        return rows

    def matches(self, match: dict[str, Any], host: "HostFacts") -> str | None:
        """Every AMD GPU of the host must fit (one profile serves a box only when all its GPUs fit)."""
        found = gpus(host)
        if not found:
            return None
        said = []
        if "gfx" in match:
            pattern = re.compile(match["gfx"])
            if not all(g.get("gfx") and pattern.search(str(g["gfx"])) for g in found):
                return None
            said.append(f"gfx {', '.join(gfx_targets(host))} matches {match['gfx']!r}")
        if "gpu_name" in match:
            pattern = re.compile(match["gpu_name"], re.IGNORECASE)
            if not all(g.get("name") and pattern.search(str(g["name"])) for g in found):
                return None
            said.append(f"GPU name matches {match['gpu_name']!r}")
        names = ", ".join(sorted({str(g.get("name") or "AMD GPU") for g in found}))
        return f"{len(found)} x {names}: " + ("; ".join(said) or "an AMD GPU")

    def host_warnings(self, ctx: ChoiceContext, host: "HostFacts") -> list[str]:
        if not self.detected(host):
            return [f"this host has no AMD GPU; the tuple is for the profile's target "
                    f"({ctx.profile.hardware.get('gpu', 'an AMD GPU')}), not this machine"]
        out = []
        facts = rocm(host)
        if not facts.get("kfd"):
            out.append("no /dev/kfd: the ROCm runtime cannot reach the GPUs (in a container, pass --device=/dev/kfd --device=/dev/dri)")
        build = matrix.build(str(ctx.profile.packages.get("torch", "")).lstrip("=") or "", str(ctx.profile.packages.get("rocm", "")))
        if build is not None:
            missing = [t for t in gfx_targets(host) if not build.covers(t)]
            if missing:
                out.append(f"the ROCm {build.rocm} wheels carry no code objects for {', '.join(missing)} of this host")
        return out

    # --- profiles ---

    def check_profile(self, profile: Any, bad: Any) -> None:
        if "rocm" not in profile.packages:
            raise bad("accelerator 'rocm' needs 'packages.rocm' (the ROCm build of torch)", "add packages.rocm = \"6.4\"")
        rocm_v = str(profile.packages["rocm"])
        if not any(b.rocm == rocm_v for b in matrix.builds()):
            known = ", ".join(sorted({b.rocm for b in matrix.builds()}, key=_vkey))
            raise bad(f"'packages.rocm' is {rocm_v!r}, which is not a ROCm build PyTorch publishes (known: {known})",
                      f"set packages.rocm to one of {known}")

    # --- resolve ---

    def _targets(self, ctx: ChoiceContext) -> list[tuple[str, str]]:
        """(who, gfx) the build must carry: the profile's targets and, on the target host, every GPU there."""
        out: list[tuple[str, str]] = [(ctx.profile.hardware.get("gpu", "the profile's GPU"), str(t))
                                      for t in ctx.profile.hardware.get("gfx", [])]
        if ctx.host is not None:
            for g in gpus(ctx.host):
                if g.get("gfx") and not any(t == g["gfx"] for _, t in out):
                    out.append((str(g.get("name") or "this host's GPU"), str(g["gfx"])))
        return out

    def _covered(self, ctx: ChoiceContext) -> str:
        """The targets a chosen build covers, for its reason: the profile's, then this host's GPUs."""
        said = []
        if ctx.profile.hardware.get("gfx"):
            said.append(f"the profile's targets {', '.join(ctx.profile.hardware['gfx'])}")
        if ctx.host is not None and gpus(ctx.host):
            groups: dict[tuple[str, str], int] = {}
            for g in gpus(ctx.host):
                key = (str(g.get("name") or "AMD GPU"), str(g.get("gfx") or "gfx?"))
                groups[key] = groups.get(key, 0) + 1
            said.append("this host's " + ", ".join(f"{n} x {name} ({gfx})" for (name, gfx), n in groups.items()))
        return " and ".join(said) or "no GPU named"

    def choose_torch(self, ctx: ChoiceContext, candidates: list[str]) -> TorchChoice:
        rocm_v = str(ctx.profile.packages["rocm"])
        allowed = {str(i["name"]) for i in ctx.profile.indexes}
        rejected: list[str] = []
        if ctx.arch != "x86_64":
            raise Conflict(f"PyTorch publishes ROCm wheels for Linux x86_64 only; profile '{ctx.profile.name}' targets {ctx.arch}",
                           fix="use this profile on an x86_64 host, or the cpu profile here")
        for version in sorted(candidates, key=Version, reverse=True):
            build = matrix.build(version, rocm_v)
            if build is None:
                others = ", ".join(b.local for b in matrix.builds_of(version)) or "none"
                rejected.append(f"torch {version} has no rocm{rocm_v} build (its ROCm builds: {others})")
                continue
            if build.index not in allowed:
                rejected.append(f"torch {version}+{build.local} comes from the '{build.index}' index, which the profile does not list")
                continue
            missing = [f"{who} ({gfx})" for who, gfx in self._targets(ctx) if not build.covers(gfx)]
            if missing:
                rejected.append(f"torch {version}+{build.local} carries no code objects for {'; '.join(missing)} "
                                f"(its arch list: {' '.join(build.archs)})")
                continue
            targets = self._covered(ctx)
            return TorchChoice(
                version=version, build=build.local, local=build.local, index=build.index, arch_list=build.archs,
                reasons=(f"torch {version}: newest in the profile's range '{ctx.profile.packages['torch']}' with a "
                         f"{build.local} build (index {build.index}) whose arch list covers {targets}",),
                extra={"rocm": build.rocm, "hip": build.hip.get(version)},
            )
        raise Conflict(f"No torch in '{ctx.profile.packages['torch']}' fits profile '{ctx.profile.name}': " + "; ".join(rejected),
                       fix=self._way_out(ctx, rejected))

    def _way_out(self, ctx: ChoiceContext, rejected: list[str]) -> str:
        text = " ".join(rejected)
        rocm_v = str(ctx.profile.packages["rocm"])
        if "no code objects" in text:
            hints = [f"{gfx}: HSA_OVERRIDE_GFX_VERSION={o[0]} runs it as {o[1]}" for _, gfx in self._targets(ctx)
                     if (o := override_for(gfx, next((b.archs for b in matrix.builds() if b.rocm == rocm_v), ())))]
            return ("pick a ROCm build whose arch list has the GPU's gfx target (packages.rocm and packages.torch in a profile "
                    "of your own that 'extends' this one)" + ("; or, for a sibling of a listed target, " + "; ".join(hints) if hints else ""))
        if "does not list" in text:
            return (f"add the index to the profile: [[indexes]] name = \"pytorch-rocm{rocm_v}\", url = PyTorch's rocm{rocm_v} "
                    "wheel index, packages = [\"torch\", \"torchvision\"]")
        return f"widen packages.torch to a release with a rocm{rocm_v} build, or change packages.rocm"

    def hook_env(self, ctx: ChoiceContext) -> dict[str, str]:
        return {}

    def block(self, ctx: ChoiceContext, choice: TorchChoice, torchvision: str) -> AcceleratorBlock:
        rocm_v = str(choice.extra["rocm"])
        data = {"build": rocm_v, "index": choice.index, "arch_list": list(choice.arch_list)}
        if choice.extra.get("hip"):
            data["hip"] = choice.extra["hip"]
        hooks = HookData(env=self.hook_env(ctx), visible_devices_var=self.visible_devices_var)
        return common_block(self.name, choice, torchvision, hooks, key=NAME, data=data,
                            matrix_keys=(("rocm", rocm_v),),
                            summary=(("rocm", f"{rocm_v} (index {choice.index}; gfx {' '.join(choice.arch_list)})"),))

    # --- doctor ---
    checks_module: str | None = "envkit.accel.rocm.checks"
    probe_fragment: str | None = "envkit.accel.rocm.fragment"
    torch_version_attrs: tuple[str, ...] = ("hip",)  # a ROCm build sets torch.version.hip (and leaves .cuda None)
    device_runtime: str | None = None  # "cuda" works in a ROCm torch with nothing more imported

    # --- the compatibility matrix ---
    # Its rows live in builds.toml beside this module, not in compat.toml: a lock manifest's ("rocm", "6.4")
    # row digest covers that file's row.
    matrix_sections: tuple[str, ...] = ("rocm",)
    matrix_check: str | None = None  # no package of its own beyond torch/torchvision for `envkit matrix check`

    def matrix_row(self, data: dict[str, Any], kind: str, key: str) -> Any:
        return matrix.raw_row(key)

    # --- launch ---
    def launch_env(self, nproc: int) -> dict[str, str]:
        return {}  # RCCL's defaults; failure_hints names the variables that help when they fail

    def network_vars(self) -> tuple[tuple[str, str], ...]:
        # RCCL keeps NCCL's variable names; the c10d store and gloo pick the host name's address.
        return (("NCCL_SOCKET_IFNAME", "ifname"), ("GLOO_SOCKET_IFNAME", "ifname"))

    def launch_sources(self, host: "HostFacts | None") -> tuple[str, ...]:
        return ()  # the wheels carry their ROCm libraries: nothing to source

    def device_count_code(self) -> str | None:
        return "torch.cuda.device_count()"  # HIP answers through torch.cuda

    def host_device_count(self, host: "HostFacts | None") -> int | None:
        return len(gpus(host)) or None if host is not None else None

    def failure_hints(self) -> list[LaunchHint]:
        return [
            LaunchHint("rocm.no_code_object", r"hipErrorNoBinaryForGpu|invalid device function|Unable to find code object for all current devices",
                       "the torch wheel has no code objects for this GPU's gfx target",
                       "envkit doctor names the target and the wheel's arch list (rocm.arch); install a ROCm build that lists it, "
                       "or, for an RDNA sibling of a listed target, set HSA_OVERRIDE_GFX_VERSION (11.0.0 runs gfx110x as gfx1100)"),
            LaunchHint("rccl.init", r"RCCL|NCCL error|nccl(UnhandledCuda|System|Internal|Remote)Error|ncclInvalidUsage",
                       "RCCL (torch's 'nccl' backend on ROCm) could not connect the GPUs",
                       "rerun with NCCL_DEBUG=INFO (RCCL reads NCCL's variables); NCCL_SOCKET_IFNAME=<interface> when it picks the "
                       "wrong network; check that every selected GPU is free (amd-smi process or rocm-smi --showpids) and that "
                       "HIP_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES leave each rank a GPU"),
        ]


def _gib(n: Any) -> str | None:
    return f"{n / 2**30:.1f} GiB" if isinstance(n, (int, float)) else None


def _vkey(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())
