"""Checks before spending the cards, as doctor verdicts (doctor.model's Check/Outcome, its runner and
its report), each with the fix. They judge the plan and one probe of the environment: seconds,
not the doctor's full run. After launch's own checks come the backend's LAUNCH_CHECKS (the NVIDIA
driver against torch's CUDA; CANN sourced and matched to torch_npu), the doctor's own functions
run on that probe.

It lives in the doctor, which sits above launch: it judges a launch plan with the doctor's checks."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envkit.doctor.model import Check, CheckResult, Context, Outcome, fail, ok, skip, warn
from envkit.doctor.registry import run_checks
from envkit.launch import args as largs
from envkit.launch import netfacts
from envkit.launch.failures import explain
from envkit.launch.plan import LaunchPlan
from envkit.launch.rendezvous import ifname_matches
from envkit.lerobot_caps import from_probe

SHM_PER_PROCESS = 256 * 1024 * 1024  # a dataloader worker passes its batches through /dev/shm
DEFAULT_WORKERS = 4  # lerobot's TrainPipelineConfig.num_workers


@dataclass
class Inputs:
    plan: LaunchPlan
    probe: dict[str, Any]
    counted: bool  # the backend counts devices (CPU does not)
    hints: list = field(default_factory=list)  # backend failure hints, to explain a probe error
    now: float = field(default_factory=time.time)
    runtime: list[Check] = field(default_factory=list)  # the backend's LAUNCH_CHECKS (driver/CANN floors)
    host: Any = None  # HostFacts the runtime checks judge (None: not detected, they skip what needs it)
    profile: Any = None
    rdzv_wait: float = 60.0  # multi-node: how long a node other than 0 waits for the rendezvous port
    network_vars: tuple[tuple[str, str], ...] = ()  # the backend's interface/address variables


def _in(ctx: Context) -> Inputs:
    return ctx.scratch["launch"]


def devices(ctx: Context) -> Outcome:
    i = _in(ctx)
    plan = i.plan
    if not i.counted:
        cpus = i.probe.get("cpu_count")
        if isinstance(cpus, int) and plan.nproc > cpus:
            return warn(f"{plan.nproc} processes on {cpus} CPU(s): each process gets less than one core, so training "
                        "crawls and gloo may time out", f"start at most one process per CPU: --devices {cpus}")
        return ok(f"{plan.nproc} process(es) on the CPU ({plan.backend}: no devices to select)")
    seen = i.probe.get("device_count")
    if seen is None:
        err = i.probe.get("device_error") or "unknown error"

        why = explain(err, i.hints)
        fix = why[0].fix if why else "envkit doctor --prefix " + plan.prefix + " shows why the accelerator does not load"
        return fail(f"torch in the environment cannot count the devices: {err[:300]}", fix)
    want = plan.nproc
    var = next(iter(k for k in plan.env if k.endswith("VISIBLE_DEVICES")), "the visible-devices variable")
    if seen != want:
        listed = ",".join(map(str, plan.devices or ()))
        return fail(f"torch sees {seen} device(s) with {var}={listed}; the launch needs {want}",
                    "select devices that exist and are free: --devices all, a smaller count, or the indexes that "
                    "`envkit detect` lists; a container must expose every selected device")
    return ok(f"torch sees the {want} selected device(s) ({var}={','.join(map(str, plan.devices or ()))})")


def sources(ctx: Context) -> Outcome:
    plan = _in(ctx).plan
    if not plan.sources:
        return skip(f"{plan.backend}: nothing to source in each process")
    found = [s for s in plan.sources if Path(s).is_file()]
    if not found:
        return fail(f"none of {', '.join(plan.sources)} exists: the training processes would start without their runtime environment",
                    "install the accelerator's toolkit (CANN: its set_env.sh under /usr/local/Ascend/ascend-toolkit/), "
                    "then `envkit detect` lists it")
    return ok(f"each process sources {found[0]}")


def output_dir(ctx: Context) -> Outcome:
    plan = _in(ctx).plan
    out = plan.output_dir
    if not out:
        return ok("no --output_dir: lerobot makes a new timestamped one under outputs/train/")
    if largs.truthy(largs.value(plan.train_args, "resume")):
        return ok(f"--resume=true continues {out}")
    if plan.nodes is not None and not plan.nodes.is_host:
        # On a shared filesystem node 0 may have made it already; its preflight judged it.
        return skip(f"node {plan.nodes.node_rank}: node 0's preflight judges --output_dir {out}")
    if Path(out).exists():
        stamp = time.strftime("%Y%m%d_%H%M%S", time.localtime(_in(ctx).now))
        return fail(f"--output_dir {out} already exists and --resume is not set: lerobot would stop with FileExistsError",
                    f"continue that run with --resume=true, or choose a new directory: --output_dir={out.rstrip('/')}_{stamp}")
    return ok(f"--output_dir {out} is new")


def dataset(ctx: Context) -> Outcome:
    i = _in(ctx)
    targs = i.plan.train_args
    root = largs.value(targs, "dataset.root")
    repo = largs.value(targs, "dataset.repo_id")
    config = largs.value(targs, "config_path")
    if config and not (root or repo):
        # lerobot-train --config_path=train_config.json: the dataset is named in that file (the command line wins)
        if not Path(config).exists():
            return skip(f"--config_path {config} is not a local file (a hub repo?): its dataset is not checked here")
        named = _config_dataset(config)
        if isinstance(named, str):
            return fail(named, "pass --config_path=<a readable train_config.json>, or name the dataset with --dataset.repo_id / --dataset.root")
        root, repo = named
    if largs.has(targs, "dataset.repo_id") and not (repo or "").strip():
        return fail("--dataset.repo_id is empty: lerobot-train needs a non-empty repo id, also for a dataset read from --dataset.root",
                    "pass --dataset.repo_id=<user>/<name> (for local data any name, e.g. --dataset.repo_id=local/"
                    f"{Path(root).name if root else 'my_dataset'}, with --dataset.root=<its directory>)")
    env = i.probe.get("env") or {}
    offline = (env.get("HF_HUB_OFFLINE") or "").strip().lower() in ("1", "true", "yes", "on")
    if root:
        if (Path(root) / "meta" / "info.json").is_file():
            return ok(f"dataset at {root}")
        return fail(f"--dataset.root {root} holds no LeRobot dataset (no meta/info.json)",
                    "pass the dataset's root (the directory with meta/ and data/), or drop --dataset.root to use the hub cache")
    if not repo:
        return skip("no --dataset.repo_id / --dataset.root on the command line (a --config_path may name it)")
    if not offline:
        return ok(f"{repo}: the hub is allowed (HF_HUB_OFFLINE unset), lerobot downloads what is missing")
    home = env.get("HF_LEROBOT_HOME") or os.path.join(env.get("HF_HOME") or os.path.expanduser("~/.cache/huggingface"), "lerobot")
    if (Path(home) / repo / "meta" / "info.json").is_file():
        return ok(f"{repo} found offline in {home}")
    return fail(f"HF_HUB_OFFLINE is set and {repo} is not in {home}",
                f"download it on a connected machine and copy it to {Path(home) / repo}, or pass --dataset.root=<its directory>")


def push_to_hub(ctx: Context) -> Outcome:
    """lerobot-train refuses --policy.push_to_hub=true without --policy.repo_id, but only after loading everything."""
    targs = _in(ctx).plan.train_args
    push = largs.value(targs, "policy.push_to_hub")
    if push is None:
        return skip("--policy.push_to_hub not given (lerobot's default applies; pass --policy.push_to_hub=false to train without the hub)")
    if not largs.truthy(push):
        return ok("the policy is not pushed to the hub")
    repo = (largs.value(targs, "policy.repo_id") or "").strip()
    if not repo:
        return fail("--policy.push_to_hub=true without --policy.repo_id: lerobot-train stops with "
                    "\"'policy.repo_id' argument missing\" before the first step",
                    "pass --policy.repo_id=<hf user>/<model name>, or --policy.push_to_hub=false")
    return ok(f"the policy is pushed to {repo}")


def _config_dataset(path: str) -> tuple[str | None, str | None] | str:
    """(root, repo_id) from a lerobot train config JSON, or why it cannot be read."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return f"--config_path {path} cannot be read as lerobot's JSON train config ({type(exc).__name__}: {exc})"
    section = data.get("dataset") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        return f"--config_path {path} has no 'dataset' table"
    root, repo = section.get("root"), section.get("repo_id")
    return (str(root) if root else None, str(repo) if repo else None)


