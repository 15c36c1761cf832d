"""npu.*: CANN sourced, torch_npu matched to torch and CANN, NPUs visible, lerobot accepts `npu`."""

from __future__ import annotations

from envkit.doctor.checks._util import arch, base, err_text, first_line, known, matrix, pip_install, profile_get
from envkit.doctor.checks.torch import AUTOLOAD, set_env_script
from envkit.doctor.model import Check, Context, Outcome, fail, ok, skip, warn


def _applies(ctx: Context) -> str | None:
    ascend = ctx.host.get("ascend") or {}
    if ascend.get("device_nodes") or (ascend.get("npu_smi") or {}).get("chips") or ctx.accelerator() == "ascend":
        return None
    if ctx.dist("torch_npu"):
        return None  # torch_npu installed on a host without NPUs still breaks `import torch`
    return "no Ascend NPU on this host and the profile does not use one"


def cann(ctx: Context) -> Outcome:
    if (why := _applies(ctx)):
        return skip(why)
    env = ctx.probe.get("env") or {}
    info = (ctx.host.get("ascend") or {}).get("cann") or {}
    home = env.get("ASCEND_HOME_PATH") or info.get("home_path")
    scripts = info.get("set_env") or []
    if home:
        return ok(f"CANN {info.get('version') or ''} sourced (ASCEND_HOME_PATH={home})".replace("  ", " "))
    if scripts:
        return fail("the CANN environment is not sourced (ASCEND_HOME_PATH unset): torch_npu cannot find libhccl.so/libascendcl.so",
                    f"source {scripts[0]} (envkit setup --profile atlas-a2 writes an activation hook that does it)",
                    "set_env.sh found: " + ", ".join(scripts))
    return fail("CANN is not installed (no set_env.sh under /usr/local/Ascend/ascend-toolkit/ or /usr/local/Ascend/cann/)",
                "install the CANN toolkit matching torch_npu (see npu.torch_npu), then source its set_env.sh")


def torch_npu(ctx: Context) -> Outcome:
    from envkit.compat import CannVersion

    if (why := _applies(ctx)):
        return skip(why)
    have = ctx.dist("torch_npu")
    torch = ctx.dist("torch")
    t = ctx.section("torch")
    if not have:
        return fail("torch_npu is not installed", pip_install(ctx, f"torch-npu=={base(torch)}" if torch else "torch-npu"))
    m = matrix()
    row = known(m.torch_npu_row, base(have)) if m else None
    problems, fixes = [], []
    if row is not None and torch and base(torch) != row.torch:
        req = m.torch_npu_torch_requirement(row.torch_npu, arch(ctx))
        url = known(m.index_url, "pytorch-cpu") if req.endswith("+cpu") else None
        problems.append(f"torch_npu {have} is built for torch {row.torch}, but torch {torch} is installed "
                        "(pip upgraded torch past torch_npu's pin?)")
        fixes.append(pip_install(ctx, "--force-reinstall", "--no-deps", req, index_url=url))
    cann_v = ((ctx.host.get("ascend") or {}).get("cann") or {}).get("version") or (t.get("npu_facts") or {}).get("cann_version")
    if row is not None and cann_v:
        try:
            if CannVersion(cann_v) < row.cann:
                problems.append(f"torch_npu {have} needs CANN >= {row.cann}, the host has {cann_v}")
                better = known(m.torch_npu_for, base(torch) or row.torch, cann_v)
                fixes.append(pip_install(ctx, f"torch-npu=={better}") if better else f"upgrade CANN to {row.cann}")
        except ValueError:
            pass
    npu = t.get("npu_facts") or {}
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
    ascend = ctx.host.get("ascend") or {}
    nodes = [n for n in ascend.get("device_nodes") or [] if n.rstrip("0123456789") == "/dev/davinci"]
    if ctx.host.get("container") and not nodes:
        return fail(f"inside a {ctx.host['container']} container without /dev/davinci* devices",
                    "docker run --device=/dev/davinci0 --device=/dev/davinci_manager --device=/dev/devmm_svm "
                    "--device=/dev/hisi_hdc -v /usr/local/Ascend/driver:/usr/local/Ascend/driver "
                    "-v /usr/local/bin/npu-smi:/usr/local/bin/npu-smi ...")
    npu = ctx.section("torch").get("npu_facts") or {}
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


CHECKS = [
    Check("npu.cann", "CANN environment sourced", cann),
    Check("npu.torch_npu", "torch_npu vs torch and CANN", torch_npu),
    Check("npu.devices", "NPUs visible to torch", devices),
    Check("npu.lerobot", "lerobot accepts device npu", lerobot_npu),
]
