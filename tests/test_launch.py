"""envkit launch without training: device selection, the plan as data, golden dry-runs on replayed
hosts, preflight verdicts, the failure classifier on real error texts, the throughput summary."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from envkit.accel.registry import get_backend
from envkit.doctor.launch_preflight import Inputs, run
from envkit.doctor.model import Status
from envkit.errors import EnvkitError
from envkit.host import RecordedBoundary, detect
from envkit.launch import args as largs
from envkit.launch.devices import select
from envkit.launch.failures import explain
from envkit.launch.plan import EnvFacts, Request, build
from envkit.launch.rendezvous import Route, ifname_matches, parse
from envkit.launch.throughput import summarise
from envkit.targetenv.layout import classify
from tests.canary import caps as recorded_caps

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "launch"
ERRORS = GOLDEN / "errors"
# lerobot 0.4.4's tree as probe.tree_facts reads it (the cpu-healthy env of the real tests).
TREE_044 = {"package": "lerobot", "configs": "draccus", "resume": True, "act": True, "dataset_create": True,
            "codebase_version": "v3.0", "dataset_module": "lerobot.datasets.lerobot_dataset",
            "train_module": "lerobot.scripts.lerobot_train"}
# A fork's 2025 tree: lerobot.common.* and scripts/train.py without accelerate.
TREE_FORK = {"package": "lerobot.common", "configs": "draccus", "resume": True, "act": True, "dataset_create": True,
             "codebase_version": "v2.1", "dataset_module": "lerobot.common.datasets.lerobot_dataset",
             "train_module": "lerobot.scripts.train"}
ARGS = ("--dataset.repo_id=lerobot/aloha_sim_transfer_cube_human", "--policy.type=act", "--batch_size=64",
        "--steps=100000", "--output_dir=outputs/train/act_aloha")


def facts(profile: str, tree: dict = TREE_044, version: str = "0.4.4", caps: str = "lerobot-0.4.4", **kw) -> EnvFacts:
    """The env as launch sees it; `caps`: the capability probe's output recorded on that canary tree."""
    scripts = {"lerobot-train": "lerobot.scripts.lerobot_train:main"} if tree is TREE_044 else {}
    prefix = f"/opt/envs/{profile}"
    if "hook_env" not in kw and profile != "cpu":
        from envkit.profiles import load_profile

        kw["hook_env"] = load_profile(profile).env
    return EnvFacts(prefix=prefix, python=f"{prefix}/bin/python", layout=classify(tree, version, scripts),
                    caps=recorded_caps(caps), cpu_count=kw.pop("cpu_count", 192), environ=kw.pop("environ", {}), **kw)


def host(name: str):
    return detect(RecordedBoundary(DATA / "host" / name))


# --- devices ----------------------------------------------------------------------------------


def test_devices_all_count_and_list() -> None:
    assert select("all", 8, True).ids == tuple(range(8))
    assert select("4", 8, True).visible() == "0,1,2,3"
    assert select("3,1", 8, True).visible() == "1,3"  # ASCEND_RT_VISIBLE_DEVICES must be ascending
    assert select("2", None, False).nproc == 2 and select("2", None, False).ids is None
    assert select("all", None, False).nproc == 1


@pytest.mark.parametrize("spec", ["0", "a,b", "1,1", "-1"])
def test_devices_bad_input_names_the_flag(spec: str) -> None:
    with pytest.raises(EnvkitError) as err:
        select(spec, 8, True)
    assert "--devices" in str(err.value) and err.value.fix


def test_devices_all_keeps_the_users_restriction() -> None:
    from envkit.launch.devices import effective_spec

    assert effective_spec("all", "CUDA_VISIBLE_DEVICES", {"CUDA_VISIBLE_DEVICES": "2,3"}) == "2,3"
    assert effective_spec("4", "CUDA_VISIBLE_DEVICES", {"CUDA_VISIBLE_DEVICES": "2,3"}) == "4"  # explicit --devices wins
    assert effective_spec("all", None, {"CUDA_VISIBLE_DEVICES": "2,3"}) == "all"
    # a lower layer (ROCR_VISIBLE_DEVICES beneath HIP_VISIBLE_DEVICES) leaves two devices, renumbered from 0
    assert effective_spec("all", "HIP_VISIBLE_DEVICES", {"ROCR_VISIBLE_DEVICES": "4,6"}, ("ROCR_VISIBLE_DEVICES",)) == "0,1"
    assert effective_spec("all", "HIP_VISIBLE_DEVICES", {"ROCR_VISIBLE_DEVICES": "4,6", "HIP_VISIBLE_DEVICES": "1"},
                          ("ROCR_VISIBLE_DEVICES",)) == "1"


def test_devices_list_on_cpu_asks_for_a_count() -> None:
    with pytest.raises(EnvkitError) as err:
        select("0,1", None, False)
    assert "--devices 2" in err.value.fix


# --- the plan --------------------------------------------------------------------------------


