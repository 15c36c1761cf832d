"""envkit setup without building torch: reviewed dry-run plans, bad input, the runner's resume, undo.

The real builds (torch, lerobot, the doctor's smoke) are in test_setup_real.py (slow).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from envkit.setup.plan import Plan, SetupOptions, build_plan
from envkit.state import load_state
from tests.cli_util import CPU_DEV, assert_user_error, run_envkit

ROOT = Path(__file__).resolve().parents[1]
PLANS = Path(__file__).parent / "data" / "plans"
HOSTS = ROOT / "docs" / "examples"
PLAN_PREFIX = "/opt/envkit plan/env"
# pip's sources on this machine (files and PIP_* variables) must not leak into the reviewed plans
NO_PIP_CONFIG = {"PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": "", "PIP_INDEX_URL": "",
                 "PIP_CONSTRAINT": "", "PIP_NO_INDEX": "", "PIP_TRUSTED_HOST": ""}


# A mirror nobody answers on (port 9, discard, closed here): the PyPI-builds fallback, deterministically.
CLOSED_CPU_INDEX = ("--cpu-index", "http://127.0.0.1:9/whl/cpu")


def _normalize(text: str) -> str:
    text = text.replace(sys.executable, "$PYTHON").replace(str(Path(sys.executable).resolve()), "$PYTHON")
    return text.replace(str(ROOT), "$ENVKIT")


@pytest.mark.parametrize("profile", ["5090", "atlas-a2", "cpu"])
def test_dry_run_matches_reviewed_plan(profile: str) -> None:
    host = HOSTS / f"host-{profile}.json"
    more = CLOSED_CPU_INDEX if profile == "cpu" else ()  # the same plan whether or not this machine reaches the CPU index
    res = run_envkit("setup", "--profile", profile, "--dry-run", "--prefix", PLAN_PREFIX, "--host", str(host), *more, env=NO_PIP_CONFIG)
    assert res.code == 0, res.err
    got = _normalize(res.out)
    expected = PLANS / f"{profile}.txt"
    if os.environ.get("ENVKIT_UPDATE_PLANS") == "1":
        expected.write_text(got)
    assert got == expected.read_text(), f"plan changed; review it and rerun with ENVKIT_UPDATE_PLANS=1\n{got}"
    as_json = run_envkit("setup", "--profile", profile, "--dry-run", "--json", "--prefix", PLAN_PREFIX, "--host", str(host), *more,
                         env=NO_PIP_CONFIG)
    doc = json.loads(as_json.out)
    assert [s["id"] for s in doc["steps"]][-1] == "doctor"
    assert all(s["why"] and s["digest"] for s in doc["steps"])


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    res = run_envkit("setup", "--profile", "cpu", "--dry-run", "--prefix", str(tmp_path / "env"), env=NO_PIP_CONFIG)
    assert res.code == 0, res.err
    assert not (tmp_path / "env").exists()


def _fake_wheel(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_bytes(b"")
    return path


def test_wheels_dir_without_torch_npu_is_refused(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _fake_wheel(wheels, "torch-2.7.1-cp310-cp310-manylinux_2_28_aarch64.whl")
    host = str(HOSTS / "host-atlas-a2.json")
    py310 = ("--python", "3.10")  # the Python these wheels are for
    res = run_envkit("setup", "--profile", "atlas-a2", "--dry-run", "--host", host, "--wheels", str(wheels), *py310, env=NO_PIP_CONFIG)
    assert_user_error(res, "torch_npu", str(wheels))
    _fake_wheel(wheels, "torch_npu-2.7.1-cp310-cp310-manylinux_2_28_x86_64.whl")  # wrong arch still refused
    assert run_envkit("setup", "--profile", "atlas-a2", "--dry-run", "--host", host, "--wheels", str(wheels), *py310, env=NO_PIP_CONFIG).code == 2
    npu = _fake_wheel(wheels, "torch_npu-2.7.1-cp310-cp310-manylinux_2_17_aarch64.manylinux2014_aarch64.whl")
    ok = run_envkit("setup", "--profile", "atlas-a2", "--dry-run", "--host", host, "--wheels", str(wheels), *py310, env=NO_PIP_CONFIG)
    assert ok.code == 0, ok.err
    assert str(npu) in ok.out and f"{wheels}/torch-2.7.1-cp310" in ok.out and "torchvision==0.22.1" in ok.out


def test_weights_hash_check(tmp_path: Path) -> None:
    from envkit.errors import EnvkitError
    from envkit.setup.steps.weights import check_weights

    weights = tmp_path / "resnet18-test.pth"
    weights.write_bytes(os.urandom(4096))
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert check_weights(weights, digest, None) == digest
    assert check_weights(weights, None, digest[:8]) == digest
    with pytest.raises(EnvkitError, match="does not start with"):
        check_weights(weights, None, "0" * 8 if not digest.startswith("0" * 8) else "1" * 8)
    with pytest.raises(EnvkitError, match="is not the profile's"):
        check_weights(weights, "f" * 64, None)
    # through the CLI: the cpu profile wants resnet18-f37072fd; a random file is refused before any work
    res = run_envkit("setup", "--profile", "cpu", "--prefix", str(tmp_path / "env"), "--weights", str(weights))
    assert_user_error(res, "f37072fd", str(weights))
    assert not (tmp_path / "env").exists()


# --- the runner on synthetic plans (no torch): kill, resume, skip, undo ------------------------

RUNNER_SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from envkit.hooks import HookSpec
    from envkit.setup.plan import Plan, Step, _finalize
    from envkit.setup.engine import execute
    prefix, weights, marker = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    spec = HookSpec(prefix, "test", {"MUJOCO_GL": "egl", "MARK": marker}, ld_library_path=(str(prefix / "lib"),))
    steps = [
        Step("environment", "make dirs", "test", "commands",
             commands=(("mkdir", "-p", str(prefix / "bin")), ("touch", str(prefix / "bin" / "python"))), verify=("bin/python",)),
        Step("torch", "two commands", "test", "commands",
             commands=(("sh", "-c", 'echo one >> "$0/bin/calls"', str(prefix)), ("sh", "-c", 'echo two >> "$0/bin/calls"', str(prefix))),
             inputs={"marker": marker}, depends=("environment",)),
        Step("hooks", "hooks", "test", "hooks", inputs={"marker": marker}, params={"spec": spec},
             verify=("etc/conda/activate.d/envkit.sh", "etc/conda/deactivate.d/envkit.sh")),
        Step("weights", "weights", "test", "weights", inputs={"sha256": None, "sha256_prefix": sys.argv[4]},
             params={"source": weights, "dest": str(prefix / "share/envkit/torch/hub/checkpoints/w.pth")},
             verify=("share/envkit/torch/hub/checkpoints/w.pth",)),
    ]
    plan = Plan("test", prefix, "venv", "x", _finalize(steps))
    print(json.dumps(execute(plan, resume_cmd="test")))
""")


