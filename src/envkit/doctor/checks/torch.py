"""torch.*: torch imports, and torch/torchvision/torchcodec form a tuple that works together."""

from __future__ import annotations

import os

from envkit.doctor import accel
from envkit.doctor.checks._util import arch, base, err_text, first_line, known, local, matrix, pip_install, profile_get
from envkit.doctor.model import Check, Context, Outcome, Status, fail, ok, skip, warn
from envkit.targetenv.setup_record import digest_drift


def torch_import(ctx: Context) -> Outcome:
    t = ctx.section("torch")
    crash = t.get("import_error") if (t.get("import_error") or {}).get("type") == "crash" else None
    origin = ctx.section("torch_spec").get("origin")
    prefix = ctx.section("python").get("prefix") or ""
    foreign = bool(origin and prefix and not os.path.realpath(origin).startswith(os.path.realpath(prefix).rstrip(os.sep) + os.sep))
    if crash is not None and (not ctx.dist("torch") or foreign):
        # the torch that killed the interpreter is not the env's: one from PYTHONPATH or a stray tree
        origin = origin or "a directory on sys.path"
        pythonpath = (ctx.probe.get("env") or {}).get("PYTHONPATH")
        return fail(f"import torch crashes the interpreter ({crash.get('message')}); that torch is {origin}, not the env's "
                    f"installed torch" + (f", found through PYTHONPATH={pythonpath}" if pythonpath else ""),
                    "unset PYTHONPATH (or remove that directory from it) so the env's own torch is imported"
                    if pythonpath else f"remove or rename {origin} so the env's own torch is imported",
                    crash.get("traceback", ""))
    if not ctx.dist("torch"):
        return fail("torch is not installed in the target env", pip_install(ctx, "torch"))
    if "import_error" not in t:
        return ok(f"torch {t.get('version')} imports")
    text = err_text(t)
    details = (t.get("import_error") or {}).get("traceback", "")
    # torch auto-loads accelerator extensions: a backend may recognise its own failure in the text
    for explain in accel.hooks("explain_torch_import"):
        outcome = explain(ctx, text, details)
        if outcome is not None:
            return outcome
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
    # Each backend judges whether torch's build fits its accelerator: a failure wins, then what it says.
    said = [o for judge in accel.hooks("torch_build") if (o := judge(ctx)) is not None]
    for outcome in sorted(said, key=lambda o: o.status != Status.FAIL):
        return outcome
    # what torch's build is, as the backend whose build it is names it (from torch.version's attributes)
    kind = next((said for name in accel.hooks("build_name") if (said := name(ctx))), "CPU")
    return ok(f"torch {version}: {kind} build")


def torch_profile(ctx: Context) -> Outcome:
    if ctx.profile is None:
        return skip("no --profile given")
    if ctx.resolved is None:
        return warn("the profile did not resolve for this host", "envkit resolve --profile NAME shows why")
    # Judged against the tuple setup recorded: a profile edited (or a host changed) since is named with its fix.
    drift = digest_drift(ctx.setup, ctx.resolved, ctx.host)
    want = {"torch": (profile_get(ctx, "torch") or {}).get("version"), "torchvision": profile_get(ctx, "torchvision"),
            "torchcodec": profile_get(ctx, "torchcodec")}
    block = getattr(ctx.resolved, "accel", None)  # the accelerator's distributions, as installed (torch_npu)
    want.update(dict(block.verify) if block is not None else {})
    wrong = []
    for name, expected in want.items():
        if expected is None:
            continue
        have = ctx.dist(name)
        if base(have) != base(str(expected)):
            wrong.append((name, expected, have))
    if wrong:
        text = ", ".join(f"{n} {h or 'missing'} (profile: {e})" for n, e, h in wrong)
        if drift is not None:
            return fail(f"not the profile's tuple: {text}; {drift[0]}", drift[1])
        return fail(f"not the profile's tuple: {text}", f"envkit setup --profile {ctx.profile.name} --prefix <this env>")
    if drift is not None:  # the installed versions still match: the rest of the tuple (env, sources, ...) moved
        return warn(*drift)
    return ok("matches profile " + ctx.profile.name + ": " + ", ".join(f"{n} {e}" for n, e in want.items() if e))


CHECKS = [
    Check("torch.import", "torch imports", torch_import),
    Check("torch.tuple", "torch / torchvision / torchcodec tuple", torch_tuple),
    Check("torch.build", "torch build fits the host", torch_build),
    Check("torch.profile", "the profile's expected tuple", torch_profile),
]
