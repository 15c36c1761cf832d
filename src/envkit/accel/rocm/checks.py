"""rocm.*: the ROCm device nodes, the torch build (HIP, not CUDA), each GPU's gfx target vs the
wheel's arch list, a real kernel, visible devices. Also this backend's share of the generic checks
(torch.build, the report's tuple and rows) through the hooks envkit.doctor.accel lists.

Every check skips unless ROCm is in play (`ctx.uses`: the profile's accelerator, or AMD GPUs on this
host); the CUDA backend's checks skip here in turn, since a ROCm torch's "cuda" device is no NVIDIA GPU.
"""

from __future__ import annotations

from typing import Any

from envkit.accel.rocm import matrix as rocm_matrix
from envkit.accel.rocm.facts import NAME, base_gfx, gpus, override_for, rocm
from envkit.accel.rocm.fragment import FACTS_KEY
from envkit.doctor.checks._util import base, err_text, first_line, local, pip_install
from envkit.doctor.model import Check, Context, Outcome, fail, ok, skip, warn

HIDING = ("", "-1", "none")  # values of a *_VISIBLE_DEVICES variable that select no GPU
SELECTORS = ("ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES")


def _applies(ctx: Context) -> str | None:
    return None if ctx.uses(NAME) else "no AMD GPU on this host and the profile does not use ROCm"


def _facts(ctx: Context) -> dict[str, Any]:
    return ctx.section("torch").get(FACTS_KEY) or {}


def _hip(ctx: Context) -> str | None:
    return ctx.section("torch").get("hip") or _facts(ctx).get("hip")


def _wanted_rocm(ctx: Context) -> str | None:
    """The ROCm build the profile's tuple chose (or the profile names)."""
    block = getattr(ctx.resolved, "accel", None)
    if block is not None and block.backend == NAME and block.data:
        return str(block.data.get("build"))
    packages = getattr(ctx.profile, "packages", None) or {}
    return str(packages["rocm"]) if "rocm" in packages else None


def _index_url(ctx: Context, index: str) -> str | None:
    """The URL the profile (or its resolved tuple) gives the index name; envkit's code spells none."""
    for source in (getattr(ctx.resolved, "indexes", None), getattr(ctx.profile, "indexes", None)):
        for entry in source or []:
            if isinstance(entry, dict) and entry.get("name") == index and entry.get("url"):
                return str(entry["url"])
    return None


def _reinstall(ctx: Context, need_gfx: str | None = None) -> str:
    """Reinstall the same torch from a ROCm build that carries the host's targets."""
    torch = base(ctx.dist("torch") or ctx.section("torch").get("version"))
    if torch is None:
        return "install a ROCm build of torch (envkit setup --profile rocm)"
    want = _wanted_rocm(ctx)
    fits = [b for b in rocm_matrix.builds_of(torch) if need_gfx is None or b.covers(need_gfx)]
    fits.sort(key=lambda b: (b.rocm != want, [-int(p) for p in b.rocm.split(".")]))
    if not fits:
        return (f"no ROCm build of torch {torch} envkit knows carries {need_gfx or 'these GPUs'}; "
                "use a torch release with one (envkit resolve --profile rocm shows the choice)")
    best = fits[0]
    url = _index_url(ctx, best.index)
    where = f" from the '{best.index}' index (its URL is the profile's [[indexes]] entry)" if url is None else ""
    return pip_install(ctx, "--force-reinstall", "--no-deps", f"torch=={torch}+{best.local}", index_url=url) + where


# --- checks ------------------------------------------------------------------------------------


def devices_nodes(ctx: Context) -> Outcome:
    """/dev/kfd and the KFD topology: without them no ROCm program sees a GPU."""
    if (why := _applies(ctx)):
        return skip(why)
    facts = rocm(ctx.host)
    found = gpus(ctx.host)
    if not facts:
        return skip("no ROCm host facts (a hand-written --host file?)")
    if not facts.get("kfd"):
        where = f" inside a {ctx.host.container} container" if ctx.host.container else ""
        return fail(f"no /dev/kfd{where}: the ROCm runtime cannot reach the GPUs",
                    "load the amdgpu driver (modprobe amdgpu); in a container run it with --device=/dev/kfd --device=/dev/dri "
                    "--group-add video --group-add render")
    if not found:
        return fail("/dev/kfd exists but the KFD topology lists no GPU", "check dmesg for amdgpu errors; the GPU may be unsupported by this driver")
    targets = ", ".join(sorted({str(g.get("gfx")) for g in found}))
    return ok(f"/dev/kfd and {len(found)} GPU(s) in the KFD topology ({targets})",
              "\n".join(str(e) for e in facts.get("errors") or []) or None)


