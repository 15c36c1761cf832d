"""Run BY THE TARGET interpreter: what the installed lerobot can do, asked of its own code.

Standard library plus lerobot's own imports. The doctor's probe and launch's probe copy this file
beside themselves and call `collect()`; `python caps_probe.py` prints the same JSON alone (tests
record canary trees with it). Nothing is read from source text: fields come from the draccus
dataclasses (`dataclasses.fields`, walked recursively), the policy types from draccus' choice
registry, the training module's distributed machinery from its namespace after import, the dataset
format from `CODEBASE_VERSION`, extras from the distribution's metadata. envkit.lerobot_caps turns
this raw document into a typed verdict.
"""

import dataclasses
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import re
import sys
import typing

CAPS_VERSION = 1
PACKAGES = ("lerobot", "lerobot.common")  # 0.3.2 on / the trees forks vendored until mid-2025
TRAIN_MODULES = ("scripts.lerobot_train", "scripts.train")
MAX_DEPTH = 4


def _err(exc):
    out = {"type": type(exc).__name__, "message": str(exc)[:1500]}
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        out["missing_module"] = exc.name
    return out


def _spec(name):
    try:
        return importlib.util.find_spec(name) is not None
    except Exception:  # a parent package that fails to import, or is not a package
        return False


def _type_text(tp):
    if isinstance(tp, str):
        return tp
    if isinstance(tp, type):
        return tp.__module__ + "." + tp.__qualname__ if tp.__module__ not in ("builtins",) else tp.__name__
    return str(tp).replace("typing.", "")


def _dataclass_in(tp):
    """The one dataclass a field's type names (X, X | None, Optional[X]); None otherwise."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp
    if typing.get_origin(tp) is not typing.Union and type(tp).__name__ != "UnionType":
        return None  # dict[str, X], list[X]: entries of a mapping, not fields of the command line
    found = [a for a in typing.get_args(tp) if isinstance(a, type) and dataclasses.is_dataclass(a)]
    return found[0] if len(found) == 1 else None


def _default(f):
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        return None  # a factory's object is walked as a nested dataclass or left out
    else:
        return {"required": True}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"default": value}
    if hasattr(value, "value") and isinstance(getattr(value, "value"), (str, int)):  # an Enum member
        return {"default": value.value}
    return None


def walk(cls, prefix="", depth=0):
    """{dotted field name: {type, default?}} of a draccus dataclass, nested dataclasses included."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # forward references the tree cannot resolve: the raw annotations
        hints = {}
    out = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue  # computed in __post_init__: not accepted on the command line
        tp = hints.get(f.name, f.type)
        name = prefix + f.name
        entry = {"type": _type_text(tp)}
        entry.update(_default(f) or {})
        out[name] = entry
        sub = _dataclass_in(tp)
        if sub is not None and depth < MAX_DEPTH:
            out.update(walk(sub, name + ".", depth + 1))
    return out


def _dist():
    try:
        dist = importlib.metadata.distribution("lerobot")
    except importlib.metadata.PackageNotFoundError:
        return None
    extras = {}
    base = []
    for text in dist.requires or []:
        match = re.search(r"""extra\s*==\s*["']([^"']+)["']""", text)
        name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", text)
        entry = {"requirement": text.split(";")[0].strip(), "name": name.group(1) if name else text}
        if match:
            extras.setdefault(match.group(1), []).append(entry)
        else:
            base.append(entry)
    for entry in base + [e for reqs in extras.values() for e in reqs]:
        try:
            entry["installed"] = importlib.metadata.version(entry["name"])
        except Exception:
            entry["installed"] = None
    for name in dist.metadata.get_all("Provides-Extra") or []:
        extras.setdefault(name, [])
    return {"version": dist.version, "requires": base, "extras": extras,
            "console_scripts": {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}}


def _import(name, errors, key):
    try:
        return importlib.import_module(name)
    except BaseException as exc:  # a tree's import must not take the probe down
        errors[key] = dict(_err(exc), module=name)
        return None


