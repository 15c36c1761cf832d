"""A real one-node SLURM cluster on this machine for the tests: Debian's munge, slurmctld and slurmd
(installed by `make system-deps`), started as root with a private slurm.conf on unused ports and
stopped afterwards. Clients find it through SLURM_CONF."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol")


def available() -> str | None:
    """None when a cluster can be started here; else why not (for a skip)."""
    if os.geteuid() != 0:
        return "slurmctld/slurmd are started as root by this test"
    missing = [b for b in BINARIES if shutil.which(b) is None and not Path("/usr/sbin", b).exists()]
    return f"not installed: {', '.join(missing)} (make system-deps installs slurmd slurmctld munge)" if missing else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _conf(root: Path, host: str, cpus: int) -> str:
    return "\n".join([
        "ClusterName=envkit-test", f"SlurmctldHost={host}(127.0.0.1)", "SlurmUser=root", "SlurmdUser=root", "AuthType=auth/munge",
        f"StateSaveLocation={root}/state", f"SlurmdSpoolDir={root}/spool", f"SlurmctldPidFile={root}/slurmctld.pid",
        f"SlurmdPidFile={root}/slurmd.pid", f"SlurmctldPort={_free_port()}", f"SlurmdPort={_free_port()}",
        f"SlurmctldLogFile={root}/slurmctld.log", f"SlurmdLogFile={root}/slurmd.log", "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none", "SchedulerType=sched/backfill", "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
        "ReturnToService=2", "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
        "MpiDefault=none", "MinJobAge=3600",
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=4000 State=UNKNOWN",
        f"PartitionName=envkit Nodes={host} Default=YES MaxTime=INFINITE State=UP", ""])


def _munge_up() -> bool:
    return subprocess.run("munge -n | unmunge", shell=True, capture_output=True, check=False).returncode == 0  # noqa: S602 (fixed text)


@contextmanager
def cluster(root: Path) -> Iterator[dict[str, str]]:
    """Start munged (if not running), slurmctld and slurmd; yield the environment clients need."""
    for sub in ("state", "spool"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    conf = root / "slurm.conf"
    conf.write_text(_conf(root, host, os.cpu_count() or 1))
    started_munge = None
    if not _munge_up():
        for d in ("/run/munge", "/var/log/munge", "/var/lib/munge"):
            Path(d).mkdir(parents=True, exist_ok=True)
        if not Path("/etc/munge/munge.key").is_file():
            subprocess.run(["mungekey", "--create"], check=True, capture_output=True)
        subprocess.run(["munged", "--force"], check=True, capture_output=True)
        started_munge = Path("/run/munge/munged.pid")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    subprocess.run(["slurmctld", "-f", str(conf)], check=True, env=env, capture_output=True)
    subprocess.run(["slurmd", "-f", str(conf)], check=True, env=env, capture_output=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True, check=False).stdout
            if "idle" in out:
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"the test SLURM cluster did not come up: {(root / 'slurmctld.log').read_text()[-2000:]}")
        yield {"SLURM_CONF": str(conf)}
    finally:
        subprocess.run(["scancel", "--full", "--user", "root"], env=env, capture_output=True, check=False)
        pids = []
        for pidfile in (root / "slurmd.pid", root / "slurmctld.pid", started_munge):
            try:
                if pidfile is not None:
                    pids.append(int(pidfile.read_text().split()[0]))
            except (OSError, ValueError):
                pass
        _stop(pids)


def _stop(pids: list[int], wait_s: float = 15) -> None:
    """SIGTERM, then SIGKILL what is still there after wait_s: no daemon outlives the test."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + wait_s
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.2)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
