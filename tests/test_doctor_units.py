"""The doctor's machinery: selection, error isolation, needs, exit codes, output, target choice, pip config."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from envkit.accel.registry import all_backends
from envkit.doctor import registry, report
from envkit.doctor.model import Check, Context, Status, fail, ok
from envkit.doctor.target import resolve_target
from envkit.errors import EnvkitError
from envkit.pipconfig import read_pip_config


def _boom(ctx: Context):  # type: ignore[no-untyped-def]
    raise RuntimeError("kaput")


def test_a_raising_check_is_error_and_the_rest_still_run() -> None:
    checks = [Check("x.boom", "boom", _boom), Check("x.after", "after", lambda c: ok("fine"))]
    results = registry.run_checks(checks, Context(probe={}, host={}))
    assert [r.status for r in results] == [Status.ERROR, Status.OK]
    assert "kaput" in results[0].details and "Traceback" in results[0].details


def test_needs_turn_into_skip_with_reason() -> None:
    checks = [Check("x.a", "a", lambda c: fail("no", "do this")), Check("x.b", "b", lambda c: ok("y"), needs=("x.a",))]
    results = registry.run_checks(checks, Context(probe={}, host={}))
    assert results[1].status == Status.SKIP and "x.a (fail)" in results[1].summary


def test_select_by_category_and_unknown_id() -> None:
    checks = registry.all_checks()
    ids = {c.id for c in registry.select(checks, ["cuda", "system.shm"])}
    assert "cuda.kernel" in ids and "system.shm" in ids and "torch.import" not in ids
    assert not any(c.slow for c in registry.select(checks, smoke=False))
    with pytest.raises(EnvkitError):
        registry.select(checks, ["nope.nothing"])


def test_ids_are_unique_and_prefixed() -> None:
    ids = [c.id for c in registry.all_checks()]
    assert len(ids) == len(set(ids))
    generic = {"system", "torch", "torchcodec", "video", "lerobot", "hooks", "dataset", "checkpoint", "smoke"}
    # each accelerator's checks carry the prefixes its backend declares (cuda., npu., ...)
    own = {p.rstrip(".") for b in all_backends() for p in b.check_prefixes}
    assert {"cuda", "npu"} <= own
    prefixes = generic | own
    assert {i.split(".")[0] for i in ids} == prefixes


def test_exit_codes_and_fail_on_warn() -> None:
    from envkit.doctor.model import CheckResult

    warned = [CheckResult("a.b", Status.WARN, "w")]
    assert report.exit_code(warned) == 0
    assert report.exit_code(warned, "warn") == 1
    assert report.exit_code([CheckResult("a.b", Status.ERROR, "e")]) == 1


def test_probe_env_never_carries_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from envkit import secrets
    from envkit.targetenv import probe

    monkeypatch.setattr(probe, "SECRET", re.compile(secrets.probe_rule(), re.I))
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("ACCELERATE_API_KEY", "k")
    monkeypatch.setenv("ACCELERATE_USE_CPU", "1")
    env = probe.safe_env()
    assert "HF_TOKEN" not in env and "ACCELERATE_API_KEY" not in env and env["ACCELERATE_USE_CPU"] == "1"


def test_json_document_shape() -> None:
    ctx = Context(probe={}, host={})
    results = registry.run_checks([Check("x.a", "a", lambda c: ok("y"))], ctx)
    doc = json.loads(report.to_json(ctx, results))
    assert set(doc) >= {"envkit_version", "target", "profile", "profile_file", "inputs_from", "versions", "checks", "summary", "failed", "ok"}
    assert doc["checks"][0].keys() >= {"id", "status", "summary", "details", "fix", "duration_ms"}


def test_report_round_trips_through_its_type() -> None:
    """setup's doctor step reads what --json writes through the same type: no key can drift."""
    from envkit.doctor.model import fail
    from envkit.doctor.verdict import DoctorReport

    ctx = Context(probe={}, host={})
    checks = [Check("x.a", "a", lambda c: ok("fine")),
              Check("x.b", "b", lambda c: fail("torchcodec 0.10.0 was built for another torch", "pip install torchcodec==0.17.0"))]
    written = report.build(ctx, registry.run_checks(checks, ctx))
    read = DoctorReport.from_json(written.to_json())
    assert read == written
    assert not read.ok and read.exit_code == 1 and [c.id for c in read.failed] == ["x.b"]
    assert "fix: pip install torchcodec==0.17.0" in read.failure_text()
    assert read.summary_text() == "1 ok, 1 fail"
    with pytest.raises(ValueError):
        DoctorReport.from_json('{"results": [], "summary": "green"}')  # the keys the runner used to read


