"""lerobot.*: importable, its requirements met (or deliberately overridden), the train entry point."""

from __future__ import annotations

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement

from envkit import lerobot_caps
from envkit.doctor.checks._util import err_text, first_line, pip_install, profile_get, q
from envkit.doctor.model import Check, Context, Outcome, fail, ok, skip, warn
from envkit.lerobot_meta import training_extras
from envkit.targetenv.layout import SMOKE_FIX, TRAIN_SCRIPT, from_probe, unmet_requirements

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
    for spec in list(profile_get(ctx, "overrides") or []) + list(ctx.setup.overrides):
        names.add(spec.split("=")[0].split("<")[0].split(">")[0].strip().lower())
    return names


def requirements(ctx: Context) -> Outcome:
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
    missing_extra = _missing_training_extra(dist, env, versions)
    if missing_extra is not None:
        extra, lacking = missing_extra
        listed = ", ".join(f"{r.name}{r.specifier} (installed: {h or 'missing'})" for r, h in lacking)
        return fail(f"lerobot {dist.get('version')}'s '{extra}' extra, which lerobot-train needs, is not installed: {listed}",
                    pip_install(ctx, *[f"{r.name}{r.specifier}" for r, _ in lacking])
                    + f" (what lerobot[{extra}]=={dist.get('version')} adds, leaving torch as it is; `envkit setup` installs "
                    f"lerobot[{extra}] itself)")
    note = ""
    if deliberate:
        why = "overrides recorded by the profile/envkit" if overrides else "a tuple envkit's matrix says works"
        note = f"; deliberate overrides ({why}): " + ", ".join(deliberate)
    return ok(f"every requirement of lerobot {dist.get('version')} is satisfied{note}")


def _missing_training_extra(dist: dict, env: dict, versions: dict) -> tuple[str, list] | None:
    """(the training extra, its requirements that are unmet) when the release provides one (lerobot >= 0.6)
    and it is not installed. The extra's own `lerobot[dataset]` references are followed; the torch tuple
    is judged by lerobot.requirements' overrides, not here."""
    wanted = training_extras(list(dist.get("provides_extra") or []))
    if not wanted:
        return None
    parsed = []
    for text in dist.get("requires") or []:
        try:
            parsed.append(Requirement(text))
        except InvalidRequirement:
            continue

    def applies(req: Requirement, extra: str) -> bool:
        return req.marker is not None and Marker(str(req.marker)).evaluate({**env, "extra": extra}) \
            and not Marker(str(req.marker)).evaluate({**env, "extra": ""})

    extras, queue = set(wanted), list(wanted)
    while queue:  # lerobot[training] -> lerobot[dataset] -> lerobot[av-dep] ...
        extra = queue.pop()
        for req in parsed:
            if req.name.lower() == "lerobot" and applies(req, extra):
                for sub in req.extras - extras:
                    extras.add(sub)
                    queue.append(sub)
    lacking = []
    for req in parsed:
        if req.name.lower() in TUPLE or req.name.lower() == "lerobot" or not any(applies(req, e) for e in extras):
            continue
        have = versions.get(req.name)
        if have is None or (req.specifier and not req.specifier.contains(have.split("+")[0], prereleases=True)):
            lacking.append((req, have))
    return (wanted[0], lacking) if lacking else None


