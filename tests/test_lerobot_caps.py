"""The capability probe's recorded output for every canary tree, read into LerobotCaps and fed to the
smoke's and launch's argument builders; the results are compared with golden files.

The raw documents are what src/envkit/doctor/caps_probe.py printed in an environment holding each
tree (tests/data/lerobot-caps/README.md says how each was made). ENVKIT_UPDATE_GOLDEN=1 rewrites
the goldens (review the diff).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envkit import train_args
from envkit.accel.registry import get_backend
from envkit.errors import EnvkitError
from envkit.launch.devices import select
from envkit.launch.plan import EnvFacts, Request, build
from envkit.lerobot_caps import interpret
from envkit.targetenv.layout import classify
from tests.canary import CAPS, caps, raw, recorded

GOLDEN = CAPS / "golden"
KEY_FIELDS = ("policy.push_to_hub", "policy.repo_id", "policy.device", "device", "policy.use_amp", "use_amp",
              "dataset.root", "dataset.video_backend", "resume", "config_path", "wandb.enable",
              "accelerator.mixed_precision", "parallelism.dp_shard", "policy.pretrained_backbone_weights")
ARGS = ("--dataset.repo_id=lerobot/aloha_sim_transfer_cube_human", "--policy.type=act", "--output_dir=outputs/train/act")


def _launch(tree: str, nproc: int, mixed: str) -> dict:
    c = caps(tree)
    # the layout only names the tree in messages; the plan's decisions come from the caps
    layout = classify({"train_module": c.train_module, "package": c.package, "configs": "draccus"}, c.version, {})
    env = EnvFacts(prefix="/opt/envs/cpu", python="/opt/envs/cpu/bin/python", layout=layout, caps=c, cpu_count=16)
    try:
        plan = build(Request(devices=str(nproc), mixed_precision=mixed, train_args=ARGS), env, "cpu", get_backend("cpu"),
                     select(str(nproc), None, False), 29500)
    except EnvkitError as exc:
        return {"refused": str(exc).split(":")[0] + ": " + str(exc).split(": ", 1)[1][:160]}
    return {"launcher": plan.launcher, "argv": list(plan.argv), "env": plan.env, "mixed_precision_by": plan.precision_by}


def golden_doc(tree: str) -> dict:
    c = caps(tree)
    smoke = train_args.smoke_train(c, device="cpu", repo_id="envkit/tiny", root="/cache/tiny", out_dir="/runs/out",
                                   steps=3, weights_cached=False)
    return {
        "tree": tree,
        "capabilities": {
            "version": c.version, "package": c.package, "entry": c.entry, "train_module": c.train_module,
            "distributed": c.distributed, "mixed_precision": c.mixed_precision, "codebase_version": c.codebase_version,
            "async_inference": c.async_inference, "act": "act" in c.policy_types, "can_train": c.can_train,
            "missing": list(c.smoke_missing), "extras_needed": list(c.extras_needed), "derived": c.derived,
            "fields": {name: c.accepts(name) for name in KEY_FIELDS},
        },
        "smoke_train": list(smoke.args), "smoke_not_passed": list(smoke.dropped),
        "smoke_resume": list(train_args.smoke_resume(c, config_path="/runs/out/checkpoints/last/pretrained_model/train_config.json",
                                                     steps=5).args),
        "setup_hint": train_args.hint(c, "cpu"),
        "launch_2_bf16": _launch(tree, 2, "bf16"),
        "launch_1_fp16": _launch(tree, 1, "fp16"),
    }


def test_every_canary_tree_is_recorded() -> None:
    assert len(recorded()) >= 8, recorded()


@pytest.mark.parametrize("tree", recorded())
def test_builders_match_golden(tree: str) -> None:
    doc = json.dumps(golden_doc(tree), indent=1, sort_keys=True) + "\n"
    path = GOLDEN / f"{tree}.json"
    if os.environ.get("ENVKIT_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(doc)
    assert doc == path.read_text(), f"{path} differs; ENVKIT_UPDATE_GOLDEN=1 rewrites it (review the diff)"


def test_what_changed_between_commits_is_what_is_passed() -> None:
    """The fields that moved in lerobot's 2025 history decide the smoke's arguments, not the version string
    (every lerobot.common tree says "0.1.0")."""
    early, june, fork = caps("common-10706ed"), caps("common-a989c79"), caps("fork-483be9a")
    assert early.version == june.version == fork.version == "0.1.0"
    assert early.accepts("device") and not early.accepts("policy.device")  # before lerobot #812 (2025-03-06)
    assert june.accepts("policy.device") and not june.accepts("policy.push_to_hub")  # before #1382 (2025-06-26)
    assert fork.accepts("policy.push_to_hub") and fork.accepts("policy.repo_id")
    args = train_args.smoke_train(june, device="cpu", repo_id="r", root="/d", out_dir="/o", steps=3, weights_cached=True)
    assert "--policy.device=cpu" in args.args and not any("push_to_hub" in a for a in args.args)
    assert args.dropped == ("policy.push_to_hub",)
    old = train_args.smoke_train(early, device="cpu", repo_id="r", root="/d", out_dir="/o", steps=3, weights_cached=True)
    assert "--device=cpu" in old.args and not any(a.startswith("--policy.device") for a in old.args)


def test_main_snapshot_trains_distributed_with_the_config_precision() -> None:
    main = caps("main-7427f31")
    assert main.distributed == "make_accelerator" and main.mixed_precision == "accelerator.mixed_precision"
    assert main.accepts("parallelism.dp_shard")
    plan = _launch("main-7427f31", 2, "bf16")
    assert plan["launcher"] == "torchrun" and "--nproc-per-node=2" in plan["argv"]
    assert "--accelerator.mixed_precision=bf16" in plan["argv"] and "ACCELERATE_MIXED_PRECISION" not in plan["env"]


def test_a_tree_without_act_or_train_config_says_which_piece_is_missing() -> None:
    doc = raw("lerobot-0.4.4")
    no_act = interpret({**doc, "act_fields": {}, "policy_types": ["diffusion"]})
    assert not no_act.can_train and any("ACT policy" in m for m in no_act.missing)
    broken = interpret({**doc, "errors": {"train_module": {"type": "ModuleNotFoundError", "message": "No module named 'accelerate'",
                                                           "missing_module": "accelerate"}}, "train_module": None})
    assert any(m.startswith("importable training module") for m in broken.missing) and broken.distributed is None
    hydra = interpret({"caps_version": 1, "package": "lerobot.common", "errors": {}, "modules": {"train": "lerobot.scripts.train"}})
    assert any("TrainPipelineConfig" in m for m in hydra.missing)


def test_extras_come_from_the_distribution_metadata() -> None:
    doc = raw("lerobot-0.4.4")
    extras = {"training": [{"requirement": "accelerate>=1.10", "name": "accelerate", "installed": None}],
              "async": [{"requirement": "grpcio==1.73.1", "name": "grpcio", "installed": "1.73.1"}]}
    missing = {"type": "ModuleNotFoundError", "message": "No module named 'accelerate'", "missing_module": "accelerate"}
    c = interpret({**doc, "dist": {**doc["dist"], "extras": extras}, "errors": {"train_module": missing}})
    assert c.extras_needed == ("training",)


def test_caps_probe_runs_in_an_interpreter_without_lerobot(tmp_path: Path) -> None:
    """Standard library only: in a bare interpreter it says there is no lerobot, it does not crash."""
    script = Path(__file__).parents[1] / "src" / "envkit" / "doctor" / "caps_probe.py"
    proc = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    c = interpret(json.loads(proc.stdout))
    assert c.package is None and not c.can_train and c.missing[0].startswith("lerobot package")


def _ctx(tree: str):
    from envkit.doctor.model import Context

    probe = {"lerobot_caps": raw(tree), "dists": {"lerobot": raw(tree)["dist"]["version"]},
             "lerobot_dist": {"installed": True, "version": raw(tree)["dist"]["version"]},
             "python": {"executable": "/env/bin/python"}, "video": {"torchvision": {"video_reader": False}}}
    return Context(probe=probe, host={})


def test_the_doctor_smoke_builds_its_command_from_the_probe(tmp_path: Path) -> None:
    from envkit.doctor import smoke
    from envkit.targetenv.layout import from_probe

    ctx = _ctx("common-a3cd18e")
    argv = smoke.train_argv(ctx, from_probe(ctx.probe), tmp_path / "ds", "envkit/tiny", tmp_path / "out", 3, False)
    assert argv[:3] == ["/env/bin/python", "-m", "lerobot.scripts.train"]
    assert "--policy.device=cpu" in argv and not any("push_to_hub" in a for a in argv)
    assert argv[-1] == "--dataset.video_backend=torchcodec"  # its default "pyav" needs torchvision's VideoReader
    assert ctx.scratch["smoke_dropped"] == ("policy.push_to_hub",)


def test_doctor_json_carries_the_capabilities_and_the_command() -> None:
    from envkit.doctor import report
    from envkit.doctor.checks.lerobot import capabilities
    from envkit.doctor.model import Status

    ctx = _ctx("fork-483be9a")
    assert capabilities(ctx).status == Status.OK
    doc = report.build(ctx, []).to_dict()
    assert doc["lerobot_caps"]["distributed"] == "none" and "policy.push_to_hub" in doc["lerobot_caps"]["fields"]
    assert doc["train_command"] == ("python -m lerobot.scripts.train --policy.type=act --policy.device=cpu "
                                    "--policy.push_to_hub=false --dataset.repo_id=<your/dataset>")
    no_act = _ctx("lerobot-0.4.4")
    no_act.probe["lerobot_caps"] = {**raw("lerobot-0.4.4"), "act_fields": {}, "policy_types": ["diffusion"]}
    verdict = capabilities(no_act)
    assert verdict.status == Status.FAIL and "cannot run ACT training: it lacks ACT policy" in verdict.summary


def test_a_tree_that_decodes_only_through_videoreader_is_told_before_training() -> None:
    from envkit.doctor.checks.smoke import dataset
    from envkit.doctor.model import Status

    ctx = _ctx("common-10706ed")
    ctx.target = object()  # a target to run in (the check stops before using it)
    ctx.probe["video"]["torchvision"]["version"] = "0.29.1"
    verdict = dataset(ctx)
    assert verdict.status == Status.FAIL and "only through torchvision.io.VideoReader" in verdict.summary
    assert "torchcodec" in verdict.fix
