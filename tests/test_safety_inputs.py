"""Every bad input of issue #9: one paragraph naming the file, field or command and the fix, exit 2,
no traceback, and nothing of the user's changed."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.cli_util import assert_user_error, run_envkit

ROOT = Path(__file__).resolve().parents[1]
PINS = Path(__file__).parent / "data" / "pins"
HOST_5090 = str(ROOT / "docs" / "examples" / "host-5090.json")


def _doc(res) -> dict[str, dict]:  # noqa: ANN001 (tests.cli_util.Result)
    return {c["id"]: c for c in json.loads(res.out)["checks"]}


# --- lockfiles ----------------------------------------------------------------------------------


@pytest.fixture()
def lock_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "lockfiles" / "cpu", tmp_path / "cpu")
    return tmp_path


def test_lock_check_with_a_manifest_that_is_a_list(lock_copy: Path) -> None:
    (lock_copy / "cpu" / "manifest.json").write_text("[]\n")
    res = run_envkit("lock", "--profile", "cpu", "--lockfiles", str(lock_copy), "--check")
    assert_user_error(res, "manifest.json", "JSON list", "re-lock")


def test_lock_check_with_a_layer_entry_that_is_a_string(lock_copy: Path) -> None:
    path = lock_copy / "cpu" / "manifest.json"
    data = json.loads(path.read_text())
    data["layers"]["pypi"]["linux-64"] = "pypi-linux-64.txt"
    path.write_text(json.dumps(data))
    res = run_envkit("lock", "--profile", "cpu", "--lockfiles", str(lock_copy), "--check")
    assert_user_error(res, "manifest.json", "layers.pypi.linux-64", "not an entry object")


def test_lock_check_with_an_unknown_layer_is_refused(lock_copy: Path) -> None:
    res = run_envkit("lock", "--profile", "cpu", "--lockfiles", str(lock_copy), "--layer", "foo", "--check")
    assert_user_error(res, "--layer 'foo' is not a layer", "conda, pypi or all")


@pytest.mark.parametrize("body", ["package: [1, 2\n", "version: 1\nmetadata: {}\npackage: []\n", "just a string\n"])
def test_from_lock_with_a_malformed_conda_lock_file(lock_copy: Path, tmp_path: Path, body: str) -> None:
    (lock_copy / "cpu" / "conda-lock.yml").write_text(body)
    res = run_envkit("setup", "--profile", "cpu", "--from-lock", str(lock_copy / "cpu"), "--dry-run", "--prefix", str(tmp_path / "env"))
    assert_user_error(res, "conda-lock.yml is not a valid conda-lock file", "re-lock")


# --- state.json -----------------------------------------------------------------------------------


def _state_prefix(tmp_path: Path, **fields: object) -> Path:
    prefix = tmp_path / "env"
    (prefix / ".envkit").mkdir(parents=True)
    (prefix / "keep.txt").write_text("mine")
    state = {"schema_version": 1, "tool": "envkit", "created_prefix": True, "preexisting": [], "owned": [], "steps": {}}
    state.update(fields)
    (prefix / ".envkit" / "state.json").write_text(json.dumps(state))
    return prefix


def test_state_with_a_step_entry_that_is_a_string(tmp_path: Path) -> None:
    prefix = _state_prefix(tmp_path, steps={"torch": "done"})
    assert_user_error(run_envkit("setup", "--undo", "--prefix", str(prefix)), "state.json", "steps.torch", "not a step record")
    assert_user_error(run_envkit("setup", "--profile", "cpu", "--prefix", str(prefix)), "state.json", "steps.torch")
    assert (prefix / "keep.txt").read_text() == "mine"


def test_state_whose_patched_trees_lists_a_foreign_path(tmp_path: Path) -> None:
    from envkit.lerobot_patch import patch_path

    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text("not lerobot")
    prefix = _state_prefix(tmp_path, patched_trees=[{"tree": str(victim), "patch": str(patch_path("lerobot-0.4.2-npu.patch"))}])
    assert_user_error(run_envkit("setup", "--undo", "--prefix", str(prefix)), "patched_trees", str(victim), "not a lerobot source tree")
    tree = tmp_path / "lerobot"
    (tree / "src" / "lerobot").mkdir(parents=True)
    (tree / "pyproject.toml").write_text('[project]\nname = "lerobot"\n')
    prefix2 = _state_prefix(tmp_path / "b", patched_trees=[{"tree": str(tree), "patch": "/etc/passwd"}])
    assert_user_error(run_envkit("setup", "--undo", "--prefix", str(prefix2)), "patched_trees", "not one of envkit's shipped patches")
    owned = _state_prefix(tmp_path / "c", owned=["../victim/"])
    assert_user_error(run_envkit("setup", "--undo", "--prefix", str(owned)), "'owned'", "not a path inside the prefix")
    assert (victim / "notes.txt").read_text() == "not lerobot"


# --- profiles ---------------------------------------------------------------------------------------


def test_profile_env_key_that_is_not_a_variable_name_fails_at_load(tmp_path: Path) -> None:
    prof = tmp_path / "bad.toml"
    prof.write_text('schema_version = 1\nextends = "cpu"\nname = "bad"\n\n[env]\nMY-VAR = "x"\n')
    assert_user_error(run_envkit("resolve", "--profile", str(prof)), str(prof), "'MY-VAR' is not one")
    assert_user_error(run_envkit("setup", "--profile", str(prof), "--dry-run", "--prefix", str(tmp_path / "env")), "'MY-VAR'")
    assert not (tmp_path / "env").exists()


def test_lerobot_branch_is_refused_unless_allowed_with_a_warning() -> None:
    src = "git+https://git.example.invalid/org/lerobot@main"
    assert_user_error(run_envkit("resolve", "--profile", "cpu", "--lerobot", src), "'main'", "branch moves", "--allow-branch")
    for ref in ("58f70b6", "v0.4.4", "0.4.2"):
        assert run_envkit("resolve", "--profile", "cpu", "--lerobot", src.replace("@main", f"@{ref}"), "--json").code == 0
    allowed = run_envkit("resolve", "--profile", "cpu", "--lerobot", src, "--allow-branch", "--json")
    assert allowed.code == 0, allowed.err
    assert any("a branch" in w for w in json.loads(allowed.out)["warnings"])


# --- the doctor's target ------------------------------------------------------------------------------


@pytest.mark.parametrize("exe", ["/bin/true", "/bin/false"])
def test_python_that_prints_no_probe_facts_is_bad_input(exe: str) -> None:
    for fmt in ((), ("--json",)):
        res = run_envkit("doctor", "--python", exe, "--no-smoke", *fmt)
        assert_user_error(res, f"--python {exe}", "not a Python interpreter", "--prefix ENV_ROOT")


def test_probe_segfault_while_importing_torch_is_reported_as_torch_import(tmp_path: Path) -> None:
    """A torch whose import kills the interpreter (as a broken CUDA/NPU library can)."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("import ctypes\nctypes.string_at(0)  # SIGSEGV\n")
    meta = tmp_path / "torch-2.14.1.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: torch\nVersion: 2.14.1\n")
    res = run_envkit("doctor", "--python", sys.executable, "--check", "torch", "--no-smoke", "--json",
                     env={"PYTHONPATH": str(tmp_path)}, timeout=300)
    assert res.code == 1 and "Traceback" not in res.err, res.err
    check = _doc(res)["torch.import"]
    assert check["status"] == "fail" and "SIGSEGV while importing torch" in json.dumps(check)