def build(ctx: Context) -> Outcome:
    """torch is a HIP build, of the ROCm the profile chose."""
    if (why := _applies(ctx)):
        return skip(why)
    t = ctx.section("torch")
    version = t.get("version") or ctx.dist("torch")
    if not version:
        return skip("torch is not installed")
    hip = _hip(ctx)
    if not hip:
        kind = f"a CUDA {t['cuda']} build" if t.get("cuda") else "a CPU-only build"
        return fail(f"torch {version} is {kind}: on AMD GPUs it trains on the CPU", _reinstall(ctx))
    want = _wanted_rocm(ctx)
    have = rocm_matrix.from_local(local(version))
    if want and have and have != want:
        return warn(f"torch {version} (HIP {hip}) is the rocm{have} build; the profile's tuple has rocm{want}",
                    _reinstall(ctx))
    return ok(f"torch {version}: ROCm build, HIP {hip}")


def arch(ctx: Context) -> Outcome:
    """Each GPU's gfx target is in torch's arch list (else kernels fail with hipErrorNoBinaryForGpu)."""
    if (why := _applies(ctx)):
        return skip(why)
    facts = _facts(ctx)
    archs = [a for a in (facts.get("arch_list") or []) if a]
    if not facts.get("built"):
        return skip("torch is not a ROCm build (see rocm.build)")
    if not archs:
        return skip("torch reports no arch list" + (f" ({facts['arch_list_error']})" if facts.get("arch_list_error") else ""))
    listed = {base_gfx(a) for a in archs}
    seen = [(str(g.get("name") or "GPU"), str(g["gfx"])) for g in gpus(ctx.host) if g.get("gfx")] or \
        [(str(d.get("name") or "GPU"), str(base_gfx(d.get("gcn_arch")))) for d in facts.get("devices") or [] if d.get("gcn_arch")]
    if not seen:
        return skip("no GPU gfx target known")
    override = (ctx.probe.get("env") or {}).get("HSA_OVERRIDE_GFX_VERSION")
    bad = [(n, g) for n, g in seen if g not in listed]
    detail = "torch arch list: " + " ".join(archs)
    if bad:
        name, gfx = bad[0]
        if override:
            return warn(f"{name} is {gfx}, not in torch's arch list; HSA_OVERRIDE_GFX_VERSION={override} makes the runtime load another target's code",
                        "keep it only if rocm.kernel is ok; otherwise install a build that lists the target: " + _reinstall(ctx, gfx), detail)
        hint = override_for(gfx, archs)
        fix = _reinstall(ctx, gfx)
        if hint:
            fix += f"; or set HSA_OVERRIDE_GFX_VERSION={hint[0]} to run it as {hint[1]} (same ISA family, not officially supported)"
        return fail(f"{name} ({gfx}): torch's wheel has no code objects for it", fix, detail)
    return ok("; ".join(f"{n}: {g} in the arch list" for n, g in dict.fromkeys(seen)), detail)


def kernel(ctx: Context) -> Outcome:
    if (why := _applies(ctx)):
        return skip(why)
    facts = _facts(ctx)
    if not facts.get("built"):
        return skip("torch is not a ROCm build (see rocm.build)")
    if not facts.get("available"):
        err = err_text(facts, "available_error")
        return fail("torch.cuda.is_available() is False on this ROCm build" + (f": {first_line(err)}" if err else ""),
                    "check rocm.devices_nodes and rocm.visible; the user needs the video and render groups (ls -l /dev/kfd)")
    k = facts.get("kernel") or {}
    if k.get("ok"):
        return ok("a HIP kernel ran on device 0 (device string 'cuda')")
    text = err_text(k, "error") or "wrong result"
    if "hipErrorNoBinaryForGpu" in text or "invalid device function" in text:
        return fail("torch sees the GPU but has no code object for it: " + first_line(text), "see rocm.arch", text)
    return fail("a HIP kernel launch failed: " + first_line(text), "run with AMD_SERIALIZE_KERNEL=3 HIP_LAUNCH_BLOCKING=1 to locate it", text)


