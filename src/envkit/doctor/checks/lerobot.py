"""lerobot.*: importable, its requirements met (or deliberately overridden), the train entry point."""

from __future__ import annotations

from envkit.doctor.checks._util import err_text, first_line, pip_install, profile_get, q
from envkit.doctor.model import Check, Context, Outcome, fail, ok, skip, warn

TUPLE = ("torch", "torchvision", "torchcodec")


def importable(ctx: Context) -> Outcome:
    lr = ctx.section("lerobot")
    version = ctx.dist("lerobot")
    if not version:
        return fail("lerobot is not installed in the target env", pip_install(ctx, "lerobot"))
    if lr.get("importable") is False:
        return fail(f"import lerobot fails: {first_line(err_text(lr))}", pip_install(ctx, "--force-reinstall", f"lerobot=={version}"),
                    (lr.get("import_error") or {}).get("traceback", ""))
    return ok(f"lerobot {version} imports from {lr.get('dir')}")


def _overrides(ctx: Context) -> set[str]:
    names = set()
    for spec in list(profile_get(ctx, "overrides") or []) + list(ctx.scratch.get("overrides") or []):
        names.add(spec.split("=")[0].split("<")[0].split(">")[0].strip().lower())
    return names


def requirements(ctx: Context) -> Outcome:
    from packaging.markers import Marker
    from packaging.requirements import InvalidRequirement, Requirement

    dist = ctx.section("lerobot_dist")
    if not dist.get("installed"):
        return skip("lerobot is not installed")
    env = dict(ctx.probe.get("marker_env") or {})
    env["extra"] = ""
    versions = dist.get("versions") or {}
    overrides = _overrides(ctx)
    tuple_ok = ctx.results.get("torch.tuple") is not None and ctx.results["torch.tuple"].status.value == "ok"
    unmet, deliberate = [], []
    for text in dist.get("requires") or []:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if req.marker is not None and not Marker(str(req.marker)).evaluate(env):
            continue  # an extra's requirement, or another platform's
        have = versions.get(req.name)
        if have is None:
            unmet.append((req, None))
        elif req.specifier and not req.specifier.contains(have.split("+")[0], prereleases=True):
            name = req.name.lower()
            if name in TUPLE and (name in overrides or tuple_ok):
                deliberate.append(f"{req.name} {have} (lerobot declares {req.specifier})")
            else:
                unmet.append((req, have))
    if unmet:
        listed = ", ".join(f"{r.name}{r.specifier} (installed: {h or 'missing'})" for r, h in unmet)
        specs = [f"{r.name}{r.specifier}" for r, _ in unmet]
        return fail(f"lerobot {dist.get('version')}'s requirements are not met: {listed}", pip_install(ctx, *specs))
    note = ""
    if deliberate:
        why = "overrides recorded by the profile/envkit" if overrides else "a tuple envkit's matrix says works"
        note = f"; deliberate overrides ({why}): " + ", ".join(deliberate)
    return ok(f"every requirement of lerobot {dist.get('version')} is satisfied{note}")


def entrypoint(ctx: Context) -> Outcome:
    lr = ctx.section("lerobot")
    if not ctx.dist("lerobot"):
        return skip("lerobot is not installed")
    module = lr.get("train_module")
    script = None
    if ctx.target is not None:
        found = ctx.target.script("lerobot-train")
        script = str(found) if found else None
    script = script or lr.get("train_script")
    scripts = (ctx.section("lerobot_dist").get("console_scripts") or {})
    if module == "lerobot.scripts.train" and "lerobot-train" not in scripts:
        return ok(f"old layout: train with python -m {module} (no lerobot-train in this release)")
    if "lerobot-train" in scripts and script:
        return ok(f"lerobot-train -> {scripts['lerobot-train']} at {script}")
    if "lerobot-train" in scripts:
        return warn("lerobot declares lerobot-train but the script is not in the env's bin directory",
                    pip_install(ctx, "--force-reinstall", "--no-deps", f"lerobot=={ctx.dist('lerobot')}") + f" (or run {q(ctx.python_cmd())} -m {module})")
    if module:
        return ok(f"train with python -m {module}")
    return fail("no training entry point found in lerobot", pip_install(ctx, "--force-reinstall", f"lerobot=={ctx.dist('lerobot')}"))


CHECKS = [
    Check("lerobot.import", "lerobot imports", importable),
    Check("lerobot.requirements", "lerobot's requirements satisfied", requirements),
    Check("lerobot.entrypoint", "training entry point", entrypoint),
]
