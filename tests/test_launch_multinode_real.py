"""envkit launch across two "nodes" for real on this CPU machine (slow): two launch agents, one per
node, meet at a c10d rendezvous on 127.0.0.2, one gloo process each, 3 ACT steps of lerobot 0.4.4's
lerobot-train, one checkpoint written by global rank 0."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.test_launch_real import _env, _launch, tiny_dataset  # noqa: F401 (a session fixture)

pytestmark = pytest.mark.slow
RDZV_HOST = "127.0.0.2"


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _node(prefix: Path, dataset: Path, out: Path, rank: int, port: int, *extra: str) -> list[str]:
    argv = _launch(prefix, dataset, out, "--json", "--nnodes", "2", "--node-rank", str(rank), "--rdzv", f"{RDZV_HOST}:{port}",
                   "--rdzv-id", "envkit-test", *extra)
    i = argv.index("--devices")
    argv[i + 1] = "1"  # one process per node
    return argv


def test_two_nodes_meet_at_a_rendezvous_and_train(healthy_env: Path, tiny_dataset: Path, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "run"
    port = _free_port(RDZV_HOST)
    started = time.monotonic()
    node0 = subprocess.Popen(_node(healthy_env, tiny_dataset, out, 0, port), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=_env())
    node1 = subprocess.Popen(_node(healthy_env, tiny_dataset, out, 1, port), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=_env())
    results = [p.communicate(timeout=900) for p in (node0, node1)]
    for p, (_, err) in zip((node0, node1), results):
        assert p.returncode == 0, err[-3000:]
    docs = [json.loads(stdout) for stdout, _ in results]
    for rank, doc in enumerate(docs):
        plan = doc["plan"]
        assert plan["nodes"] == {"nnodes": 2, "node_rank": rank, "rdzv": f"{RDZV_HOST}:{port}", "rdzv_id": "envkit-test",
                                 "is_host": rank == 0}
        assert "--rdzv-backend=c10d" in plan["argv"] and plan["env"]["GLOO_SOCKET_IFNAME"] == "lo"
        checks = {c["id"]: c for c in doc["preflight"]["checks"]}
        assert checks["launch.rendezvous"]["status"] == "ok" and checks["launch.network"]["status"] == "ok", checks
    logs = results[0][1] + results[1][1]
    assert "Effective batch size: 2 x 2 = 4" in logs  # one world of 2 processes, not two runs of 1
    assert logs.count("Checkpoint policy after step 3") == 1  # global rank 0 only
    assert (out / "checkpoints" / "000003" / "pretrained_model" / "model.safetensors").is_file()
    assert "loss:" in logs
    print(f"two-node launch on loopback: {time.monotonic() - started:.1f} s")


def test_a_node_whose_rendezvous_never_answers_gets_a_verdict(healthy_env: Path, tiny_dataset: Path, tmp_path: Path) -> None:  # noqa: F811
    port = _free_port(RDZV_HOST)
    started = time.monotonic()
    proc = subprocess.run(_node(healthy_env, tiny_dataset, tmp_path / "run", 1, port, "--rdzv-wait", "2"),
                          capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    (rdzv,) = [c for c in doc["preflight"]["checks"] if c["id"] == "launch.rendezvous"]
    assert rdzv["status"] == "fail" and "did not answer within 2 s" in rdzv["summary"] and "start node 0 first" in rdzv["fix"]
    assert doc["run"] is None and time.monotonic() - started < 120
