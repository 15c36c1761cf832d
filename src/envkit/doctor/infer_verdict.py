"""What infer.py's JSON document means: one Outcome per question, each one paragraph with its fix.

The document names the stage where loading stopped (config, dataset, features, device, weights,
processors, frames); a stage that was never reached is a skip here, so that only the first
failure is reported as such and the checks after it say what they wait for.
"""

from __future__ import annotations

from typing import Any

from envkit.doctor.checks._util import first_line
from envkit.doctor.model import Outcome, fail, ok, skip

Doc = dict[str, Any]


def _stage(doc: Doc, name: str) -> dict[str, Any] | None:
    return (doc.get("stages") or {}).get(name)


def _msg(st: dict[str, Any]) -> str:
    err = st.get("error") or {}
    return f"{err.get('type', '')}: {first_line(str(err.get('message', '')))}".strip(": ")


def _details(st: dict[str, Any] | None) -> str:
    return str(((st or {}).get("error") or {}).get("traceback") or "")


def not_run(doc: Doc, log_tail: str) -> Outcome | None:
    """The script did not get as far as reading the checkpoint (an import error, a crash)."""
    imp = _stage(doc, "import") if doc else None
    if not doc:
        return fail("the checkpoint loader died before reporting (see details: the end of its output)",
                    "run `envkit doctor` without --checkpoint first: the lerobot and torch checks say what is broken", log_tail)
    if imp and imp.get("error"):
        return fail(f"this lerobot cannot load policies: {_msg(imp)}",
                    "fix the environment first (envkit doctor without --checkpoint shows which layer is broken)", _details(imp))
    return None


def config(doc: Doc, ckpt: str, lerobot: str | None) -> Outcome:
    st = _stage(doc, "config")
    if st is None:
        return skip("the checkpoint was not read")
    where = f"{ckpt}/config.json"
    rel = f"lerobot {lerobot}" if lerobot else "the installed lerobot"
    if st.get("unknown_type"):
        return fail(f"{where} names policy type '{st.get('type')}', which {rel} does not have ({_msg(st)}): the checkpoint "
                    "was trained with another lerobot release or a fork that adds this policy",
                    f"install the lerobot that trained it into this environment (envkit setup --lerobot SRC), or check "
                    f"that {ckpt} is the checkpoint you meant", _details(st))
    unknown = st.get("unknown_fields") or []
    if unknown:
        shown = ", ".join(unknown[:6]) + (f" and {len(unknown) - 6} more" if len(unknown) > 6 else "")
        return fail(f"{where} has field(s) {shown} that {rel}'s {st.get('config_class') or 'policy config'} does not know: "
                    "it was written by another lerobot release, most likely a newer one, and this one refuses to parse it",
                    f"serve and train it with the release that wrote it (envkit setup --lerobot lerobot==<that release>, "
                    f"--prefix a new environment), or retrain with {rel}", _details(st))
    if st.get("error"):
        return fail(f"{rel} cannot read {where}: {_msg(st)}",
                    f"pass the checkpoint's pretrained_model directory (holding config.json and model.safetensors), "
                    f"e.g. <output_dir>/checkpoints/last/pretrained_model", _details(st))
    cams = [k for k, v in (st.get("input_features") or {}).items() if v.get("type") == "VISUAL"]
    return ok(f"{st.get('type')} policy config loads with {rel} (cameras: {', '.join(cams) or 'none'}; trained for {st.get('device')})")


def features(doc: Doc, ckpt: str, dataset: str | None) -> Outcome:
    if not dataset:
        return skip("no --dataset to compare the checkpoint's input features with")
    ds = _stage(doc, "dataset")
    if ds is None:
        return skip("the checkpoint's config did not load")
    if ds.get("error"):
        return fail(f"lerobot cannot read the dataset {dataset}: {_msg(ds)}",
                    "pass the dataset's root (holding meta/info.json) with --dataset", _details(ds))
    st = _stage(doc, "features") or {}
    problems = st.get("problems") or []
    if not problems:
        return ok(f"cameras {', '.join(st.get('checkpoint_cameras') or []) or 'none'} and state/action shapes match {dataset}")
    parts = []
    for p in problems:
        if p["why"] == "missing":
            parts.append(f"{p['key']} {p['checkpoint']} is not in the dataset")
        else:
            parts.append(f"{p['key']} is {p['checkpoint']} in the checkpoint, {p['dataset']} in the dataset")
    extra = st.get("extra_dataset_cameras") or []
    text = "; ".join(parts) + (f" (the dataset has camera(s) {', '.join(extra)} instead)" if extra else "")
    cams = any(p["key"].startswith("observation.images.") for p in problems)
    fix = ("give the cameras the names the checkpoint was trained with: lerobot's rename map where the release has one "
           "(lerobot-record --dataset.rename_map, lerobot-train/lerobot-eval --rename_map, the policy server's "
           "RemotePolicyConfig.rename_map: '{\"observation.images.<dataset key>\": \"observation.images.<checkpoint key>\"}'), "
           "or record the dataset with the training keys, or retrain on this dataset"
           if cams else "use the dataset (or robot) the checkpoint was trained on, or retrain on this dataset")
    return fail(f"the checkpoint {ckpt} does not fit the dataset {dataset}: {text}", fix)


