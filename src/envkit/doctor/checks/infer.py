"""smoke.infer and checkpoint.*: a checkpoint loaded by the installed lerobot's own API, and actions
from it on dataset frames.

smoke.infer runs on the smoke's own checkpoint (<output_dir>/checkpoints/last/pretrained_model) on
the profile's device. `envkit doctor --checkpoint DIR [--dataset ROOT]` asks the same of a user's
checkpoint, one verdict per question: its config loads with this lerobot, its input features fit
the dataset, the device it was trained on exists here, its weights load, and it acts on frames.
The work happens in the target interpreter (doctor/infer.py); this module only judges its report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from envkit.doctor import accel
from envkit.doctor import infer_verdict as verdict
from envkit.doctor import smoke as run
from envkit.doctor.model import Check, Context, Outcome, fail, ok, skip
from envkit.doctor.target_script import run_json
from envkit.targetenv.layout import from_probe

CALLS = 5  # timed select_action calls after one warm-up
INFER_TIMEOUT_S = 600


def smoke_checkpoint(ctx: Context) -> Path | None:
    first = ctx.scratch.get("smoke_train")
    return first.out_dir / "checkpoints" / "last" / "pretrained_model" if first is not None else None


def infer_doc(ctx: Context, checkpoint: Path, dataset: tuple[Path, str] | None, device: str | None,
              calls: int) -> tuple[dict[str, Any] | None, str]:
    """infer.py's report on `checkpoint` (and the end of its output, for a crash)."""
    lay = ctx.scratch.get("smoke_layout") or from_probe(ctx.probe)
    args = {"checkpoint": str(checkpoint), "dataset": str(dataset[0]) if dataset else None,
            "repo_id": dataset[1] if dataset else None, "device": device, "calls": calls,
            "package": (lay.package if lay is not None else None) or "lerobot", "runtimes": accel.device_runtimes()}
    doc, result = run_json(ctx, "infer.py", json.dumps(args), timeout=INFER_TIMEOUT_S)
    return doc, result.tail(30)


def smoke_infer(ctx: Context) -> Outcome:
    ckpt = smoke_checkpoint(ctx)
    if ckpt is None or not (ckpt / "config.json").is_file():
        return skip("no smoke checkpoint to load (smoke.train did not run here)")
    device = run.device_for(ctx)
    doc, tail = infer_doc(ctx, ckpt, ctx.scratch.get("smoke_dataset"), device, CALLS)
    ctx.scratch["smoke_infer"] = doc
    broken = verdict.not_run(doc or {}, tail)
    if broken is not None:
        return broken
    assert doc is not None
    lerobot = ctx.dist("lerobot")
    outcomes = [verdict.config(doc, str(ckpt), lerobot), verdict.features(doc, str(ckpt), "the smoke dataset"),
                verdict.device(doc, str(ckpt)), verdict.weights(doc, str(ckpt)), verdict.processors(doc, str(ckpt)),
                verdict.frames(doc, device)]
    bad = verdict.first_failure(outcomes)
    if bad is not None:
        return bad
    frames = outcomes[-1]
    if frames.status.value != "ok":
        return fail(f"the checkpoint loaded but no action was computed ({frames.summary})", "see details", tail)
    api = "from_pretrained + make_pre_post_processors" if (doc["stages"].get("processors") or {}).get("api") else "from_pretrained"
    return ok(f"{frames.summary}; loaded {ckpt.parent.name}/{ckpt.name} with {api}", str(ckpt))


# --- envkit doctor --checkpoint DIR ---------------------------------------------------


def _user_doc(ctx: Context) -> dict[str, Any] | None:
    if "checkpoint_doc" not in ctx.scratch:
        ckpt: Path = ctx.scratch["checkpoint"]
        dataset = (ctx.dataset, f"local/{ctx.dataset.name}") if ctx.dataset else None
        doc, tail = infer_doc(ctx, ckpt, dataset, None, 3 if dataset else 0)
        ctx.scratch["checkpoint_doc"] = doc or {}
        ctx.scratch["checkpoint_tail"] = tail
    return ctx.scratch["checkpoint_doc"]


def _with_doc(fn):  # type: ignore[no-untyped-def]
    def check(ctx: Context) -> Outcome:
        ckpt = ctx.scratch.get("checkpoint")
        if ckpt is None:
            return skip("no --checkpoint given")
        if ctx.target is None:
            return skip("no target environment to load it in")
        if not (Path(ckpt) / "config.json").is_file():
            return fail(f"--checkpoint {ckpt} holds no config.json: it is not a lerobot pretrained_model directory",
                        "pass <output_dir>/checkpoints/last/pretrained_model (or another checkpoints/NNNNNN/pretrained_model)")
        doc = _user_doc(ctx)
        broken = verdict.not_run(doc or {}, ctx.scratch.get("checkpoint_tail", ""))
        if broken is not None:
            return broken if fn is _config else skip("the checkpoint could not be read (see checkpoint.config)")
        return fn(ctx, doc, str(ckpt))
    check.__name__ = fn.__name__
    return check


def _config(ctx: Context, doc: dict[str, Any], ckpt: str) -> Outcome:
    return verdict.config(doc, ckpt, ctx.dist("lerobot"))


def _features(ctx: Context, doc: dict[str, Any], ckpt: str) -> Outcome:
    return verdict.features(doc, ckpt, str(ctx.dataset) if ctx.dataset else None)


def _device(ctx: Context, doc: dict[str, Any], ckpt: str) -> Outcome:
    return verdict.device(doc, ckpt)


def _weights(ctx: Context, doc: dict[str, Any], ckpt: str) -> Outcome:
    return verdict.weights(doc, ckpt)


def _act(ctx: Context, doc: dict[str, Any], ckpt: str) -> Outcome:
    if not ctx.dataset:
        return skip("no --dataset to take frames from")
    proc = verdict.processors(doc, ckpt)
    if proc.status.value == "fail":
        return proc
    used = ((doc.get("stages") or {}).get("device") or {}).get("used") or "cpu"
    return verdict.frames(doc, used)


NEEDS = ("torch.import", "lerobot.import")
CHECKS = [
    Check("checkpoint.config", "the checkpoint's config loads with this lerobot", _with_doc(_config), needs=NEEDS),
    Check("checkpoint.features", "its cameras and shapes match --dataset", _with_doc(_features), needs=NEEDS),
    Check("checkpoint.device", "the device it was trained on exists here", _with_doc(_device), needs=NEEDS),
    Check("checkpoint.weights", "model.safetensors loads into its policy", _with_doc(_weights), needs=NEEDS),
    Check("checkpoint.act", "select_action on --dataset frames", _with_doc(_act), needs=NEEDS),
]
SMOKE_CHECKS = [
    Check("smoke.infer", "the smoke checkpoint acts on dataset frames", smoke_infer, needs=("smoke.train",), slow=True),
]
