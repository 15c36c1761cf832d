"""What an installed lerobot can do, as data: the typed reading of `doctor/caps_probe.py`'s raw JSON.

Pure (no I/O): `interpret(raw)` -> `LerobotCaps`. The raw document is what the tree's own code
said in the target interpreter (its draccus config classes, its training module's namespace, its
distribution metadata); nothing here guesses from a version string. The smoke, launch, the doctor's
lerobot.* checks and setup's closing hint build their arguments from this (envkit.train_args).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

TRAIN_SCRIPT = "lerobot-train"
# The pieces the ACT training envkit runs needs, each with the field/module that proves it.
NEEDED_FIELDS = ("dataset.repo_id", "output_dir", "steps", "batch_size")


@dataclass(frozen=True)
class LerobotCaps:
    package: str | None  # "lerobot" | "lerobot.common" | None: no lerobot package
    version: str | None
    python: str | None  # the interpreter the probe ran in
    train_module: str | None
    train_script: str | None  # the console script that trains (lerobot-train), when declared
    fields: frozenset[str]  # every dotted name the training command line accepts (policy.* from ACTConfig)
    policy_types: tuple[str, ...]
    distributed: str | None  # "make_accelerator" | "accelerate" | "torch.distributed" | "none" | None: unknown
    mixed_precision: str | None  # "accelerator.mixed_precision" | "env:ACCELERATE_MIXED_PRECISION" | "policy.use_amp" | "use_amp" | None
    codebase_version: str | None  # the dataset format it writes and reads
    dataset_module: str | None
    dataset_create: bool
    async_inference: str | None  # its module, when present
    video_decoders: tuple[str, ...] = ()  # "torchcodec", "torchvision" (torchvision.io.VideoReader: the "pyav" backend)
    default_video_backend: str | None = None  # DatasetConfig.video_backend's default
    extras: dict[str, tuple[str, ...]] = field(default_factory=dict)  # every extra the distribution declares
    extras_needed: tuple[str, ...] = ()  # extras whose packages the training/dataset imports lack
    missing: tuple[str, ...] = ()  # pieces ACT training needs and this tree lacks (empty: it can train)
    errors: dict[str, str] = field(default_factory=dict)  # import errors, by part
    derived: str | None = None  # how the raw document was made, when not by running the probe in the tree's env

    @property
    def can_train(self) -> bool:
        return not self.missing

    @property
    def entry(self) -> str | None:
        if self.train_script:
            return self.train_script
        return f"python -m {self.train_module}" if self.train_module else None

    @property
    def smoke_missing(self) -> tuple[str, ...]:
        """What the doctor's smoke needs beyond training: it writes its tiny dataset with LeRobotDataset.create."""
        return self.missing + (() if self.dataset_create or self.package is None else ("LeRobotDataset.create",))

    def accepts(self, name: str) -> bool:
        return name in self.fields

    def missing_text(self) -> str:
        return "; ".join(self.missing)

    def summary(self) -> str:
        parts = [f"lerobot {self.version or '?'} ({self.package or 'no package'})",
                 f"entry {self.entry or 'none'}", f"datasets {self.codebase_version or '?'}",
                 f"distributed: {self.distributed or 'unknown'}",
                 f"mixed precision: {self.mixed_precision or 'none'}",
                 f"{len(self.fields)} config fields"]
        if self.async_inference:
            parts.append(f"async inference ({self.async_inference})")
        if self.extras_needed:
            parts.append("needs lerobot[" + ",".join(self.extras_needed) + "]")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"package": self.package, "version": self.version, "python": self.python,
                "train_module": self.train_module, "train_script": self.train_script, "entry": self.entry,
                "fields": sorted(self.fields), "policy_types": list(self.policy_types),
                "distributed": self.distributed, "mixed_precision": self.mixed_precision,
                "codebase_version": self.codebase_version, "dataset_module": self.dataset_module,
                "dataset_create": self.dataset_create, "async_inference": self.async_inference,
                "video_decoders": list(self.video_decoders), "default_video_backend": self.default_video_backend,
                "extras": {k: list(v) for k, v in sorted(self.extras.items())},
                "extras_needed": list(self.extras_needed), "missing": list(self.missing), "can_train": self.can_train,
                "errors": dict(self.errors), "derived": self.derived}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _error_text(err: dict[str, Any]) -> str:
    return f"{err.get('type', 'Error')}: {err.get('message', '')}".strip()


