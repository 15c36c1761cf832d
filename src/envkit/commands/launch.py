"""`envkit launch --prefix ENV [--devices ...] [--launcher ...] -- <lerobot-train arguments>`: one
training run over the selected devices, planned from the environment, preflighted, explained."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("launch", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def launch_cmd(
        ctx: typer.Context,
        prefix: Path = typer.Option(..., "--prefix", help="The environment (as given to envkit setup)."),
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
    ) -> None:
        """Train on all (or the selected) GPUs/NPUs of this server with lerobot-train: torchrun/accelerate, hooks applied, a free port."""
        from envkit.launch import args as largs
        from envkit.launch.plan import Request
        from envkit.launch.prepare import prepare
        from envkit.launch.rendezvous import parse as parse_nodes

        train = list(ctx.args)
        if train and train[0] == "--":
            train = train[1:]
        nodes = parse_nodes(nnodes, node_rank, rdzv, rdzv_id)
        request = Request(devices=devices, launcher=launcher, mixed_precision=mixed_precision, train_args=tuple(train), nodes=nodes)
        prepared = prepare(prefix, request, profile, count_devices=not no_preflight)
        plan = prepared.plan
        doc: dict = {"plan": plan.to_dict(), "preflight": None, "run": None}
        if not no_preflight:
            from envkit.doctor.model import Status
            from envkit.launch.preflight import Inputs, run

            from envkit.doctor.accel import launch_checks

            backend = prepared.backend
            pctx, results = run(Inputs(plan, prepared.probe, backend.device_count_code() is not None, backend.failure_hints(),
                                       runtime=launch_checks(backend), host=prepared.host, profile=prepared.profile,
                                       rdzv_wait=rdzv_wait, network_vars=backend.network_vars()))
            doc["preflight"] = {"checks": [r.to_dict() for r in results], "seconds": round(prepared.seconds, 2),
                                "ok": not any(r.status in (Status.FAIL, Status.ERROR) for r in results)}
            if not as_json:
                from envkit.doctor.report import print_human

                print_human(pctx, results)
            if not doc["preflight"]["ok"]:
                if as_json:
                    typer.echo(json.dumps(doc, indent=2))
                else:
                    typer.echo("envkit launch: preflight failed; nothing was started (fix the above, or --no-preflight)", err=True)
                raise typer.Exit(1)
        if dry_run:
            typer.echo(json.dumps(doc, indent=2) if as_json else plan.render())
            return
        from envkit.launch.execute import execute

        batch = largs.value(plan.train_args, "batch_size")
        outcome = execute(plan, prepared.backend.failure_hints(), echo=sys.stderr if as_json else sys.stdout,
                          batch_size=int(batch) * plan.nproc if batch and batch.isdigit() else None)
        doc["run"] = outcome.to_dict()
        if as_json:
            typer.echo(json.dumps(doc, indent=2))
        else:
            _summary(outcome, plan)
        if outcome.returncode != 0:
            raise typer.Exit(1)


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
