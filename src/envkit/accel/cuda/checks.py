"""cuda.*: driver vs the CUDA torch was built with, kernels for this GPU, visible devices, containers.

The CUDA backend's check module (CudaBackend.checks_module); also its share of the generic checks
(torch.build, the report's tuple and rows) through the hooks envkit.doctor.accel lists.
"""

from __future__ import annotations

from typing import Any

from envkit.accel.cuda.arch import capability_supported, driver_at_least
from envkit.accel.cuda.facts import nvidia
from envkit.accel.cuda.matrix import cuda_table
from envkit.doctor.checks._util import arch, base, err_text, first_line, known, matrix, pip_install
from envkit.doctor.model import Check, Context, Outcome, fail, ok, skip, warn

BACKEND = "cuda"


def _applies(ctx: Context) -> str | None:
    """None when CUDA matters here (the backend detects an NVIDIA GPU or driver, or the profile uses it)."""
    if ctx.uses(BACKEND):
        return None
    return "no NVIDIA GPU on this host and the profile does not use CUDA"


def _facts(ctx: Context) -> dict[str, Any]:
    """What this backend's probe fragment reported (torch["cuda_facts"])."""
    return ctx.section("torch").get("cuda_facts") or {}


def _cu_fix(ctx: Context, need_cc: str | None = None, max_cuda: str | None = None) -> str:
    """Reinstall the same torch from a build that fits (kernels for cc, CUDA the driver runs)."""
    m = matrix()
    torch = base(ctx.dist("torch"))
    if m is None or torch is None:
        return "install a torch CUDA build that supports this GPU and driver (envkit setup --profile 5090)"
    builds = known(lambda: cuda_table(m).torch_builds(torch, arch(ctx))) or {}
    fits = []
    for b in builds.values():
        if not b.cuda:
            continue
        if need_cc and not (known(capability_supported, b.archs, b.ptx, need_cc) or (False,))[0]:
            continue
        if max_cuda and tuple(map(int, b.cuda.split("."))) > tuple(map(int, max_cuda.split("."))):
            continue
        fits.append(b)
    if not fits:
        return (f"no known build of torch {torch} fits; install a newer torch built with CUDA >= 12.8 for "
                "sm_120 (e.g. torch 2.8-2.10 from PyPI), or envkit setup --profile 5090")
    best = fits[-1]
    url = None if best.index == "pypi" else known(m.index_url, best.index)
    return pip_install(ctx, "--force-reinstall", "--no-deps", f"torch=={torch}", index_url=url) + f"  # the {best.name} build"


def driver(ctx: Context) -> Outcome:
    if (why := _applies(ctx)):
        return skip(why)
    nv = nvidia(ctx.host)
    drv = nv.driver_version
    cuda = ctx.section("torch").get("cuda")
    if not drv:
        return fail(f"no NVIDIA driver found ({nv.error or 'NVML not loadable'})",
                    "install the NVIDIA driver (>= 570 for an RTX 5090 with CUDA 12.8 builds)")
    if not cuda:
        return skip(f"driver {drv}; torch is not a CUDA build (see torch.build)")
    m = matrix()
    floor = known(lambda: cuda_table(m).min_driver(cuda)) if m else None
    if floor is None:
        return warn(f"driver {drv}; CUDA {cuda} is not in envkit's driver table", "check NVIDIA's CUDA release notes")
    need = floor.lerobot_floor or floor.toolkit_min
    if driver_at_least(drv, need) or driver_at_least(drv, floor.toolkit_min):
        return ok(f"driver {drv} runs torch's CUDA {cuda} (needs >= {floor.toolkit_min})", floor.source)
    major = cuda.split(".")[0]
    if driver_at_least(drv, floor.compat_floor):
        return warn(f"driver {drv} is below CUDA {cuda}'s {floor.toolkit_min} but within the {major}.x minor-version "
                    "compatibility floor: PTX JIT and some features are unavailable",
                    f"upgrade the driver to >= {floor.toolkit_min}", floor.source)
    max_cuda = nv.cuda_driver_version
    return fail(f"driver {drv} is too old for torch's CUDA {cuda} build (needs >= {floor.toolkit_min}; {major}.x floor {floor.compat_floor})"
                + (f"; this driver runs CUDA <= {max_cuda}" if max_cuda else ""),
                f"upgrade the NVIDIA driver to >= {floor.toolkit_min}, or {_cu_fix(ctx, max_cuda=max_cuda)}", floor.source)


