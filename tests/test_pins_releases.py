"""`envkit pins` against the real pyproject.toml of every lerobot release on PyPI.

The files are fetched at test time (tests/lerobot_sdists.py), never committed. Two layers:
the pure core for every release x profile target, and the CLI end to end (check / write /
write again / check / restore) on a copy of each file.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

from envkit.pins import plan_pyproject, target_marker_env
from envkit.poetry_constraints import poetry_admits
from tests.cli_util import run_envkit
from tests.lerobot_sdists import RELEASES, lerobot_pyproject

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"

# The tuples `envkit resolve` gives for each profile's target (docs/formats.md, profiles/*.toml).
TARGETS: dict[str, tuple[str, str, dict[str, str], dict[str, str | None]]] = {
    "5090": ("linux-64", "3.10", {"torch": "2.8.0", "torchvision": "0.23.0", "torchcodec": "0.7.0"},
             {"torch": None, "torchvision": None, "torchcodec": None}),
    "cpu": ("linux-64", "3.11", {"torch": "2.14.1", "torchvision": "0.29.1", "torchcodec": "0.17.0"},
            {"torch": None, "torchvision": None, "torchcodec": None}),
    "atlas-a2": ("linux-aarch64", "3.10", {"torch": "2.7.1", "torchvision": "0.22.1"},
                 {"torch": None, "torchvision": None}),
    # atlas-a2 on x86_64 takes torch from the PyTorch CPU index: exercises rewriting uv sources.
    "atlas-a2-x86": ("linux-64", "3.10", {"torch": "2.7.1", "torchvision": "0.22.1", "torchcodec": "0.5.0"},
                     {"torch": CPU_INDEX, "torchvision": CPU_INDEX, "torchcodec": None}),
}

# Which (release, profile) pairs must change: the research table (compat.md section 4.1) by hand.
NO_CHANGE = {
    ("0.3.2", "5090"), ("0.3.2", "cpu"), ("0.3.2", "atlas-a2"), ("0.3.2", "atlas-a2-x86"),
    ("0.4.4", "5090"), ("0.5.0", "5090"), ("0.5.1", "5090"),
    *((v, p) for v in ("0.3.3", "0.4.0", "0.4.1", "0.4.2", "0.4.3", "0.4.4", "0.5.0", "0.5.1")
      for p in ("atlas-a2", "atlas-a2-x86")),
}


def _requirements(data: dict[str, Any]) -> list[tuple[str, str, str | None, str]]:
    """(name, spec, marker, kind) of every requirement the file declares, read independently of envkit."""
    out: list[tuple[str, str, str | None, str]] = []
    arrays: list[Any] = [data.get("project", {}).get("dependencies", [])]
    arrays += list(data.get("project", {}).get("optional-dependencies", {}).values())
    arrays += list(data.get("dependency-groups", {}).values())
    uv = data.get("tool", {}).get("uv", {})
    arrays += [uv.get("override-dependencies", []), uv.get("constraint-dependencies", [])]
    for array in arrays:
        for raw in array:
            if isinstance(raw, str):
                req = Requirement(raw)
                out.append((req.name, str(req.specifier), str(req.marker) if req.marker else None, "pep440"))
    for name, value in data.get("tool", {}).get("poetry", {}).get("dependencies", {}).items():
        for entry in value if isinstance(value, list) else [value]:
            if isinstance(entry, str):
                out.append((name, entry, None, "poetry"))
            elif "version" in entry:
                out.append((name, entry["version"], entry.get("markers"), "poetry"))
    return out


def assert_admits(text: str, targets: dict[str, str], env: dict[str, str]) -> None:
    """Every requirement on a target package that applies on the target admits the resolved version."""
    for name, spec, marker, kind in _requirements(tomllib.loads(text)):
        version = targets.get(name.lower())
        if version is None or (marker and not Marker(marker).evaluate(env)):
            continue
        ok = poetry_admits(spec, version) if kind == "poetry" else Requirement(f"x{spec}").specifier.contains(version)
        assert ok, f"{name} {spec!r} still excludes {version}"


_QUOTED = re.compile(r"(\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*')")


def assert_only_specifiers_changed(old: str, new: str, index_sources: bool) -> None:
    """Outside quoted strings the files are identical; a changed string keeps its name and marker."""
    if index_sources:  # the uv sources/index tables may change too: compare the rest
        cut = re.compile(r"^\[\[?tool\.uv\.(index|sources)\]\]?$.*?(?=^\[(?!\[?tool\.uv\.(index|sources)))", re.M | re.S)
        old, new = cut.sub("", old), cut.sub("", new)
    a, b = _QUOTED.split(old), _QUOTED.split(new)
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x == y:
            continue
        assert i % 2 == 1, f"text outside strings changed: {x!r} -> {y!r}"
        rx, ry = x[1:-1], y[1:-1]
        assert x[0] == y[0], "quoting changed"
        if re.match(r"^[\^~<>=!\d*]", rx):  # a Poetry constraint string
            continue
        qx, qy = Requirement(rx), Requirement(ry)
        assert (qx.name, qx.marker and str(qx.marker)) == (qy.name, qy.marker and str(qy.marker))
        assert rx.split(";", 1)[1:] == ry.split(";", 1)[1:], "marker text changed"


@pytest.mark.network
@pytest.mark.parametrize("profile", sorted(TARGETS))
@pytest.mark.parametrize("release", RELEASES)
def test_plan_every_release(release: str, profile: str) -> None:
    platform, python, targets, index_urls = TARGETS[profile]
    env = target_marker_env(platform, python)
    text = lerobot_pyproject(release).read_text(encoding="utf-8")
    plan = plan_pyproject(text, targets, env, index_urls=index_urls)
    assert not plan.conflicts
    if (release, profile) in NO_CHANGE:
        assert not plan.changes and plan.new_text == text
        assert_admits(text, targets, env)
        return
    assert plan.changes, f"lerobot {release} should need changes for {profile}"
    assert_admits(plan.new_text, targets, env)
    assert_only_specifiers_changed(text, plan.new_text, any(c.kind == "index-source" for c in plan.changes))
    again = plan_pyproject(plan.new_text, targets, env, index_urls=index_urls)
    assert not again.changes and again.new_text == plan.new_text


@pytest.mark.network
def test_torchcodec_lines_judged_for_target_not_host() -> None:
    """0.6.1 has three torchcodec lines; only the target's is edited (the aarch64 one lowers its floor)."""
    text = lerobot_pyproject("0.6.1").read_text(encoding="utf-8")
    targets = {"torch": "2.7.1", "torchvision": "0.22.1", "torchcodec": "0.7.0"}
    plan = plan_pyproject(text, targets, target_marker_env("linux-aarch64", "3.12"))
    codec = [c for c in plan.changes if c.package == "torchcodec"]
    assert [(c.location, c.old, c.new) for c in codec] == [
        ("project.optional-dependencies.dataset[6]", ">=0.11.0,<0.12.0", ">=0.7.0,<0.12.0")]
    x86 = plan_pyproject(text, targets, target_marker_env("linux-64", "3.12"))
    assert [c for c in x86.changes if c.package == "torchcodec"] == []


