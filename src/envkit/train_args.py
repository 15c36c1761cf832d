"""The one place envkit builds lerobot training arguments, from what the tree accepts (LerobotCaps).

Pure. Every caller (the doctor's smoke, `envkit launch`, setup's closing hint) says which settings
it wants; a setting is written with the name this tree's draccus config accepts (`--policy.device`,
or `--device` in trees from before March 2025) and a setting the tree lacks is not passed at all
(`--policy.push_to_hub` on a fork frozen before June 2025), so lerobot never stops with
"unrecognized arguments". Without caps (the probe could not read the tree) everything is passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from envkit.lerobot_caps import LerobotCaps

# Settings that moved: the name envkit asks for, then the names older trees accept.
ALIASES: dict[str, tuple[str, ...]] = {
    "policy.device": ("policy.device", "device"),  # moved onto the policy config in lerobot #812 (2025-03)
    "policy.use_amp": ("policy.use_amp", "use_amp"),
    "eval_freq": ("eval_freq", "env_eval_freq"),  # renamed env_eval_freq in lerobot 0.6
}
# The ACT model made small enough to train 3 steps on a CPU in seconds.
SMALL_ACT: tuple[tuple[str, Any], ...] = (
    ("policy.dim_model", 64), ("policy.n_heads", 2), ("policy.dim_feedforward", 128), ("policy.n_encoder_layers", 1),
    ("policy.n_decoder_layers", 1), ("policy.n_vae_encoder_layers", 1), ("policy.latent_dim", 8),
    ("policy.chunk_size", 10), ("policy.n_action_steps", 10),
)


@dataclass(frozen=True)
class Built:
    args: tuple[str, ...]
    dropped: tuple[str, ...] = ()  # settings asked for that this tree does not have (not passed)
    env: dict[str, str] = field(default_factory=dict)  # variables the training processes need
    notes: tuple[str, ...] = ()


def render(value: Any) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def accepted(caps: LerobotCaps | None, name: str) -> str | None:
    """The name this tree accepts for setting `name`, or None when it has no such setting."""
    if caps is None:
        return name
    if name == "policy.type":  # a draccus choice, not a field: accepted wherever the config has a policy
        return name if "act" in caps.policy_types or any(f.startswith("policy.") for f in caps.fields) else None
    for candidate in ALIASES.get(name, (name,)):
        if caps.accepts(candidate):
            return candidate
    return None


def build(caps: LerobotCaps | None, wanted: Sequence[tuple[str, Any]]) -> Built:
    """`--name=value` for each wanted (name, value) the tree accepts, in order; the rest in `dropped`."""
    args, dropped = [], []
    for name, value in wanted:
        flag = accepted(caps, name)
        if flag is None:
            dropped.append(name)
        else:
            args.append(f"--{flag}={render(value)}")
    return Built(tuple(args), tuple(dropped))


def smoke_train(caps: LerobotCaps | None, *, device: str, repo_id: str, root: str, out_dir: str, steps: int,
                weights_cached: bool, video_backend: str | None = None) -> Built:
    """The doctor's smoke: ACT for `steps` steps on the tiny dataset, offline, a checkpoint at the end."""
    wanted: list[tuple[str, Any]] = [
        ("policy.type", "act"), ("policy.device", device), ("policy.push_to_hub", False),
        ("wandb.enable", False), ("dataset.repo_id", repo_id), ("dataset.root", root),
        ("steps", steps), ("batch_size", 2), ("num_workers", 0), ("save_freq", steps), ("eval_freq", 0),
        ("log_freq", 1), ("output_dir", out_dir), *SMALL_ACT,
    ]
    if not weights_cached:
        wanted.append(("policy.pretrained_backbone_weights", None))  # no network: do not fetch ResNet18
    if video_backend:
        wanted.append(("dataset.video_backend", video_backend))
    return build(caps, wanted)


def video_backend(caps: LerobotCaps | None, chosen: str | None, video_reader: bool | None) -> tuple[str | None, str | None]:
    """(the --dataset.video_backend the smoke passes, why): the profile's choice, else torchcodec where the
    tree's default ("pyav") decodes through torchvision.io.VideoReader and this torchvision has none
    (removed in torchvision 0.22+), while the tree has a torchcodec decoder (lerobot #798, 2025-03-14)."""
    if chosen or caps is None:
        return chosen, None
    if caps.default_video_backend == "pyav" and video_reader is False and "torchcodec" in caps.video_decoders:
        return "torchcodec", ("its default video backend 'pyav' needs torchvision.io.VideoReader, which this "
                              "torchvision lacks; the tree also decodes with torchcodec")
    return None, None


def smoke_resume(caps: LerobotCaps | None, *, config_path: str, steps: int) -> Built:
    return build(caps, [("resume", True), ("config_path", config_path), ("steps", steps)])


def _has(args: Sequence[str], name: str) -> bool:
    return any(a == f"--{name}" or a.startswith(f"--{name}=") for a in args)


def launch(caps: LerobotCaps | None, user_args: Sequence[str], *, device: str, mixed_precision: str = "no",
           launcher: str | None = "torchrun") -> Built:
    """`envkit launch`'s training arguments: the user's, then the device (unless they chose one or a
    --config_path does), then the precision by the mechanism this tree has."""
    args, notes, env = list(user_args), [], {}
    device_flag = accepted(caps, "policy.device")
    if device_flag and not _has(args, "policy.device") and not _has(args, "device"):
        if _has(args, "config_path"):
            notes.append(f"--{device_flag} left to --config_path's file (pass --{device_flag}={device} to be sure)")
        else:
            args.append(f"--{device_flag}={device}")
            notes.append(f"--{device_flag}={device}: the profile's device (pass --{device_flag} to choose)")
    mechanism = caps.mixed_precision if caps is not None else "env:ACCELERATE_MIXED_PRECISION"
    if mixed_precision != "no":
        if mechanism is None:
            notes.append(f"--mixed-precision {mixed_precision}: lerobot {caps.version if caps else '?'} has no mixed-precision "
                         "setting (no accelerate, no use_amp): it trains in full precision")
        elif mechanism.startswith("env:"):
            if launcher != "accelerate":  # accelerate launch sets it from its own --mixed_precision
                env[mechanism[4:]] = mixed_precision
        elif mechanism == "accelerator.mixed_precision":
            if not _has(args, mechanism):
                args.append(f"--{mechanism}={mixed_precision}")
        elif not _has(args, mechanism):  # use_amp: torch autocast, the tree picks the dtype
            args.append(f"--{mechanism}=true")
            notes.append(f"--mixed-precision {mixed_precision}: this lerobot only switches autocast on (--{mechanism}=true); "
                         "it chooses the dtype itself")
    return Built(tuple(args), (), env, tuple(notes))


def hint(caps: LerobotCaps | None, device: str) -> str:
    """setup's closing "run inside it" line: the entry and the arguments an ACT run starts from."""
    entry = (caps.entry if caps is not None else None) or "lerobot-train"
    built = build(caps, [("policy.type", "act"), ("policy.device", device), ("policy.push_to_hub", False),
                         ("dataset.repo_id", "<your/dataset>")])
    return " ".join([entry, *built.args])
