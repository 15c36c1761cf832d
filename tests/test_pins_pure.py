"""The planning part of envkit.pins does no file I/O: text in, PinPlan out (issue 10).

Checked twice: by reading pins.py (its imports and calls), and by planning with every way of
touching a file made to raise. The file side lives in envkit.pin_files.
"""

from __future__ import annotations

import ast
import builtins
import io
import os
import pathlib
from pathlib import Path

import pytest

import envkit.pin_files
import envkit.pins
from envkit.pins import judge_requirements, overrides, plan_pyproject, target_marker_env, unified_diff

DATA = Path(__file__).parent / "data" / "pins"
X86 = target_marker_env("linux-64", "3.10")
GPU = {"torch": "2.8.0", "torchvision": "0.23.0", "torchcodec": "0.7.0"}

IO_MODULES = {"os", "os.path", "pathlib", "shutil", "tempfile", "io", "glob", "fnmatch", "subprocess", "mmap",
              "envkit.fsutil", "envkit.source", "envkit.pin_files", "envkit.resources", "envkit.state"}
IO_METHODS = {"read_text", "write_text", "read_bytes", "write_bytes", "exists", "is_file", "is_dir", "is_symlink",
              "stat", "lstat", "unlink", "mkdir", "rmdir", "touch", "chmod", "iterdir", "glob", "rglob", "readlink",
              "symlink_to", "hardlink_to", "samefile", "expanduser", "realpath", "listdir", "scandir", "walk",
              "fdopen", "fsync", "makedirs", "remove", "removedirs", "mkstemp", "NamedTemporaryFile"}
IO_NAMES = {"open", "Path", "PurePath", "temp_beside", "atomic_write", "read_pyproject", "write_pins", "restore_pins"}
SERIALISERS = {"json", "tomllib", "tomli", "tomlkit", "pickle", "marshal"}  # .load/.dump take files, .loads/.dumps text


def io_uses(source: str, *, allowed_functions: tuple[str, ...] = ()) -> list[str]:
    """Every import of an I/O module and every file-touching call in `source`, as 'line: what'."""
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in allowed_functions:
            skip |= {id(n) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if a.name in IO_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = {f"{node.module}.{a.name}" for a in node.names}
            if node.module in IO_MODULES or names & IO_MODULES:
                found.append(f"{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in IO_NAMES:
                found.append(f"{node.lineno}: {func.id}()")
            elif isinstance(func, ast.Attribute):
                owner = func.value.id if isinstance(func.value, ast.Name) else None
                if func.attr in IO_METHODS or func.attr in IO_NAMES:
                    found.append(f"{node.lineno}: .{func.attr}()")
                elif owner in SERIALISERS and func.attr in ("load", "dump"):
                    found.append(f"{node.lineno}: {owner}.{func.attr}()")
                elif owner in {"os", "shutil", "pathlib", "tempfile", "io", "glob"}:
                    found.append(f"{node.lineno}: {owner}.{func.attr}()")
    return found


def test_pins_planning_reads_and_writes_no_file() -> None:
    source = Path(envkit.pins.__file__).read_text(encoding="utf-8")
    assert io_uses(source) == []


def test_pins_does_not_reach_the_file_side() -> None:
    """The file side is envkit.pin_files; pins.py neither imports nor forwards to it."""
    tree = ast.parse(Path(envkit.pins.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert "envkit.pin_files" not in imported and not hasattr(envkit.pins, "write_pins")


def test_the_checker_sees_file_io() -> None:
    """The reader above is not vacuous: on the file side it finds the I/O it must."""
    found = "\n".join(io_uses(Path(envkit.pin_files.__file__).read_text(encoding="utf-8")))
    for needle in ("import os", "from pathlib import", "open()", ".read_bytes()", ".exists()", "os.replace()", ".unlink()"):
        assert needle in found, (needle, found)
    assert io_uses("import json\ndef f(p):\n    return json.load(open(p))\n") == ["3: json.load()", "3: open()"]


def refuse_file_io(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ordinary way of touching a file raises (imports still work: importlib has its own)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"file I/O during planning: {args!r}")

    for owner, names in ((builtins, ("open",)), (io, ("open",)),
                         (os, ("open", "stat", "lstat", "listdir", "scandir", "replace", "rename", "unlink", "mkdir")),
                         (os.path, ("exists", "isfile", "isdir", "realpath")),
                         (pathlib.Path, ("open", "read_text", "read_bytes", "write_text", "write_bytes", "exists",
                                         "stat", "is_file", "is_dir", "resolve", "unlink", "mkdir"))):
        for name in names:
            monkeypatch.setattr(owner, name, refuse)


UV_SOURCES = """[project]
name = "lerobot"
version = "0.4.4"
dependencies = ["torch>=2.2.1,<2.8.0", "torchvision>=0.21.0,<0.23.0"]

[tool.uv.sources]
torch = { index = "pytorch-cu126" }

[[tool.uv.index]]
name = "pytorch-cu126"
url = "https://download.pytorch.org/whl/cu126"
explicit = true
"""


@pytest.mark.parametrize("tree", ["mixed-styles", "kuavo/lerobot", "uv-sources (inline)"])
def test_planning_works_with_file_io_refused(tree: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = DATA / tree / "pyproject.toml"
    text = UV_SOURCES if tree.endswith("(inline)") else path.read_text(encoding="utf-8")
    index_urls = {"torch": "https://download.pytorch.org/whl/cu128", "torchvision": "https://download.pytorch.org/whl/cu128"}
    before = plan_pyproject(text, GPU, X86, index_urls=index_urls)  # lazy imports (tomlkit, packaging) load here
    refuse_file_io(monkeypatch)
    with pytest.raises(AssertionError, match="file I/O during planning"):
        Path("pyproject.toml").read_text()  # the refusal is in force
    plan = plan_pyproject(text, GPU, X86, index_urls=index_urls)
    assert plan.to_dict() == before.to_dict() and plan.new_text == before.new_text
    assert plan.changes and plan.new_text != text
    assert unified_diff(text, plan.new_text, "pyproject.toml").startswith("--- a/pyproject.toml")
    assert judge_requirements(["torch>=2.2,<2.8"], GPU, X86)
    assert overrides({"torch": "2.8.0", "torchcodec": None})[1].startswith("torchcodec ;")