def visible(ctx: Context) -> Outcome:
    """ROCR_VISIBLE_DEVICES (the runtime's selection), then HIP_/CUDA_VISIBLE_DEVICES (indices into what it left)."""
    if (why := _applies(ctx)):
        return skip(why)
    env = ctx.probe.get("env") or {}
    for var in SELECTORS:
        value = env.get(var)
        if value is not None and value.strip().lower() in HIDING:
            return fail(f"{var}={value!r} hides every GPU", f"unset {var} (or list the GPUs to use, e.g. 0,1)")
    seen = _facts(ctx).get("device_count")
    host_n = len(gpus(ctx.host))
    chosen = {v: env[v] for v in SELECTORS if env.get(v)}
    if seen is None:
        return skip("torch did not report a device count")
    said = " ".join(f"{k}={v}" for k, v in chosen.items())
    if chosen:
        last = list(chosen.values())[-1]
        wanted = [v for v in last.split(",") if v.strip()]
        if seen != len(wanted):
            return warn(f"{said} selects {len(wanted)} device(s), torch sees {seen}",
                        "HIP_VISIBLE_DEVICES counts the GPUs ROCR_VISIBLE_DEVICES leaves: index within those")
        return ok(f"torch sees {seen} device(s) as {said} asks")
    if host_n and seen != host_n:
        return warn(f"the host has {host_n} AMD GPU(s), torch sees {seen}",
                    "check ROCR_VISIBLE_DEVICES/HIP_VISIBLE_DEVICES and the container's --device=/dev/dri/renderD* list")
    return ok(f"torch sees {seen} of {host_n} GPU(s)")


# --- this backend's share of the generic checks (envkit.doctor.accel) ---------------------------


def torch_build(ctx: Context) -> Outcome | None:
    """A HIP build is this backend's to judge; a CPU/CUDA torch where ROCm is in play fails."""
    t = ctx.section("torch")
    version = t.get("version") or ctx.dist("torch")
    if _hip(ctx):
        return ok(f"torch {version}: ROCm build (HIP {_hip(ctx)})") if ctx.uses(NAME) else \
            ok(f"torch {version}: ROCm build (its HIP libraries are unused on this host)")
    if not ctx.uses(NAME):
        return None
    return fail(f"torch {version} is {'a CUDA' if t.get('cuda') else 'a CPU-only'} build but this host trains on AMD GPUs",
                _reinstall(ctx))


def build_name(ctx: Context) -> str | None:
    """torch's build, when it is a ROCm one (torch.version.hip): for torch.build's summary."""
    return f"ROCm (HIP {_hip(ctx)})" if _hip(ctx) else None


def versions(ctx: Context) -> dict[str, Any]:
    return {"rocm": rocm(ctx.host).get("rocm_version"), "hip": _hip(ctx), "rccl": _facts(ctx).get("rccl")}


def report_rows(ctx: Context) -> list[tuple[str, Any]]:
    return [
        ("Is PyTorch built with ROCm (HIP) support?", bool(_hip(ctx))),
        ("HIP version", _hip(ctx)),
        ("ROCm available (torch.cuda.is_available())", _facts(ctx).get("available")),
        ("GPU model", ", ".join(f"{g.get('name') or 'AMD GPU'} ({g.get('gfx')})" for g in gpus(ctx.host)) or "none"),
        ("ROCm user space", rocm(ctx.host).get("rocm_version")),
        ("amdgpu driver", rocm(ctx.host).get("driver_version")),
    ]


SMOKE_NEEDS = ("rocm.kernel", "rocm.arch")
LAUNCH_CHECKS = ("rocm.devices_nodes",)

CHECKS = [
    Check("rocm.devices_nodes", "/dev/kfd and the GPUs in the KFD topology", devices_nodes),
    Check("rocm.build", "torch is a ROCm (HIP) build", build, needs=("torch.import",)),
    Check("rocm.arch", "GPU gfx target vs torch's arch list", arch, needs=("torch.import",)),
    Check("rocm.kernel", "a real HIP kernel runs", kernel, needs=("torch.import",)),
    Check("rocm.visible", "visible AMD GPUs", visible, needs=("torch.import",)),
]
