"""smoke.*: a real ACT training step on the expected device, a checkpoint, and a resume."""

from __future__ import annotations

import math
import shutil

from envkit.doctor import smoke as run
from envkit.doctor.checks import infer
from envkit.doctor.model import Check, Context, Outcome, fail, ok, skip
from envkit.targetenv.layout import SMOKE_FIX, Layout, from_probe

# The backends' own checks the training waits for come from their check modules (SMOKE_NEEDS).
BASE_NEEDS = ("torch.import", "lerobot.import", "lerobot.entrypoint", "torchcodec.load", "video.backend",
              "video.pyav", "system.hf_cache")


def _layout(ctx: Context) -> Layout:
    lay = ctx.scratch.get("smoke_layout") or from_probe(ctx.probe)
    ctx.scratch["smoke_layout"] = lay
    return lay


def cannot_smoke(ctx: Context, lay: Layout) -> str | None:
    """Why the smoke cannot run on this lerobot: what its own code lacks (the capability probe), else
    what its files lack (the layout, when the probe could not ask the tree); None when it can."""
    caps = run.caps_of(ctx)
    if caps is not None:
        if not caps.smoke_missing:
            return None
        return (f"cannot smoke-test this release: lerobot {caps.version or '?'} is {lay.name} and has no "
                + ", no ".join(caps.smoke_missing) + "; the smoke writes a tiny dataset with LeRobotDataset.create, "
                "trains ACT for 3 steps and resumes from the checkpoint")
    return None if lay.smoke else lay.cannot_smoke()


def dataset(ctx: Context) -> Outcome:
    if ctx.target is None:
        return skip("no target environment to run in")
    lay = _layout(ctx)
    if lay is None:
        return skip("lerobot is not installed")
    why = cannot_smoke(ctx, lay)
    if why:
        return fail(why, SMOKE_FIX)
    caps = run.caps_of(ctx)
    tv = ctx.section("video").get("torchvision") or {}
    if caps is not None and caps.video_decoders == ("torchvision",) and tv.get("video_reader") is False:
        # trees from before torchcodec (lerobot #798, 2025-03-14) decode only through torchvision.io.VideoReader
        return fail(f"lerobot {caps.version or '?'} decodes video only through torchvision.io.VideoReader, which torchvision "
                    f"{tv.get('version') or '?'} does not have: training on any video dataset stops at the first batch",
                    "install a torchvision that still has torchvision.io.VideoReader, or move the fork to a lerobot commit "
                    "with the torchcodec decoder (2025-03-14 on)")
    root, repo_id, result = run.ensure_dataset(ctx, lay)
    ctx.scratch["smoke_dataset"] = (root, repo_id)
    if result is not None and not (root / "meta" / "info.json").is_file():
        return fail(f"lerobot could not write a tiny dataset with {lay.dataset_module}.LeRobotDataset.create",
                    "see details (the end of its log)", result.tail())
    if ctx.dataset:
        return ok(f"dataset at {root} (the user's --dataset)")
    return ok(f"{lay.codebase_version} dataset at {root} ({'built now' if result else 'cached'} with {lay.dataset_module})")


