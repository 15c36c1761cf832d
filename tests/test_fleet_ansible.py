"""The envkit Ansible role for real: sshd on loopback, three hosts, forks=3, one aggregated report.

Slow (minutes): each host installs envkit from one wheel built here and sets up the cpu profile
into its own prefix; uv's cache is the controller's, so the wheels are downloaded at most once.
The harness (tests/fleet_loopback.py) starts its own sshd on 127.0.0.2-4 and a free port, and stops
it at the end. Root only, like CI: sshd must run as root to log a user in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_util import run_envkit
from tests.fleet_loopback import (
    Loopback,
    ansible_env,
    break_torchcodec,
    build_wheel,
    ensure_sshd,
    leftover_processes,
    run_playbook,
)

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="sshd needs root (CI runs as root)")]

NODES = ("node1", "node2", "node3")


def _report(reports: Path) -> tuple[int, dict, str]:
    as_json = run_envkit("fleet", "report", str(reports), "--json")
    human = run_envkit("fleet", "report", str(reports))
    print(human.out)  # the report as a user sees it (pytest -s shows it)
    return as_json.code, json.loads(as_json.out), human.out


def test_loopback_hosts_answer_ansible_and_nothing_outlives_the_harness(tmp_path: Path) -> None:
    reason = ensure_sshd()
    if reason:
        pytest.skip(reason)
    with Loopback(tmp_path) as lb:
        inventory = lb.inventory(tmp_path / "inventory.yml", tmp_path / "unused.whl", None)
        ping = subprocess.run([str(Path(sys.executable).with_name("ansible")), "-i", str(inventory), "envkit_fleet", "-m", "ansible.builtin.ping"],
                              capture_output=True, text=True, env=ansible_env(tmp_path), timeout=300, check=False)
        assert ping.returncode == 0 and ping.stdout.count("SUCCESS") == 3, ping.stdout + ping.stderr
        assert leftover_processes(tmp_path)  # the SSH masters are up while the hosts are in use
    assert lb.proc is not None and lb.proc.poll() is not None
    assert leftover_processes(tmp_path) == []


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("python3.11") is None, reason="the cpu profile builds its venv on python3.11")
def test_fleet_of_three_loopback_hosts(tmp_path: Path, doctor_cache: Path) -> None:
    reason = ensure_sshd()
    if reason:
        pytest.skip(reason)
    wheel = build_wheel(tmp_path / "dist")
    with Loopback(tmp_path) as lb:
        # The doctor task skips the smoke: each host's setup just ran it as its last step.
        inventory = lb.inventory(tmp_path / "inventory.yml", wheel, doctor_cache, envkit_doctor_smoke=False)

        first = run_playbook(inventory, tmp_path, timeout=2400)
        print(f"fleet run (3 hosts, forks=3): {first.seconds:.0f} s")
        assert first.rc == 0, first.output[-6000:]
        assert set(first.stats) == set(NODES), first.output[-3000:]
        assert all(s["failed"] == 0 and s["unreachable"] == 0 and s["changed"] > 0 for s in first.stats.values()), first.stats
        code, doc, _ = _report(tmp_path / "reports")
        assert code == 0 and doc["red"] == [] and set(doc["hosts"]) == set(NODES), doc
        assert all(h["verdict"] == "green" for h in doc["hosts"].values())
        for node in NODES:  # each host set up its own prefix, and setup's state says so
            state = json.loads((tmp_path / node / "env" / ".envkit" / "state.json").read_text())
            assert state["doctor"]["verdict"] == "green" and state["profile"] == "cpu-dev"

        again = run_playbook(inventory, tmp_path, timeout=900)
        print(f"second run: {again.seconds:.0f} s")
        assert again.rc == 0, again.output[-6000:]
        assert {h: s["changed"] for h, s in again.stats.items()} == {n: 0 for n in NODES}, again.output[-4000:]

        break_torchcodec(tmp_path / "node3" / "env")
        doctor_only = run_playbook(inventory, tmp_path, "--tags", "envkit_doctor", timeout=900)
        assert doctor_only.rc == 0, doctor_only.output[-6000:]  # a red doctor is a verdict, not a failed task
    assert lb.proc is not None and lb.proc.poll() is not None  # sshd stopped with the block
    assert leftover_processes(tmp_path) == []

    code, doc, human = _report(tmp_path / "reports")
    assert code == 1 and doc["red"] == ["node3"], doc
    assert doc["hosts"]["node1"]["verdict"] == doc["hosts"]["node2"]["verdict"] == "green"
    node3 = doc["hosts"]["node3"]
    assert node3["strays"]["torchcodec"] == "0.10.0" and doc["majority"]["torchcodec"] != "0.10.0"
    fixes = {p["id"]: p["fix"] or "" for p in node3["problems"]}
    assert "torchcodec.load" in fixes and f"torchcodec=={doc['majority']['torchcodec']}" in fixes["torchcodec.load"]
    assert "node3" in human and "0.10.0 ≠" in human

