"""`envkit launch --slurm`: the sbatch script that runs one envkit launch per node, and what a job's
state means. Pure: text in, text out; launch.slurm_edge runs sbatch and scontrol.

The script allocates N nodes with one task each; srun starts envkit's per-node launch on every
node, with SLURM_NODEID as the node rank and the first node of SLURM_JOB_NODELIST as the
rendezvous host, so the same hooks, device selection, preflight and failure classifier run as in a
hand-started launch. Each node writes its verdict (plan, preflight, run) as JSON beside the job's
output, where `--slurm-status JOB` reads it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envkit.errors import EnvkitError

VERDICT = "envkit-slurm-{job}-node{node}.json"
OUTPUT = "envkit-slurm-%j.out"
# A port per job (20000..39999): two jobs on one node do not collide, and no node has to agree first.
PORT_EXPR = "$((20000 + SLURM_JOB_ID % 20000))"
FAILED_STATES = {"FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}
RUNNING_STATES = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"}


@dataclass(frozen=True)
class SlurmRequest:
    nodes: int = 1
    per_node: int | None = None  # devices (or CPU processes) per node
    gres: str | None = None  # the scheduler's name for the accelerator ("gpu", "npu"); None: CPU processes
    partition: str | None = None
    time: str | None = None
    job_name: str = "envkit-act"


def validate(req: SlurmRequest) -> None:
    if req.nodes < 1:
        raise EnvkitError(f"--nodes {req.nodes}: at least one node", fix="pass --nodes 2 for two nodes")
    if req.per_node is not None and req.per_node < 1:
        raise EnvkitError(f"--gpus-per-node {req.per_node}: at least one", fix="pass the devices each node trains on, e.g. --gpus-per-node 8")
    if req.partition is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*", req.partition):
        raise EnvkitError(f"--partition {req.partition!r} is not a partition name", fix="see `sinfo -s` for the names")
    if req.time is not None and not re.fullmatch(r"(\d+-)?\d+(:\d\d){0,2}|UNLIMITED|INFINITE", req.time):
        raise EnvkitError(f"--time {req.time!r} is not a SLURM time limit", fix="e.g. --time 24:00:00 or --time 2-00:00:00")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", req.job_name):
        raise EnvkitError(f"job name {req.job_name!r}: letters, digits, '.', '_' or '-'", fix="e.g. act-aloha")


def script(req: SlurmRequest, envkit: list[str], prefix: str, launch_opts: list[str], train_args: list[str],
           workdir: str) -> str:
    """The sbatch script. `envkit` is the argv that starts this envkit on the nodes (same path: a shared
    filesystem, as the environment's prefix must be); launch_opts the per-node launch flags."""
    validate(req)
    if any(c.isspace() for c in workdir):
        raise EnvkitError(f"--slurm: the working directory {workdir!r} holds whitespace, which #SBATCH --output cannot quote",
                          fix="submit from a directory whose path has no spaces")
    head = ["#!/bin/bash", f"#SBATCH --job-name={req.job_name}", f"#SBATCH --nodes={req.nodes}", "#SBATCH --ntasks-per-node=1",
            f"#SBATCH --output={workdir}/{OUTPUT}", f"#SBATCH --chdir={workdir}"]
    if req.gres and req.per_node:
        head.append(f"#SBATCH --gres={req.gres}:{req.per_node}")
    if req.partition:
        head.append(f"#SBATCH --partition={req.partition}")
    if req.time:
        head.append(f"#SBATCH --time={req.time}")
    devices = ["--devices", str(req.per_node)] if req.per_node else []
    node_cmd = [*envkit, "launch", "--prefix", prefix, *devices, *launch_opts]
    verdict = f"{workdir}/{VERDICT.format(job='${SLURM_JOB_ID}', node='${SLURM_NODEID}')}"
    body = [
        "# Written by envkit launch --slurm: one envkit launch per node (srun), node rank = SLURM_NODEID,",
        "# rendezvous on the first node of the allocation. envkit launch --slurm-status $SLURM_JOB_ID reads the verdicts.",
        "set -euo pipefail",
        'ENVKIT_RDZV_HOST=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
        f"ENVKIT_RDZV_PORT={PORT_EXPR}",
        "export ENVKIT_RDZV_HOST ENVKIT_RDZV_PORT",
        # single quotes: srun's task expands SLURM_NODEID per node, not this batch step
        "srun --kill-on-bad-exit=1 --ntasks-per-node=1 bash -c " + shlex.quote(
            shlex.join(node_cmd) + ' --nnodes "$SLURM_NNODES" --node-rank "$SLURM_NODEID"'
            ' --rdzv "$ENVKIT_RDZV_HOST:$ENVKIT_RDZV_PORT" --rdzv-id "slurm-$SLURM_JOB_ID"'
            f' --verdict-file "{verdict}" -- ' + shlex.join(train_args)),
    ]
    return "\n".join(head + [""] + body) + "\n"


@dataclass
class JobStatus:
    job: str
    state: str
    exit_code: str = ""
    reason: str = ""
    nodes: str = ""
    stdout: str = ""
    elapsed: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.state in FAILED_STATES or (self.state == "COMPLETED" and self.exit_code not in ("", "0:0"))

    @property
    def running(self) -> bool:
        return self.state in RUNNING_STATES


def parse_scontrol(text: str, job: str) -> JobStatus | None:
    """`scontrol show job -o JOB` (one line of Key=Value) -> JobStatus; None when the job is unknown."""
    line = next((ln for ln in text.splitlines() if ln.startswith("JobId=")), None)
    if line is None:
        return None
    fields: dict[str, str] = {}
    # Values may hold spaces only in a few keys (Command, WorkDir with spaces): split on " Key=".
    for m in re.finditer(r"(?:^|\s)([A-Za-z][A-Za-z0-9_:/]*)=(.*?)(?=\s[A-Za-z][A-Za-z0-9_:/]*=|$)", line):
        fields[m.group(1)] = m.group(2)
    return JobStatus(job=fields.get("JobId", job), state=fields.get("JobState", "UNKNOWN"), exit_code=fields.get("ExitCode", ""),
                     reason=fields.get("Reason", ""), nodes=fields.get("NodeList", ""), stdout=fields.get("StdOut", ""),
                     elapsed=fields.get("RunTime", ""), fields=fields)


def parse_sacct(text: str, job: str) -> JobStatus | None:
    """`sacct -j JOB -n -P -o JobID,State,ExitCode,NodeList,Elapsed` -> the job's own line."""
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) >= 5 and parts[0] == job:
            return JobStatus(job=job, state=parts[1].split()[0], exit_code=parts[2], nodes=parts[3], elapsed=parts[4])
    return None