def test_doctor_defaults_come_from_setups_record(tmp_path: Path) -> None:
    from envkit.state import SetupState
    from envkit.targetenv.setup_record import recorded_choices

    assert recorded_choices(tmp_path).profile is None  # not an envkit prefix: no defaults
    user = tmp_path / "lab-cpu.toml"
    SetupState(prefix=tmp_path, profile="lab-cpu", request={
        "profile": "lab-cpu", "profile_file": str(user), "lerobot": "lerobot==0.4.3", "overrides": ["torch==2.14.1"],
        "no_pretrained_backbone": True, "platform": "linux-64"}).save()
    rec = recorded_choices(tmp_path)
    assert rec.profile_ref() == str(user) and rec.no_pretrained_backbone and rec.overrides == ("torch==2.14.1",)
    assert rec.lerobot == "lerobot==0.4.3" and rec.state == tmp_path / ".envkit" / "state.json"
    SetupState(prefix=tmp_path, profile="cpu").save()  # a state written before setup recorded its choices
    assert recorded_choices(tmp_path).profile_ref() == "cpu"


def _venv(tmp: Path, name: str) -> Path:
    (tmp / name / "bin").mkdir(parents=True)
    py = tmp / name / "bin" / "python"
    py.symlink_to(sys.executable)
    return tmp / name


def test_target_precedence(tmp_path: Path) -> None:
    conda, venv = _venv(tmp_path, "conda"), _venv(tmp_path, "venv")
    env = {"CONDA_PREFIX": str(conda), "VIRTUAL_ENV": str(venv), "PATH": ""}
    own = tmp_path / "own" / "python"
    assert resolve_target(environ=env, own_executable=own).source == "CONDA_PREFIX"
    assert resolve_target(environ={"VIRTUAL_ENV": str(venv)}, own_executable=own).prefix == venv
    assert resolve_target(prefix=venv, environ=env, own_executable=own).source == "--prefix"
    with pytest.raises(EnvkitError):
        resolve_target(prefix=tmp_path / "missing")
    with pytest.raises(EnvkitError):
        resolve_target(prefix=conda, python=conda / "bin" / "python")


def test_hook_is_sourced_with_prefix_as_argument(tmp_path: Path) -> None:
    prefix = _venv(tmp_path, "we ird;$(x)")
    hook = prefix / "etc" / "conda" / "activate.d"
    hook.mkdir(parents=True)
    (hook / "envkit.sh").write_text('export ENVKIT_HOOK_SEEN="$CONDA_PREFIX"\n')
    target = resolve_target(prefix=prefix)
    argv = target.wrap(["sh", "-c", 'echo "$ENVKIT_HOOK_SEEN"'])
    assert str(prefix) not in argv[2]  # never interpolated into the script
    import subprocess

    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    assert out == str(prefix)


def test_pip_config_files_and_env(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".config" / "pip").mkdir(parents=True)
    (home / ".config" / "pip" / "pip.conf").write_text(
        "[global]\nindex-url = https://mirror/simple\nextra-index-url =\n  https://a/simple\n  https://b/simple\n"
        "[install]\ntrusted-host = mirror\n")
    site = tmp_path / "venv"
    site.mkdir()
    (site / "pip.conf").write_text("[global]\nfind-links = /wheels\n")
    env = {"HOME": str(home), "VIRTUAL_ENV": str(site), "XDG_CONFIG_DIRS": str(tmp_path / "none"),
           "PIP_CONSTRAINT": "/c.txt", "PIP_EXTRA_INDEX_URL": "https://c/simple https://d/simple"}
    s = read_pip_config(env, home)
    assert s.index_url == "https://mirror/simple"
    assert s.extra_index_urls == ("https://c/simple", "https://d/simple")  # the env var wins, like pip
    assert s.find_links == ("/wheels",) and s.trusted_hosts == ("mirror",) and s.constraints == ("/c.txt",)
    args = s.uv_args()
    assert args[:2] == ["--index-url", "https://mirror/simple"]
    assert ["--allow-insecure-host", "mirror"] == args[args.index("--allow-insecure-host"):args.index("--allow-insecure-host") + 2]
    assert args[-2:] == ["--index-strategy", "unsafe-best-match"]