def _train_module_facts(module, pkg):
    """How the training module trains, from its namespace: what it imported, and train()'s signature."""
    uses = {"accelerate": False, "make_accelerator": False, "torch_distributed": False}
    for value in vars(module).values():
        owner = getattr(value, "__module__", None) or (getattr(value, "__name__", "") if inspect.ismodule(value) else "")
        owner = str(owner or "")
        if owner.startswith("accelerate"):
            uses["accelerate"] = True
        if getattr(value, "__name__", None) == "make_accelerator" and owner.startswith(pkg):
            uses["make_accelerator"] = True
        if owner.startswith("torch.distributed"):
            uses["torch_distributed"] = True
    train = getattr(module, "train", None)
    params = []
    if callable(train):
        try:
            params = list(inspect.signature(train).parameters)
        except (TypeError, ValueError):
            pass
    return {"uses": uses, "train_params": params, "has_main": callable(getattr(module, "main", None))}


def collect():
    out = {"caps_version": CAPS_VERSION, "python": "%d.%d.%d" % sys.version_info[:3], "errors": {}}
    errors = out["errors"]
    out["dist"] = _dist()
    pkg = next((p for p in PACKAGES if _spec(p + ".datasets.lerobot_dataset")), None)
    if pkg is None:
        pkg = "lerobot" if _spec("lerobot") else None
    out["package"] = pkg
    if pkg is None:
        return out
    modules = {}
    modules["train"] = next((pkg_mod for rel in TRAIN_MODULES for pkg_mod in ["lerobot." + rel] if _spec(pkg_mod)), None)
    modules["async_inference"] = next((m for m in ("lerobot.async_inference", "lerobot.scripts.server") if _spec(m)), None)
    modules["distributed"] = "lerobot.distributed" if _spec("lerobot.distributed") else None
    out["modules"] = modules
    # The config classes: lerobot.configs.train holds TrainPipelineConfig in every draccus-era tree.
    train_cfg = _import("lerobot.configs.train", errors, "train_config")
    cls = getattr(train_cfg, "TrainPipelineConfig", None) if train_cfg else None
    if cls is not None and dataclasses.is_dataclass(cls):
        out["train_fields"] = walk(cls)
    policies = _import("lerobot.configs.policies", errors, "policy_config")
    base = getattr(policies, "PreTrainedConfig", None) if policies else None
    if base is not None and dataclasses.is_dataclass(base):
        out["pretrained_fields"] = walk(base, "policy.")
        _import(pkg + ".policies", errors, "policies")  # registers the policy types with draccus
        act = None
        try:
            choices = base.get_known_choices()
            out["policy_types"] = sorted(choices)
            act = choices.get("act")
        except Exception as exc:
            errors["policy_types"] = _err(exc)
        if act is None:
            mod = _import(pkg + ".policies.act.configuration_act", errors, "act_config")
            act = getattr(mod, "ACTConfig", None) if mod else None
        if act is not None and dataclasses.is_dataclass(act):
            out["act_fields"] = walk(act, "policy.")
    parser = _import("lerobot.configs.parser", errors, "parser")
    if parser is not None and callable(getattr(parser, "wrap", None)):
        # lerobot's draccus wrapper: --config_path=FILE loads a saved train_config.json (resume uses it)
        out["cli_args"] = ["config_path"]
    dataset = _import(pkg + ".datasets.lerobot_dataset", errors, "dataset")
    if dataset is not None:
        out["codebase_version"] = getattr(dataset, "CODEBASE_VERSION", None)
        lrd = getattr(dataset, "LeRobotDataset", None)
        out["dataset_create"] = callable(getattr(lrd, "create", None))
        out["dataset_module"] = dataset.__name__
        video = _import(pkg + ".datasets.video_utils", errors, "video_utils")
        # the decoders this tree has: decode_video_frames_torchcodec, _torchvision (torchvision.io.VideoReader)
        out["video_decoders"] = sorted(n[len("decode_video_frames_"):] for n in dir(video or object())
                                       if n.startswith("decode_video_frames_") and callable(getattr(video, n)))
    if modules["distributed"]:
        dist_mod = _import("lerobot.distributed", errors, "distributed")
        out["make_accelerator"] = callable(getattr(dist_mod, "make_accelerator", None)) if dist_mod else False
    if modules["train"]:
        mod = _import(modules["train"], errors, "train_module")
        if mod is not None:
            out["train_module"] = _train_module_facts(mod, pkg)
    return out


if __name__ == "__main__":
    print(json.dumps(collect(), default=str))