@pytest.mark.parametrize("info,needle", [
    ("{not json", "JSONDecodeError"),
    ("[1, 2]", "JSON list"),
    (json.dumps({"codebase_version": "v3.0", "fps": 30}), "total_episodes, features"),
    (json.dumps({"codebase_version": "v3.0", "total_episodes": "3", "fps": 30, "features": {}}), "total_episodes"),
])
def test_dataset_info_json_invalid_or_incomplete_fails_dataset_info(tmp_path: Path, info: str, needle: str) -> None:
    (tmp_path / "ds" / "meta").mkdir(parents=True)
    (tmp_path / "ds" / "meta" / "info.json").write_text(info)
    res = run_envkit("doctor", "--python", sys.executable, "--dataset", str(tmp_path / "ds"), "--check", "dataset.info",
                     "--no-smoke", "--json", timeout=300)
    assert res.code == 1 and "Traceback" not in res.err, res.err
    check = _doc(res)["dataset.info"]
    assert check["status"] == "fail" and needle in json.dumps(check), check


# --- pins through a symlink, and an edited backup -------------------------------------------------------


@pytest.fixture()
def linked_kuavo(tmp_path: Path) -> tuple[Path, Path]:
    """The Kuavo fork whose lerobot/pyproject.toml is a symlink into another directory."""
    tree = tmp_path / "kuavo"
    shutil.copytree(PINS / "kuavo", tree)
    store = tmp_path / "store"
    store.mkdir()
    shutil.move(tree / "lerobot" / "pyproject.toml", store / "pyproject.toml")
    (tree / "lerobot" / "pyproject.toml").symlink_to(store / "pyproject.toml")
    return tree, store / "pyproject.toml"