def test_pip_config_file_env_and_devnull(tmp_path: Path) -> None:
    conf = tmp_path / "p.conf"
    conf.write_text("[global]\nno-index = true\nfind-links = /w\n")
    env = {"HOME": str(tmp_path), "XDG_CONFIG_DIRS": str(tmp_path / "none"), "PIP_CONFIG_FILE": str(conf)}
    s = read_pip_config(env, tmp_path)
    assert s.no_index and s.uv_args()[0] == "--no-index"
    assert read_pip_config({"HOME": str(tmp_path), "PIP_CONFIG_FILE": os.devnull}, tmp_path).find_links == ()


def test_envbuild_reuses_a_finished_env(tmp_path: Path) -> None:
    from envkit.pipconfig import PipSources
    from envkit.state import SetupState
    from tests.envbuild import MARKER, EnvSpec, is_built

    spec = EnvSpec(requirements=("x==1",))
    (tmp_path / "e" / "bin").mkdir(parents=True)
    (tmp_path / "e" / "bin" / "python").write_text("")
    assert not is_built(tmp_path / "e", spec, PipSources())
    (tmp_path / "e" / MARKER).write_text(json.dumps({"digest": spec.digest(PipSources())}))
    assert not is_built(tmp_path / "e", spec, PipSources())  # no setup-style record of its overrides yet
    SetupState(prefix=tmp_path / "e", request={"overrides": []}).save()
    assert is_built(tmp_path / "e", spec, PipSources())
    assert not is_built(tmp_path / "e", EnvSpec(requirements=("x==2",)), PipSources())


def test_versions_name_the_installed_training_entry_point() -> None:
    """Setup's hint and the fleet tuple use the entry point the installed lerobot has, not a guess."""
    from envkit.doctor import report

    fork = {"lerobot_dist": {"installed": True, "version": "0.1.0", "console_scripts": {}},
            "lerobot": {"dir": "/t/lerobot", "tree": {"train_module": "lerobot.scripts.train"}}}
    release = {"lerobot_dist": {"installed": True, "version": "0.4.4",
                                "console_scripts": {"lerobot-train": "lerobot.scripts.lerobot_train:main"}},
               "lerobot": {"dir": "/t/lerobot", "tree": {"train_module": "lerobot.scripts.lerobot_train"}}}
    assert report.versions(Context(probe=fork, host={}))["train_entry"] == "python -m lerobot.scripts.train"
    assert report.versions(Context(probe=release, host={}))["train_entry"] == "lerobot-train"
    assert report.versions(Context(probe={}, host={}))["train_entry"] is None


def test_disk_threshold_follows_the_variable_and_names_a_bad_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from envkit.doctor.checks.system import GB, disk

    ctx = Context(probe={"system": {"disk_free_bytes": 5 * GB}}, host={})
    monkeypatch.delenv("ENVKIT_DISK_WARN_GIB", raising=False)
    assert disk(ctx).status == "warn"  # 5 GiB is below the default 10
    monkeypatch.setenv("ENVKIT_DISK_WARN_GIB", "4")
    assert disk(ctx).status == "ok"
    monkeypatch.setenv("ENVKIT_DISK_WARN_GIB", "lots")
    out = disk(ctx)
    assert out.status == "warn" and "ENVKIT_DISK_WARN_GIB='lots'" in out.summary
    # Below 2 GiB is a failure whatever the variable says.
    assert disk(Context(probe={"system": {"disk_free_bytes": GB}}, host={})).status == "fail"
