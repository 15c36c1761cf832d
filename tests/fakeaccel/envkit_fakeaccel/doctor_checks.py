"""fakeaccel.*: the FakeAccel backend's doctor checks (its `checks_module`) and its probe fragment
(`probe_fragment = "envkit_fakeaccel.doctor_checks:probe"`), one file.

Like envkit's own cuda/npu modules: each check skips unless the accelerator is in play
(`ctx.uses`: the profile's accelerator, or the backend's own detection on this host), and reads
the facts `probe` gathered inside the target interpreter.
"""

from __future__ import annotations

from typing import Any

from envkit.doctor.model import Check, Context, Outcome, fail, ok, skip

BACKEND = "fakeaccel"
RUNTIME = "fakeaccel_runtime"  # the vendor runtime's dist-info name (the fragment's DISTS reads it)
HIDING = ("", "-1", "none")  # FAKEACCEL_VISIBLE_DEVICES values that select no chip

# What the probe gathers for these checks (sent with `probe` into the target as literals):
FACTS_KEY = "fakeaccel_facts"  # torch[FACTS_KEY] holds probe(torch)
DISTS = {RUNTIME: ("fakeaccel-runtime", "fakeaccel_runtime")}
ENV_PREFIXES = ("FAKEACCEL_",)


def probe(torch):  # type: ignore[no-untyped-def]
    """Runs in the target interpreter, alone: standard library only, imports inside."""
    import importlib.util

    return {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "runtime_module": importlib.util.find_spec("fakeaccel_runtime") is not None}


def _applies(ctx: Context) -> str | None:
    return None if ctx.uses(BACKEND) else "no FakeAccel chip on this host and the profile does not use one"


def _facts(ctx: Context) -> dict[str, Any]:
    return ctx.section("torch").get(FACTS_KEY) or {}


def _wanted(ctx: Context) -> str | None:
    block = getattr(ctx.resolved, "accel", None)
    if block is not None and block.backend == BACKEND:
        return dict(block.verify).get(RUNTIME)
    return (getattr(ctx.profile, "packages", None) or {}).get(RUNTIME)


def runtime(ctx: Context) -> Outcome:
    if (why := _applies(ctx)):
        return skip(why)
    have, want = ctx.dist(RUNTIME), _wanted(ctx)
    install = f"{ctx.python_cmd()} -m pip install fakeaccel-runtime" + (f"=={want}" if want else "")
    if not have:
        return fail("the FakeAccel runtime (fakeaccel-runtime) is not installed in the target env", install)
    if want and have != want:
        return fail(f"fakeaccel-runtime {have} is installed, the profile's tuple has {want}", install)
    return ok(f"fakeaccel-runtime {have}")


def visible(ctx: Context) -> Outcome:
    if (why := _applies(ctx)):
        return skip(why)
    value = (ctx.probe.get("env") or {}).get("FAKEACCEL_VISIBLE_DEVICES")
    if value is not None and value.strip().lower() in HIDING:
        return fail(f"FAKEACCEL_VISIBLE_DEVICES={value!r} hides every chip", "unset FAKEACCEL_VISIBLE_DEVICES or list chips, e.g. 0,1")
    return ok("every chip visible" if value is None else f"FAKEACCEL_VISIBLE_DEVICES={value}")


def torch_side(ctx: Context) -> Outcome:
    if (why := _applies(ctx)):
        return skip(why)
    facts = _facts(ctx)
    if not facts:
        return skip("torch did not import in the target, so the FakeAccel probe fragment did not run")
    if "probe_error" in facts:
        return fail(f"the FakeAccel probe fragment failed: {facts['probe_error'].get('message')}", "reinstall envkit-fakeaccel")
    return ok(f"torch {facts.get('torch')} seen from the FakeAccel fragment ({facts.get('threads')} threads)")


# --- this backend's share of the generic checks (envkit.doctor.accel) ---


def versions(ctx: Context) -> dict[str, Any]:
    return {RUNTIME: ctx.dist(RUNTIME)}


def report_rows(ctx: Context) -> list[tuple[str, Any]]:
    return [("FakeAccel runtime", ctx.dist(RUNTIME))]


SMOKE_NEEDS = ("fakeaccel.runtime",)

CHECKS = [
    Check("fakeaccel.runtime", "FakeAccel runtime installed", runtime),
    Check("fakeaccel.visible", "FakeAccel chips visible", visible),
    Check("fakeaccel.torch", "the FakeAccel fragment ran beside torch", torch_side, needs=("torch.import",)),
]