def shm(ctx: Context) -> Outcome:
    i = _in(ctx)
    workers = largs.value(i.plan.train_args, "num_workers")
    n = int(workers) if workers and workers.isdigit() else DEFAULT_WORKERS
    free = i.probe.get("shm_free_bytes")
    if n == 0:
        return ok("--num_workers=0: no dataloader workers, no shared memory needed")
    if free is None:
        return warn("cannot read /dev/shm", "mount a tmpfs on /dev/shm (docker run --shm-size=16g or --ipc=host)")
    need = SHM_PER_PROCESS * i.plan.nproc
    if free < need:
        return fail(f"/dev/shm has {free / 2**20:.0f} MiB free; {i.plan.nproc} process(es) x {n} dataloader workers need about "
                    f"{need / 2**20:.0f} MiB (workers die with 'Bus error' otherwise)",
                    "give the container more shared memory (docker run --shm-size=16g, or --ipc=host), or pass --num_workers=0")
    return ok(f"/dev/shm has {free / 2**30:.1f} GiB free for {i.plan.nproc} x {n} dataloader workers")


def rendezvous(ctx: Context) -> Outcome:
    i = _in(ctx)
    nodes = i.plan.nodes
    if nodes is None:
        return skip("one node: torchrun's rendezvous is on this machine")
    if netfacts.resolve(nodes.host) is None:
        return fail(f"the rendezvous host {nodes.host} does not resolve on this node",
                    f"use the address of node 0 (--rdzv 10.0.0.1:{nodes.port}), or add {nodes.host} to /etc/hosts on every node")
    if nodes.is_host:
        if not netfacts.is_local(nodes.host):
            return fail(f"--node-rank 0 serves the rendezvous at {nodes.endpoint}, but {nodes.host} is not an address of this node",
                        f"run --node-rank 0 on {nodes.host}, or point --rdzv at this node's address")
        busy = netfacts.port_free(nodes.host, nodes.port)
        if busy:
            return fail(f"this node serves the rendezvous but cannot listen on {nodes.endpoint}: {busy}",
                        f"choose a free port on every node (--rdzv {nodes.host}:<port>), or stop what holds {nodes.port} (ss -ltnp)")
        return ok(f"this node serves the rendezvous on {nodes.endpoint} for {nodes.nnodes} node(s)")
    why = netfacts.port_answers(nodes.host, nodes.port, i.rdzv_wait)
    if why:
        return fail(f"the rendezvous {nodes.endpoint} did not answer within {i.rdzv_wait:g} s ({why})",
                    f"start node 0 first (envkit launch ... --node-rank 0 --rdzv {nodes.endpoint} on {nodes.host}); "
                    f"if it runs, open TCP port {nodes.port} between the nodes (firewall, security group); --rdzv-wait waits longer")
    return ok(f"the rendezvous {nodes.endpoint} answers")


