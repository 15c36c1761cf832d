"""Fast checks of the serve/infer pieces that do not need a target env: lerobot's extra pins, the
launch preflight's hub and repo-id pitfalls, the HF cache verdicts, and what setup records for the doctor."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from envkit.accel.registry import get_backend
from envkit.doctor import serving
from envkit.doctor.checks import system
from envkit.doctor.launch_preflight import Inputs, run
from envkit.doctor.model import Context, Status
from envkit.launch.devices import select
from envkit.launch.plan import Request, build
from tests.test_launch import facts

# lerobot 0.4.4's Requires-Dist lines for its async extra, as its wheel's METADATA has them.
REQUIRES_044 = [
    "torch<2.11.0,>=2.2.1",
    'grpcio==1.73.1; extra == "grpcio-dep"',
    'protobuf<6.32.0,>=6.31.1; extra == "grpcio-dep"',
    'lerobot[grpcio-dep]; extra == "hilserl"',
    'lerobot[grpcio-dep]; extra == "async"',
    'matplotlib<4.0.0,>=3.10.3; extra == "async"',
    'lerobot[async]; extra == "all"',
]


def test_extra_pins_follow_lerobots_self_references() -> None:
    reqs = serving.extra_requirements(REQUIRES_044, "async")
    assert sorted(f"{r.name}{r.specifier}" for r in reqs) == ["grpcio==1.73.1", "matplotlib<4.0.0,>=3.10.3", "protobuf<6.32.0,>=6.31.1"]
    grpc = [r for r in reqs if r.name in ("grpcio", "protobuf")]
    assert serving.mismatches(grpc, {"grpcio": "1.73.1", "protobuf": "6.31.1"}) == []
    bad = serving.mismatches(grpc, {"grpcio": "1.60.0", "protobuf": None})
    assert bad == ["grpcio 1.60.0 (lerobot wants ==1.73.1)", "protobuf missing (lerobot wants <6.32.0,>=6.31.1)"]


def test_server_stop_leaves_no_process_of_its_session(tmp_path: Path) -> None:
    """A server that forks a child which ignores SIGTERM: stop() still ends the whole session."""
    code = ("import os, signal, subprocess, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "subprocess.Popen([sys.executable, '-c', 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'])\n"
            "time.sleep(600)\n")
    server = serving.Server([sys.executable, "-c", code], tmp_path / "log")
    server.start(dict(os.environ), tmp_path)
    deadline = psutil.time.time() + 10
    while len(server.members()) < 2 and psutil.time.time() < deadline:
        psutil.time.sleep(0.1)
    pids = [p.pid for p in server.members()]
    assert len(pids) == 2
    serving.STOP_GRACE_S, grace = 1, serving.STOP_GRACE_S
    try:
        server.stop()
    finally:
        serving.STOP_GRACE_S = grace
    assert server.leftovers == [] and server.members() == []
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)


def _preflight(train_args: tuple[str, ...]) -> dict:
    plan = build(Request(train_args=train_args), facts("cpu"), "cpu", get_backend("cpu"), select("1", None, False), 1)
    _ctx, results = run(Inputs(plan, {"shm_free_bytes": 1 << 34}, False, [], now=0))
    return {r.id: r for r in results}


def test_preflight_refuses_an_empty_repo_id_and_a_push_without_repo(tmp_path: Path) -> None:
    root = tmp_path / "my_set"
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "info.json").write_text("{}")
    empty = _preflight(("--dataset.repo_id=", f"--dataset.root={root}", "--policy.type=act"))["launch.dataset"]
    assert empty.status == Status.FAIL and "--dataset.repo_id=local/my_set" in empty.fix
    push = _preflight(("--dataset.repo_id=lab/set", "--policy.push_to_hub=true"))["launch.push_to_hub"]
    assert push.status == Status.FAIL and "--policy.repo_id=" in push.fix and "--policy.push_to_hub=false" in push.fix
    named = _preflight(("--dataset.repo_id=lab/set", "--policy.push_to_hub=true", "--policy.repo_id=lab/act"))
    assert named["launch.push_to_hub"].status == Status.OK and named["launch.dataset"].status == Status.OK
    assert _preflight(("--dataset.repo_id=lab/set", "--policy.push_to_hub=false"))["launch.push_to_hub"].status == Status.OK


def _probe_system(env: dict[str, str]) -> dict:
    """The probe's own system section, run for real in a python with `env`."""
    probe = Path(__file__).resolve().parents[1] / "src" / "envkit" / "targetenv" / "probe.py"
    code = ("import importlib.util, json, sys; spec = importlib.util.spec_from_file_location('p', sys.argv[1]); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
            "print(json.dumps(m.system_facts(None, 'x.pth', '')))")
    import json

    out = subprocess.run([sys.executable, "-c", code, str(probe)], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


def test_hf_cache_covers_datasets_cache_and_lerobot_home(tmp_path: Path) -> None:
    home = tmp_path / "hf"
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder must be")
    env = {**os.environ, "HF_HOME": str(home), "HF_DATASETS_CACHE": str(blocker), "HF_LEROBOT_HOME": str(tmp_path / "lr")}
    facts_ = _probe_system(env)
    result = system.hf_cache(Context(probe={"system": facts_}, host={}))
    assert result.status == Status.FAIL and f"HF_DATASETS_CACHE={blocker}" in result.summary
    assert result.fix.startswith("export HF_DATASETS_CACHE=")
    env["HF_DATASETS_CACHE"] = str(tmp_path / "ds")
    good = system.hf_cache(Context(probe={"system": _probe_system(env)}, host={}))
    assert good.status == Status.OK and "HF_LEROBOT_HOME=" in good.summary
    assert not (tmp_path / "ds").exists()  # the probe tests, it does not create


def test_setup_records_the_async_extra_for_the_doctor(tmp_path: Path) -> None:
    from envkit.profiles import load_profile
    from envkit.resolve import resolve
    from envkit.setup.plan import SetupOptions, build_plan

    profile = load_profile("cpu")
    plan = build_plan(profile, resolve(profile, None, None, "linux-64"), SetupOptions(prefix=tmp_path / "env", extras=("async",)))
    assert plan.record is not None and "async" in plan.record.extras  # beside the training extras the release itself declares
    lerobot = {s.id: s for s in plan.steps}["lerobot"].commands[0]
    assert any(a.startswith("lerobot[") and "async" in a.split("]")[0] for a in lerobot) and "--override" in lerobot
    from envkit.setup_choices import SetupChoices

    assert "async" in SetupChoices.from_request(plan.record.to_request(), "cpu").extras  # through state.json's JSON
    lockdir = Path(__file__).resolve().parents[1] / "lockfiles" / "cpu"
    if (lockdir / "manifest.json").is_file():
        from tests.cli_util import assert_user_error, run_envkit
        from tests.test_setup import HOSTS, NO_PIP_CONFIG

        res = run_envkit("setup", "--profile", "cpu", "--from-lock", str(lockdir), "--extras", "async", "--dry-run",
                         "--prefix", str(tmp_path / "env"), "--host", str(HOSTS / "host-cpu.json"), env=NO_PIP_CONFIG)
        assert_user_error(res, "--extras async cannot be added to --from-lock")


def test_checkpoint_that_is_not_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    from tests.cli_util import assert_user_error, run_envkit

    assert_user_error(run_envkit("doctor", "--python", sys.executable, "--checkpoint", str(tmp_path / "nope")), "--checkpoint")


def test_server_dies_with_envkit_even_by_kill_9(tmp_path: Path) -> None:
    """A parent that starts a Server then is SIGKILLed: the server, in its own session, still goes."""
    code = ("import os, sys, time; from pathlib import Path; from envkit.doctor import serving; "
            "s = serving.Server([sys.executable, '-c', 'import time; time.sleep(600)'], Path(sys.argv[1]) / 'log'); "
            "s.start(dict(os.environ), Path(sys.argv[1])); print(s.proc.pid, flush=True); time.sleep(600)")
    parent = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    pid = int(parent.stdout.readline())
    assert psutil.pid_exists(pid)
    parent.kill()
    parent.wait()
    try:
        psutil.Process(pid).wait(timeout=10)
    except psutil.NoSuchProcess:
        pass
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
