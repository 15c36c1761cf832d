"""envkit.pins pure core on hand-written trees (tests/data/pins), plus the file operations (envkit.pin_files)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from envkit.errors import EnvkitError
from envkit.pin_files import backup_paths, find_pyproject, restore_pins, write_pins
from envkit.pins import judge_requirements, overrides, plan_pyproject, target_marker_env

DATA = Path(__file__).parent / "data" / "pins"
X86 = target_marker_env("linux-64", "3.10")
ARM = target_marker_env("linux-aarch64", "3.10")
GPU = {"torch": "2.8.0", "torchvision": "0.23.0", "torchcodec": "0.7.0"}


def _mixed() -> str:
    return (DATA / "mixed-styles" / "pyproject.toml").read_text(encoding="utf-8")


def test_every_style_is_judged_and_edited_in_place() -> None:
    text = _mixed()
    plan = plan_pyproject(text, GPU, X86)
    got = {(c.location, c.old, c.new) for c in plan.changes}
    assert got == {
        ("project.dependencies[0]", ">=2.2.1, <2.8.0", ">=2.2.1, <2.9.0"),
        ("project.dependencies[1]", "~=0.21.0", ">=0.21.0,<0.24"),
        ("project.optional-dependencies.video[0]", ">=0.3.0,<0.6.0", ">=0.3.0,<0.8.0"),
        ("dependency-groups.dev[0]", "==2.7.1", "==2.8.0"),
        ("tool.uv.override-dependencies[0]", "<0.23", "<0.24"),
        ("tool.uv.constraint-dependencies[0]", "<2.8", "<2.9"),
        ("tool.poetry.dependencies.torchvision[0]", "~0.21.0", ">=0.21.0,<0.24"),  # [1] is for python < 3.10
        ("tool.poetry.dependencies.torchcodec", "0.5.*", ">=0.5,<0.8"),
    }
    new = plan.new_text
    assert "'torch (>=2.2.1, <2.9.0)',   # literal string, parenthesised specifier" in new
    assert '{version = ">=0.5,<0.8", optional = true}' in new
    assert "torch = {version = \"^2.2.1\"" in new  # the caret admits 2.8: untouched
    assert '"torchcodec>=0.11.0,<0.12.0; platform_machine == \'aarch64\'",  # aarch64' in new  # not the target's line
    assert plan_pyproject(new, GPU, X86).changes == []


def test_markers_are_evaluated_for_the_target() -> None:
    plan = plan_pyproject(_mixed(), {**GPU, "torch": "2.7.1", "torchvision": "0.22.1"}, ARM)
    codec = [c for c in plan.changes if c.package == "torchcodec" and c.location.startswith("project")]
    assert [(c.location, c.new) for c in codec] == [("project.optional-dependencies.video[1]", ">=0.7.0,<0.12.0")]


def test_no_change_returns_the_text_itself() -> None:
    text = _mixed()
    plan = plan_pyproject(text, {"torch": "2.7.1", "torchvision": "0.21.5", "torchcodec": "0.5.1"}, X86)
    assert (plan.changes, plan.conflicts, plan.new_text) == ([], [], text)


def test_profile_without_the_package_conflicts_where_lerobot_requires_it() -> None:
    plan = plan_pyproject(_mixed(), {"torch": "2.7.1", "torchvision": "0.21.5", "torchcodec": None}, X86)
    assert any("torchcodec" in c for c in plan.conflicts) and plan.blocking


def test_no_torch_requirement() -> None:
    with pytest.raises(EnvkitError, match="declares no torch requirement"):
        plan_pyproject((DATA / "no-torch" / "pyproject.toml").read_text(), GPU, X86)


def test_toml_syntax_error_names_line_and_column() -> None:
    with pytest.raises(EnvkitError) as err:
        plan_pyproject('[project]\nname = "lerobot"\ndependencies = ["torch>=2"\n', GPU, X86, source_name="x/pyproject.toml")
    assert "x/pyproject.toml" in err.value.message and "Unclosed array at line 3" in err.value.message


def test_judge_requirements_for_index_installs() -> None:
    requires = ["torch<2.8.0,>=2.2.1", "numpy>=2", "torchcodec<0.6.0,>=0.2.1; extra == 'dataset'",
                "torchcodec<0.6.0,>=0.2.1; sys_platform == 'win32'", "torchvision<0.23.0,>=0.21.0"]
    changes = judge_requirements(requires, GPU, X86)
    assert [(c.location, c.package) for c in changes] == [
        ("requires-dist[0]", "torch"), ("requires-dist[2]", "torchcodec"), ("requires-dist[4]", "torchvision")]
    assert overrides(GPU) == ["torch==2.8.0", "torchvision==0.23.0", "torchcodec==0.7.0"]
    assert overrides({"torch": "2.7.1", "torchcodec": None}) == ["torch==2.7.1", "torchcodec ; sys_platform == 'never'"]


def test_find_pyproject_layouts(tmp_path: Path) -> None:
    kuavo = DATA / "kuavo"
    assert find_pyproject(kuavo) == kuavo / "lerobot" / "pyproject.toml"  # the fork's own top file is skipped
    assert find_pyproject(kuavo / "lerobot") == kuavo / "lerobot" / "pyproject.toml"
    assert find_pyproject(kuavo / "lerobot" / "pyproject.toml") == kuavo / "lerobot" / "pyproject.toml"
    with pytest.raises(EnvkitError, match="No pyproject.toml"):
        find_pyproject(tmp_path)


# --- files ------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(DATA / "kuavo", tmp_path / "kuavo")
    return tmp_path / "kuavo" / "lerobot" / "pyproject.toml"


def test_write_backup_restore_roundtrip(tree: Path) -> None:
    original = tree.read_bytes()
    plan = plan_pyproject(original.decode(), GPU, X86)
    assert write_pins(tree, plan.new_text, record={"profile": "5090"})
    backup, sidecar = backup_paths(tree)
    assert backup.read_bytes() == original
    meta = json.loads(sidecar.read_text())
    assert meta["profile"] == "5090" and len(meta["written_sha256"]) == 64
    assert not write_pins(tree, plan.new_text)  # a second write changes nothing
    # another profile over envkit's own edit: allowed, the backup still holds the original
    cpu = plan_pyproject(tree.read_text(), {"torch": "2.14.1", "torchvision": "0.29.1", "torchcodec": "0.17.0"}, X86)
    assert write_pins(tree, cpu.new_text)
    assert backup.read_bytes() == original
    assert restore_pins(tree)
    assert tree.read_bytes() == original and not backup.exists() and not sidecar.exists()
    assert not restore_pins(tree)  # nothing left to restore


def test_stale_backup_is_never_overwritten(tree: Path) -> None:
    plan = plan_pyproject(tree.read_text(), GPU, X86)
    write_pins(tree, plan.new_text)
    backup, _ = backup_paths(tree)
    saved = backup.read_bytes()
    tree.write_text(tree.read_text() + "\n# edited by hand\n")
    newer = plan_pyproject(tree.read_text(), {"torch": "2.14.1", "torchvision": "0.29.1", "torchcodec": "0.17.0"}, X86)
    with pytest.raises(EnvkitError, match="changed since envkit wrote it"):
        write_pins(tree, newer.new_text)
    with pytest.raises(EnvkitError, match="changed since envkit wrote it"):
        restore_pins(tree)
    assert backup.read_bytes() == saved
    assert restore_pins(tree, force=True) and tree.read_bytes() == saved


def test_backup_without_record_is_stale(tree: Path) -> None:
    backup, _ = backup_paths(tree)
    backup.write_bytes(b"something else")
    plan = plan_pyproject(tree.read_text(), GPU, X86)
    with pytest.raises(EnvkitError, match="record is missing"):
        write_pins(tree, plan.new_text)
    assert backup.read_bytes() == b"something else"


def test_crlf_and_mode_survive(tree: Path) -> None:
    original = tree.read_bytes().replace(b"\n", b"\r\n")
    tree.write_bytes(original)
    tree.chmod(0o640)
    with open(tree, encoding="utf-8", newline="") as handle:
        text = handle.read()
    plan = plan_pyproject(text, GPU, X86)
    write_pins(tree, plan.new_text)
    assert tree.read_bytes().count(b"\r\n") == original.count(b"\r\n")
    assert tree.stat().st_mode & 0o777 == 0o640
    restore_pins(tree)
    assert tree.read_bytes() == original