def arch_support(ctx: Context) -> Outcome:
    if (why := _applies(ctx)):
        return skip(why)
    cf = _facts(ctx)
    archs = cf.get("arch_list") or []
    if not archs:
        return skip("torch reports no CUDA arch list (CPU build or torch did not import)")
    sm = [a for a in archs if a.startswith("sm_")]
    ptx = [a for a in archs if a.startswith("compute_")]
    # (name, compute capability): the host's GPUs, else the devices torch itself reported
    gpus = [(g.name, g.compute_capability) for g in nvidia(ctx.host).gpus] or \
        [(d.get("name") or "GPU", d.get("capability")) for d in cf.get("devices") or []]
    bad, good = [], []
    for name, cc in gpus:
        if not cc:
            continue
        supported, reason = capability_supported(sm, ptx, cc)
        (good if supported else bad).append((name, cc, reason))
    if bad:
        name, cc, reason = bad[0]
        return fail(f"{name or 'GPU'} (compute capability {cc}): {reason}",
                    _cu_fix(ctx, need_cc=cc, max_cuda=nvidia(ctx.host).cuda_driver_version),
                    "torch arch list: " + " ".join(archs))
    if not good:
        return skip("no GPU compute capability known")
    return ok("; ".join(f"{n or 'GPU'}: {r}" for n, _, r in good), "torch arch list: " + " ".join(archs))


def kernel(ctx: Context) -> Outcome:
    if (why := _applies(ctx)):
        return skip(why)
    cf = _facts(ctx)
    if not cf.get("built"):
        return skip("torch is not a CUDA build (see torch.build)")
    if not cf.get("available"):
        err = err_text(cf, "available_error")
        return fail("torch.cuda.is_available() is False" + (f": {first_line(err)}" if err else ""),
                    "check cuda.driver and cuda.container; `nvidia-smi` must list the GPU inside this env")
    k = cf.get("kernel") or {}
    if k.get("ok"):
        return ok("a CUDA kernel ran on device 0")
    text = err_text(k, "error") or "wrong result"
    warns = "\n".join(ctx.section("torch").get("warnings") or [])
    if "no kernel image" in text:
        cc = next((d.get("capability") for d in cf.get("devices") or [] if d.get("capability")), None)
        return fail("torch.cuda.is_available() is True but kernels do not run: " + first_line(text),
                    _cu_fix(ctx, need_cc=cc, max_cuda=nvidia(ctx.host).cuda_driver_version), warns + "\n" + text)
    return fail("a CUDA kernel launch failed: " + first_line(text), "run with CUDA_LAUNCH_BLOCKING=1 to locate it; check cuda.driver", warns + "\n" + text)


