"""envkit launch --hosts: nodes from a hostfile or the fleet's inventory, the cross-node preflight on
recorded doctor reports, and (slow) a real two-node run started over the loopback sshd."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envkit.errors import EnvkitError
from envkit.launch.crossnode import DATASET_DIGEST_CODE, judge
from envkit.launch.hosts import Node, load, nodes_from_inventory_json, parse_hostfile
from tests import fleet_loopback
from tests.test_launch_real import SMALL_ACT, _env, tiny_dataset  # noqa: F401 (a session fixture)

FLEET = Path(__file__).parent / "data" / "fleet"
GREEN = (FLEET / "green-cpu.json").read_text()
RED = (FLEET / "red-torchcodec-0.10.json").read_text()


def test_hostfile_lines_and_options() -> None:
    nodes = parse_hostfile("# the lab's pair\nnode1\nroot@node2:2222 prefix=/shared/env envkit=/opt/envkit/bin/envkit\n[fe80::1]:22\n")
    assert [n.name for n in nodes] == ["node1", "node2", "fe80::1"]
    assert nodes[1] == Node("node2", "node2", 2222, "root", None, (), "/shared/env", "/opt/envkit/bin/envkit")
    assert parse_hostfile("all:\n  hosts:\n    node1:\n") is None  # an inventory, not a hostfile
    assert parse_hostfile("node1 colour=red\n") is None


def test_ssh_argv_quotes_every_remote_word() -> None:
    node = Node("n", "10.0.0.2", 2222, "lab", "/k", ("-o", "StrictHostKeyChecking=yes"))
    argv = node.ssh(["envkit", "launch", "--", "--dataset.root=/data/my set; rm -rf /"], tty=True)
    assert argv[:7] == ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-tt", "-p"]
    assert argv[-1] == "envkit launch -- '--dataset.root=/data/my set; rm -rf /'"


def test_inventory_json_in_order_with_the_roles_defaults() -> None:
    data = {"_meta": {"hostvars": {
        "a": {"ansible_host": "10.0.0.1", "ansible_port": 22, "ansible_user": "root", "envkit_prefix": "/srv/env"},
        "b": {"ansible_host": "10.0.0.2", "ansible_ssh_common_args": "-o ConnectTimeout=10", "envkit_home": "/srv/tool"}}},
        "all": {"children": ["ungrouped", "envkit_fleet"]}, "envkit_fleet": {"hosts": ["a", "b"]}}
    a, b = nodes_from_inventory_json(data)
    assert (a.host, a.port, a.prefix, a.envkit) == ("10.0.0.1", 22, "/srv/env", "/opt/envkit/tool/venv/bin/envkit")
    assert (b.prefix, b.envkit, b.ssh_args) == ("/opt/envkit/env", "/srv/tool/venv/bin/envkit", ("-o", "ConnectTimeout=10"))


def test_bad_hosts_files_are_one_paragraph(tmp_path: Path) -> None:
    with pytest.raises(EnvkitError, match="no such file"):
        load(tmp_path / "none")
    twice = tmp_path / "twice"
    twice.write_text("node1\nnode1\n")
    with pytest.raises(EnvkitError, match="names node1 twice"):
        load(twice)


def test_cross_node_preflight_names_the_node_off_the_majority() -> None:
    verdict = judge({"node1": GREEN, "node2": GREEN, "node3": RED}, {}, {}, None)
    assert not verdict.ok
    assert "node3: torchcodec 0.10.0 where the other nodes have 0.17.0" in verdict.problems
    assert any(p.startswith("node3: torchcodec.") for p in verdict.problems)  # its red doctor check, with the fix
    assert judge({"node1": GREEN, "node2": GREEN}, {}, {}, None).ok


def test_cross_node_preflight_unreachable_node_and_dataset_that_differs() -> None:
    verdict = judge({"node1": GREEN, "node2": GREEN}, {"node3": "ssh: connect to host 10.0.0.3 port 22: Connection refused"},
                    {"node1": "a" * 64, "node2": "b" * 64, "node3": "missing"}, "/data/aloha")
    assert "node3: no doctor report (ssh: connect to host 10.0.0.3 port 22: Connection refused)" in verdict.problems
    assert "node2: --dataset.root /data/aloha differs from node1's (files, sizes or meta/ contents)" in verdict.problems
    assert any("node3: --dataset.root /data/aloha holds no LeRobot dataset" in p for p in verdict.problems)


def test_dataset_digest_sees_a_changed_meta_file(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "info.json").write_text('{"fps": 30}')

    def digest() -> str:
        return subprocess.run([sys.executable, "-c", DATASET_DIGEST_CODE, str(root)], capture_output=True, text=True, check=True).stdout.strip()

    first = digest()
    assert first == digest() and len(first) == 64
    (root / "meta" / "info.json").write_text('{"fps": 15}')
    assert digest() != first


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    why = fleet_loopback.ensure_sshd() if os.geteuid() == 0 else "the loopback sshd runs as root"
    if why:
        pytest.skip(why)
    with fleet_loopback.Loopback(tmp_path_factory.mktemp("hosts")) as lb:
        yield lb


@pytest.mark.slow
def test_two_nodes_over_ssh_train_one_world(sshd, healthy_env: Path, tiny_dataset: Path, tmp_path: Path) -> None:  # noqa: ANN001, F811
    envkit = str(Path(sys.executable).parent / "envkit")
    common = {"ansible_user": "root", "ansible_port": sshd.port, "ansible_ssh_private_key_file": str(sshd.files["key"]),
              "ansible_ssh_common_args": f"-o UserKnownHostsFile={sshd.files['known_hosts']} -o StrictHostKeyChecking=yes",
              "envkit_prefix": str(healthy_env), "envkit_bin": envkit}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"envkit_fleet": {"hosts": {"node1": {"ansible_host": "127.0.0.2"}, "node2": {"ansible_host": "127.0.0.3"}},
                                                      "vars": common}}))
    out = tmp_path / "run"
    env = {**_env(), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}  # ansible-inventory beside pytest
    started = time.monotonic()
    proc = subprocess.run([envkit, "launch", "--hosts", str(inventory), "--devices", "1", "--rdzv-port", str(_free(("127.0.0.2"))), "--",
                           f"--dataset.root={tiny_dataset}", "--dataset.repo_id=envkit/tiny", "--policy.type=act", "--steps=3",
                           "--batch_size=2", "--num_workers=0", "--save_freq=3", "--log_freq=1", "--eval_freq=0",
                           "--policy.push_to_hub=false", "--wandb.enable=false", "--policy.pretrained_backbone_weights=null",
                           f"--output_dir={out}", *SMALL_ACT], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, (proc.stdout[-4000:], proc.stderr[-2000:])
    assert "2 node(s) agree (" in proc.stdout and "identical" in proc.stdout
    assert "[node1] " in proc.stdout and "[node2] " in proc.stdout
    assert "Effective batch size: 2 x 2 = 4" in proc.stdout
    assert proc.stdout.count("Checkpoint policy after step 3") == 1
    assert (out / "checkpoints" / "000003" / "pretrained_model" / "model.safetensors").is_file()
    print(f"two nodes over ssh, preflight included: {time.monotonic() - started:.1f} s")


def _free(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
