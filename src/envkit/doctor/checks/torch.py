"""torch.*: torch imports, and torch/torchvision/torchcodec form a tuple that works together."""

from __future__ import annotations

from envkit.doctor.checks._util import arch, base, err_text, first_line, known, local, matrix, pip_install, profile_get
from envkit.doctor.model import Check, Context, Outcome, fail, ok, skip, warn

AUTOLOAD = "Failed to load the backend extension: torch_npu"


def set_env_script(ctx: Context) -> str:
    found = ((ctx.host.get("ascend") or {}).get("cann") or {}).get("set_env") or []
    return found[0] if found else "/usr/local/Ascend/ascend-toolkit/set_env.sh"


def torch_import(ctx: Context) -> Outcome:
    t = ctx.section("torch")
    if not ctx.dist("torch"):
        return fail("torch is not installed in the target env", pip_install(ctx, "torch"))
    if "import_error" not in t:
        return ok(f"torch {t.get('version')} imports")
    text = err_text(t)
    details = (t.get("import_error") or {}).get("traceback", "")
    if AUTOLOAD in text or "libhccl" in text or "libascendcl" in text:
        return fail(
            f"import torch fails: {first_line(text)} (torch_npu is auto-loaded by torch and cannot load: "
            "the CANN environment is not sourced, or torch no longer matches torch_npu)",
            f"source {set_env_script(ctx)} before training (envkit setup's activation hook does it); if it "
            "persists, reinstall the torch that torch_npu was built for (see npu.torch_npu); "
            "TORCH_DEVICE_BACKEND_AUTOLOAD=0 python -c 'import torch_npu' shows the real error",
            details,
        )
    return fail(f"import torch fails: {first_line(text)}", pip_install(ctx, "--force-reinstall", f"torch=={base(ctx.dist('torch'))}"), details)


def torch_tuple(ctx: Context) -> Outcome:
    torch, tv, tc = ctx.dist("torch"), ctx.dist("torchvision"), ctx.dist("torchcodec")
    if not torch:
        return skip("torch is not installed")
    m = matrix()
    if m is None:
        return skip("envkit's compatibility matrix is not available")
    problems: list[str] = []
    fixes: list[str] = []
    notes: list[str] = []
    hints: list[str] = []
    want_tv = known(m.torchvision_for, base(torch))
    if want_tv is None:
        notes.append(f"torch {base(torch)} is not in envkit's matrix")
    elif tv and base(tv) != want_tv:
        problems.append(f"torchvision {tv} is built for another torch (torch {base(torch)} needs torchvision {want_tv})")
        fixes.append(pip_install(ctx, "--no-deps", f"torchvision=={want_tv}"))
    elif not tv:
        notes.append("torchvision is not installed")
    if tc:
        pairing = known(m.torchcodec_pairing, base(torch), base(tc))
        if pairing is None:
            notes.append(f"torchcodec {tc} is not in envkit's matrix")
        elif not pairing[0]:
            build = local(torch) if (local(torch) or "").startswith("cu") else None
            choices = known(m.torchcodec_for, base(torch), arch(ctx)) or []
            if build:
                choices = known(lambda: m.torchcodec_for(base(torch), arch(ctx), build=build)) or choices
            problems.append(pairing[1])
            if choices:
                fixes.append(pip_install(ctx, "--no-deps", f"torchcodec=={choices[-1]}"))
                hints.append(f"torchcodec releases that work with torch {base(torch)}: {', '.join(choices)}")
            else:
                fixes.append(f"no released torchcodec is known to work with torch {base(torch)}; install a torch that has one, or use --dataset.video_backend=pyav")
        else:
            notes.append(pairing[1])
    if problems:
        fix = " && ".join(fixes) + (f" ({'; '.join(hints)})" if hints else "")
        return fail("; ".join(problems), fix, "\n".join(notes))
    summary = f"torch {torch}, torchvision {tv or '-'}, torchcodec {tc or '-'}"
    return ok(summary + " match", "\n".join(notes))


def torch_build(ctx: Context) -> Outcome:
    t = ctx.section("torch")
    version = t.get("version") or ctx.dist("torch")
    if not version:
        return skip("torch is not installed")
    cuda = t.get("cuda")
    gpus = (ctx.host.get("nvidia") or {}).get("gpus") or []
    ascend = ctx.host.get("ascend") or {}
    npu_host = bool(ascend.get("device_nodes") or (ascend.get("npu_smi") or {}).get("chips")) or ctx.accelerator() == "ascend"
    m = matrix()
    if npu_host and cuda:
        url = known(m.index_url, "pytorch-cpu") if m else None
        return fail(
            f"torch {version} is a CUDA {cuda} build on an Ascend host: torch_npu refuses it "
            "('Two accelerators cannot be used at the same time in PyTorch: npu and cuda')",
            pip_install(ctx, "--force-reinstall", "--no-deps", f"torch=={base(version)}" + ("+cpu" if arch(ctx) == "x86_64" else ""),
                        index_url=url if arch(ctx) == "x86_64" else None),
        )
    if (gpus or ctx.accelerator() == "cuda") and not cuda:
        what = f"{len(gpus)} NVIDIA GPU(s)" if gpus else "the profile's CUDA accelerator"
        builds = known(m.torch_builds, base(version), arch(ctx)) if m else None
        cu = [b for b in (builds or {}).values() if b.cuda]
        hint = ""
        if cu:
            best = cu[-1]
            url = known(m.index_url, best.index) if best.index != "pypi" else None
            hint = pip_install(ctx, "--force-reinstall", "--no-deps", f"torch=={base(version)}", index_url=url)
        return fail(f"torch {version} is a CPU-only build but this host has {what}: training would run on CPU",
                    hint or "install a CUDA build of torch (envkit setup --profile 5090)")
    kind = f"CUDA {cuda}" if cuda else ("ROCm" if t.get("hip") else "CPU")
    return ok(f"torch {version}: {kind} build" + (" (its CUDA libraries are unused on this host)" if cuda and not gpus else ""))


def torch_profile(ctx: Context) -> Outcome:
    if ctx.profile is None:
        return skip("no --profile given")
    if ctx.resolved is None:
        return warn("the profile did not resolve for this host", "envkit resolve --profile NAME shows why")
    want = {"torch": (profile_get(ctx, "torch") or {}).get("version"), "torchvision": profile_get(ctx, "torchvision"),
            "torchcodec": profile_get(ctx, "torchcodec")}
    npu = profile_get(ctx, "torch_npu")
    if npu:
        want["torch_npu"] = npu.get("version")
    wrong = []
    for name, expected in want.items():
        if expected is None:
            continue
        have = ctx.dist(name)
        if base(have) != base(str(expected)):
            wrong.append((name, expected, have))
    if wrong:
        text = ", ".join(f"{n} {h or 'missing'} (profile: {e})" for n, e, h in wrong)
        return fail(f"not the profile's tuple: {text}", f"envkit setup --profile {ctx.profile.name} --prefix <this env>")
    return ok("matches profile " + ctx.profile.name + ": " + ", ".join(f"{n} {e}" for n, e in want.items() if e))


CHECKS = [
    Check("torch.import", "torch imports", torch_import),
    Check("torch.tuple", "torch / torchvision / torchcodec tuple", torch_tuple),
    Check("torch.build", "torch build fits the host", torch_build),
    Check("torch.profile", "the profile's expected tuple", torch_profile),
]
