"""Run BY THE TARGET interpreter: load a lerobot checkpoint with the installed lerobot's own API and
run select_action on frames of a dataset. Prints one JSON line; the doctor turns it into verdicts.

Usage: python infer.py '{"checkpoint": DIR, "dataset": ROOT|null, "repo_id": ID, "device": DEV|null,
                          "package": "lerobot"|"lerobot.common", "calls": N}'

Nothing is assumed from the version number: the policy class comes from the tree's
`policies.factory.get_policy_class`, the pre/post-processors from its `make_pre_post_processors`
when the tree has one (0.4+; older policies normalise inside the model), the config class's fields
from the dataclass itself. Each stage records what it found, so a failure names its stage:
config (type, fields), weights (the safetensors file, the state dict), features (camera keys and
shapes against the dataset), device, processors, frames (select_action, the action's shape/dtype).
"""

import dataclasses
import importlib
import inspect
import json
import os
import statistics
import sys
import time
import traceback

RESULT = {"stages": {}}


def _err(exc):
    return {"type": type(exc).__name__, "message": str(exc)[:2000], "traceback": traceback.format_exc()[-3000:]}


def _stage(name, **facts):
    RESULT["stages"].setdefault(name, {}).update(facts)
    return RESULT["stages"][name]


def _finish(code=0):
    print(json.dumps(RESULT, default=str), flush=True)
    sys.exit(code)


def feature_dict(features):
    """{key: {"type": ..., "shape": [...]}} from a config's PolicyFeature map."""
    out = {}
    for key, ft in (features or {}).items():
        kind = getattr(getattr(ft, "type", None), "value", None) or getattr(ft, "type", None)
        out[key] = {"type": str(kind), "shape": list(getattr(ft, "shape", ()) or ())}
    return out


def device_available(device, runtimes=None):
    """(usable, what runs it). `runtimes`: device -> the module that must be imported first (the
    backends' device_runtime, e.g. an accelerator's torch extension)."""
    import torch

    kind = str(device).split(":")[0]
    if kind == "cpu":
        return True, "cpu"
    if kind == "mps":
        return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()), "mps"
    runtime = (runtimes or {}).get(kind)
    if runtime:
        try:
            importlib.import_module(runtime)
        except ImportError as exc:
            return False, f"{runtime} not importable: {exc}"
    mod = getattr(torch, kind, None)
    built = getattr(torch.version, kind, None)  # torch's own build marker for this device, where it has one
    what = runtime or (f"torch {torch.__version__}, {kind} {built}" if built else kind)
    return bool(mod is not None and getattr(mod, "is_available", lambda: False)()), what


def _synchronize(torch, device):
    """Wait for the device's queued work (an accelerator runs asynchronously), so a timing is its own."""
    kind = str(device).split(":")[0]
    sync = getattr(getattr(torch, kind, None), "synchronize", None) if kind != "cpu" else None
    if sync is not None:
        sync()


def _saved_type(ckpt, raw, pkg):
    """The policy type of a checkpoint whose config.json does not name it (trees of early 2025 saved
    none): the train_config.json beside it, else the one registered config class whose fields cover it."""
    try:
        with open(os.path.join(ckpt, "train_config.json"), encoding="utf-8") as f:
            named = (json.load(f).get("policy") or {}).get("type")
        if named:
            return named
    except (OSError, ValueError, AttributeError):
        pass
    try:
        importlib.import_module(pkg + ".policies")  # registers the policy configs with draccus
        choices = importlib.import_module("lerobot.configs.policies").PreTrainedConfig.get_known_choices()
    except Exception:
        return None
    keys = set(raw) - {"type"}
    fits = [name for name, cls in choices.items()
            if dataclasses.is_dataclass(cls) and keys <= {f.name for f in dataclasses.fields(cls)}]
    return fits[0] if len(fits) == 1 else None