def train(ctx: Context) -> Outcome:
    root, repo_id = ctx.scratch["smoke_dataset"]
    weights = bool((ctx.section("system").get("resnet18") or {}).get("present")) and not ctx.setup.no_pretrained_backbone
    out_dir = run.new_out_dir()
    lay = _layout(ctx)
    argv = run.train_argv(ctx, lay, root, repo_id, out_dir, 3, weights)
    result = run._run(ctx, argv, out_dir)
    ctx.scratch["smoke_train"] = result
    losses = result.losses()
    command = " ".join(argv)
    caps = run.caps_of(ctx)
    entry = (caps.entry if caps is not None else None) or lay.entry or "lerobot-train"
    dropped = ctx.scratch.get("smoke_dropped") or ()
    not_passed = f" (not passed, this lerobot has no such setting: {', '.join(dropped)})" if dropped else ""
    if ctx.scratch.get("smoke_video_why"):
        not_passed += f" (--dataset.video_backend=torchcodec: {ctx.scratch['smoke_video_why']})"
    if result.returncode != 0:
        return fail(f"{entry} exited {result.returncode} after {result.seconds:.0f} s", f"reproduce: {command}", result.tail(40))
    if 3 not in losses:
        return fail(f"{entry} logged no 'step:3 ... loss:' line", f"reproduce: {command}", result.tail(40))
    bad = {s: v for s, v in losses.items() if not math.isfinite(v)}
    if bad:
        return fail(f"loss is not finite: {bad}", "check the dataset's stats (meta/stats.json) and the precision (ACCELERATE_MIXED_PRECISION)", result.tail(40))
    ckpt = out_dir / "checkpoints" / "000003" / "pretrained_model" / "model.safetensors"
    if not ckpt.is_file():
        return fail("no checkpoint was written at step 3", f"check disk space and permissions of {out_dir}", result.tail(40))
    return ok(f"3 ACT steps with `{entry}` in {result.seconds:.1f} s, loss {losses[3]:.3f}, checkpoint written{not_passed}", command)


def resume(ctx: Context) -> Outcome:
    first = ctx.scratch["smoke_train"]
    argv = run.resume_argv(ctx, _layout(ctx), first, 5)
    result = run._run(ctx, argv, first.out_dir)
    losses = result.losses()
    try:
        if result.returncode != 0:
            return fail(f"resume exited {result.returncode}", "reproduce: " + " ".join(argv), result.tail(40))
        if 4 not in losses or 1 in losses:
            return fail(f"resume did not continue at step 4 (logged steps: {sorted(losses)})", "reproduce: " + " ".join(argv), result.tail(40))
        if not (first.out_dir / "checkpoints" / "000005").is_dir():
            return fail("resume wrote no step-5 checkpoint", "reproduce: " + " ".join(argv), result.tail(40))
        return ok(f"resumed from step 3 to 5 in {result.seconds:.1f} s (loss {losses.get(5, math.nan):.3f})")
    finally:
        ctx.scratch["smoke_resume_log"] = result.tail(40)


def device(ctx: Context) -> Outcome:
    first = ctx.scratch["smoke_train"]
    expected = run.device_for(ctx)
    used = run.trained_device(first.out_dir)
    switched = run.fallback(first.log)
    try:
        if switched and switched[0] != switched[1]:
            return fail(f"lerobot fell back silently: Device '{switched[0]}' is not available. Switching to '{switched[1]}'",
                        f"see the checks of the {ctx.backend.name} backend above for why the accelerator is not usable")
        if used and used.split(":")[0] != expected:
            return fail(f"trained on {used}, the profile expects {expected}", f"pass --policy.device={expected}")
        return ok(f"trained on {used or expected} as expected")
    finally:
        shutil.rmtree(first.out_dir.parent, ignore_errors=True)  # checkpoints are ~130 MB each


def checks(backend_needs: tuple[str, ...] = (), on_checkpoint: list[Check] | tuple[Check, ...] = ()) -> list[Check]:
    """The smoke's checks; training also waits for `backend_needs` (the backends' SMOKE_NEEDS).

    `on_checkpoint` (the registry passes smoke.serve's) run on the trained checkpoint, before
    smoke.device removes it; passed in because smoke.serve trains through this module's own
    checks when smoke.train did not run, so this module cannot import it."""
    return [
        Check("smoke.dataset", "tiny LeRobot dataset", dataset, needs=("lerobot.import", "lerobot.layout", "torch.import"), slow=True),
        Check("smoke.train", "3 real ACT training steps", train,
              needs=BASE_NEEDS + backend_needs + ("smoke.dataset", "dataset.version", "dataset.decode"), slow=True),
        Check("smoke.resume", "resume from the checkpoint", resume, needs=("smoke.train",), slow=True),
        # before smoke.device, which removes the run's checkpoints
        *infer.SMOKE_CHECKS, *on_checkpoint,
        Check("smoke.device", "trained on the expected device", device, needs=("smoke.train",), slow=True),
    ]


CHECKS = checks()