def test_plan_sets_device_threads_and_port_and_keeps_user_choices() -> None:
    backend = get_backend("cuda")
    plan = build(Request(devices="4", train_args=ARGS), facts("5090", cpu_count=32, hook_env={}), "5090", backend, select("4", 8, True), 41234)
    assert plan.env["CUDA_VISIBLE_DEVICES"] == "0,1,2,3" and plan.env["OMP_NUM_THREADS"] == "8"
    hooked = build(Request(devices="4", train_args=ARGS), facts("5090"), "5090", backend, select("4", 8, True), 1)
    assert "OMP_NUM_THREADS" not in hooked.env and any("OMP_NUM_THREADS=1" in n for n in hooked.notes)  # the 5090 hook sets 1
    assert "--master-port=41234" in plan.argv and "--nproc-per-node=4" in plan.argv
    assert plan.train_args[-1] == "--policy.device=cuda"
    assert plan.argv[plan.argv.index("-m", 3) + 1] == "lerobot.scripts.lerobot_train"
    mine = build(Request(train_args=(*ARGS, "--policy.device=cuda:1")), facts("5090", environ={"OMP_NUM_THREADS": "2"}),
                 "5090", backend, select("2", 8, True), 1)
    assert "OMP_NUM_THREADS" not in mine.env and not any(a == "--policy.device=cuda" for a in mine.train_args)
    assert "PYTHONPATH" not in mine.env  # lerobot is importable: no PYTHONPATH


def test_mixed_precision_reaches_children_only() -> None:
    before = dict(os.environ)
    plan = build(Request(mixed_precision="bf16", train_args=ARGS), facts("5090"), "5090", get_backend("cuda"), select("2", 8, True), 1)
    assert plan.env["ACCELERATE_MIXED_PRECISION"] == "bf16" and "LEROBOT_ALLOW_ACCELERATE_ENV" not in plan.env
    assert plan.to_dict()["mixed_precision_by"] == "env:ACCELERATE_MIXED_PRECISION"
    assert dict(os.environ) == before  # planning never exports anything into envkit's (the user's) environment
    # lerobot main reads its precision from its config only: the field, no environment variable
    newer = build(Request(mixed_precision="fp16", train_args=ARGS), facts("5090", version="0.6.2", caps="main-7427f31"), "5090",
                  get_backend("cuda"), select("2", 8, True), 1)
    assert "--accelerator.mixed_precision=fp16" in newer.train_args and not any(k.startswith(("ACCELERATE_", "LEROBOT_")) for k in newer.env)
    acc = build(Request(launcher="accelerate", mixed_precision="fp16", train_args=ARGS), facts("5090"), "5090", get_backend("cuda"), select("2", 8, True), 1)
    assert "--mixed_precision=fp16" in acc.argv and "ACCELERATE_MIXED_PRECISION" not in acc.env and "--multi_gpu" in acc.argv


def test_doctor_hooks_accelerate_judges_the_users_shell_not_launch() -> None:
    from envkit.doctor.checks.hooks import accelerate
    from envkit.doctor.model import Context

    plan = build(Request(mixed_precision="fp16", train_args=ARGS), facts("5090"), "5090", get_backend("cuda"), select("2", 8, True), 1)
    assert "ACCELERATE_MIXED_PRECISION" in plan.env
    shell = {"PATH": "/usr/bin"}  # what the doctor's probe sees: the user's shell, which launch never changes
    assert accelerate(Context(probe={"env": shell, "dists": {"lerobot": "0.4.4"}}, host={})).status == Status.OK
    users = {**shell, "ACCELERATE_MIXED_PRECISION": "fp16"}
    assert accelerate(Context(probe={"env": users, "dists": {"lerobot": "0.4.4"}}, host={})).status == Status.WARN


def test_fork_without_distributed_training_is_refused_with_the_single_device_command() -> None:
    with pytest.raises(EnvkitError) as err:
        build(Request(train_args=ARGS), facts("5090", TREE_FORK, "0.1.0", caps="fork-483be9a"), "5090", get_backend("cuda"), select("all", 8, True), 1)
    text = err.value.paragraph()
    assert "cannot train on 8 devices" in text and "lerobot.scripts.train" in text and "builds no accelerate Accelerator" in text
    assert "CUDA_VISIBLE_DEVICES=0 /opt/envs/5090/bin/python -m lerobot.scripts.train" in text
    one = build(Request(devices="1", train_args=ARGS), facts("5090", TREE_FORK, "0.1.0", caps="fork-483be9a"), "5090", get_backend("cuda"), select("1", 8, True), 1)
    assert one.launcher is None and one.argv[:3] == ("/opt/envs/5090/bin/python", "-m", "lerobot.scripts.train")


def test_pythonpath_only_for_a_tree_the_env_cannot_import(tmp_path: Path) -> None:
    tree = tmp_path / "fork"
    (tree / "lerobot").mkdir(parents=True)
    (tree / "lerobot" / "__init__.py").write_text("")
    f = facts("cpu", lerobot_importable=False, source_tree=str(tree))
    plan = build(Request(train_args=ARGS), f, "cpu", get_backend("cpu"), select("2", None, False), 1)
    assert plan.env["PYTHONPATH"] == str(tree)


