"""A third-party accelerator: a separate distribution registers a backend through the entry point
`envkit.backends`, and detect, resolve and setup --dry-run work for it with nothing under src/ changed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests import fakeaccel
from tests.cli_util import run_envkit

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return fakeaccel.install(tmp_path_factory.mktemp("fakeaccel"))


@pytest.fixture(scope="module")
def host_file(plugin: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The replayed FakeAccel host, as `envkit detect --json` gives it (with the plug-in installed)."""
    code = ("import sys; from envkit.host import RecordedBoundary, detect; "
            "sys.stdout.write(detect(RecordedBoundary(sys.argv[1])).to_json())")
    import os
    import sys

    out = subprocess.run([sys.executable, "-c", code, str(fakeaccel.HOST)], env={**os.environ, **plugin},
                         capture_output=True, text=True, check=True).stdout
    path = tmp_path_factory.mktemp("host") / "fakeaccel-host.json"
    path.write_text(out)
    return path


def test_nothing_under_src_knows_the_plugin() -> None:
    hits = subprocess.run(["grep", "-rli", "fakeaccel", str(ROOT / "src")], capture_output=True, text=True)
    assert hits.stdout == ""


def test_detect_sees_the_chips_and_suggests_its_profile(plugin: dict[str, str], host_file: Path) -> None:
    facts = json.loads(host_file.read_text())
    assert facts["accelerators"]["fakeaccel"]["device_nodes"] == ["/dev/fakeaccel0", "/dev/fakeaccel1"]
    assert [c["name"] for c in facts["accelerators"]["fakeaccel"]["chips"]] == ["FA-100", "FA-100"]
    res = run_envkit("detect", "--host", str(host_file), "--profiles", str(fakeaccel.profile(plugin)), env=plugin)
    assert res.code == 0, res.err
    assert "chip 1" in res.out and "FA-100" in res.out
    assert "suggested profile:" in res.out and "fakeaccel.toml" in res.out.replace("\n", "")
    # without the plug-in the same facts suggest nothing of it (and still load)
    bare = run_envkit("detect", "--host", str(host_file), "--json")
    assert bare.code == 0 and json.loads(bare.out)["suggested_profile"] == "cpu"


def test_resolve_records_the_backend_block(plugin: dict[str, str], host_file: Path) -> None:
    res = run_envkit("resolve", "--profile", str(fakeaccel.profile(plugin)), "--host", str(host_file), "--json", env=plugin)
    assert res.code == 0, res.err
    tuple_ = json.loads(res.out)
    assert tuple_["accelerator"] == "fakeaccel" and tuple_["fakeaccel"] == {"runtime": "1.2.0"}
    assert tuple_["cuda"] is None and tuple_["torch_npu"] is None
    assert "fakeaccel-runtime==1.2.0" in tuple_["requirements"]
    assert tuple_["env"]["FAKEACCEL_LOG_LEVEL"] == "warning"
    human = run_envkit("resolve", "--profile", str(fakeaccel.profile(plugin)), "--host", str(host_file), env=plugin)
    assert "fakeaccel runtime" in human.out


def test_setup_dry_run_installs_its_runtime_and_hooks(plugin: dict[str, str], host_file: Path, tmp_path: Path) -> None:
    res = run_envkit("setup", "--profile", str(fakeaccel.profile(plugin)), "--host", str(host_file), "--dry-run", "--json",
                     "--prefix", str(tmp_path / "env"), "--visible-devices", "1", env={**plugin, "PIP_CONFIG_FILE": "/dev/null"})
    assert res.code == 0, res.err
    steps = {s["id"]: s for s in json.loads(res.out)["steps"]}
    assert "fakeaccel-runtime==1.2.0" in steps["torch"]["commands"][0]
    hooks = steps["hooks"]["inputs"]
    assert hooks["env"]["FAKEACCEL_VISIBLE_DEVICES"] == "1" and hooks["source_first"] == ["/opt/fakeaccel/env.sh"]


def test_unknown_accelerator_lists_the_installed_ones(plugin: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "tpu.toml"
    bad.write_text(fakeaccel.profile(plugin).read_text().replace('accelerator = "fakeaccel"', 'accelerator = "tpu"'))
    res = run_envkit("resolve", "--profile", str(bad), env=plugin)
    assert res.code == 2 and "Traceback" not in res.err
    text = " ".join(res.err.split())
    assert "'tpu'" in text and "'fakeaccel'" in text and "'cuda'" in text and "envkit.backends" in text