def network(ctx: Context) -> Outcome:
    i = _in(ctx)
    nodes = i.plan.nodes
    if nodes is None:
        return skip("one node: no network between nodes")
    route = netfacts.route_to(nodes.host, nodes.port)
    if route.error:
        return fail(route.error, f"check the network between the nodes (ip route get {nodes.host})")
    env = {**(i.probe.get("env") or {}), **i.plan.env}
    ifaces = netfacts.interfaces()
    problems, told = [], []
    for var, kind in i.network_vars:
        value = env.get(var)
        if not value:
            continue
        if kind == "ip":
            if not any(value in addrs for addrs in ifaces.values()):
                problems.append(f"{var}={value} is not an address of this node (it has {', '.join(a for v in ifaces.values() for a in v)})")
            told.append(f"{var}={value}")
            continue
        chosen = [name for name in ifaces if ifname_matches(value, name)]
        if not chosen:
            problems.append(f"{var}={value} names no interface of this node (it has {', '.join(sorted(ifaces))})")
        elif route.interface and route.interface not in chosen:
            problems.append(f"{var}={value} selects {', '.join(chosen)}, but {nodes.host} is reached through {route.interface}")
        told.append(f"{var}={value}")
    if problems:
        return fail("; ".join(problems),
                    f"set them to the interface that routes to {nodes.host}: " + " ".join(
                        f"{v}={route.address if k == 'ip' else route.interface}" for v, k in i.network_vars))
    return ok(f"{nodes.host} is reached through {route.interface} ({route.address})" + (f"; {', '.join(told)}" if told else ""))