def test_unknown_training_machinery_is_refused_on_several_devices_with_the_reason() -> None:
    with pytest.raises(EnvkitError) as err:
        build(Request(train_args=ARGS), facts("cpu", caps=None), "cpu", get_backend("cpu"), select("2", None, False), 1)
    assert "could not ask its training module" in err.value.paragraph()


def test_user_args() -> None:
    a = ("--output_dir", "x", "--resume=true", "--output_dir=y")
    assert largs.value(a, "output_dir") == "y" and largs.truthy(largs.value(a, "resume")) and not largs.has(a, "steps")


# --- golden dry-runs on replayed hosts -------------------------------------------------------

CASES = {
    "5090-8gpu-torchrun-fp16": ("5090", "cuda", "rtx5090-8x-590", Request(launcher="torchrun", mixed_precision="fp16", train_args=ARGS)),
    "5090-8gpu-torchrun-bf16": ("5090", "cuda", "rtx5090-8x-590", Request(launcher="torchrun", mixed_precision="bf16", train_args=ARGS)),
    "5090-8gpu-accelerate-fp16": ("5090", "cuda", "rtx5090-8x-590", Request(launcher="accelerate", mixed_precision="fp16", train_args=ARGS)),
    "5090-8gpu-accelerate-bf16": ("5090", "cuda", "rtx5090-8x-590", Request(launcher="accelerate", mixed_precision="bf16", train_args=ARGS)),
    "atlas-a2-8npu-torchrun": ("atlas-a2", "ascend", "atlas-a2-8x-910b2", Request(launcher="torchrun", train_args=ARGS)),
    "atlas-a2-8npu-accelerate-bf16": ("atlas-a2", "ascend", "atlas-a2-8x-910b2", Request(launcher="accelerate", mixed_precision="bf16", train_args=ARGS)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_dry_run(name: str) -> None:
    profile, accel, scenario, request = CASES[name]
    backend = get_backend(accel)
    h = host(scenario)
    selection = select("all", backend.host_device_count(h), backend.visible_devices_var is not None)
    assert selection.nproc == 8
    plan = build(request, facts(profile), profile, backend, selection, 29517, backend.launch_sources(h))
    text = plan.render()
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("ENVKIT_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text(), f"{path} differs; ENVKIT_UPDATE_GOLDEN=1 rewrites it (review the diff)"


# Two nodes of 8 devices: the same command on each but --node-rank; the route each node has to the
# rendezvous host (node 0's own address) is what netfacts.route_to reads there, written out here.
NODE_ROUTES = {0: Route("bond0", "10.20.0.11"), 1: Route("bond0", "10.20.0.12")}
MULTI = {
    "5090-2x8gpu-torchrun-bf16": ("5090", "cuda", "rtx5090-8x-590", "torchrun", "bf16"),
    "5090-2x8gpu-accelerate-bf16": ("5090", "cuda", "rtx5090-8x-590", "accelerate", "bf16"),
    "atlas-a2-2x8npu-torchrun": ("atlas-a2", "ascend", "atlas-a2-8x-910b2", "torchrun", "no"),
}


@pytest.mark.parametrize("name", sorted(MULTI))
def test_golden_multi_node_dry_run(name: str) -> None:
    profile, accel, scenario, launcher, precision = MULTI[name]
    backend = get_backend(accel)
    h = host(scenario)
    selection = select("all", backend.host_device_count(h), True)
    texts = []
    for rank, route in NODE_ROUTES.items():
        nodes = parse(2, rank, "10.20.0.11:29400", "act-2x8")
        request = Request(launcher=launcher, mixed_precision=precision, train_args=ARGS, nodes=nodes)
        plan = build(request, facts(profile, route=route), profile, backend, selection, 29400, backend.launch_sources(h))
        assert plan.nodes == nodes and plan.nproc == 8
        texts.append(plan.render())
    text = "\n".join(texts)
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("ENVKIT_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text(), f"{path} differs; ENVKIT_UPDATE_GOLDEN=1 rewrites it (review the diff)"


def test_multi_node_plan_fills_the_collectives_interface_and_keeps_the_users() -> None:
    nodes = parse(2, 1, "10.20.0.11:29400")
    cuda = get_backend("cuda")
    plan = build(Request(train_args=ARGS, nodes=nodes), facts("5090", route=NODE_ROUTES[1]), "5090", cuda, select("2", 8, True), 29400)
    assert plan.env["NCCL_SOCKET_IFNAME"] == "bond0" and plan.env["GLOO_SOCKET_IFNAME"] == "bond0"
    assert "--rdzv-endpoint=10.20.0.11:29400" in plan.argv and "--rdzv-conf=is_host=false" in plan.argv
    assert "--node-rank=1" in plan.argv and "--nnodes=2" in plan.argv and "--master-port=29400" not in plan.argv
    mine = build(Request(train_args=ARGS, nodes=nodes), facts("5090", route=NODE_ROUTES[1], environ={"NCCL_SOCKET_IFNAME": "ib0"}),
                 "5090", cuda, select("2", 8, True), 29400)
    assert "NCCL_SOCKET_IFNAME" not in mine.env and mine.env["GLOO_SOCKET_IFNAME"] == "bond0"
    npu = build(Request(train_args=ARGS, nodes=nodes), facts("atlas-a2", route=NODE_ROUTES[1]), "atlas-a2", get_backend("ascend"),
                select("2", 8, True), 29400)
    assert npu.env["HCCL_IF_IP"] == "10.20.0.12" and npu.env["HCCL_SOCKET_IFNAME"] == "bond0"
    acc = build(Request(launcher="accelerate", train_args=ARGS, nodes=nodes), facts("cpu", route=Route("lo", "127.0.0.1")), "cpu",
                get_backend("cpu"), select("1", None, False), 29400)
    assert {"--num_machines=2", "--machine_rank=1", "--num_processes=2", "--main_process_ip=10.20.0.11", "--multi_gpu"} <= set(acc.argv)


def test_fork_without_distributed_training_cannot_go_multi_node() -> None:
    with pytest.raises(EnvkitError, match="cannot train across 2 nodes"):
        build(Request(train_args=ARGS, nodes=parse(2, 0, "h:1")), facts("cpu", TREE_FORK, "0.1.0", caps="fork-483be9a"), "cpu",
              get_backend("cpu"), select("1", None, False), 1)


@pytest.mark.parametrize(("args", "needle"), [
    ((2, 0, None), "needs the rendezvous address"),
    ((2, None, "h:29400"), "which node is this one"),
    ((2, 2, "h:29400"), "outside 0..1"),
    ((2, 0, "h"), "is not HOST:PORT"),
    ((2, 0, "h:70000"), "is not 1..65535"),
    ((0, 0, "h:1"), "at least one node"),
])
def test_multi_node_flags_are_checked(args: tuple, needle: str) -> None:
    with pytest.raises(EnvkitError, match=needle):
        parse(*args)
    assert parse(1, None, None) is None
    assert parse(2, 1, "[fe80::1]:29400").endpoint == "[fe80::1]:29400"


def test_ifname_matching_follows_nccl() -> None:
    assert ifname_matches("eth", "eth0") and ifname_matches("=eth0", "eth0") and not ifname_matches("=eth", "eth0")
    assert not ifname_matches("^docker,lo", "lo") and ifname_matches("^docker,lo", "bond0")
    assert ifname_matches("ib,bond", "bond0")


def test_preflight_closed_rendezvous_port_is_a_verdict_within_the_wait(tmp_path: Path) -> None:
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    nodes = parse(2, 1, f"127.0.0.1:{closed}")
    plan = build(Request(train_args=ARGS, nodes=nodes), facts("cpu", route=Route("lo", "127.0.0.1"), environ={"GLOO_SOCKET_IFNAME": "nosuch0"}),
                 "cpu", get_backend("cpu"), select("1", None, False), closed)
    started = time.monotonic()
    _, results = run(Inputs(plan, {"env": {"GLOO_SOCKET_IFNAME": "nosuch0"}}, False, rdzv_wait=1.5,
                            network_vars=get_backend("cpu").network_vars()))
    assert time.monotonic() - started < 10
    by = {r.id: r for r in results}
    assert by["launch.rendezvous"].status == Status.FAIL and "did not answer within 1.5 s" in by["launch.rendezvous"].summary
    assert "start node 0 first" in by["launch.rendezvous"].fix
    assert by["launch.network"].status == Status.FAIL and "GLOO_SOCKET_IFNAME=nosuch0 names no interface" in by["launch.network"].summary
    host0 = build(Request(train_args=ARGS, nodes=parse(2, 0, "192.0.2.55:29400")), facts("cpu"), "cpu", get_backend("cpu"),
                  select("1", None, False), 29400)
    _, results = run(Inputs(host0, {}, False, network_vars=()))
    (rdzv,) = [r for r in results if r.id == "launch.rendezvous"]
    assert rdzv.status == Status.FAIL and "192.0.2.55 is not an address of this node" in rdzv.summary


def test_atlas_plan_sources_cann_in_each_process_and_sets_hccl() -> None:
    backend = get_backend("ascend")
    h = host("atlas-a2-8x-910b2")
    plan = build(CASES["atlas-a2-8npu-torchrun"][3], facts("atlas-a2"), "atlas-a2", backend, select("all", 8, True), 1,
                 backend.launch_sources(h))
    assert plan.env["ASCEND_RT_VISIBLE_DEVICES"] == "0,1,2,3,4,5,6,7"
    assert "HCCL_CONNECT_TIMEOUT" not in plan.env  # the atlas-a2 hook sets it already
    bare = build(Request(train_args=ARGS), facts("atlas-a2", hook_env={}), "atlas-a2", backend, select("all", 8, True), 1, ())
    assert bare.env["HCCL_CONNECT_TIMEOUT"] == "600"  # an env not made by envkit setup still gets it
    i = plan.argv.index("--no-python")
    assert plan.argv[i + 1:i + 3] == ("bash", "-c") and "/usr/local/Ascend/ascend-toolkit/set_env.sh" in plan.argv
    assert plan.train_args[-1] == "--policy.device=npu"
    # the user's own HCCL value wins over launch's default
    mine = build(Request(train_args=ARGS), facts("atlas-a2", environ={"HCCL_CONNECT_TIMEOUT": "1200"}), "atlas-a2", backend,
                 select("all", 8, True), 1, ())
    assert "HCCL_CONNECT_TIMEOUT" not in mine.env


def test_rank_wrapper_sources_then_runs_the_command(tmp_path: Path) -> None:
    """The per-rank wrapper for real: it sources the first existing script, keeps the command intact."""
    import subprocess

    script = tmp_path / "set_env.sh"
    script.write_text("export FROM_SET_ENV=yes; set -- clobbered\n")
    from envkit.launch.plan import RANK_SCRIPT

    out = subprocess.run(["bash", "-c", RANK_SCRIPT, "envkit-rank", str(tmp_path / "missing.sh"), str(script), "--",
                          "bash", "-c", 'echo "$FROM_SET_ENV $1"', "x", "arg one"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "yes arg one"


# --- preflight -------------------------------------------------------------------------------


def _preflight(plan, probe, counted=True):
    _ctx, results = run(Inputs(plan, probe, counted, get_backend(plan.backend).failure_hints(), now=0))
    return {r.id: r for r in results}


def test_preflight_existing_output_dir_offers_resume_and_a_new_name(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    plan = build(Request(train_args=(f"--output_dir={out}", "--num_workers=0")), facts("cpu"), "cpu", get_backend("cpu"), select("2", None, False), 1)
    r = _preflight(plan, {"shm_free_bytes": 1 << 34}, counted=False)["launch.output_dir"]
    assert r.status == Status.FAIL and "--resume=true" in r.fix and re.search(rf"--output_dir={re.escape(str(out))}_\d{{8}}_\d{{6}}", r.fix)
    resumed = build(Request(train_args=(f"--output_dir={out}", "--resume=true")), facts("cpu"), "cpu", get_backend("cpu"), select("2", None, False), 1)
    assert _preflight(resumed, {"shm_free_bytes": 1 << 34}, counted=False)["launch.output_dir"].status == Status.OK


def test_preflight_device_count_mismatch_and_broken_stack() -> None:
    plan = build(Request(train_args=ARGS), facts("5090"), "5090", get_backend("cuda"), select("4", 8, True), 1)
    assert _preflight(plan, {"device_count": 2, "shm_free_bytes": 1 << 34})["launch.devices"].status == Status.FAIL
    assert _preflight(plan, {"device_count": 4, "shm_free_bytes": 1 << 34})["launch.devices"].status == Status.OK
    npu = build(Request(train_args=ARGS), facts("atlas-a2"), "atlas-a2", get_backend("ascend"), select("2", 8, True), 1)
    broken = _preflight(npu, {"device_count": None, "device_error": (ERRORS / "torch-npu-libhccl.txt").read_text().splitlines()[-1]})
    assert broken["launch.devices"].status == Status.FAIL and "set_env.sh" in broken["launch.devices"].fix


def test_preflight_missing_cann_set_env(tmp_path: Path) -> None:
    plan = build(Request(train_args=ARGS), facts("atlas-a2"), "atlas-a2", get_backend("ascend"), select("2", 8, True), 1,
                 (str(tmp_path / "ascend-toolkit" / "set_env.sh"),))
    r = _preflight(plan, {"device_count": 2, "shm_free_bytes": 1 << 34})["launch.sources"]
    assert r.status == Status.FAIL and "set_env.sh" in r.summary
    (tmp_path / "ascend-toolkit").mkdir()
    (tmp_path / "ascend-toolkit" / "set_env.sh").write_text("")
    assert _preflight(plan, {"device_count": 2, "shm_free_bytes": 1 << 34})["launch.sources"].status == Status.OK


def test_cli_bad_input_is_one_paragraph_exit_2(tmp_path: Path) -> None:
    from tests.cli_util import assert_user_error, run_envkit

    assert_user_error(run_envkit("launch", "--prefix", str(tmp_path / "nope"), "--dry-run"), "--prefix")
    assert_user_error(run_envkit("launch", "--prefix", str(tmp_path), "--launcher", "deepspeed", "--dry-run"), "--launcher deepspeed")
    assert_user_error(run_envkit("launch", "--prefix", str(tmp_path), "--devices", "0,0", "--dry-run"), "--devices 0,0")


def test_preflight_shm_and_offline_dataset(tmp_path: Path) -> None:
    plan = build(Request(train_args=ARGS), facts("5090"), "5090", get_backend("cuda"), select("8", 8, True), 1)
    checks = _preflight(plan, {"device_count": 8, "shm_free_bytes": 64 << 20,
                               "env": {"HF_HUB_OFFLINE": "1", "HF_LEROBOT_HOME": str(tmp_path)}})
    assert checks["launch.shm"].status == Status.FAIL and "--shm-size" in checks["launch.shm"].fix
    assert checks["launch.dataset"].status == Status.FAIL and "aloha_sim_transfer_cube_human" in checks["launch.dataset"].summary
    (tmp_path / "lerobot" / "aloha_sim_transfer_cube_human" / "meta").mkdir(parents=True)
    (tmp_path / "lerobot" / "aloha_sim_transfer_cube_human" / "meta" / "info.json").write_text("{}")
    again = _preflight(plan, {"device_count": 8, "shm_free_bytes": 1 << 34, "env": {"HF_HUB_OFFLINE": "1", "HF_LEROBOT_HOME": str(tmp_path)}})
    assert again["launch.dataset"].status == Status.OK and again["launch.shm"].status == Status.OK


# --- failures and throughput -----------------------------------------------------------------


def _error_file(path: Path) -> tuple[dict[str, str], str]:
    head, body = {}, []
    for line in path.read_text().splitlines():
        m = re.match(r"# (\w+): (.*)", line)
        if m and not body:
            head[m.group(1)] = m.group(2)
        else:
            body.append(line)
    return head, "\n".join(body)


@pytest.mark.parametrize("path", sorted(ERRORS.glob("*.txt")), ids=lambda p: p.stem)
def test_failure_classifier_on_real_error_texts(path: Path) -> None:
    head, text = _error_file(path)
    assert head["source"].startswith(("TRANSCRIBED from https://", "TRANSCRIBED from /work/shared/research", "recorded here"))
    found = explain(text, get_backend(head["backend"]).failure_hints())
    want = head["expect"].split()
    assert [e.id for e in found][:len(want)] == want, [e.id for e in found]
    assert all(e.fix for e in found)


def test_nccl_hints_name_the_variables_that_help() -> None:
    _h, text = _error_file(ERRORS / "nccl-unhandled-system-error.txt")
    fix = explain(text, get_backend("cuda").failure_hints())[0].fix
    assert "NCCL_P2P_DISABLE=1" in fix and "NCCL_IB_DISABLE=1" in fix and "NCCL_DEBUG=INFO" in fix
    _h, text = _error_file(ERRORS / "hccl-ei0006.txt")
    assert "HCCL_CONNECT_TIMEOUT" in explain(text, get_backend("ascend").failure_hints())[0].fix


def test_throughput_from_lerobot_log_lines() -> None:
    log = (GOLDEN / "lerobot-0.4.4-2proc-cpu.log").read_text()
    t = summarise(log)
    assert t is not None and t.global_batch == 4 and t.steps_measured == 2
    assert abs(t.steps_per_s - 1 / ((0.708 + 0.005 + 0.646 + 0.018) / 2)) < 1e-9
    assert abs(t.samples_per_s - 4 * t.steps_per_s) < 1e-9
    # the recipe's figure: 8 NPUs x batch 64, mean updt_s 0.3191 + data_s 0.3544 -> 760 samples/s
    recipe = "Effective batch size: 64 x 8 = 512\nstep:10 smpl:5K loss:1 updt_s:9.000 data_s:1.000\nstep:20 smpl:10K loss:1 updt_s:0.3191 data_s:0.3544\n"
    assert round(summarise(recipe).samples_per_s, 1) == 760.2
    assert summarise("no training here") is None


def test_doctor_smoke_multi_is_opt_in_on_a_host_without_devices(tmp_path: Path) -> None:
    from envkit.doctor.checks.smoke_multi import multi
    from envkit.doctor.model import Context
    from envkit.doctor.target import Target

    target = Target(python=tmp_path / "bin" / "python", prefix=tmp_path, source="--prefix")
    out = multi(Context(probe={}, host={}, target=target))  # cpu: no devices, not named with --check
    assert out.status == Status.SKIP and "--check smoke.multi" in out.summary
    npu = multi(Context(probe={}, host=host("atlas-a2-cann83").to_dict(), target=target,
                        scratch={"requested_checks": ("smoke.multi",)}, profile=_Profile("ascend")))
    assert npu.summary == "lerobot is not installed"  # 2 NPUs there: past the device gate (no lerobot in this fake env)
    one = multi(Context(probe={}, host=host("gtx1080ti-418").to_dict(), target=target,
                        scratch={"requested_checks": ("smoke.multi",)}, profile=_Profile("cuda")))
    assert one.status == Status.SKIP and "needs 2 cuda devices, this host has 1" in one.summary


class _Profile:
    def __init__(self, accelerator: str) -> None:
        self.accelerator = accelerator
        self.name = "atlas-a2"


def test_launch_variables_beat_the_hook_and_the_hook_is_applied(tmp_path: Path) -> None:
    """execute() for real on a tiny prefix: its activation hook runs, then launch's own variables."""
    import io

    from envkit.launch.execute import execute
    from envkit.launch.plan import LaunchPlan

    (tmp_path / "bin").mkdir()
    hook = tmp_path / "etc" / "conda" / "activate.d"
    hook.mkdir(parents=True)
    (hook / "envkit.sh").write_text("CUDA_VISIBLE_DEVICES=9; export CUDA_VISIBLE_DEVICES; FROM_HOOK=1; export FROM_HOOK\n")
    plan = LaunchPlan(profile="5090", backend="cuda", launcher="torchrun", nproc=2, devices=(2, 3), port=1,
                      argv=("bash", "-c", 'echo "devices=$CUDA_VISIBLE_DEVICES hook=$FROM_HOOK"; echo "step:1 smpl:4 loss:1 updt_s:0.5 data_s:0.5"'),
                      env={"CUDA_VISIBLE_DEVICES": "2,3"}, prefix=str(tmp_path), entry="x", train_args=(), mixed_precision="no")
    log = io.StringIO()
    outcome = execute(plan, [], echo=log, batch_size=4)
    assert outcome.returncode == 0 and "devices=2,3 hook=1" in log.getvalue()
    assert outcome.throughput is not None and outcome.throughput.samples_per_s == 4.0 and outcome.first_step_s is not None
    assert "CUDA_VISIBLE_DEVICES" not in os.environ or os.environ["CUDA_VISIBLE_DEVICES"] != "2,3"


def _runtime(plan, probe, scenario: str, profile: str):
    """Preflight with the backend's LAUNCH_CHECKS on a replayed host, as `envkit launch` runs it."""
    from envkit.doctor.accel import launch_checks
    from envkit.profiles import load_profile

    backend = get_backend(plan.backend)
    _ctx, results = run(Inputs(plan, probe, True, backend.failure_hints(), now=0, runtime=launch_checks(backend),
                               host=host(scenario), profile=load_profile(profile)))
    return {r.id: r for r in results}


def test_preflight_checks_the_driver_against_the_envs_cuda() -> None:
    """The doctor's cuda.driver, judged from launch's own probe: driver 418 cannot run a cu128 torch at all."""
    backend = get_backend("cuda")
    plan = build(Request(train_args=ARGS), facts("5090"), "5090", backend, select("1", 1, True), 1)
    probe = {"device_count": 1, "torch": {"cuda": "12.8"}, "dists": {"torch": "2.8.0+cu128"}, "shm_free_bytes": 1 << 34}
    old = _runtime(plan, probe, "gtx1080ti-418", "5090")["cuda.driver"]
    assert old.status == Status.FAIL and "418" in old.summary and "upgrade the NVIDIA driver" in old.fix
    compat = _runtime(plan, probe, "rtx4090-550", "5090")["cuda.driver"]  # within CUDA 12's minor-version floor
    assert compat.status == Status.WARN and "570" in compat.fix
    eight = build(Request(train_args=ARGS), facts("5090"), "5090", backend, select("all", 8, True), 1)
    assert _runtime(eight, {**probe, "device_count": 8}, "rtx5090-8x-590", "5090")["cuda.driver"].status == Status.OK


def test_preflight_checks_cann_and_the_torch_npu_pairing() -> None:
    backend = get_backend("ascend")
    plan = build(Request(train_args=ARGS), facts("atlas-a2"), "atlas-a2", backend, select("2", 2, True), 1)
    paired = {"device_count": 2, "dists": {"torch": "2.7.1", "torch_npu": "2.7.1"}, "shm_free_bytes": 1 << 34,
              "env": {"ASCEND_HOME_PATH": "/usr/local/Ascend/ascend-toolkit/latest"}}
    got = _runtime(plan, paired, "atlas-a2-cann83", "atlas-a2")
    assert got["npu.cann"].status == Status.OK and got["npu.torch_npu"].status == Status.OK, got
    # pip upgraded torch past torch_npu's pin: caught before eight processes fail to import it
    drifted = _runtime(plan, {**paired, "dists": {"torch": "2.8.0", "torch_npu": "2.7.1"}}, "atlas-a2-cann83", "atlas-a2")
    assert drifted["npu.torch_npu"].status == Status.FAIL and "built for torch 2.7.1" in drifted["npu.torch_npu"].summary
    unsourced = _runtime(plan, {**paired, "env": {}}, "atlas-910b4-unsourced", "atlas-a2")["npu.cann"]
    assert unsourced.status == Status.FAIL and "set_env.sh" in unsourced.fix


def test_the_launch_probe_reports_dists_and_never_a_secret(tmp_path: Path) -> None:
    """target_probe.py for real in this interpreter: the backend's distributions and variables, no token."""
    import json
    import subprocess
    import sys

    script = Path(__file__).parents[1] / "src" / "envkit" / "launch" / "target_probe.py"
    env = {**os.environ, "HF_TOKEN": "hf_secretvalue", "ASCEND_HOME_PATH": "/opt/cann", "ASCEND_AUTH_KEY": "x",
           "HF_HUB_OFFLINE": "1"}
    from envkit.secrets import probe_rule

    spec = {"count": None, "dists": {"pkg": ["packaging"]}, "env_prefixes": ["ASCEND_"], "secret_names": probe_rule()}
    out = json.loads(subprocess.run([sys.executable, str(script), json.dumps(spec)], capture_output=True, text=True,
                                    env=env, check=True).stdout)
    assert out["dists"]["pkg"]  # (torch too, where installed: the launch's own env)
    assert out["env"]["ASCEND_HOME_PATH"] == "/opt/cann" and out["env"]["HF_HUB_OFFLINE"] == "1"
    assert "HF_TOKEN" not in out["env"] and "ASCEND_AUTH_KEY" not in out["env"]
    assert "hf_secretvalue" not in json.dumps(out)


def test_preflight_warns_when_cpu_processes_outnumber_the_cpus() -> None:
    plan = build(Request(devices="8", train_args=ARGS), facts("cpu"), "cpu", get_backend("cpu"), select("8", None, False), 1)
    r = _preflight(plan, {"cpu_count": 2, "shm_free_bytes": 1 << 34}, counted=False)["launch.devices"]
    assert r.status == Status.WARN and "8 processes on 2 CPU(s)" in r.summary and "--devices 2" in r.fix
    two = build(Request(devices="2", train_args=ARGS), facts("cpu"), "cpu", get_backend("cpu"), select("2", None, False), 1)
    assert _preflight(two, {"cpu_count": 2, "shm_free_bytes": 1 << 34}, counted=False)["launch.devices"].status == Status.OK


def test_preflight_reads_the_dataset_from_config_path(tmp_path: Path) -> None:
    """lerobot-train --config_path=train_config.json: the dataset it names is checked like one on the command line."""
    import json

    config = tmp_path / "train_config.json"
    config.write_text(json.dumps({"dataset": {"repo_id": "lerobot/pusht", "root": None}, "steps": 3}))
    offline = {"device_count": 8, "shm_free_bytes": 1 << 34, "env": {"HF_HUB_OFFLINE": "1", "HF_LEROBOT_HOME": str(tmp_path)}}

    def dataset(*args: str):  # type: ignore[no-untyped-def]
        plan = build(Request(train_args=args), facts("5090"), "5090", get_backend("cuda"), select("8", 8, True), 1)
        return _preflight(plan, offline)["launch.dataset"]

    missing = dataset(f"--config_path={config}")
    assert missing.status == Status.FAIL and "lerobot/pusht" in missing.summary
    (tmp_path / "lerobot" / "pusht" / "meta").mkdir(parents=True)
    (tmp_path / "lerobot" / "pusht" / "meta" / "info.json").write_text("{}")
    assert dataset(f"--config_path={config}").status == Status.OK
    assert dataset(f"--config_path={config}", "--dataset.root=/nonexistent").status == Status.FAIL  # the command line wins
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    bad = dataset(f"--config_path={broken}")
    assert bad.status == Status.FAIL and str(broken) in bad.summary and "--dataset.repo_id" in bad.fix
    assert dataset("--config_path=lerobot/act_pusht").status == Status.SKIP  # a hub path: not judged offline here


def test_preflight_names_how_the_tree_trains_from_its_probe() -> None:
    from tests.canary import raw

    plan = build(Request(mixed_precision="bf16", train_args=ARGS), facts("cpu", caps="main-7427f31"), "cpu", get_backend("cpu"),
                 select("2", None, False), 1)
    got = _preflight(plan, {"cpu_count": 4, "shm_free_bytes": 1 << 34, "lerobot_caps": raw("main-7427f31")}, counted=False)
    verdict = got["launch.capabilities"]
    assert verdict.status == Status.OK and "lerobot.distributed.make_accelerator" in verdict.summary
    assert "as accelerator.mixed_precision" in verdict.summary
    unasked = _preflight(plan, {"cpu_count": 4, "shm_free_bytes": 1 << 34, "lerobot_caps_error": "SyntaxError: x"}, counted=False)
    assert unasked["launch.capabilities"].status == Status.WARN and "SyntaxError" in unasked["launch.capabilities"].summary


def test_launch_probe_keeps_the_capability_document_until_the_tree_changes(tmp_path: Path) -> None:
    """The capability probe imports lerobot's training module (seconds): a launch reuses the last document
    while the lerobot package's files and the installed distributions are unchanged."""
    import json
    import shutil
    import subprocess
    import sys

    site = tmp_path / "site"
    (site / "lerobot").mkdir(parents=True)
    (site / "lerobot" / "__init__.py").write_text("")
    calls = tmp_path / "calls"
    (site / "fakecaps.py").write_text(f"def collect():\n    with open({str(calls)!r}, 'a') as fh:\n        fh.write('x')\n"
                                      "    return {'caps_version': 1}\n")
    shutil.copy(Path(__file__).parents[1] / "src" / "envkit" / "launch" / "target_probe.py", tmp_path / "tp.py")
    spec = json.dumps({"caps": "fakecaps", "caps_cache": str(tmp_path / "cache" / "caps.json"), "secret_names": "TOKEN"})

    def probe() -> dict:
        out = subprocess.run([sys.executable, str(tmp_path / "tp.py"), spec], capture_output=True, text=True, check=True,
                             env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, cwd=tmp_path)
        return json.loads(out.stdout.splitlines()[-1])

    assert probe()["lerobot_caps"] == {"caps_version": 1} and calls.read_text() == "x"
    assert probe()["lerobot_caps"] == {"caps_version": 1} and calls.read_text() == "x"  # from the cache
    (site / "lerobot" / "train.py").write_text("# a fork's edit\n")
    probe()
    assert calls.read_text() == "xx"  # the tree changed: asked again
