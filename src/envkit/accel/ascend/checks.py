"""npu.*: CANN sourced, torch_npu matched to torch and CANN, NPUs visible, lerobot accepts `npu`.

The Ascend backend's check module (AscendBackend.checks_module); also its share of the generic
checks (why `import torch` fails, torch.build, torch.profile, the report) through the hooks
envkit.doctor.accel lists.
"""

from __future__ import annotations

from typing import Any

from envkit.accel.ascend.facts import ascend
from envkit.accel.ascend.matrix import CannVersion, npu_table
from envkit.doctor.checks._util import arch, base, err_text, first_line, known, matrix, pip_install, profile_get
from envkit.doctor.model import Check, Context, Outcome, fail, ok, skip, warn

BACKEND = "ascend"
AUTOLOAD = "Failed to load the backend extension: torch_npu"


def set_env_script(ctx: Context) -> str:
    found = ascend(ctx.host).cann.set_env
    return found[0] if found else "/usr/local/Ascend/ascend-toolkit/set_env.sh"


def _facts(ctx: Context) -> dict[str, Any]:
    """What this backend's probe fragment reported (torch["npu_facts"])."""
    return ctx.section("torch").get("npu_facts") or {}


def _applies(ctx: Context) -> str | None:
    if ctx.uses(BACKEND):  # the backend's own detection (`envkit detect`'s rule), or the profile's accelerator
        return None
    if ctx.dist("torch_npu"):
        return None  # torch_npu installed on a host without NPUs still breaks `import torch`
    return "no Ascend NPU on this host and the profile does not use one"


def cann(ctx: Context) -> Outcome:
    if (why := _applies(ctx)):
        return skip(why)
    env = ctx.probe.get("env") or {}
    info = ascend(ctx.host).cann
    home = env.get("ASCEND_HOME_PATH") or info.home_path
    scripts = info.set_env
    if home:
        return ok(f"CANN {info.version or ''} sourced (ASCEND_HOME_PATH={home})".replace("  ", " "))
    if scripts:
        return fail("the CANN environment is not sourced (ASCEND_HOME_PATH unset): torch_npu cannot find libhccl.so/libascendcl.so",
                    f"source {scripts[0]} (envkit setup --profile atlas-a2 writes an activation hook that does it)",
                    "set_env.sh found: " + ", ".join(scripts))
    return fail("CANN is not installed (no set_env.sh under /usr/local/Ascend/ascend-toolkit/ or /usr/local/Ascend/cann/)",
                "install the CANN toolkit matching torch_npu (see npu.torch_npu), then source its set_env.sh")


def torch_npu(ctx: Context) -> Outcome:
    if (why := _applies(ctx)):
        return skip(why)
    have = ctx.dist("torch_npu")
    torch = ctx.dist("torch")
    t = ctx.section("torch")
    if not have:
        return fail("torch_npu is not installed", pip_install(ctx, f"torch-npu=={base(torch)}" if torch else "torch-npu"))
    m = matrix()
    row = known(lambda: npu_table(m).row(base(have))) if m else None
    problems, fixes = [], []
    if row is not None and torch and base(torch) != row.torch:
        req = npu_table(m).torch_requirement(row.torch_npu, arch(ctx))
        url = known(m.index_url, "pytorch-cpu") if req.endswith("+cpu") else None
        problems.append(f"torch_npu {have} is built for torch {row.torch}, but torch {torch} is installed "
                        "(pip upgraded torch past torch_npu's pin?)")
        fixes.append(pip_install(ctx, "--force-reinstall", "--no-deps", req, index_url=url))
    cann_v = ascend(ctx.host).cann.version or _facts(ctx).get("cann_version")
    if row is not None and cann_v:
        try:
            if CannVersion(cann_v) < row.cann:
                problems.append(f"torch_npu {have} needs CANN >= {row.cann}, the host has {cann_v}")
                better = known(lambda: npu_table(m).torch_npu_for(base(torch) or row.torch, cann_v))
                fixes.append(pip_install(ctx, f"torch-npu=={better}") if better else f"upgrade CANN to {row.cann}")
        except ValueError:
            pass
    npu = _facts(ctx)
    text = err_text(t) or err_text(npu)
    if text and not problems:
        if AUTOLOAD in text or "libhccl" in text or "libascendcl" in text:
            return fail(f"torch_npu does not load: {first_line(text)}", f"source {set_env_script(ctx)}", text)
        return fail(f"torch_npu does not load: {first_line(text)}", pip_install(ctx, "--force-reinstall", f"torch-npu=={have}"), text)
    if problems:
        return fail("; ".join(problems), " && ".join(fixes), row.source if row else "")
    if row is None:
        return warn(f"torch_npu {have} is not in envkit's matrix; cannot check its torch/CANN pairing",
                    "compare with Ascend/pytorch COMPATIBILITY.md")
    return ok(f"torch_npu {have} pairs with torch {torch} and CANN {cann_v or row.cann}")