def load_config(pkg, ckpt):
    st = _stage("config")
    path = os.path.join(ckpt, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, ValueError) as exc:
        st["error"] = _err(exc)
        _finish()
    if not isinstance(raw, dict):
        st["error"] = {"type": "ValueError", "message": f"{path} holds {type(raw).__name__}, not a JSON object"}
        _finish()
    st["type"], st["saved_device"] = raw.get("type") or _saved_type(ckpt, raw, pkg), raw.get("device")
    factory = importlib.import_module(pkg + ".policies.factory")
    st["processors_api"] = hasattr(factory, "make_pre_post_processors")
    try:
        policy_cls = factory.get_policy_class(st["type"])
    except Exception as exc:  # lerobot raises NotImplementedError/ValueError for an unknown type
        st["error"] = _err(exc)
        st["unknown_type"] = True
        _finish()
    config_cls = getattr(policy_cls, "config_class", None)
    if config_cls is not None and dataclasses.is_dataclass(config_cls):
        known = {f.name for f in dataclasses.fields(config_cls)}
        st["unknown_fields"] = sorted(k for k in raw if k != "type" and k not in known)
        st["config_class"] = config_cls.__name__
    # The configs sit at lerobot.configs in every draccus-era tree, also where the rest is under lerobot.common.
    base = importlib.import_module("lerobot.configs.policies").PreTrainedConfig
    # A config.json without its type parses only through the policy's own config class.
    loader = config_cls if "type" not in raw and config_cls is not None else base
    try:
        config = loader.from_pretrained(ckpt)
    except BaseException as exc:  # draccus reports bad fields through argparse: SystemExit
        st["error"] = _err(exc)
        _finish()
    st["device"] = getattr(config, "device", None)
    st["input_features"] = feature_dict(getattr(config, "input_features", None))
    st["output_features"] = feature_dict(getattr(config, "output_features", None))
    st["n_action_steps"] = getattr(config, "n_action_steps", None)
    st["chunk_size"] = getattr(config, "chunk_size", None)
    st["ok"] = True
    return policy_cls, config


def check_device(config, wanted, runtimes=None):
    """The device to load on: `wanted` (the profile's), else the one the checkpoint was trained on;
    a checkpoint's own device that is missing here is recorded, and the rest is checked on the CPU.
    The trained device comes from config.json itself: lerobot's config swaps a missing device for
    another one when it loads ("Device 'cuda' is not available. Switching to 'cpu'")."""
    trained = _stage("config").get("saved_device") or getattr(config, "device", None)
    device = wanted or trained or "cpu"
    st = _stage("device", trained=trained, used=device, loaded_as=getattr(config, "device", None))
    st["available"], st["runtime"] = device_available(device, runtimes)
    if not st["available"]:
        if wanted:
            _finish()
        device = st["fallback"] = "cpu"
    return device


def dataset_features(pkg, root, repo_id):
    """The dataset's features as its own metadata class reads them (shape, dtype, names)."""
    st = _stage("dataset", root=root)
    module = importlib.import_module(pkg + ".datasets.lerobot_dataset")
    try:
        meta = module.LeRobotDatasetMetadata(repo_id, root=root)
    except Exception as exc:
        st["error"] = _err(exc)
        _finish()
    st["features"] = {k: {"dtype": v.get("dtype"), "shape": list(v.get("shape") or ()), "names": v.get("names")}
                      for k, v in meta.features.items()}
    st["fps"] = meta.fps
    return module, st["features"]


def compare_features(config_inputs, config_outputs, ds_features):
    """Camera keys, state and action shapes of the checkpoint against the dataset's."""
    st = _stage("features")
    problems = []
    cams = {k: v for k, v in config_inputs.items() if v["type"] == "VISUAL"}
    ds_cams = {k: v for k, v in ds_features.items() if v["dtype"] in ("image", "video")}
    st["checkpoint_cameras"], st["dataset_cameras"] = sorted(cams), sorted(ds_cams)
    for key in sorted(set(cams) - set(ds_cams)):
        problems.append({"key": key, "why": "missing", "checkpoint": cams[key]["shape"]})
    for key in sorted(set(cams) & set(ds_cams)):
        shape, names = ds_cams[key]["shape"], ds_cams[key].get("names") or []
        # datasets store (height, width, channels); policies see (channels, height, width)
        chw = [shape[2], shape[0], shape[1]] if len(shape) == 3 and list(names)[:1] != ["channels"] else shape
        if list(chw) != list(cams[key]["shape"]):
            problems.append({"key": key, "why": "shape", "checkpoint": cams[key]["shape"], "dataset": chw})
    for key, ft in list(config_inputs.items()) + list(config_outputs.items()):
        if ft["type"] == "VISUAL":
            continue
        if key not in ds_features:
            problems.append({"key": key, "why": "missing", "checkpoint": ft["shape"]})
        elif list(ds_features[key]["shape"]) != list(ft["shape"]):
            problems.append({"key": key, "why": "shape", "checkpoint": ft["shape"], "dataset": ds_features[key]["shape"]})
    st["extra_dataset_cameras"] = sorted(set(ds_cams) - set(cams))
    st["problems"] = problems
    st["ok"] = not problems
    return not problems


