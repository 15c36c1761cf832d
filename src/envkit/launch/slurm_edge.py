"""The SLURM edge: sbatch submits the script launch.slurm wrote; scontrol/sacct say how the job went."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from envkit.errors import EnvkitError, StepFailed
from envkit.fsutil import atomic_write
from envkit.launch.slurm import JobStatus, parse_sacct, parse_scontrol, verdict_files

TIMEOUT_S = 60
MAX_VERDICT_BYTES = 4 * 1024 * 1024  # a node's launch --json is a few KB; more is not ours


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise EnvkitError(f"{name} is not on PATH: this is not a SLURM login node",
                          fix="run envkit launch --slurm where sbatch works (or print the script with --dry-run and submit it there)")
    return found


def write_script(workdir: Path, text: str) -> Path:
    """A new file per submission (never one the user has): envkit-slurm-<time>.sbatch."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(100):
        path = workdir / f"envkit-slurm-{stamp}{'-' + str(n) if n else ''}.sbatch"
        if not path.exists() and not path.is_symlink():
            atomic_write(path, text, mode=0o755)
            return path
    raise EnvkitError(f"{workdir}: 100 sbatch scripts named envkit-slurm-{stamp}* exist", fix="clean them up, or submit from another directory")


def submit(path: Path) -> str:
    proc = subprocess.run([_tool("sbatch"), "--parsable", str(path)], capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise StepFailed(f"sbatch refused {path}: {proc.stderr.strip()[-500:]}",
                         fix="the message above names the option SLURM rejected (partition, gres, time); edit the flags and resubmit")
    return proc.stdout.strip().split(";")[0]


def status(job: str) -> JobStatus:
    if not job.isdigit():
        raise EnvkitError(f"--slurm-status {job!r} is not a job id", fix="pass the number sbatch printed, e.g. --slurm-status 1234")
    proc = subprocess.run([_tool("scontrol"), "show", "job", "-o", job], capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    found = parse_scontrol(proc.stdout, job) if proc.returncode == 0 else None
    if found is None and shutil.which("sacct"):
        acct = subprocess.run(["sacct", "-j", job, "-n", "-P", "-o", "JobID,State,ExitCode,NodeList,Elapsed"],
                              capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        found = parse_sacct(acct.stdout, job) if acct.returncode == 0 else None
    if found is None:
        raise EnvkitError(f"SLURM knows no job {job} (scontrol: {proc.stderr.strip() or 'no such job'})",
                          fix="check the id (squeue -u $USER); a job older than the controller's MinJobAge is only in sacct, where accounting is enabled")
    return found


def read_verdicts(workdir: Path, job: str) -> dict[int, dict]:
    docs = {}
    for node, path in sorted(verdict_files(workdir, job).items()):
        try:
            if path.stat().st_size > MAX_VERDICT_BYTES:
                continue
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if isinstance(doc, dict):
            docs[node] = doc
    return docs
