"""The launch plan as data: facts about the environment and the request in, the exact command and
environment out. No I/O here: `envkit launch --dry-run` prints this, the runner executes it.

What goes into a plan, and why:
- one process per selected device through torchrun or accelerate, with a rendezvous port chosen
  at launch (a fixed port makes two jobs on one server collide);
- the accelerator's visible-devices variable, per-process variables and scripts (CANN's set_env.sh)
  from the backend, never from a branch on its name here;
- OMP_NUM_THREADS per process (each rank would otherwise start one OpenMP thread per core);
- the training module the installed lerobot really has, with PYTHONPATH only for a source tree
  the environment cannot import;
- whether it trains across processes, and how its precision is set, as its own code says (the
  capability probe, envkit.lerobot_caps): `--accelerator.mixed_precision` on lerobot main,
  ACCELERATE_MIXED_PRECISION for the 0.4 releases' Accelerator, `--policy.use_amp` in forks;
- --policy.device from the backend unless the user chose one (envkit.train_args); --mixed-precision
  for the children only.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envkit import train_args as targs_builder
from envkit.errors import EnvkitError
from envkit.launch import args as largs
from envkit.launch.devices import Selection
from envkit.launch.rendezvous import Nodes, Route, node_env
from envkit.targetenv.layout import package_dir

if TYPE_CHECKING:
    from envkit.accel.base import Backend
    from envkit.lerobot_caps import LerobotCaps
    from envkit.targetenv.layout import Layout

LAUNCHERS = ("torchrun", "accelerate")
PRECISIONS = ("no", "fp16", "bf16")
# Each rank sources the backend's scripts itself (the first that exists), then becomes Python. The
# command is kept in an array first: a sourced script (CANN's set_env.sh) may reset "$@".
RANK_SCRIPT = ('_envkit_s=(); while [ "$1" != -- ]; do _envkit_s+=("$1"); shift; done; shift; _envkit_cmd=("$@"); set --\n'
               'for _envkit_f in "${_envkit_s[@]}"; do if [ -f "$_envkit_f" ]; then . "$_envkit_f"; break; fi; done\n'
               'exec "${_envkit_cmd[@]}"')


@dataclass(frozen=True)
class Request:
    devices: str = "all"
    launcher: str = "torchrun"
    mixed_precision: str = "no"
    train_args: tuple[str, ...] = ()
    nodes: Nodes | None = None  # a multi-node run: this node's part of it


@dataclass(frozen=True)
class EnvFacts:
    """What the environment offers (gathered by launch.probe, or written out for a golden dry-run)."""

    prefix: str
    python: str
    layout: "Layout | None"
    caps: "LerobotCaps | None"  # what the tree's own code says it accepts and does; None: the probe could not ask it
    lerobot_importable: bool = True
    source_tree: str | None = None  # the lerobot tree setup recorded, for PYTHONPATH when not importable
    cpu_count: int = 1
    environ: dict[str, str] = field(default_factory=dict)  # the user's environment (their values win)
    hook_env: dict[str, str] = field(default_factory=dict)  # what the env's activation hook sets (the profile's [env])
    route: Route | None = None  # multi-node: how this node reaches the rendezvous host


@dataclass(frozen=True)
class LaunchPlan:
    profile: str
    backend: str
    launcher: str | None  # None: a single process started directly (no distributed support needed)
    nproc: int
    devices: tuple[int, ...] | None
    port: int | None
    argv: tuple[str, ...]
    env: dict[str, str]  # set for the launcher and every rank, on top of the activated environment
    prefix: str
    entry: str
    train_args: tuple[str, ...]
    mixed_precision: str
    notes: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # scripts each rank sources (the first that exists)
    nodes: Nodes | None = None
    precision_by: str | None = None  # how --mixed-precision reaches lerobot (LerobotCaps.mixed_precision)

    @property
    def output_dir(self) -> str | None:
        return largs.value(self.train_args, "output_dir")

    def command(self) -> list[str]:
        """What runs: the launcher inside the environment (`envkit run` applies its hooks), with launch's
        variables set after the hooks, so an explicit --devices beats a hook's CUDA_VISIBLE_DEVICES."""
        return ["envkit", "run", "--prefix", self.prefix, "--", "env", *[f"{k}={v}" for k, v in self.env.items()], *self.argv]

    def shell(self) -> str:
        """The command as a shell line a user can paste (quoted; one variable or flag group per line)."""
        head = shlex.join(["envkit", "run", "--prefix", self.prefix, "--", "env"])
        assigns = [shlex.quote(f"{k}={v}") for k, v in self.env.items()]
        return " \\\n  ".join([head + (" " + " ".join(assigns) if assigns else ""), shlex.join(self.argv)])

    def render(self) -> str:
        where = f"devices {','.join(map(str, self.devices))}" if self.devices is not None else "no device selection"
        if self.nodes is not None:
            n = self.nodes
            meet = f"{self.launcher}, node {n.node_rank} of {n.nnodes}, rendezvous {n.endpoint} (id {n.run_id})"
        else:
            meet = f"{self.launcher} on port {self.port}" if self.launcher else "started directly"
        head = f"# envkit launch: profile {self.profile} ({self.backend}), {self.nproc} process(es), {where}, {meet}"
        lines = [head, f"# inside {self.prefix} with its activation hooks applied (never ~/.bashrc)", self.shell()]
        lines += [f"# {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "backend": self.backend, "launcher": self.launcher, "nproc": self.nproc,
                "devices": list(self.devices) if self.devices is not None else None, "port": self.port,
                "argv": list(self.argv), "env": dict(self.env), "prefix": self.prefix, "entry": self.entry,
                "train_args": list(self.train_args), "mixed_precision": self.mixed_precision,
                "mixed_precision_by": self.precision_by,
                "output_dir": self.output_dir, "notes": list(self.notes), "command": self.shell(),
                "nodes": self.nodes.to_dict() if self.nodes is not None else None}


