"""Multi-node launch figures on this machine (loopback "nodes"):

1. two launch agents (`envkit launch --nnodes 2 --no-preflight`, one process each) to the first
   training step, beside the hand-typed pair of torchrun commands (the plans' own argv), target <= 1.1x;
2. the cross-node preflight of `envkit launch --hosts` (every node's doctor --json over SSH, and the
   dataset digest) for 2 and 8 nodes on the loopback sshd, target < 5 s.

Uses the test suite's healthy CPU env and tiny dataset (as bench_launch.py); part 2 needs root (its own sshd).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_launch import ENVKIT, FIRST_STEP, train_args  # noqa: E402

from envkit.launch.hosts import Node, Remote  # noqa: E402
from envkit.launch.multinode import preflight  # noqa: E402
from envkit.launch.prepare import free_port  # noqa: E402


def two_agents(argvs: list[list[str]], env: dict[str, str], envs: list[dict[str, str]] | None = None) -> float:
    """Start every argv at once; seconds until any of them logs the first step (the rendezvous, not the
    node rank, decides where global rank 0 lands). The runs are then drained to their end."""
    import threading

    start = time.perf_counter()
    first: list[float] = []
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                              env={**env, **(envs[i] if envs else {})}) for i, argv in enumerate(argvs)]

    def watch(p: subprocess.Popen) -> None:
        for line in p.stdout:
            if FIRST_STEP in line and not first:
                first.append(time.perf_counter() - start)

    threads = [threading.Thread(target=watch, args=(p,)) for p in procs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        p.wait()
    if not first:
        raise SystemExit(f"no '{FIRST_STEP}' line from {argvs[0][:4]} ... (exits {[p.returncode for p in procs]})")
    return first[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", type=Path, default=ROOT / ".cache" / "envs" / "cpu-healthy")
    parser.add_argument("--dataset", type=Path, default=ROOT / ".cache" / "launch" / "tiny-lerobot-0.4.4")
    parser.add_argument("--runs", type=int, default=2)
    a = parser.parse_args()
    if not (a.prefix / "bin" / "python").exists() or not (a.dataset / "meta" / "info.json").is_file():
        raise SystemExit(f"needs {a.prefix} and {a.dataset}: run `.venv/bin/pytest tests/test_launch_real.py` first")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCELERATE_")}
    env.update({"HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "TQDM_DISABLE": "1"})
    scratch = Path(tempfile.mkdtemp(prefix="envkit-bench-multinode-"))

    def node_argv(rank: int, port: int, out: Path, *extra: str) -> list[str]:
        return [*ENVKIT, "--prefix", str(a.prefix), "--devices", "1", "--nnodes", "2", "--node-rank", str(rank),
                "--rdzv", f"127.0.0.2:{port}", *extra, "--", *train_args(a.dataset, out)]

    launch, hand = [], []
    for i in range(a.runs):
        port = free_port("127.0.0.2")
        launch.append(two_agents([node_argv(r, port, scratch / f"l{i}", "--no-preflight") for r in (0, 1)], env))
        port = free_port("127.0.0.2")
        plans = [json.loads(subprocess.run(node_argv(r, port, scratch / f"h{i}", "--no-preflight", "--dry-run", "--json"),
                                           capture_output=True, text=True, env=env, check=True).stdout)["plan"] for r in (0, 1)]
        wrap = ["bash", "-c", 'PATH="$0/bin:$PATH" exec "$@"', str(a.prefix)]
        hand.append(two_agents([[*wrap, *p["argv"]] for p in plans], env, [p["env"] for p in plans]))
    med_l, med_h = statistics.median(launch), statistics.median(hand)
    print("two nodes (loopback, 1 gloo process each) to the first training step:")
    print(f"  envkit launch --nnodes 2 --no-preflight x2   median {med_l:6.2f} s  [{', '.join(f'{x:.2f}' for x in launch)}]")
    print(f"  torch.distributed.run (c10d) x2 by hand      median {med_h:6.2f} s  [{', '.join(f'{x:.2f}' for x in hand)}]")
    print(f"  ratio {med_l / med_h:.3f}x   target <= 1.1x")

    if os.geteuid() != 0:
        print("cross-node preflight: skipped (the loopback sshd needs root)")
        return
    from tests.fleet_loopback import Loopback

    for n in (2, 8):
        addresses = tuple(f"127.0.0.{2 + i}" for i in range(n))
        with Loopback(scratch / f"sshd{n}", addresses=addresses) as lb:
            args = ("-o", f"UserKnownHostsFile={lb.files['known_hosts']}", "-o", "StrictHostKeyChecking=yes")
            nodes = [Remote(Node(f"node{i + 1}", addr, lb.port, "root", str(lb.files["key"]), args), str(Path(sys.executable).parent / "envkit"),
                            str(a.prefix)) for i, addr in enumerate(addresses)]
            times = []
            for _ in range(2):
                verdict, seconds = preflight(nodes, train_args(a.dataset, scratch / "pre"))
                assert verdict.ok, verdict.problems
                times.append(seconds)
        print(f"cross-node preflight, {n} nodes over loopback ssh: median {statistics.median(times):.2f} s "
              f"[{', '.join(f'{x:.2f}' for x in times)}]   target < 5 s   ({os.cpu_count()} CPUs shared by all nodes)")
    subprocess.run(["rm", "-rf", str(scratch)], check=True)


if __name__ == "__main__":
    main()