def _pins(*args: str):  # noqa: ANN202
    return run_envkit("pins", "--profile", "5090", "--host", HOST_5090, *args)


def test_pins_write_and_restore_through_a_symlinked_pyproject(linked_kuavo: tuple[Path, Path]) -> None:
    tree, real = linked_kuavo
    link = tree / "lerobot" / "pyproject.toml"
    original = real.read_bytes()
    assert _pins("--lerobot", str(tree), "--write").code == 0
    assert link.is_symlink() and real.read_bytes() != original  # the target was rewritten, the link kept
    assert (real.parent / "pyproject.toml.envkit-orig").read_bytes() == original
    restore = run_envkit("pins", "--lerobot", str(link), "--restore")  # through the link itself
    assert restore.code == 0 and "nothing to restore" not in restore.out, restore.out + restore.err
    assert real.read_bytes() == original and link.is_symlink()
    assert not (real.parent / "pyproject.toml.envkit-orig").exists()


def test_pins_restore_refuses_a_backup_edited_after_the_write(linked_kuavo: tuple[Path, Path]) -> None:
    tree, real = linked_kuavo
    assert _pins("--lerobot", str(tree), "--write").code == 0
    written = real.read_bytes()
    backup = real.parent / "pyproject.toml.envkit-orig"
    backup.write_text(backup.read_text() + "\n# edited afterwards\n")
    res = run_envkit("pins", "--lerobot", str(tree), "--restore")
    assert_user_error(res, "pyproject.toml.envkit-orig was changed after envkit made it", "original_sha256", "--force")
    assert real.read_bytes() == written and backup.exists()
    assert run_envkit("pins", "--lerobot", str(tree), "--restore", "--force").code == 0
    assert real.read_text().endswith("# edited afterwards\n")


# --- LD_LIBRARY_PATH shadowing FFmpeg (a real env: slow) ------------------------------------------------


@pytest.mark.slow
def test_ld_library_path_entry_with_an_unusable_libavutil_is_blamed(healthy_env: Path, tmp_path: Path) -> None:
    """A directory on LD_LIBRARY_PATH holding a libavutil the loader cannot use shadows the system's FFmpeg."""
    import glob

    found = sorted(glob.glob("/usr/lib/*/libavutil.so.*[0-9]")) or sorted(glob.glob("/lib/*/libavutil.so.*[0-9]"))
    if not found:
        pytest.skip("no system libavutil")
    shadow = tmp_path / "old-ffmpeg" / "lib"
    shadow.mkdir(parents=True)
    soname = Path(found[0]).name.rsplit(".", 2)[0] if Path(found[0]).name.count(".") > 3 else Path(found[0]).name
    (shadow / soname).write_bytes(b"\x7fELF not really a library")  # what a half-copied FFmpeg install leaves
    res = run_envkit("doctor", "--python", str(healthy_env / "bin" / "python"), "--check", "torchcodec", "--check", "hooks",
                     "--no-smoke", "--json", env={"LD_LIBRARY_PATH": str(shadow)}, timeout=600)
    checks = _doc(res)
    assert checks["hooks.ld_library_path"]["status"] == "fail", checks["hooks.ld_library_path"]
    assert str(shadow) in json.dumps(checks["hooks.ld_library_path"])
    assert "apt-get install" not in json.dumps(checks["torchcodec.load"]), checks["torchcodec.load"]
    assert str(shadow) in json.dumps(checks["torchcodec.load"])
