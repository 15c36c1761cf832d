"""`envkit launch --prefix ENV [--devices ...] [--launcher ...] -- <lerobot-train arguments>`: one
training run over the selected devices, planned from the environment, preflighted, explained."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from envkit.accel.registry import get_backend
from envkit.doctor.accel import launch_checks
from envkit.doctor.launch_preflight import Inputs, run
from envkit.doctor.model import Status
from envkit.doctor.report import print_human
from envkit.errors import EnvkitError
from envkit.fsutil import atomic_write
from envkit.launch import args as largs
from envkit.launch import multinode
from envkit.launch.execute import execute
from envkit.launch.fanout import stream
from envkit.launch.plan import Request, validate
from envkit.launch.prepare import prepare, profile_of
from envkit.launch.rendezvous import parse as parse_nodes
from envkit.launch.slurm import SlurmRequest, script, verdicts
from envkit.launch.slurm_edge import read_verdicts, status, submit, write_script


def register(app: typer.Typer) -> None:
    @app.command("launch", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def launch_cmd(
        ctx: typer.Context,
        prefix: Path = typer.Option(None, "--prefix", help="The environment (as given to envkit setup)."),
        devices: str = typer.Option("all", "--devices", help="all | a count N | device indexes 0,1,2 (one process each)."),
        launcher: str = typer.Option("torchrun", "--launcher", help="torchrun | accelerate."),
        mixed_precision: str = typer.Option("no", "--mixed-precision", help="no | fp16 | bf16 (the training processes only)."),
        profile: str = typer.Option(None, "--profile", help="Profile name or file; default: the one setup recorded in the prefix."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the exact command and environment; start nothing."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object: plan, preflight verdicts, run summary."),
        no_preflight: bool = typer.Option(False, "--no-preflight", help="Skip the checks before starting."),
        nnodes: int = typer.Option(1, "--nnodes", help="Nodes in the run (each runs this command with its own --node-rank)."),
        node_rank: int = typer.Option(None, "--node-rank", help="This node's rank, 0..nnodes-1; 0 runs on the --rdzv host."),
        rdzv: str = typer.Option(None, "--rdzv", metavar="HOST:PORT", help="Where the nodes meet (torchrun c10d rendezvous; accelerate's main process)."),
        rdzv_id: str = typer.Option(None, "--rdzv-id", help="The run's id, the same on every node (default: envkit)."),
        rdzv_wait: float = typer.Option(60.0, "--rdzv-wait", help="Seconds the preflight of a node other than 0 waits for the rendezvous port to answer."),
        slurm: bool = typer.Option(False, "--slurm", help="Write an sbatch script running this launch on --nodes nodes and submit it (--dry-run prints it)."),
        slurm_nodes: int = typer.Option(1, "--nodes", help="With --slurm: how many nodes to allocate."),
        gpus_per_node: int = typer.Option(None, "--gpus-per-node", help="With --slurm: devices (CPU: processes) per node (default: --devices when a count)."),
        partition: str = typer.Option(None, "--partition", help="With --slurm: the SLURM partition."),
        time_limit: str = typer.Option(None, "--time", help="With --slurm: the job's time limit (e.g. 24:00:00)."),
        slurm_status: str = typer.Option(None, "--slurm-status", metavar="JOB", help="How a SLURM job from --slurm went: its state and each node's verdict with the fix."),
        hosts: Path = typer.Option(None, "--hosts", metavar="FILE", help="Start this launch on every node of a hostfile or the fleet's Ansible inventory over SSH (the first node is rank 0)."),
        rdzv_port: int = typer.Option(29400, "--rdzv-port", help="With --hosts: the rendezvous port on the first node."),
        remote_envkit: str = typer.Option(None, "--remote-envkit", help="With --hosts: envkit's path on the nodes (default: the inventory's envkit_bin, else envkit on PATH)."),
        verdict_file: Path = typer.Option(None, "--verdict-file", hidden=True, help="Also write the --json document here (the sbatch script's per-node verdict)."),
    ) -> None:
        """Train on all (or the selected) GPUs/NPUs of this server with lerobot-train: torchrun/accelerate, hooks applied, a free port."""
        train = list(ctx.args)
        if train and train[0] == "--":
            train = train[1:]
        if slurm_status is not None:
            raise SystemExit(_slurm_status(slurm_status, as_json))
        if hosts is not None:
            raise SystemExit(_on_hosts(hosts, prefix, remote_envkit, rdzv_port, rdzv_id, profile, devices, launcher, mixed_precision,
                                       train, dry_run, no_preflight))
        if prefix is None:
            raise EnvkitError("envkit launch needs --prefix: the environment to train in", fix="pass --prefix DIR (the one envkit setup made)")
        if slurm:
            _slurm(prefix, profile, devices, launcher, mixed_precision, slurm_nodes, gpus_per_node, partition, time_limit,
                   train, dry_run)
            return
        nodes = parse_nodes(nnodes, node_rank, rdzv, rdzv_id)
        request = Request(devices=devices, launcher=launcher, mixed_precision=mixed_precision, train_args=tuple(train), nodes=nodes)
        prepared = prepare(prefix, request, profile, count_devices=not no_preflight)
        plan = prepared.plan
        doc: dict = {"plan": plan.to_dict(), "preflight": None, "run": None}
        if not no_preflight:

            backend = prepared.backend
            pctx, results = run(Inputs(plan, prepared.probe, backend.device_count_code() is not None, backend.failure_hints(),
                                       runtime=launch_checks(backend), host=prepared.host, profile=prepared.profile,
                                       rdzv_wait=rdzv_wait, network_vars=backend.network_vars()))
            doc["preflight"] = {"checks": [r.to_dict() for r in results], "seconds": round(prepared.seconds, 2),
                                "ok": not any(r.status in (Status.FAIL, Status.ERROR) for r in results)}
            if not as_json:
                print_human(pctx, results)
            if not doc["preflight"]["ok"]:
                _verdict(verdict_file, doc)
                if as_json:
                    typer.echo(json.dumps(doc, indent=2))
                else:
                    typer.echo("envkit launch: preflight failed; nothing was started (fix the above, or --no-preflight)", err=True)
                raise typer.Exit(1)
        if dry_run:
            _verdict(verdict_file, doc)
            typer.echo(json.dumps(doc, indent=2) if as_json else plan.render())
            return

        batch = largs.value(plan.train_args, "batch_size")
        outcome = execute(plan, prepared.backend.failure_hints(), echo=sys.stderr if as_json else sys.stdout,
                          batch_size=int(batch) * plan.nproc if batch and batch.isdigit() else None)
        doc["run"] = outcome.to_dict()
        _verdict(verdict_file, doc)
        if as_json:
            typer.echo(json.dumps(doc, indent=2))
        else:
            _summary(outcome, plan)
        if outcome.returncode != 0:
            raise typer.Exit(1)


def _verdict(path: Path | None, doc: dict[str, Any]) -> None:
    if path is not None:
        atomic_write(path, json.dumps(doc, indent=2) + "\n")


def _slurm(prefix: Path, profile: str | None, devices: str, launcher: str, precision: str, nodes: int, per_node: int | None,
           partition: str | None, time_limit: str | None, train: list[str], dry_run: bool) -> None:
    """The sbatch script for this launch on `nodes` nodes; submitted unless --dry-run."""
    validate(Request(devices=devices, launcher=launcher, mixed_precision=precision))
    prefix = prefix.expanduser().absolute()
    if not prefix.is_dir():
        raise EnvkitError(f"--prefix {prefix}: no such directory", fix="pass the environment envkit setup created (on the shared filesystem the nodes see)")
    prof, _ = profile_of(prefix, profile)
    backend = get_backend(str(prof.accelerator))
    count = per_node if per_node is not None else (int(devices) if devices.strip().isdigit() else None)
    if count is None and backend.slurm_gres:
        raise EnvkitError(f"--slurm: how many {backend.title}s per node? --devices {devices} cannot be counted before the nodes are allocated",
                          fix="pass --gpus-per-node N (or --devices N)")
    req = SlurmRequest(nodes=nodes, per_node=count, gres=backend.slurm_gres, partition=partition, time=time_limit)
    opts = ["--launcher", launcher, "--mixed-precision", precision] + (["--profile", profile] if profile else [])
    text = script(req, [sys.executable, "-m", "envkit"], str(prefix), opts, train, str(Path.cwd()))
    if dry_run:
        typer.echo(text, nl=False)
        return
    path = write_script(Path.cwd(), text)
    job = submit(path)
    typer.echo(f"envkit launch: submitted {path} as SLURM job {job} ({nodes} node(s)); follow it with: envkit launch --slurm-status {job}")


def _on_hosts(path: Path, prefix: Path | None, remote_envkit: str | None, port: int, run_id: str | None, profile: str | None,
              devices: str, launcher: str, precision: str, train: list[str], dry_run: bool, no_preflight: bool) -> int:
    """Every node of FILE over SSH: the cross-node preflight, then one streamed launch per node."""
    request = Request(devices=devices, launcher=launcher, mixed_precision=precision, train_args=tuple(train))
    nodes = multinode.remotes_of(path, prefix, remote_envkit)
    cmds = multinode.node_commands(nodes, request, port, run_id, profile, dry_run)
    if not no_preflight and not dry_run:
        verdict, seconds = multinode.preflight(nodes, train)
        if not verdict.ok:
            typer.echo(f"envkit launch --hosts: cross-node preflight failed ({seconds:.1f} s); nothing was started:", err=True)
            for line in verdict.problems:
                typer.echo(f"  {line}", err=True)
            typer.echo("Fix: make the named nodes match the others (envkit setup --from-lock gives every node the same tuple; "
                       "copy the dataset from one node), or --no-preflight to start anyway", err=True)
            return 1
        typer.echo(f"envkit launch --hosts: {len(nodes)} node(s) agree ({verdict.describe()}), {seconds:.1f} s")
    codes = stream(cmds)
    failed = {n: c for n, c in codes.items() if c != 0}
    typer.echo(f"envkit launch --hosts: {len(nodes)} node(s): " + (
        "all finished" if not failed else "failed on " + ", ".join(f"{n} (exit {c})" for n, c in failed.items())), err=bool(failed))
    return 1 if failed else 0


def _slurm_status(job: str, as_json: bool) -> int:
    """0: completed; 1: failed (each node's verdict with its fix); 3: still pending or running."""
    st = status(job)
    workdir = Path(st.fields.get("WorkDir") or (Path(st.stdout).parent if st.stdout else Path.cwd()))
    nodes = verdicts(read_verdicts(workdir, job))
    if as_json:
        typer.echo(json.dumps({"job": st.job, "state": st.state, "exit_code": st.exit_code, "reason": st.reason, "nodes": st.nodes,
                               "stdout": st.stdout, "elapsed": st.elapsed,
                               "verdicts": [{"node": v.node, "returncode": v.returncode, "failed": v.failed} for v in nodes]}, indent=2))
    else:
        lines = [f"SLURM job {st.job}: {st.state} (exit {st.exit_code or '?'}{', ' + st.reason if st.reason and st.reason != 'None' else ''})"
                 f" on {st.nodes or '?'}, {st.elapsed or '?'}" + (f"; output {st.stdout}" if st.stdout else "")]
        for v in nodes:
            if not v.failed:
                lines.append(f"  node {v.node}: " + ("trained" if v.returncode == 0 else f"exit {v.returncode}" if v.returncode is not None else "no failure recorded"))
            for f in v.failed:
                lines += [f"  node {v.node}: {f['id']}: {f['summary']}", f"    fix: {f['fix']}"]
        if st.failed and not any(v.failed for v in nodes):
            lines.append("  no node wrote a verdict: the job failed before envkit ran (read the output file above; "
                         "a node that cannot see the prefix or python fails here)")
        typer.echo("\n".join(lines))
    if st.running:
        return 3
    return 1 if st.failed or any(v.failed for v in nodes) else 0


def _summary(outcome, plan) -> None:
    lines = [f"\nenvkit launch: {plan.nproc} process(es) via {plan.launcher or 'python'} on port {plan.port} "
             f"{'finished' if outcome.returncode == 0 else f'failed (exit {outcome.returncode})'} after {outcome.seconds:.1f} s"]
    if outcome.throughput:
        lines.append(f"  throughput: {outcome.throughput.text()}")
    for e in outcome.explanations:
        lines += [f"  {e.id}: {e.summary}", f"    seen: {e.line}", f"    fix: {e.fix}"]
    if outcome.returncode != 0 and not outcome.explanations:
        lines.append("  no known failure recognised: the end of the output above shows the error")
    typer.echo("\n".join(lines), err=outcome.returncode != 0)
