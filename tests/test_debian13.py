"""A fresh Debian 13 server, as a new user meets it: a minimal trixie root (only python3 3.13,
python3-venv, make, git and CA certificates; tests/debian13.py), this checkout cloned into it,
then the README's `make demo` to a green doctor, and in the same root the cpu profile with
`--lerobot lerobot==0.6.1` on Python 3.13 to a green smoke train and resume.

Everything runs under chroot with a clean environment: no pip configuration, no local wheels, PyPI
only (torch for Python 3.13 is a real download, kept once in the shared uv cache under
${ENVKIT_TEST_CACHE:-/var/cache/envkit-tests}). Times: see the issue #23 report / README.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.debian13 import Session, copy_checkout, debian_root, unavailable

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
CHECKOUT = "/root/envkit"
ENVKIT = f"{CHECKOUT}/.demo/venv/bin/envkit"


@pytest.fixture(scope="module")
def trixie(tmp_path_factory: pytest.TempPathFactory) -> tuple[Session, Path]:
    why = unavailable()
    if why:
        pytest.skip(f"a Debian 13 root {why}")
    root = debian_root()
    session = root.session("test-debian13")
    session.reset()  # each run starts from the pristine root; the caches stay warm
    copy_checkout(session, REPO, CHECKOUT)
    log = tmp_path_factory.mktemp("debian13") / "debian13.log"
    return session, log  # left in the cache for a look after a failure; the next run resets it


def _doctor(session: Session, prefix: str, log: Path) -> dict:
    proc = session.run([ENVKIT, "doctor", "--prefix", prefix, "--json"], cwd=CHECKOUT, log=log, timeout=1200)
    return json.loads(proc.stdout)


def _status(report: dict, check: str) -> str:
    return next((c["status"] for c in report["checks"] if c["id"] == check), "absent")


def test_make_demo_then_lerobot_061_on_python_313(trixie: tuple[Session, Path]) -> None:
    session, log = trixie
    started = time.monotonic()
    demo = session.run("make demo", cwd=CHECKOUT, log=log, timeout=2400)
    demo_s = time.monotonic() - started
    assert demo.returncode == 0, f"make demo failed on Debian 13 after {demo_s:.0f} s (log: {log}):\n{demo.stdout[-3000:]}{demo.stderr[-3000:]}"
    report = _doctor(session, f"{CHECKOUT}/.demo/cpu", log)
    assert report["ok"] is True, json.dumps([c for c in report["checks"] if c["status"] == "fail"], indent=1)[:4000]
    state = json.loads(session.host_path(f"{CHECKOUT}/.demo/cpu/.envkit/state.json").read_text())
    assert state["request"]["python"] == "3.13"  # the only Python a fresh Debian 13 has, resolved not pinned

    started = time.monotonic()
    prefix = "/root/lerobot-061"
    setup = session.run([ENVKIT, "setup", "--profile", "cpu", "--lerobot", "lerobot==0.6.1", "--python", "3.13", "--prefix", prefix,
                         "--yes", "--no-pretrained-backbone"], cwd=CHECKOUT, log=log, timeout=2400)
    setup_s = time.monotonic() - started
    assert setup.returncode == 0, f"setup lerobot 0.6.1 failed after {setup_s:.0f} s (log: {log}):\n{setup.stderr[-4000:]}"
    report = _doctor(session, prefix, log)
    assert report["ok"] is True, json.dumps([c for c in report["checks"] if c["status"] == "fail"], indent=1)[:4000]
    for check in ("smoke.train", "smoke.resume", "smoke.infer", "torchcodec.load", "lerobot.requirements"):
        assert _status(report, check) == "ok", (check, _status(report, check))
    installed = session.run([f"{prefix}/bin/python", "-c", "import importlib.metadata as m; print(m.version('lerobot'), m.version('datasets'))"],
                            log=log, timeout=120)
    assert installed.stdout.split()[0] == "0.6.1"  # with [training]: datasets is there
    print(f"Debian 13: make demo {demo_s:.0f} s, lerobot 0.6.1 setup {setup_s:.0f} s")


MAIN_TREE = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "lerobot-main-7427f31.tar.gz"


def test_lerobot_main_snapshot_on_python_313_trains_resumes_and_plans_a_launch(trixie: tuple[Session, Path]) -> None:
    """The tree a fork started today vendors (main at 7427f31: make_accelerator, --accelerator.*, Python >= 3.12),
    set up from its source on Python 3.13 in the same root: the smoke trains and resumes with arguments the
    capability probe took from the tree, smoke.infer returns actions, and launch plans 2 processes with the
    tree's own precision field."""
    import tarfile

    session, log = trixie
    if not MAIN_TREE.is_file():
        pytest.skip(f"fixture {MAIN_TREE} is missing")
    if not session.host_path(ENVKIT).exists():
        pytest.skip("needs the envkit that make demo installed in this root (the test above)")
    unpack = session.host_path("/root/trees")
    unpack.mkdir(parents=True, exist_ok=True)
    with tarfile.open(MAIN_TREE) as tar:
        tar.extractall(unpack, filter="data")
        top = {m.name.split("/")[0] for m in tar.getmembers()}.pop()
    tree = f"/root/trees/{top}"
    # The snapshot keeps pyproject.toml but not the [tool.setuptools.dynamic] table its `dynamic = ["readme"]`
    # needs (shared/fixtures trimmed the tree), so setuptools refuses to build it: take the readme static.
    pyproject = unpack / top / "pyproject.toml"
    text = pyproject.read_text()
    if 'dynamic = ["readme"]' in text and "[tool.setuptools.dynamic]" not in text:
        pyproject.write_text(text.replace('dynamic = ["readme"]', 'readme = "README.md"'))
    prefix = "/root/lerobot-main"
    started = time.monotonic()
    setup = session.run([ENVKIT, "setup", "--profile", "cpu", "--lerobot", tree, "--python", "3.13", "--extras", "training",
                         "--prefix", prefix, "--yes", "--no-pretrained-backbone"], cwd=CHECKOUT, log=log, timeout=2400)
    setup_s = time.monotonic() - started
    assert setup.returncode == 0, f"setup of lerobot main failed after {setup_s:.0f} s (log: {log}):\n{setup.stderr[-4000:]}"
    report = _doctor(session, prefix, log)
    for check in ("smoke.train", "smoke.resume", "smoke.infer", "lerobot.capabilities"):
        assert _status(report, check) == "ok", (check, json.dumps([c for c in report["checks"] if c["id"] == check], indent=1)[:3000])
    caps = report.get("lerobot_caps") or {}
    assert caps.get("distributed") == "make_accelerator", {k: caps.get(k) for k in ("distributed", "mixed_precision", "train_module")}
    plan = session.run([ENVKIT, "launch", "--prefix", prefix, "--devices", "2", "--mixed-precision", "bf16", "--dry-run", "--json",
                        "--", "--dataset.repo_id=envkit/tiny", "--policy.type=act"], cwd=CHECKOUT, log=log, timeout=600)
    doc = json.loads(plan.stdout)
    assert doc["plan"]["nproc"] == 2 and doc["plan"]["launcher"] == "torchrun", doc["plan"]
    assert "--accelerator.mixed_precision=bf16" in doc["plan"]["train_args"]
    assert not any(k.startswith("ACCELERATE_") for k in doc["plan"]["env"]), doc["plan"]["env"]
    print(f"Debian 13: lerobot main 7427f31 setup {setup_s:.0f} s")