def _extras_providing(module: str, extras: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Extras whose requirements name the distribution a missing top-level module comes from."""
    top = _norm(module.split(".")[0])
    direct = sorted(name for name, reqs in extras.items() if any(_norm(str(r.get("name", ""))) == top for r in reqs))
    # lerobot[training] = ["lerobot[dataset]", "accelerate", ...]: an extra that pulls in one of those
    pulls = sorted(name for name, reqs in extras.items() if name not in direct and any(
        _norm(str(r.get("name", ""))) == "lerobot" and any(f"[{d}" in str(r.get("requirement", "")) or f",{d}" in str(r.get("requirement", ""))
                                                       for d in direct) for r in reqs))
    return direct + pulls


def _distributed(raw: dict[str, Any]) -> str | None:
    facts = raw.get("train_module")
    if not isinstance(facts, dict):
        return None  # the training module did not import: unknown, not "none"
    uses = facts.get("uses") or {}
    if uses.get("make_accelerator"):
        return "make_accelerator"
    if uses.get("accelerate") or "accelerator" in (facts.get("train_params") or []):
        return "accelerate"
    if uses.get("torch_distributed"):
        return "torch.distributed"
    return "none"


def _mixed_precision(fields: frozenset[str], distributed: str | None) -> str | None:
    """How a run's precision is chosen in this tree: its config first (lerobot main's --accelerator.*),
    then accelerate's environment variable (an Accelerator built without an explicit precision),
    then the autocast switch on the policy (or, in early 2025 trees, on the train config)."""
    if "accelerator.mixed_precision" in fields:
        return "accelerator.mixed_precision"
    if distributed in ("accelerate", "make_accelerator"):
        return "env:ACCELERATE_MIXED_PRECISION"
    if "policy.use_amp" in fields:
        return "policy.use_amp"
    if "use_amp" in fields:
        return "use_amp"
    return None


def interpret(raw: dict[str, Any], derived: str | None = None) -> LerobotCaps:
    """The typed capabilities from caps_probe.collect()'s document (or a recorded one)."""
    raw = raw if isinstance(raw, dict) else {}
    dist = raw.get("dist") if isinstance(raw.get("dist"), dict) else {}
    modules = raw.get("modules") if isinstance(raw.get("modules"), dict) else {}
    errors_raw = raw.get("errors") if isinstance(raw.get("errors"), dict) else {}
    extras_raw: dict[str, list[dict[str, Any]]] = {k: list(v or []) for k, v in (dist.get("extras") or {}).items()}
    scripts = dist.get("console_scripts") or {}
    names: set[str] = set()
    for key in ("train_fields", "pretrained_fields", "act_fields"):
        names.update((raw.get(key) or {}).keys())
    names.update(raw.get("cli_args") or ())  # --config_path: lerobot's parser, not a dataclass field
    # policy.* come from the policy's own config (ACTConfig); the abstract base is a floor when ACT is missing
    fields = frozenset(names)
    train_module = modules.get("train")
    train_script = TRAIN_SCRIPT if TRAIN_SCRIPT in scripts else None
    distributed = _distributed(raw)
    package = raw.get("package")
    missing: list[str] = []
    if package is None:
        missing.append("lerobot package (neither lerobot.datasets nor lerobot.common.datasets)")
    else:
        if not raw.get("train_fields"):
            missing.append("TrainPipelineConfig (draccus config in lerobot.configs.train)")
        elif "resume" not in fields:
            missing.append("resume (TrainPipelineConfig has no 'resume' field)")
        missing += [f"'{n}' config field" for n in NEEDED_FIELDS if raw.get("train_fields") and n not in fields]
        if not raw.get("act_fields"):
            missing.append("ACT policy (no 'act' policy type / ACTConfig)")
        if not train_module:
            missing.append("training module (lerobot/scripts/lerobot_train.py or train.py)")
        elif "train_module" in errors_raw:
            missing.append(f"importable training module ({train_module}: {_error_text(errors_raw['train_module'])})")
    needed: list[str] = []
    for err in errors_raw.values():
        # a module of lerobot itself missing is the tree's shape (an old layout), not an extra to install
        if isinstance(err, dict) and err.get("missing_module") and _norm(str(err["missing_module"]).split(".")[0]) != "lerobot":
            for extra in _extras_providing(str(err["missing_module"]), extras_raw):
                if extra not in needed:
                    needed.append(extra)
    for extra in ("training", "dataset"):  # the tree's own "what training needs" extras, when it has them
        reqs = extras_raw.get(extra) or []
        if any(r.get("installed") is None and _norm(str(r.get("name", ""))) != "lerobot" for r in reqs) and extra not in needed:
            needed.append(extra)
    return LerobotCaps(
        package=package, version=dist.get("version"), python=raw.get("python"),
        train_module=train_module, train_script=train_script, fields=fields,
        policy_types=tuple(raw.get("policy_types") or ()), distributed=distributed,
        mixed_precision=_mixed_precision(fields, distributed), codebase_version=raw.get("codebase_version"),
        dataset_module=raw.get("dataset_module"), dataset_create=bool(raw.get("dataset_create")),
        async_inference=modules.get("async_inference"),
        video_decoders=tuple(raw.get("video_decoders") or ()),
        default_video_backend=((raw.get("train_fields") or {}).get("dataset.video_backend") or {}).get("default"),
        extras={k: tuple(str(r.get("requirement")) for r in v) for k, v in extras_raw.items()},
        extras_needed=tuple(needed), missing=tuple(missing),
        errors={k: _error_text(v) for k, v in errors_raw.items() if isinstance(v, dict)},
        derived=derived or raw.get("derived"),
    )


def from_probe(probe: dict[str, Any]) -> LerobotCaps | None:
    """The caps in a doctor or launch probe document (its "lerobot_caps" section); None when absent or broken."""
    raw = probe.get("lerobot_caps") if isinstance(probe, dict) else None
    if not isinstance(raw, dict) or "caps_version" not in raw:
        return None
    return interpret(raw)