def load_weights(policy_cls, ckpt, config):
    st = _stage("weights")
    path = os.path.join(ckpt, "model.safetensors")
    st["file"] = path
    st["bytes"] = os.path.getsize(path) if os.path.isfile(path) else None
    try:
        from safetensors import safe_open

        with safe_open(path, framework="pt") as f:  # the header covers the file: a truncated copy fails here
            stored = set(f.keys())
        st["tensors"] = len(stored)
    except Exception as exc:
        st["error"] = _err(exc)
        st["file_error"] = True
        _finish()
    params = inspect.signature(policy_cls.from_pretrained).parameters
    kwargs = {k: v for k, v in (("config", config), ("strict", False)) if k in params}
    try:
        policy = policy_cls.from_pretrained(ckpt, **kwargs)
    except Exception as exc:  # a tensor whose shape differs fails even when not strict
        st["error"] = _err(exc)
        _finish()
    # Not strict, so that the verdict can name both sides: lerobot only warns about missing keys.
    expected = set(policy.state_dict())
    st["missing"], st["unexpected"] = sorted(expected - stored), sorted(stored - expected)
    if st["missing"] or st["unexpected"]:
        st["error"] = {"type": "StateDictMismatch", "message": f"{len(st['missing'])} missing, {len(st['unexpected'])} unexpected keys"}
        _finish()
    st["ok"] = True
    st["parameters"] = sum(p.numel() for p in policy.parameters())
    return policy


def make_processors(factory, policy, ckpt, device):
    st = _stage("processors", api=hasattr(factory, "make_pre_post_processors"))
    if not st["api"]:
        return None, None  # older trees: the policy normalises inside select_action
    over = {"device_processor": {"device": device}}
    try:
        pre, post = factory.make_pre_post_processors(policy.config, pretrained_path=ckpt,
                                                     preprocessor_overrides=over, postprocessor_overrides=over)
    except Exception as exc:
        st["error"] = _err(exc)
        _finish()
    st["ok"] = True
    return pre, post


def run_frames(ds_module, root, repo_id, policy, pre, post, device, ds_features, calls):
    import torch

    st = _stage("frames")
    ds = ds_module.LeRobotDataset(repo_id, root=root)
    keys = list(policy.config.input_features)
    n = len(ds)
    picks = [min(n - 1, (i * n) // (calls + 1)) for i in range(calls + 1)]
    times, action = [], None
    policy.eval()
    with torch.inference_mode():
        for i, index in enumerate(picks):
            item = ds[index]
            batch = {k: item[k].unsqueeze(0).to(device) for k in keys}
            batch["task"] = [item.get("task", "")]
            policy.reset()  # an empty action queue: every call runs the model, as on a chunk boundary
            _synchronize(torch, device)
            start = time.perf_counter()
            obs = pre(batch) if pre is not None else batch
            action = policy.select_action(obs)
            action = post(action) if post is not None else action
            action = action.to("cpu")
            if i:  # the first call warms up (allocations, kernels)
                times.append(time.perf_counter() - start)
    want = ds_features.get("action") or {}
    st.update({"frames": picks, "latency_ms": [round(t * 1000, 3) for t in times],
               "median_ms": round(statistics.median(times) * 1000, 3) if times else None,
               "action_shape": list(action.shape), "action_dtype": str(action.dtype).replace("torch.", ""),
               "action_finite": bool(torch.isfinite(action).all()),
               "want_shape": want.get("shape"), "want_dtype": want.get("dtype")})
    st["ok"] = (list(action.shape)[-1:] == list(want.get("shape") or [])[-1:] and st["action_dtype"] == want.get("dtype")
                and st["action_finite"])


def main(args):
    pkg, ckpt = args.get("package") or "lerobot", args["checkpoint"]
    RESULT.update({"checkpoint": ckpt, "package": pkg})
    try:
        import torch

        RESULT["torch"] = torch.__version__
        factory = importlib.import_module(pkg + ".policies.factory")
    except Exception as exc:
        _stage("import", error=_err(exc))
        _finish()
    policy_cls, config = load_config(pkg, ckpt)
    ds_module, ds_features, fits = None, None, False
    if args.get("dataset"):
        ds_module, ds_features = dataset_features(pkg, args["dataset"], args["repo_id"])
        # a mismatch is recorded, and the device and weights are still checked; only the frames need a fit
        fits = compare_features(_stage("config")["input_features"], _stage("config")["output_features"], ds_features)
    device = check_device(config, args.get("device"), args.get("runtimes"))
    config.device = device
    policy = load_weights(policy_cls, ckpt, config)
    policy.to(device)
    pre, post = make_processors(factory, policy, ckpt, device)
    if fits and int(args.get("calls") or 0) > 0:
        try:
            run_frames(ds_module, args["dataset"], args["repo_id"], policy, pre, post, device, ds_features, int(args["calls"]))
        except Exception as exc:
            _stage("frames", error=_err(exc))
    RESULT["ok"] = all(s.get("error") is None and s.get("ok", True) for s in RESULT["stages"].values())
    _finish()


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