def _run_plan(prefix: Path, weights: Path, marker: str = "a", kill: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ENVKIT_TEST_KILL_AT"}
    if kill:
        env["ENVKIT_TEST_KILL_AT"] = kill
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    return subprocess.run([sys.executable, "-c", RUNNER_SCRIPT, str(prefix), str(weights), marker, digest[:8]],
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture()
def weights_file(tmp_path: Path) -> Path:
    path = tmp_path / "w.pth"
    path.write_bytes(os.urandom(3 << 20))  # 3 blocks: a kill lands mid-copy
    return path


def test_killed_in_each_step_resumes_without_duplicates(tmp_path: Path, weights_file: Path) -> None:
    prefix = tmp_path / "pre fix'q"
    for step in ("environment", "torch", "hooks", "weights"):
        killed = _run_plan(prefix, weights_file, kill=step)
        assert killed.returncode == -9, (step, killed.stderr)
        assert step not in (load_state(prefix).steps if load_state(prefix) else {})
    final = _run_plan(prefix, weights_file)
    assert final.returncode == 0, final.stderr
    summary = json.loads(final.stdout)
    assert summary["ran"] == [] or set(summary["ran"]) <= {"weights"}
    state = load_state(prefix)
    assert set(state.steps) == {"environment", "torch", "hooks", "weights"}
    activate = (prefix / "etc/conda/activate.d/envkit.sh").read_text()
    assert activate.count("MARK='a'") == 1 and activate.count("_ENVKIT_ACTIVE=") == 1
    dest = prefix / "share/envkit/torch/hub/checkpoints/w.pth"
    assert dest.read_bytes() == weights_file.read_bytes()
    assert not [p for p in prefix.rglob("*.tmp")] and not [p for p in prefix.rglob(".*.tmp")]
    # the torch step was killed after its first command and ran whole on resume: 'one' twice, 'two' once
    assert (prefix / "bin" / "calls").read_text().split() == ["one", "one", "two"]


def test_rerun_skips_and_changed_input_reruns_only_its_steps(tmp_path: Path, weights_file: Path) -> None:
    prefix = tmp_path / "env"
    assert _run_plan(prefix, weights_file).returncode == 0
    started = time.monotonic()
    again = json.loads(_run_plan(prefix, weights_file).stdout)
    assert again["ran"] == [] and again["changes"] == []
    assert time.monotonic() - started < 10
    changed = json.loads(_run_plan(prefix, weights_file, marker="b").stdout)
    assert changed["ran"] == ["torch", "hooks"]
    assert any(line.startswith("torch: marker") for line in changed["changes"])
    (prefix / "bin" / "python").unlink()  # the on-disk proof is gone: redo that step (and the ones built on it)
    redo = json.loads(_run_plan(prefix, weights_file, marker="b").stdout)
    assert redo["ran"] == ["environment"]


def test_undo_removes_a_prefix_setup_created(tmp_path: Path, weights_file: Path) -> None:
    prefix = tmp_path / "env"
    assert _run_plan(prefix, weights_file).returncode == 0
    res = run_envkit("setup", "--undo", "--prefix", str(prefix))
    assert res.code == 0, res.err
    assert not prefix.exists()
    again = run_envkit("setup", "--undo", "--prefix", str(prefix))
    assert_user_error(again, "no envkit setup")


def test_existing_foreign_env_is_refused_without_yes(tmp_path: Path, weights_file: Path) -> None:
    prefix = tmp_path / "theirs"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "keep.txt").write_text("mine")
    res = run_envkit("setup", "--profile", "cpu", "--prefix", str(prefix))
    assert_user_error(res, "did not create", "--yes")
    assert not (prefix / ".envkit").exists()
    # adopted with --yes (here through the runner): undo removes envkit's files only
    from envkit.setup.prefix import prepare_prefix

    state = prepare_prefix(prefix, yes=True)
    assert state.created_prefix is False and state.preexisting == ["conda-meta/", "keep.txt"]
    assert _run_plan(prefix, weights_file).returncode == 0
    assert run_envkit("setup", "--undo", "--prefix", str(prefix)).code == 0
    assert sorted(p.name for p in prefix.iterdir()) == ["conda-meta", "keep.txt"]
    assert (prefix / "keep.txt").read_text() == "mine"


# --- bad input on the real CLI ------------------------------------------------------------------


def _unshare_ok() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True).returncode == 0


