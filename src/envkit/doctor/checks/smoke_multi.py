"""smoke.multi: a real 2-process lerobot-train run through `envkit launch`'s own code (plan, port,
hooks, runner): 3 ACT steps, one checkpoint written once, by the main process.

On when the profile's accelerator has more than one device on this host; otherwise opt-in
(`envkit doctor --check smoke.multi`), since it costs a second training run.
"""

from __future__ import annotations

import io
import shutil

from envkit.doctor import smoke as run
from envkit.doctor.checks.smoke import cannot_smoke
from envkit.doctor.model import Check, Context, Outcome, fail, ok, skip
from envkit.errors import EnvkitError
from envkit.launch.execute import execute
from envkit.launch.plan import Request
from envkit.launch.prepare import prepare
from envkit.targetenv.layout import SMOKE_FIX, from_probe

NPROC = 2
SAVED = "Checkpoint policy after step 3"


def multi(ctx: Context) -> Outcome:
    if ctx.target is None or ctx.target.prefix is None:
        return skip("no target environment prefix to launch in")
    backend = ctx.backend
    counted = backend.visible_devices_var is not None
    have = backend.host_device_count(ctx.host) if counted else None
    requested = "smoke.multi" in (ctx.scratch.get("requested_checks") or ())
    if not requested and not (counted and (have or 0) > 1):
        return skip("opt-in on this host (one device or none): envkit doctor --check smoke.multi runs it")
    if counted and (have or 0) < NPROC:
        return skip(f"needs {NPROC} {backend.device} devices, this host has {have or 0}")
    lay = ctx.scratch.get("smoke_layout") or from_probe(ctx.probe)
    if lay is None:
        return skip("lerobot is not installed")
    why = cannot_smoke(ctx, lay)
    if why:
        return fail(why, SMOKE_FIX)
    if ctx.scratch.get("smoke_dataset"):
        root, repo_id = ctx.scratch["smoke_dataset"]
    else:
        root, repo_id, made = run.ensure_dataset(ctx, lay)
        if not (root / "meta" / "info.json").is_file():
            return fail("lerobot could not write the tiny dataset", "see details", made.tail() if made else "")
    weights = bool((ctx.section("system").get("resnet18") or {}).get("present")) and not ctx.setup.no_pretrained_backbone
    out_dir = run.new_out_dir()
    head = run.entry_argv(ctx, lay)
    train = run.train_argv(ctx, lay, root, repo_id, out_dir, 3, weights)[len(head):]
    try:
        return _launch(ctx, train, out_dir)
    finally:
        shutil.rmtree(out_dir.parent, ignore_errors=True)


def _launch(ctx: Context, train: list[str], out_dir) -> Outcome:  # type: ignore[no-untyped-def]
    request = Request(devices=str(NPROC), launcher="torchrun", train_args=tuple(train))
    env = run.run_env(ctx)  # offline, no wandb: as the single-process smoke runs
    try:
        prepared = prepare(ctx.target.prefix, request, getattr(ctx.profile, "name", None), environ=env)
    except EnvkitError as exc:
        return fail(f"envkit launch cannot plan a {NPROC}-process run: {exc}", exc.fix)
    plan = prepared.plan
    log = io.StringIO()
    outcome = execute(plan, prepared.backend.failure_hints(), echo=log, base_env=env)
    text = log.getvalue()
    command = f"envkit launch --prefix {plan.prefix} --devices {NPROC} -- " + " ".join(train)
    tail = "\n".join(text.splitlines()[-40:])
    if outcome.returncode != 0:
        why = "; ".join(f"{e.summary} (fix: {e.fix})" for e in outcome.explanations) or "see details"
        return fail(f"{NPROC}-process training exited {outcome.returncode} after {outcome.seconds:.0f} s: {why}",
                    f"reproduce: {command}", tail)
    steps = run.STEP_LINE.findall(text)
    if not any(s == "3" for s, _loss in steps):
        return fail("the 2-process run logged no 'step:3 ... loss:' line", f"reproduce: {command}", tail)
    saved = text.count(SAVED)
    ckpts = sorted(p.name for p in (out_dir / "checkpoints").iterdir() if p.name != "last") if (out_dir / "checkpoints").is_dir() else []
    if saved != 1 or ckpts != ["000003"]:
        return fail(f"the step-3 checkpoint was written {saved} time(s) (checkpoints: {ckpts or 'none'}); only the main process must save",
                    "use a lerobot whose training script saves on the main process only (lerobot >= 0.4.0)", tail)
    rate = f", {outcome.throughput.text()}" if outcome.throughput else ""
    return ok(f"{NPROC} processes ({plan.launcher}, {prepared.backend.collective}, port {plan.port}) trained 3 ACT steps in "
              f"{outcome.seconds:.0f} s and saved one checkpoint{rate}", command)


CHECKS = [
    Check("smoke.multi", "2-process training through envkit launch", multi,
          needs=("torch.import", "lerobot.import", "lerobot.entrypoint", "smoke.train"), slow=True),
]