def capabilities(ctx: Context) -> Outcome:
    """How this lerobot trains across processes and reads its precision, as its own code said (the plan was
    built from it); a probe that could not ask the tree is said, not hidden."""
    i = _in(ctx)
    caps = from_probe(i.probe)
    if caps is None:
        why = i.probe.get("lerobot_caps_error") or "no capability facts in the launch probe"
        return warn(f"envkit could not ask the installed lerobot what it accepts ({why}): launch passes your arguments unchecked",
                    f"envkit doctor --prefix {i.plan.prefix} --check lerobot shows why")
    if caps.missing:
        return fail(f"lerobot {caps.version or '?'} cannot run ACT training: it lacks {caps.missing_text()}",
                    f"envkit doctor --prefix {i.plan.prefix} --check lerobot names the fix")
    how = {"make_accelerator": "lerobot.distributed.make_accelerator", "accelerate": "an accelerate Accelerator",
           "torch.distributed": "torch.distributed", "none": "one process only"}.get(caps.distributed or "", "unknown")
    precision = f", --mixed-precision {i.plan.mixed_precision} as {i.plan.precision_by}" if i.plan.precision_by else ""
    if i.plan.mixed_precision != "no" and not i.plan.precision_by:
        return warn(f"lerobot {caps.version or '?'} has no mixed-precision setting: --mixed-precision {i.plan.mixed_precision} "
                    "has no effect", "drop --mixed-precision, or set up a lerobot with accelerate (0.4.0 on)")
    return ok(f"{caps.entry}: trains with {how}{precision}")


CHECKS = [
    Check("launch.rendezvous", "the rendezvous host resolves and its port answers (multi-node)", rendezvous),
    Check("launch.network", "the collective's interface variables route to the other nodes (multi-node)", network),
    Check("launch.devices", "the selected devices exist and torch sees them", devices),
    Check("launch.capabilities", "what the installed lerobot trains with (its own config and training module)", capabilities),
    Check("launch.sources", "the runtime scripts each process sources exist", sources),
    Check("launch.output_dir", "the output directory does not clash", output_dir),
    Check("launch.dataset", "the dataset resolves (offline too)", dataset),
    Check("launch.push_to_hub", "a hub push names its repo", push_to_hub),
    Check("launch.shm", "shared memory for dataloader workers", shm),
]


def doctor_view(probe: dict[str, Any]) -> dict[str, Any]:
    """The launch probe in the doctor probe's shape, as far as the backends' launch checks read it."""
    torch: dict[str, Any] = dict(probe.get("torch") or {})  # the backend's torch.version attributes
    if probe.get("device_error"):
        kind, _, message = str(probe["device_error"]).partition(": ")
        torch["import_error"] = {"type": kind, "message": message}
    return {"dists": probe.get("dists") or {}, "env": probe.get("env") or {}, "torch": torch,
            "python": {"executable": probe.get("python")}}


def run(inputs: Inputs) -> tuple[Context, list[CheckResult]]:
    ctx = Context(probe=doctor_view(inputs.probe), host=inputs.host or {}, profile=inputs.profile,
                  scratch={"launch": inputs})
    return ctx, run_checks([*CHECKS, *inputs.runtime], ctx)