needs_unshare = pytest.mark.skipif(not _unshare_ok(), reason="unshare -m / mount not permitted here")


@needs_unshare
def test_read_only_prefix_is_a_clear_error(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    envkit = Path(sys.executable).with_name("envkit")
    cmd = f"mount --bind {ro} {ro} && mount -o remount,bind,ro {ro} && {envkit} setup --profile cpu --prefix {ro}/env"
    proc = subprocess.run(["unshare", "-m", "sh", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Cannot write to" in proc.stderr and "Read-only" in proc.stderr and "Traceback" not in proc.stderr


@needs_unshare
def test_full_disk_fails_the_step_naming_it_and_the_log(tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    envkit = Path(sys.executable).with_name("envkit")
    cmd = f"mount -t tmpfs -o size=1m tmpfs {small} && {envkit} setup --profile cpu --prefix {small}/env"
    proc = subprocess.run(["unshare", "-m", "sh", "-c", cmd], capture_output=True, text=True, timeout=300)
    assert proc.returncode in (1, 2), proc.stderr
    assert "Traceback" not in proc.stderr
    if proc.returncode == 1:
        assert "setup step 'environment'" in proc.stderr and "setup.log" in proc.stderr and "disk full" in proc.stderr
    else:
        assert "disk is full" in proc.stderr


def test_unreachable_index_fails_within_seconds(tmp_path: Path) -> None:
    if not shutil.which("python3.11"):
        pytest.skip("needs python3.11 on PATH for the cpu profile's venv")
    env = {**NO_PIP_CONFIG, "UV_HTTP_TIMEOUT": "3", "UV_HTTP_RETRIES": "0"}
    started = time.monotonic()
    res = run_envkit("setup", "--profile", "cpu", "--prefix", str(tmp_path / "env"), "--index-url", "http://127.0.0.1:9/simple",
                     env=env, timeout=240)
    took = time.monotonic() - started
    assert res.code == 1, res.err
    assert "setup step 'torch'" in res.err and "setup.log" in res.err and "again" in res.err
    assert took < 60, took
    # progress without a TTY: the log path first, then each step's start and end with its elapsed time
    lines = res.err.splitlines()
    assert lines[0] == f"log: {tmp_path / 'env' / '.envkit' / 'setup.log'} (every command and its output)", lines[:3]
    assert lines[1].startswith("start [1/7] environment: ") and lines[2].startswith("done  [1/7] environment: ")
    assert lines[2].endswith(" s)") and any(ln.startswith("start [4/7] torch: ") for ln in lines)


def _lerobot_tree(tmp_path: Path, version: str) -> Path:
    from tests.lerobot_sdists import extract

    return extract(version, tmp_path)  # fetched from PyPI (sha256-checked) when not cached: no test order dependence


def test_patch_that_does_not_apply_is_refused_before_any_install(tmp_path: Path) -> None:
    tree = _lerobot_tree(tmp_path, "0.4.4")  # the NPU patch targets 0.4.2
    before = {p: p.read_bytes() for p in (tree / "src/lerobot/utils").glob("*.py")}
    res = run_envkit("setup", "--profile", "atlas-a2", "--host", str(HOSTS / "host-atlas-a2.json"), "--lerobot", str(tree),
                     "--prefix", str(tmp_path / "env"), env=NO_PIP_CONFIG)
    assert_user_error(res, "does not apply", "lerobot-0.4.2-npu.patch")
    assert {p: p.read_bytes() for p in before} == before
    assert not (tmp_path / "env" / "bin").exists()


def test_local_tree_pins_rewritten_and_undo_restores(tmp_path: Path) -> None:
    from envkit.profiles import load_profile
    from envkit.resolve import resolve
    from envkit.setup.engine import execute

    tree = _lerobot_tree(tmp_path, "0.4.4")
    original = (tree / "pyproject.toml").read_bytes()
    profile = load_profile("cpu")
    resolved = resolve(profile, None, str(tree), "linux-64")
    plan = build_plan(profile, resolved, SetupOptions(prefix=tmp_path / "env"))
    assert plan.steps[0].id == "pins"
    only = Plan(plan.profile, plan.prefix, plan.environment, plan.resolved_digest, plan.steps[:1])
    execute(only)
    assert (tree / "pyproject.toml").read_bytes() != original
    assert (tree / "pyproject.toml.envkit-orig").read_bytes() == original
    assert run_envkit("setup", "--undo", "--prefix", str(tmp_path / "env")).code == 0
    assert (tree / "pyproject.toml").read_bytes() == original
    assert not (tree / "pyproject.toml.envkit-orig").exists()


# --- the rattler environment step, for real, against the local channel fixture ----------------


def test_conda_environment_and_ffmpeg_steps_against_local_channel(tmp_path: Path) -> None:
    conda_channel = pytest.importorskip("tests.conda_channel")
    url = conda_channel.build_local_channel()
    from envkit.profiles import load_profile
    from envkit.resolve import resolve
    from envkit.setup.engine import execute

    profile = load_profile("5090")
    resolved = resolve(profile, None, None, "linux-64", python="3.10")  # the local channel's Pythons are 3.10 and 3.11
    prefix = tmp_path / "conda env 'x'"
    plan = build_plan(profile, resolved, SetupOptions(prefix=prefix, channels=(url,)))
    first = Plan(plan.profile, prefix, plan.environment, plan.resolved_digest, plan.steps[:2])
    summary = execute(first)
    assert summary["ran"] == ["environment", "ffmpeg"]
    names = sorted(p.name for p in (prefix / "conda-meta").glob("*.json"))
    assert any(n.startswith("python-3.10") for n in names) and any(n.startswith("ffmpeg-6") for n in names)
    assert (prefix / "bin" / "ffmpeg").exists()
    assert execute(first)["ran"] == []  # resumable and idempotent: nothing to do the second time


def test_from_lock_plan_installs_the_locked_set_with_hashes() -> None:
    lockdir = ROOT / "lockfiles" / "cpu"
    if not (lockdir / "manifest.json").is_file():
        pytest.skip("lockfiles/cpu not locked yet")
    res = run_envkit("setup", "--profile", "cpu", "--from-lock", str(lockdir), "--dry-run", "--json", "--prefix", PLAN_PREFIX,
                     "--host", str(HOSTS / "host-cpu.json"), env=NO_PIP_CONFIG)
    assert res.code == 0, res.err
    steps = {s["id"]: s for s in json.loads(res.out)["steps"]}
    assert "torch" not in steps and "lerobot" not in steps
    argv = steps["packages"]["commands"][0]
    assert "--require-hashes" in argv and "--no-deps" in argv and argv[-1].endswith("pypi-linux-64.txt")
    other = run_envkit("setup", "--profile", "5090", "--from-lock", str(lockdir), "--dry-run", "--host", str(HOSTS / "host-5090.json"))
    assert_user_error(other, "locks profile 'cpu'")


def test_user_profile_reaches_the_doctor_step_as_its_file(tmp_path: Path) -> None:
    """A profile that `extends` cpu under another name: the doctor step must get the file, not the unknown name."""
    user = tmp_path / "lab-cpu.toml"
    user.write_text('schema_version = 1\nname = "lab-cpu"\nextends = "cpu"\n')
    res = run_envkit("setup", "--profile", str(user), "--dry-run", "--json", "--prefix", str(tmp_path / "env"),
                     "--host", str(HOSTS / "host-cpu.json"), "--no-pretrained-backbone", env=NO_PIP_CONFIG)
    assert res.code == 0, res.err
    argv = {s["id"]: s for s in json.loads(res.out)["steps"]}["doctor"]["commands"][0]
    assert argv[argv.index("--profile") + 1] == str(user.resolve()) and "--no-pretrained-backbone" in argv
    from envkit.profiles import load_profile
    from envkit.resolve import resolve

    profile = load_profile(str(user))
    plan = build_plan(profile, resolve(profile, None, None, "linux-64"), SetupOptions(prefix=tmp_path / "env", no_pretrained_backbone=True))
    assert plan.record is not None
    assert plan.record.profile == "lab-cpu" and plan.record.profile_file == str(user.resolve())
    assert plan.record.no_pretrained_backbone is True and plan.record.overrides


def test_from_lock_without_conda_layer_solves_the_base_and_patches_lerobot() -> None:
    """atlas-a2 on aarch64 from the committed lock (PyPI layer only): conda base from the profile, said plainly;
    lerobot rebuilt from the locked 0.4.2 sdist with envkit's NPU patch, verified after install."""
    lockdir = ROOT / "lockfiles" / "atlas-a2"
    host = str(HOSTS / "host-atlas-a2.json")
    res = run_envkit("setup", "--profile", "atlas-a2", "--from-lock", str(lockdir), "--dry-run", "--json", "--prefix", PLAN_PREFIX,
                     "--host", host, "--platform", "linux-aarch64", env=NO_PIP_CONFIG)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    ids = [s["id"] for s in doc["steps"]]
    assert ids == ["lerobot-source", "environment", "ffmpeg", "packages", "lerobot", "hooks", "doctor"]
    steps = {s["id"]: s for s in doc["steps"]}
    sha = json.loads((lockdir / "manifest.json").read_text())["layers"]["pypi"]["linux-aarch64"]["lerobot_sdist"]["sha256"]
    source = steps["lerobot-source"]
    assert source["inputs"]["sha256"] == sha and any("apply" in c and "--check" in c for c in source["commands"])
    assert any(c[-1].endswith("lerobot-0.4.2-npu.patch") and "--check" not in c for c in source["commands"])
    lerobot = steps["lerobot"]["commands"][0]
    assert "--no-deps" in lerobot and lerobot[-1].endswith(".envkit/src/lerobot-0.4.2")
    assert "checks its NPU patch is in the installed code" in steps["lerobot"]["why"]
    assert steps["packages"]["commands"][0][-1].endswith("pypi-linux-aarch64.txt")
    assert any("no conda layer for linux-aarch64" in w and "solved from profile 'atlas-a2'" in w for w in doc["warnings"])
    text = run_envkit("setup", "--profile", "atlas-a2", "--from-lock", str(lockdir), "--dry-run", "--prefix", PLAN_PREFIX,
                      "--host", host, "--platform", "linux-aarch64", env=NO_PIP_CONFIG)
    assert "warning: the lock has no conda layer" in text.out
    strict = run_envkit("setup", "--profile", "atlas-a2", "--from-lock", str(lockdir), "--strict-lock", "--dry-run",
                        "--prefix", PLAN_PREFIX, "--host", host, "--platform", "linux-aarch64", env=NO_PIP_CONFIG)
    assert_user_error(strict, "no conda layer for linux-aarch64", "--strict-lock",
                      "envkit lock --profile atlas-a2 --platform linux-aarch64 --layer conda")


def test_from_lock_without_pypi_layer_names_why_and_the_command() -> None:
    res = run_envkit("setup", "--profile", "atlas-a2", "--from-lock", str(ROOT / "lockfiles" / "atlas-a2"), "--dry-run",
                     "--prefix", PLAN_PREFIX, "--host", str(HOSTS / "host-atlas-a2.json"), "--platform", "linux-64", env=NO_PIP_CONFIG)
    assert_user_error(res, "no PyPI layer for linux-64", "pytorch-cpu", "envkit lock --profile atlas-a2 --platform linux-64 --layer pypi")


def test_progress_lines_without_a_terminal() -> None:
    import io

    from rich.console import Console

    from envkit.progress import StepProgress
    from envkit.setup.plan import Step

    out = io.StringIO()
    progress = StepProgress(Console(file=out, force_terminal=False, width=200), 2)
    step = Step("torch", "torch 2.14.1 from PyPI", "test", "commands")
    progress("start", step, 1)
    progress("done", step, 1)
    progress("skip", Step("hooks", "hooks", "test", "hooks"), 2)
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "start [1/2] torch: torch 2.14.1 from PyPI"
    assert lines[1].startswith("done  [1/2] torch: torch 2.14.1 from PyPI (") and lines[1].endswith(" s)")
    assert lines[2] == "skip  [2/2] hooks: hooks (finished, inputs unchanged)"


def test_cpu_profile_takes_cpu_builds_where_the_index_answers(tmp_path: Path) -> None:
    """The choice with a reachable mirror (a real local index holding the torch 2.13.0+cpu wheel found on this
    machine) and with one that does not answer: CPU builds first on uv's command line, or PyPI's with the cost."""
    from envkit.torch_builds import choose, sizes

    mirror = tmp_path / "cpu-mirror"
    (mirror / "torch").mkdir(parents=True)
    (mirror / "torch" / "index.html").write_text('<a href="torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl">'
                                                 "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl</a>\n")
    # cpu-dev: torch 2.14.1, whose download sizes envkit/torch_sizes.toml records
    common = ("setup", "--profile", CPU_DEV, "--dry-run", "--json", "--prefix", PLAN_PREFIX, "--host", str(HOSTS / "host-cpu.json"))
    reach = run_envkit(*common, "--cpu-index", mirror.as_uri(), env=NO_PIP_CONFIG)
    assert reach.code == 0, reach.err
    torch = {s["id"]: s for s in json.loads(reach.out)["steps"]}["torch"]
    for argv in torch["commands"]:
        assert argv[argv.index("--index") + 1] == f"pytorch-cpu={mirror.as_uri()}" and argv.index("--index") == 6
    assert torch["inputs"]["builds"] == "cpu" and any("~0.2 GB to download" in n for n in torch["notes"])
    gone = run_envkit(*common, *CLOSED_CPU_INDEX, env=NO_PIP_CONFIG)
    torch = {s["id"]: s for s in json.loads(gone.out)["steps"]}["torch"]
    assert all("--index" not in argv for argv in torch["commands"]) and torch["inputs"]["builds"] == "pypi"
    said = " ".join(torch["notes"])
    assert "is unreachable" in said and "GB more to download" in said and "about 3.0 GB to download" in said
    # the pure choice, and the recorded sizes it quotes (sources named in envkit/torch_sizes.toml)
    assert choose(None, None, "cpu", "linux-64", "2.14.1") is None
    secret = choose({"name": "m", "url": "https://u:pw@mirror.example/cpu", "packages": ["torch"]}, "refused", "cpu", "linux-64", "2.14.1")
    assert "pw" not in secret.why and "***@mirror.example" in secret.why
    assert all(sizes("cpu", "linux-64", "2.14.1", b)["source"] for b in ("cpu", "pypi"))


def test_same_python_through_another_path_entry_is_the_same_interpreter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from envkit.pythons import _on_path as _interpreter

    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    real = os.path.realpath(sys.executable)
    for folder in ("a", "b/deeper"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / f"python{minor}").symlink_to(real)
    seen = set()
    for folder in ("a", "b/deeper"):
        monkeypatch.setenv("PATH", str(tmp_path / folder))
        seen.add(_interpreter(minor))
    assert seen == {real}


@pytest.mark.network
def test_from_lock_lerobot_source_must_have_the_locked_sha256(tmp_path: Path) -> None:
    """The lerobot-source step of a from-lock atlas-a2 plan, run for real (the sdist is platform independent):
    the locked archive is patched; any other archive is refused before it is unpacked."""
    from dataclasses import replace

    from envkit.errors import StepFailed
    from envkit.lerobot_patch import verify_installed
    from envkit.profiles import load_profile
    from envkit.resolve import resolve
    from envkit.setup.engine import execute
    from envkit.setup.plan import _finalize

    profile = load_profile("atlas-a2")
    resolved = resolve(profile, None, None, "linux-aarch64")

    def source_step(prefix: Path):  # type: ignore[no-untyped-def]
        from envkit.setup.inputs import gather

        options = SetupOptions(prefix=prefix, from_lock=ROOT / "lockfiles" / "atlas-a2")
        plan = build_plan(profile, resolved, options, inputs=gather(profile, resolved, options))
        return plan, plan.step("lerobot-source")

    plan, step = source_step(tmp_path / "bad")
    forged = replace(step, params={**step.params, "sha256": "0" * 64})
    with pytest.raises(StepFailed, match="not the lock's"):
        execute(Plan(plan.profile, plan.prefix, plan.environment, plan.resolved_digest, _finalize([forged])))
    assert not Path(step.params["tree"]).exists()
    plan, step = source_step(tmp_path / "good")
    execute(Plan(plan.profile, plan.prefix, plan.environment, plan.resolved_digest, _finalize([step])))
    assert verify_installed(Path(step.params["tree"])) == []


def test_runner_writes_the_pins_plan_the_resolver_made_and_refuses_a_changed_file(tmp_path: Path) -> None:
    """The pins are planned once, at resolve time: the runner writes that plan, and refuses when the file moved since."""
    from envkit.errors import EnvkitError
    from envkit.profiles import load_profile
    from envkit.resolve import resolve
    from envkit.setup.engine import execute

    tree = _lerobot_tree(tmp_path, "0.4.4")
    profile = load_profile("cpu")
    resolved = resolve(profile, None, str(tree), "linux-64")
    plan = build_plan(profile, resolved, SetupOptions(prefix=tmp_path / "env"))
    step = plan.steps[0]
    assert step.id == "pins" and step.params["plan"] is resolved.pin_plan
    (tree / "pyproject.toml").write_text((tree / "pyproject.toml").read_text() + "\n# edited after resolve\n")
    with pytest.raises(EnvkitError, match="changed after envkit resolved it"):
        execute(Plan(plan.profile, plan.prefix, plan.environment, plan.resolved_digest, plan.steps[:1]))
    assert (tree / "pyproject.toml").read_text().endswith("# edited after resolve\n")