def devices(ctx: Context) -> Outcome:
    if (why := _applies(ctx)):
        return skip(why)
    if ctx.host.container and not ascend(ctx.host).chip_nodes():
        return fail(f"inside a {ctx.host.container} container without /dev/davinci* devices",
                    "docker run --device=/dev/davinci0 --device=/dev/davinci_manager --device=/dev/devmm_svm "
                    "--device=/dev/hisi_hdc -v /usr/local/Ascend/driver:/usr/local/Ascend/driver "
                    "-v /usr/local/bin/npu-smi:/usr/local/bin/npu-smi ...")
    npu = _facts(ctx)
    if npu.get("available"):
        k = npu.get("kernel") or {}
        if k and not k.get("ok"):
            return fail("an NPU op failed: " + first_line(err_text(k, "error")), "check the plog (~/ascend/log) and the driver/CANN pairing")
        return ok(f"torch.npu.is_available(): True, {npu.get('device_count')} device(s)")
    if npu.get("available") is False:
        visible = (ctx.probe.get("env") or {}).get("ASCEND_RT_VISIBLE_DEVICES")
        return fail("torch.npu.is_available() is False" + (f" (ASCEND_RT_VISIBLE_DEVICES={visible})" if visible else ""),
                    "check `npu-smi info` lists healthy chips and the driver is mounted; ASCEND_RT_VISIBLE_DEVICES must be ascending logical ids")
    return skip("torch_npu did not load (see npu.torch_npu)")


def lerobot_npu(ctx: Context) -> Outcome:
    if (why := _applies(ctx)):
        return skip(why)
    lr = ctx.section("lerobot")
    if not ctx.dist("lerobot"):
        return skip("lerobot is not installed")
    if lr.get("device_npu_branch"):
        return ok(f"lerobot's device utils ({lr.get('device_source')}) accept 'npu'")
    patch = (profile_get(ctx, "lerobot") or {}).get("patch")
    return fail(
        f"lerobot {ctx.dist('lerobot')} rejects device npu (ValueError: Unknown device npu. Supported devices are: "
        f"cuda, mps, xpu or cpu) and auto-selects cpu: {lr.get('device_source', 'its device utils')} has no npu branch",
        f"apply envkit's patch{' ' + patch if patch else ''} to the lerobot source and reinstall it: "
        "envkit setup --profile atlas-a2 --prefix <this env>",
    )


# --- this backend's share of the generic checks (envkit.doctor.accel) -----------------------


def explain_torch_import(ctx: Context, text: str, details: str) -> Outcome | None:
    """torch >= 2.5 auto-loads torch_npu: its failure to load is `import torch` failing."""
    if AUTOLOAD in text or "libhccl" in text or "libascendcl" in text:
        return fail(
            f"import torch fails: {first_line(text)} (torch_npu is auto-loaded by torch and cannot load: "
            "the CANN environment is not sourced, or torch no longer matches torch_npu)",
            f"source {set_env_script(ctx)} before training (envkit setup's activation hook does it); if it "
            "persists, reinstall the torch that torch_npu was built for (see npu.torch_npu); "
            "TORCH_DEVICE_BACKEND_AUTOLOAD=0 python -c 'import torch_npu' shows the real error",
            details,
        )
    return None


def torch_build(ctx: Context) -> Outcome | None:
    """torch_npu needs a CPU build of torch: a CUDA one on an Ascend host fails."""
    t = ctx.section("torch")
    cuda = t.get("cuda")
    if not (ctx.uses(BACKEND) and cuda):
        return None
    version = t.get("version") or ctx.dist("torch")
    m = matrix()
    url = known(m.index_url, "pytorch-cpu") if m else None
    return fail(
        f"torch {version} is a CUDA {cuda} build on an Ascend host: torch_npu refuses it "
        "('Two accelerators cannot be used at the same time in PyTorch: npu and cuda')",
        pip_install(ctx, "--force-reinstall", "--no-deps", f"torch=={base(version)}" + ("+cpu" if arch(ctx) == "x86_64" else ""),
                    index_url=url if arch(ctx) == "x86_64" else None),
    )


def versions(ctx: Context) -> dict[str, Any]:
    return {"torch_npu": ctx.dist("torch_npu"), "cann": ascend(ctx.host).cann.version}


def report_rows(ctx: Context) -> list[tuple[str, Any]]:
    return [("torch_npu version", ctx.dist("torch_npu")), ("CANN", ascend(ctx.host).cann.version)]


SMOKE_NEEDS = ("npu.torch_npu", "npu.lerobot", "npu.cann")
# What `envkit launch` checks before starting its processes (CANN sourced; torch_npu vs torch and the host's CANN).
LAUNCH_CHECKS = ("npu.cann", "npu.torch_npu")

CHECKS = [
    Check("npu.cann", "CANN environment sourced", cann),
    Check("npu.torch_npu", "torch_npu vs torch and CANN", torch_npu),
    Check("npu.devices", "NPUs visible to torch", devices),
    Check("npu.lerobot", "lerobot accepts device npu", lerobot_npu),
]