@pytest.mark.network
def test_pyav_profile_with_aarch64_torchcodec_line_is_a_conflict() -> None:
    text = lerobot_pyproject("0.6.1").read_text(encoding="utf-8")
    plan = plan_pyproject(text, {"torch": "2.7.1", "torchvision": "0.22.1", "torchcodec": None},
                          target_marker_env("linux-aarch64", "3.12"))
    assert len(plan.conflicts) == 1 and "torchcodec" in plan.conflicts[0] and plan.blocking


@pytest.mark.network
def test_uv_sources_point_at_the_profiles_index() -> None:
    text = lerobot_pyproject("0.6.1").read_text(encoding="utf-8")
    platform, python, targets, index_urls = TARGETS["atlas-a2-x86"]
    plan = plan_pyproject(text, targets, target_marker_env(platform, "3.12"), index_urls=index_urls)
    data = tomllib.loads(plan.new_text)
    names = {i["name"]: i["url"] for i in data["tool"]["uv"]["index"]}
    for package in ("torch", "torchvision"):
        (entry,) = data["tool"]["uv"]["sources"][package]
        assert names[entry["index"]] == CPU_INDEX
        assert entry["marker"] == "sys_platform == 'linux'"
    assert "pytorch-cu128" in names  # the original index stays declared


# --- the CLI, end to end ----------------------------------------------------------------

_HOSTS = {"5090": "host-5090.json", "cpu": "host-cpu.json", "atlas-a2": "host-atlas-a2.json"}


def _python_for(release: str) -> list[str]:
    """lerobot 0.5+ needs Python >= 3.12: the same profile, with --python 3.12 (no profile of its own)."""
    return [] if release < "0.5" else ["--python", "3.12"]


@pytest.mark.network
@pytest.mark.parametrize("profile", sorted(_HOSTS))
@pytest.mark.parametrize("release", RELEASES)
def test_cli_check_write_restore(release: str, profile: str, tmp_path: Path) -> None:
    if release >= "0.5" and profile == "atlas-a2":
        pytest.skip("lerobot 0.5+ needs Python 3.12 and torch_npu has no 3.12 build for this CANN; "
                    "test_plan_every_release covers the pair")
    tree = tmp_path / "lerobot"
    tree.mkdir()
    original = lerobot_pyproject(release).read_bytes()
    shutil.copyfile(lerobot_pyproject(release), tree / "pyproject.toml")
    args = ["pins", "--profile", profile, "--lerobot", str(tree), *_python_for(release),
            "--host", str(REPO / "docs" / "examples" / _HOSTS[profile])]
    before = run_envkit(*args, "--check")
    must_change = (release, profile) not in NO_CHANGE
    assert before.code == (1 if must_change else 0), (before.out, before.err)
    written = run_envkit(*args, "--write")
    assert written.code == 0, written.err
    after = (tree / "pyproject.toml").read_bytes()
    assert (after != original) == must_change
    assert (tree / "pyproject.toml.envkit-orig").exists() == must_change
    again = run_envkit(*args, "--write")
    assert again.code == 0 and (tree / "pyproject.toml").read_bytes() == after
    assert run_envkit(*args, "--check").code == 0
    restored = run_envkit("pins", "--lerobot", str(tree), "--restore")
    assert restored.code == 0, restored.err
    assert (tree / "pyproject.toml").read_bytes() == original
    assert sorted(p.name for p in tree.iterdir()) == ["pyproject.toml"]


@pytest.mark.network
def test_cli_python_floor_is_a_conflict(tmp_path: Path) -> None:
    result = run_envkit("pins", "--profile", "cpu", "--lerobot", str(lerobot_pyproject("0.6.1").parent),
                        "--host", str(REPO / "docs" / "examples" / "host-cpu.json"))
    assert result.code == 1 and "3.12" in result.err