def distributed(env: EnvFacts) -> bool:
    """Whether the tree trains across processes: its training module builds an Accelerator (directly or
    through lerobot.distributed.make_accelerator) or uses torch.distributed. Unknown counts as no."""
    return env.caps is not None and env.caps.distributed in ("accelerate", "make_accelerator", "torch.distributed")


def _why_single(env: EnvFacts, module: str) -> str:
    caps = env.caps
    if caps is None:
        return f"envkit could not ask its training module {module} how it trains (the capability probe did not run)"
    if caps.distributed is None:
        why = caps.errors.get("train_module", "it did not import")
        return f"its training module {module} did not import in the environment ({why}), so how it trains is unknown"
    return f"its training module {module} builds no accelerate Accelerator and uses no torch.distributed"


def single_command(env: EnvFacts, module: str, targs: tuple[str, ...], backend: "Backend", device: int = 0) -> str:
    """The one-process command for a lerobot without distributed support."""
    prefix = f"{backend.visible_devices_var}={device} " if backend.visible_devices_var else ""
    return prefix + shlex.join([env.python, "-m", module, *targs])


def validate(request: Request) -> None:
    """Bad flags, before anything is probed."""
    if request.launcher not in LAUNCHERS:
        raise EnvkitError(f"--launcher {request.launcher}: not one of {', '.join(LAUNCHERS)}", fix="pass --launcher torchrun or --launcher accelerate")
    if request.mixed_precision not in PRECISIONS:
        raise EnvkitError(f"--mixed-precision {request.mixed_precision}: not one of {', '.join(PRECISIONS)}",
                          fix="pass --mixed-precision no, fp16 or bf16")


