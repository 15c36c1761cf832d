"""`envkit launch --hosts`: the per-node commands and the cross-node preflight over SSH (launch.fanout)."""

from __future__ import annotations

import time
from pathlib import Path

from envkit.launch import args as largs
from envkit.launch.crossnode import DATASET_DIGEST_CODE, CrossNode, judge
from envkit.launch.fanout import collect
from envkit.launch.hosts import Remote, load, remotes
from envkit.launch.plan import Request, validate
from envkit.launch.rendezvous import parse

DOCTOR_TIMEOUT_S = 600
DIGEST_TIMEOUT_S = 300


def remotes_of(path: Path, prefix: Path | None, envkit: str | None) -> list[Remote]:
    return remotes(load(path), str(prefix) if prefix else None, envkit)


def node_commands(nodes: list[Remote], request: Request, port: int, run_id: str | None, profile: str | None,
                  dry_run: bool = False) -> dict[str, list[str]]:
    """node name -> the ssh argv starting its launch; the first node is rank 0 and the rendezvous host."""
    validate(request)
    head = nodes[0].node
    parse(len(nodes), 0, f"{head.host}:{port}", run_id)  # the checks a hand-started node gets
    rid = run_id or "envkit-hosts"
    common = ["--devices", request.devices, "--launcher", request.launcher, "--mixed-precision", request.mixed_precision]
    common += ["--profile", profile] if profile else []
    out = {}
    for rank, r in enumerate(nodes):
        remote = [r.envkit, "launch", "--prefix", r.prefix, *common, "--nnodes", str(len(nodes)), "--node-rank", str(rank),
                  "--rdzv", f"{head.host}:{port}", "--rdzv-id", rid, *(["--dry-run"] if dry_run else []), "--", *request.train_args]
        out[r.node.name] = r.node.ssh(remote, tty=not dry_run)
    return out


def preflight(nodes: list[Remote], train: list[str]) -> tuple[CrossNode, float]:
    """Every node's doctor --json (no smoke) and dataset digest, at once; the judgement and its seconds."""
    started = time.monotonic()
    args = tuple(train)
    # The doctor judges what this run needs: no backbone download when training skips the pretrained weights.
    backbone = largs.value(args, "policy.pretrained_backbone_weights")
    skip_backbone = ["--no-pretrained-backbone"] if backbone is not None and backbone.lower() in ("null", "none", "") else []
    argvs = {r.node.name: r.node.ssh([r.envkit, "doctor", "--prefix", r.prefix, "--no-smoke", "--json", *skip_backbone]) for r in nodes}
    dataset = largs.value(args, "dataset.root")
    if dataset:
        argvs.update({f"{r.node.name}\0digest": r.node.ssh([f"{r.prefix}/bin/python", "-c", DATASET_DIGEST_CODE, dataset])
                      for r in nodes})
    got = collect(argvs, DOCTOR_TIMEOUT_S)
    reports = {n: c.out for n, c in got.items() if "\0" not in n and c.out.lstrip().startswith("{")}
    unreachable = {n: (c.err.strip().splitlines() or [f"exit {c.code}"])[-1][:300]
                   for n, c in got.items() if "\0" not in n and n not in reports}
    digests = {}
    for key, c in got.items():
        if "\0" in key:
            if c.code == 0 and c.out.strip():  # a node ssh could not reach is named once, above
                digests[key.split("\0")[0]] = c.out.strip()
    return judge(reports, unreachable, digests, dataset), time.monotonic() - started