@dataclass
class NodeVerdict:
    node: int
    failed: list[dict[str, Any]]  # failed preflight checks / run explanations: {id, summary, fix}
    returncode: int | None


def verdicts(docs: dict[int, dict[str, Any]]) -> list[NodeVerdict]:
    """Each node's launch --json document -> what failed there, with the fix."""
    out = []
    for node, doc in sorted(docs.items()):
        failed: list[dict[str, Any]] = []
        pre = doc.get("preflight") or {}
        for c in pre.get("checks") or []:
            if isinstance(c, dict) and c.get("status") in ("fail", "error"):
                failed.append({"id": c.get("id"), "summary": c.get("summary"), "fix": c.get("fix")})
        run = doc.get("run") or {}
        for e in run.get("explanations") or []:
            if isinstance(e, dict):
                failed.append({"id": e.get("id"), "summary": e.get("summary"), "fix": e.get("fix")})
        rc = run.get("returncode") if isinstance(run, dict) else None
        out.append(NodeVerdict(node, failed, rc if isinstance(rc, int) else None))
    return out


def verdict_files(workdir: Path, job: str) -> dict[int, Path]:
    found = {}
    for path in workdir.glob(VERDICT.format(job=job, node="*")):
        m = re.search(r"-node(\d+)\.json$", path.name)
        if m:
            found[int(m.group(1))] = path
    return found
