"""`envkit pins` as users run it: modes, layouts, and every bad input (exit 2, one paragraph)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli_util import CPU_DEV, ENVKIT, assert_user_error, run_envkit

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "pins"
HOST_5090 = str(REPO / "docs" / "examples" / "host-5090.json")


def pins(*args: str):  # noqa: ANN201 (tests.cli_util.Result)
    return run_envkit("pins", "--profile", "5090", "--host", HOST_5090, *args)


@pytest.fixture
def kuavo(tmp_path: Path) -> Path:
    shutil.copytree(DATA / "kuavo", tmp_path / "kuavo")
    return tmp_path / "kuavo"


def test_kuavo_layout_check_diff_write_restore(kuavo: Path) -> None:
    target = kuavo / "lerobot" / "pyproject.toml"
    original = target.read_bytes()
    check = pins("--lerobot", str(kuavo), "--check")
    assert check.code == 1 and "project.dependencies[1]: torch >=2.2.1,<2.8.0 -> >=2.2.1,<2.9.0" in check.out
    diff = pins("--lerobot", str(kuavo), "--diff")
    assert diff.code == 0 and "-    'torch>=2.2.1,<2.8.0',  # kuavo: tested with 2.7.1" in diff.out
    assert "+    'torch>=2.2.1,<2.9.0',  # kuavo: tested with 2.7.1" in diff.out
    assert '"torchvision >= 0.21.0, < 0.24.0",' in diff.out  # unchanged clause keeps its spacing
    assert target.read_bytes() == original  # --diff writes nothing
    write = pins("--lerobot", str(kuavo), "--write", "--json")
    data = json.loads(write.out)
    assert write.code == 0 and data["written"] and len(data["changes"]) == 3
    assert (kuavo / "pyproject.toml").read_text().startswith("# The fork's own project")  # untouched
    assert pins("--lerobot", str(target), "--check").code == 0  # the file itself works too
    assert run_envkit("pins", "--lerobot", str(kuavo), "--restore").code == 0
    assert target.read_bytes() == original


def test_json_check_output(kuavo: Path) -> None:
    result = pins("--lerobot", str(kuavo), "--json")
    data = json.loads(result.out)
    assert result.code == 1 and data["must_change"] and data["mode"] == "check"
    assert data["targets"] == {"torch": "2.8.0", "torchvision": "0.23.0", "torchcodec": "0.7.0"}
    assert data["overrides"] == ["torch==2.8.0", "torchvision==0.23.0", "torchcodec==0.7.0"]
    assert {c["package"] for c in data["changes"]} == {"torch", "torchvision", "torchcodec"}


def test_modes_are_exclusive(kuavo: Path) -> None:
    assert_user_error(pins("--lerobot", str(kuavo), "--check", "--write"), "cannot be combined")


def test_no_pyproject(tmp_path: Path) -> None:
    assert_user_error(pins("--lerobot", str(tmp_path)), "No pyproject.toml")
    assert_user_error(pins("--lerobot", str(tmp_path / "missing")), "does not exist")


def test_pyproject_without_torch() -> None:
    assert_user_error(pins("--lerobot", str(DATA / "no-torch")), "declares no torch requirement")


def test_toml_syntax_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "lerobot"\nversion = 0.4.4"\n')
    assert_user_error(pins("--lerobot", str(tmp_path)), "not valid TOML", "line 3")


def test_fork_whose_version_cannot_be_read() -> None:
    assert_user_error(pins("--lerobot", str(DATA / "fork-dynamic-version")), "Cannot read the lerobot version", "dynamic")


def test_stale_backup_refused(kuavo: Path) -> None:
    target = kuavo / "lerobot" / "pyproject.toml"
    backup = target.with_name("pyproject.toml.envkit-orig")
    backup.write_bytes(b"an older original\n")
    assert_user_error(pins("--lerobot", str(kuavo), "--write"), "envkit-orig exists", "--restore")
    assert backup.read_bytes() == b"an older original\n"


def test_restore_refuses_hand_edits_without_force(kuavo: Path) -> None:
    assert pins("--lerobot", str(kuavo), "--write").code == 0
    target = kuavo / "lerobot" / "pyproject.toml"
    target.write_text(target.read_text() + "# hand edit\n")
    assert_user_error(run_envkit("pins", "--lerobot", str(kuavo), "--restore"), "changed since envkit wrote it")
    assert run_envkit("pins", "--lerobot", str(kuavo), "--restore", "--force").code == 0
    assert target.read_bytes() == (DATA / "kuavo" / "lerobot" / "pyproject.toml").read_bytes()


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _unshare_ok() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _unshare_ok(), reason="unshare -m is not permitted here (needs CAP_SYS_ADMIN)")
def test_read_only_tree_unshare(kuavo: Path) -> None:
    before = _snapshot(kuavo)
    d = str(kuavo / "lerobot")
    script = (f"mount --bind {d} {d} && mount -o remount,ro,bind {d} && "
              f"exec {ENVKIT} pins --profile 5090 --host {HOST_5090} --lerobot {d} --write")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("envkit: error: Cannot write") and "Traceback" not in proc.stderr
    assert "nothing was changed" in proc.stderr
    assert _snapshot(kuavo) == before  # no backup, no temp file, no half-written file


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv to drop to nobody")
def test_read_only_tree_as_nobody(tmp_path: Path) -> None:
    import tempfile

    # pytest's own tmp root is 0700: nobody could not even read the tree there.
    base = Path(tempfile.mkdtemp(prefix="envkit-pins-ro-"))
    root = base / "shared"
    shutil.copytree(DATA / "kuavo", root)
    for path in [base, *root.rglob("*"), root]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # readable by nobody, writable only by root
    try:
        _run_as_nobody(root, tmp_path)
    finally:
        shutil.rmtree(base)


def _run_as_nobody(root: Path, tmp_path: Path) -> None:
    before = _snapshot(root)
    proc = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(ENVKIT), "pins", "--profile", "5090",
         "--host", HOST_5090, "--lerobot", str(root), "--write"],
        capture_output=True, text=True, env={**os.environ, "HOME": str(tmp_path)},
    )
    if "Permission denied" in proc.stderr and "envkit: error" not in proc.stderr:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
        pytest.skip(f"user nobody cannot run envkit from this checkout ({last[:120]}); the unshare test covers read-only trees")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("envkit: error: Cannot write") and "Traceback" not in proc.stderr
    assert _snapshot(root) == before


def test_index_installed_lerobot_gives_overrides() -> None:
    result = run_envkit("pins", "--profile", CPU_DEV, "--host", str(REPO / "docs" / "examples" / "host-cpu.json"), "--lerobot", "lerobot==0.4.4")
    assert result.code == 1
    assert "--override 'torch==2.14.1'" in result.out