def entrypoint(ctx: Context) -> Outcome:
    lay = from_probe(ctx.probe)
    if not ctx.dist("lerobot") or lay is None:
        return skip("lerobot is not installed")
    caps = lerobot_caps.from_probe(ctx.probe)
    if caps is not None and not caps.train_script and caps.train_module:
        # what the tree's own metadata and modules say, over what its files look like
        return ok(f"train with {caps.entry} (lerobot declares no {TRAIN_SCRIPT} console script; {caps.train_module} is its training module)")
    script = None
    if ctx.target is not None:
        found = ctx.target.script(TRAIN_SCRIPT)
        script = str(found) if found else None
    script = script or ctx.section("lerobot").get("train_script")
    if lay.entry == TRAIN_SCRIPT and script:
        return ok(f"{TRAIN_SCRIPT} at {script}: {lay.entry_from}")
    if lay.entry == TRAIN_SCRIPT:
        return warn(f"lerobot declares {TRAIN_SCRIPT} but the script is not in the env's bin directory",
                    pip_install(ctx, "--force-reinstall", "--no-deps", f"lerobot=={ctx.dist('lerobot')}")
                    + (f" (or run {q(ctx.python_cmd())} -m {lay.train_module})" if lay.train_module else ""))
    if lay.entry:
        return ok(f"train with {lay.entry} ({lay.entry_from})")
    return fail("no training entry point found in lerobot", pip_install(ctx, "--force-reinstall", f"lerobot=={ctx.dist('lerobot')}"))


def layout(ctx: Context) -> Outcome:
    """Which lerobot this is (layout, dataset format, entry point), whether the smoke can run on it,
    and what its dataset format needs beyond its own pins (a fork's tree predates lerobot's pins)."""
    lay = from_probe(ctx.probe)
    if not ctx.dist("lerobot") or lay is None:
        return skip("lerobot is not installed")
    versions = {k.lower(): v for k, v in (ctx.probe.get("dists") or {}).items()}
    versions.update({k.lower(): v for k, v in (ctx.section("lerobot_dist").get("versions") or {}).items() if v})
    unmet = unmet_requirements(lay, versions)
    if unmet:
        listed = "; ".join(f"{row['requirement']} (installed: {have or 'missing'}): {row['why']}" for row, have in unmet)
        return fail(f"{lay.describe()}; its dataset format {lay.codebase_version} needs {listed}",
                    pip_install(ctx, *[row["requirement"] for row, _ in unmet]),
                    "\n".join(row["source"] for row, _ in unmet))
    if not lay.smoke:
        return warn(lay.describe(), SMOKE_FIX)
    return ok(lay.describe())


def capabilities(ctx: Context) -> Outcome:
    """What the installed lerobot accepts and does, asked of its own config classes and modules in the
    target interpreter (envkit.lerobot_caps); the smoke and launch build their arguments from it."""
    if not ctx.dist("lerobot"):
        return skip("lerobot is not installed")
    section = ctx.probe.get("lerobot_caps")
    if isinstance(section, dict) and "probe_error" in section:
        err = section["probe_error"]
        return warn(f"the capability probe failed: {err.get('type')}: {first_line(str(err.get('message', '')))}",
                    "envkit passes every training argument unchecked; report this with envkit doctor --report",
                    err.get("traceback", ""))
    caps = lerobot_caps.from_probe(ctx.probe)
    if caps is None:
        return skip("the probe did not ask the tree (an older envkit's record)")
    extras = ",".join(caps.extras_needed)
    if caps.missing:
        fix = (pip_install(ctx, f"lerobot[{extras}]") + " (the training imports need these extras)") if extras else (
            "set up a lerobot that can train ACT (envkit setup --lerobot lerobot==0.4.4, or a draccus-era fork tree)")
        return fail(f"lerobot {caps.version or '?'} cannot run ACT training: it lacks " + caps.missing_text(), fix,
                    "\n".join(f"{k}: {v}" for k, v in caps.errors.items()))
    if extras:
        return warn(f"{caps.summary()}; lerobot[{extras}]'s packages are not all installed",
                    pip_install(ctx, f"lerobot[{extras}]"))
    return ok(caps.summary())


CHECKS = [
    Check("lerobot.import", "lerobot imports", importable),
    Check("lerobot.requirements", "lerobot's requirements satisfied", requirements),
    Check("lerobot.entrypoint", "training entry point", entrypoint),
    Check("lerobot.layout", "layout, dataset format, smoke support", layout, needs=("lerobot.import",)),
    Check("lerobot.capabilities", "what the tree's config accepts: fields, distributed, precision", capabilities,
          needs=("lerobot.import",)),
]