def devices(ctx: Context) -> Outcome:
    if (why := _applies(ctx)):
        return skip(why)
    cf = _facts(ctx)
    host_n = len(nvidia(ctx.host).gpus)
    seen = cf.get("device_count")
    visible = (ctx.probe.get("env") or {}).get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1", "none", "NoDevFiles"):
        return fail(f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU", "unset CUDA_VISIBLE_DEVICES (or list the GPUs to use, e.g. 0,1)")
    if seen is None:
        return skip("torch did not report a device count")
    if visible:
        wanted = [v for v in visible.split(",") if v.strip()]
        if seen != len(wanted):
            return warn(f"CUDA_VISIBLE_DEVICES={visible} names {len(wanted)} device(s), torch sees {seen}",
                        f"use indices below {host_n} (or GPU UUIDs) in CUDA_VISIBLE_DEVICES")
        return ok(f"torch sees {seen} device(s) as CUDA_VISIBLE_DEVICES={visible} asks")
    if host_n and seen != host_n:
        return warn(f"the host has {host_n} GPU(s), torch sees {seen}", "check CUDA_VISIBLE_DEVICES and the container's --gpus")
    return ok(f"torch sees {seen} of {host_n} GPU(s)")


def container(ctx: Context) -> Outcome:
    if (why := _applies(ctx)):
        return skip(why)
    kind = ctx.host.container
    nodes = nvidia(ctx.host).device_nodes
    if not kind:
        return ok("not in a container")
    if not nodes:
        return fail(f"inside a {kind} container with no /dev/nvidia* devices mapped",
                    "restart the container with GPUs: docker run --gpus all ... (needs nvidia-container-toolkit on the host)")
    return ok(f"{kind} container with {len(nodes)} NVIDIA device node(s)")


# --- this backend's share of the generic checks (envkit.doctor.accel) -----------------------


def torch_build(ctx: Context) -> Outcome | None:
    """A CPU-only torch where CUDA is in play fails; a CUDA build without a GPU here is fine, said so."""
    t = ctx.section("torch")
    version = t.get("version") or ctx.dist("torch")
    cuda = t.get("cuda")
    gpus = nvidia(ctx.host).gpus
    if cuda:
        return None if gpus else ok(f"torch {version}: CUDA {cuda} build (its CUDA libraries are unused on this host)")
    if not ctx.uses(BACKEND):
        return None
    m = matrix()
    what = (f"{len(gpus)} NVIDIA GPU(s)" if gpus else "the profile's CUDA accelerator" if ctx.backend.name == BACKEND
            else "an NVIDIA driver")
    builds = known(lambda: cuda_table(m).torch_builds(base(version), arch(ctx))) if m else None
    cu = [b for b in (builds or {}).values() if b.cuda]
    hint = ""
    if cu:
        best = cu[-1]
        url = known(m.index_url, best.index) if best.index != "pypi" else None
        hint = pip_install(ctx, "--force-reinstall", "--no-deps", f"torch=={base(version)}", index_url=url)
    return fail(f"torch {version} is a CPU-only build but this host has {what}: training would run on CPU",
                hint or "install a CUDA build of torch (envkit setup --profile 5090)")


def versions(ctx: Context) -> dict[str, Any]:
    return {"cuda": ctx.section("torch").get("cuda"), "driver": nvidia(ctx.host).driver_version, "nccl": _facts(ctx).get("nccl")}


def report_rows(ctx: Context) -> list[tuple[str, Any]]:
    """lerobot-info's CUDA fields, plus the GPU and driver the host has."""
    torch = ctx.section("torch")
    return [
        ("Is PyTorch built with CUDA support?", bool(torch.get("cuda"))),
        ("CUDA available (torch.cuda.is_available())", _facts(ctx).get("available")),
        ("Cuda version", torch.get("cuda")),
        ("GPU model", ", ".join(g.name for g in nvidia(ctx.host).gpus) or "none"),
        ("NVIDIA driver", nvidia(ctx.host).driver_version),
    ]


SMOKE_NEEDS = ("cuda.kernel", "cuda.arch")
# What `envkit launch` checks before starting its processes (from its own probe: torch's CUDA, the host's driver).
LAUNCH_CHECKS = ("cuda.driver",)

CHECKS = [
    Check("cuda.driver", "NVIDIA driver vs torch's CUDA", driver, needs=("torch.import",)),
    Check("cuda.arch", "GPU compute capability vs torch's kernels", arch_support, needs=("torch.import",)),
    Check("cuda.kernel", "a real CUDA kernel runs", kernel, needs=("torch.import",)),
    Check("cuda.devices", "visible CUDA devices", devices, needs=("torch.import",)),
    Check("cuda.container", "GPU devices mapped into the container", container),
]


def build_name(ctx: Context) -> str | None:
    """torch's build, when it is a CUDA one (torch.version.cuda): for torch.build's summary."""
    cuda = ctx.section("torch").get("cuda")
    return f"CUDA {cuda}" if cuda else None