def device(doc: Doc, ckpt: str) -> Outcome:
    st = _stage(doc, "device")
    if st is None:
        return skip("not reached: the checkpoint's config or the dataset could not be read")
    used, trained = st.get("used"), st.get("trained")
    if not st.get("available"):
        return fail(f"the checkpoint was trained on '{trained}' and '{used}' is not usable here ({st.get('runtime')}): "
                    "loading it as saved fails or falls back to the CPU",
                    f"serve it on a device this host has: --policy.device=cpu (policy_server: device='cpu' in the client's "
                    f"policy instructions), or run it on a host with {str(used).split(':')[0]}")
    return ok(f"trained on '{trained}'; '{used}' is available here ({st.get('runtime')})")


def weights(doc: Doc, ckpt: str) -> Outcome:
    st = _stage(doc, "weights")
    if st is None:
        return skip("not loaded: an earlier stage (config, features, device) failed")
    path = st.get("file") or f"{ckpt}/model.safetensors"
    if st.get("file_error"):
        size = st.get("bytes")
        had = f"{size} bytes" if size is not None else "missing"
        return fail(f"{path} is not a readable safetensors file ({had}; {_msg(st)}): a truncated or partial copy",
                    f"copy the checkpoint again and compare checksums (sha256sum {path} on both sides), or use an "
                    f"earlier <output_dir>/checkpoints/NNNNNN/pretrained_model", _details(st))
    if st.get("missing") or st.get("unexpected"):
        cfg = _stage(doc, "config") or {}
        miss, unexp = st.get("missing") or [], st.get("unexpected") or []
        return fail(f"{path} does not hold a '{cfg.get('type')}' policy's weights: {len(miss)} tensor(s) the policy needs are "
                    f"missing (e.g. {', '.join(miss[:2]) or '-'}) and {len(unexp)} in the file are unknown to it "
                    f"(e.g. {', '.join(unexp[:2]) or '-'}): config.json and the weights come from different policies",
                    f"keep config.json with the model.safetensors saved beside it (one checkpoints/NNNNNN/pretrained_model "
                    f"directory), or pass the checkpoint of the policy type you mean")
    if st.get("error"):
        return fail(f"the policy class cannot load {path}: {_msg(st)}",
                    "the weights do not match the config's architecture: keep config.json and model.safetensors from the "
                    "same checkpoint directory", _details(st))
    return ok(f"{st.get('tensors')} tensors, {st.get('parameters', 0) / 1e6:.1f} M parameters loaded")


def processors(doc: Doc, ckpt: str) -> Outcome:
    st = _stage(doc, "processors")
    if st is None:
        return skip("not reached")
    if not st.get("api"):
        return ok("this lerobot has no pre/post-processor pipelines: the policy normalises inside select_action")
    if st.get("error"):
        return fail(f"lerobot cannot load the checkpoint's pre/post-processors: {_msg(st)}",
                    f"keep policy_preprocessor*.json/.safetensors and policy_postprocessor* beside the weights in {ckpt} "
                    "(checkpoints from before 0.4 need lerobot's migrate_policy_normalization script)", _details(st))
    return ok("pre/post-processors loaded")


def frames(doc: Doc, device: str) -> Outcome:
    st = _stage(doc, "frames")
    if st is None:
        return skip("no frames run: an earlier stage failed (see the checks above)")
    if st.get("error"):
        return fail(f"select_action on a dataset frame raised {_msg(st)}", "see details (the traceback in the target)", _details(st))
    shape, dtype = st.get("action_shape"), st.get("action_dtype")
    if not st.get("ok"):
        why = "not finite" if not st.get("action_finite") else f"shape {shape} {dtype}, the dataset's action is {st.get('want_shape')} {st.get('want_dtype')}"
        return fail(f"select_action returned an action that does not fit the dataset: {why}",
                    "retrain on this dataset: the checkpoint's action space is another robot's")
    return ok(f"select_action on {device}: action {shape} {dtype}, {st.get('median_ms'):.1f} ms per call "
              f"(median of {len(st.get('latency_ms') or [])} after a warm-up)")


def first_failure(outcomes: list[Outcome]) -> Outcome | None:
    return next((o for o in outcomes if o.status.value == "fail"), None)
