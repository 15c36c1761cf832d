"""All checks in run order, selection by id/category, and the runner that isolates failures."""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterable

from envkit.doctor import accel
from envkit.doctor.checks import dataset, hooks, infer, lerobot, serve, smoke, smoke_multi, system, torch, video
from envkit.doctor.model import Check, CheckResult, Context, Status
from envkit.errors import EnvkitError

BLOCKING = (Status.FAIL, Status.ERROR)


def all_checks() -> list[Check]:
    # Each installed backend brings its own check module (its `checks_module`); the smoke waits
    # for the checks each names in SMOKE_NEEDS.
    modules = accel.check_modules()
    backend_checks = [c for m in modules for c in m.CHECKS]
    smoke_needs = tuple(n for m in modules for n in getattr(m, "SMOKE_NEEDS", ()))
    # torch before lerobot (requirements read torch.tuple); smoke last, it needs everything.
    return [*system.CHECKS, *torch.CHECKS, *backend_checks, *video.CHECKS, *lerobot.CHECKS,
            *hooks.CHECKS, *dataset.CHECKS, *infer.CHECKS, *smoke.checks(smoke_needs, serve.CHECKS), *smoke_multi.CHECKS]


def select(checks: list[Check], wanted: Iterable[str] = (), smoke: bool = True) -> list[Check]:
    wanted = [w.strip() for w in wanted if w.strip()]
    chosen = [c for c in checks if smoke or not c.slow]
    if not wanted:
        return chosen
    known_ids = {c.id for c in checks} | {c.category for c in checks}
    unknown = [w for w in wanted if w not in known_ids and w.rstrip(".") not in known_ids]
    if unknown:
        raise EnvkitError(f"unknown check id(s): {', '.join(unknown)}", fix="envkit doctor --list-checks shows them")
    return [c for c in chosen if c.id in wanted or c.category in {w.rstrip(".") for w in wanted}]


def run_check(check: Check, ctx: Context) -> CheckResult:
    start = time.perf_counter()
    blocked = [n for n in check.needs if n in ctx.results and (
        ctx.results[n].status in BLOCKING or (n.startswith("smoke.") and ctx.results[n].status == Status.SKIP))]
    if blocked:
        why = ", ".join(f"{n} ({ctx.results[n].status.value})" for n in blocked)
        result = CheckResult(check.id, Status.SKIP, f"skipped: needs {why}")
    else:
        try:
            outcome = check.fn(ctx)
            result = CheckResult(check.id, outcome.status, outcome.summary, outcome.details, outcome.fix)
        except Exception as exc:  # one broken check must not hide the others
            result = CheckResult(check.id, Status.ERROR, f"the check raised {type(exc).__name__}: {exc}",
                                 traceback.format_exc(), "report this envkit bug with `envkit doctor --report`")
    result.duration_ms = round((time.perf_counter() - start) * 1000, 3)
    ctx.results[check.id] = result
    return result


def run_checks(checks: list[Check], ctx: Context) -> list[CheckResult]:
    return [run_check(check, ctx) for check in checks]