def build(request: Request, env: EnvFacts, profile: str, backend: "Backend", selection: Selection,
          port: int | None, sources: tuple[str, ...] = ()) -> LaunchPlan:
    validate(request)
    lay = env.layout
    if lay is None or not lay.train_module:
        what = lay.describe() if lay is not None else "no lerobot is installed"
        raise EnvkitError(f"{env.prefix}: nothing to launch: {what}",
                          fix=f"install lerobot there (envkit setup --prefix {env.prefix} ...); envkit doctor --prefix {env.prefix} names the layout")
    caps = env.caps
    module = (caps.train_module if caps is not None else None) or lay.train_module
    is_distributed = distributed(env)
    built = targs_builder.launch(caps, request.train_args, device=backend.device, mixed_precision=request.mixed_precision,
                                 launcher=request.launcher if is_distributed else None)
    targs, notes = built.args, list(built.notes)
    nproc = selection.nproc
    nodes = request.nodes
    if nodes is not None and not is_distributed:
        raise EnvkitError(f"lerobot {lay.version or '?'} ({lay.name}) cannot train across {nodes.nnodes} nodes: {_why_single(env, module)}",
                          fix="set up a lerobot that trains with accelerate (>= 0.4.0) on every node, or train on one node")
    if not is_distributed and nproc > 1:
        raise EnvkitError(
            f"lerobot {lay.version or '?'} ({lay.name}) cannot train on {nproc} devices: {_why_single(env, module)}, "
            "so every process would be an independent run writing the same output directory",
            fix=f"train on one device: envkit launch --prefix {env.prefix} --devices 1 -- ..., i.e. "
                f"`{single_command(env, module, targs, backend, (selection.ids or (0,))[0])}`; or set up lerobot >= 0.4.0 (it trains with accelerate)",
        )
    out_env: dict[str, str] = {}
    if selection.visible() is not None and backend.visible_devices_var:
        out_env[backend.visible_devices_var] = selection.visible()  # type: ignore[assignment]
    # The user's values and the hook's (sourced after these are set) win over launch's defaults.
    for name, val in backend.launch_env(nproc).items():
        if name not in env.environ and name not in env.hook_env:
            out_env[name] = val
    if env.hook_env:
        notes.append("the environment's hook also sets, in every process: "
                     + " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.hook_env.items())))
    if nodes is not None and env.route is not None:
        picked = node_env(backend.network_vars(), env.route, {**env.environ, **env.hook_env})
        out_env.update(picked)
        if picked:
            notes.append(f"reaches {nodes.host} through {env.route.interface or '?'} ({env.route.address or '?'}): "
                         + " ".join(f"{k}={v}" for k, v in picked.items()) + " (set them yourself to choose)")
    if "OMP_NUM_THREADS" not in env.hook_env and "OMP_NUM_THREADS" not in env.environ:
        out_env["OMP_NUM_THREADS"] = str(max(1, env.cpu_count // nproc))  # the cores shared out, not all of them per rank
    if not env.lerobot_importable and env.source_tree:
        pkg = package_dir(Path(env.source_tree))
        if pkg is not None:
            out_env["PYTHONPATH"] = str(pkg.parent) + (f":{env.environ['PYTHONPATH']}" if env.environ.get("PYTHONPATH") else "")
            notes.append(f"PYTHONPATH={pkg.parent}: the environment cannot import lerobot from {env.source_tree} otherwise")
    python = env.python
    rank = [python, "-m", module, *targs]
    wrapper = ["bash", "-c", RANK_SCRIPT, "envkit-rank", *sources, "--"] if sources else []
    if sources:
        notes.append("each process sources the first of " + ", ".join(sources) + " before Python starts")
    out_env.update(built.env)  # e.g. ACCELERATE_MIXED_PRECISION where the tree's Accelerator reads it
    if not is_distributed:
        argv = tuple(wrapper + rank)
        launcher, port = None, None
        notes.append(f"lerobot {lay.version or '?'} has no distributed training: one process, started directly")
    elif request.launcher == "torchrun":
        launcher = "torchrun"
        if nodes is not None:
            head = [python, "-m", "torch.distributed.run", *nodes.torchrun_args(nproc)]
        else:
            head = [python, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc-per-node={nproc}",
                    "--master-addr=127.0.0.1", f"--master-port={port}"]
        argv = tuple(head + (["--no-python", *wrapper, *rank] if wrapper else ["-m", module, *targs]))
    else:
        launcher = "accelerate"
        machines = nodes.accelerate_args(nproc) if nodes is not None else [
            "--num_machines=1", f"--num_processes={nproc}", f"--main_process_port={port}"]
        head = [python, "-m", "accelerate.commands.launch", *machines, f"--mixed_precision={request.mixed_precision}",
                "--dynamo_backend=no"]
        if nproc > 1 or nodes is not None:
            head.append("--multi_gpu")  # without it accelerate starts one process (measured on CPU)
        argv = tuple(head + (["--no_python", *wrapper, *rank] if wrapper else ["-m", module, *targs]))
    precision_by = caps.mixed_precision if caps is not None else None
    if request.mixed_precision != "no" and precision_by:
        how = f"--{precision_by}" if not precision_by.startswith("env:") else precision_by[4:]
        if precision_by.startswith("env:") and launcher == "accelerate":
            how = "accelerate launch --mixed_precision"
        notes.append(f"--mixed-precision {request.mixed_precision} reaches the training processes only, as {how} "
                     "(the setting this lerobot's own config/training module reads)")
    return LaunchPlan(profile=profile, backend=backend.name, launcher=launcher, nproc=nproc,
                      devices=selection.ids, port=port, argv=argv, env=dict(sorted(out_env.items())),
                      prefix=env.prefix, entry=f"python -m {module}", train_args=targs,
                      mixed_precision=request.mixed_precision, notes=tuple(notes), sources=tuple(sources), nodes=nodes,
                      precision_by=precision_by if request.mixed_precision != "no" else None)
