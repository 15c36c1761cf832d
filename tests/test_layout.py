"""Which lerobot a tree is (layout, dataset format, entry point, smoke support), read from real trees:
the draccus-era fork tree (fixture), and the 0.1.0 / 0.3.3 sdists from PyPI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envkit.targetenv.layout import from_source_tree, plan_facts, unmet_requirements
from tests.cli_util import run_envkit
from tests.lerobot_trees import fork_project, sdist_tree
from tests.test_setup import NO_PIP_CONFIG


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("trees")
    return {"fork": fork_project(base / "fork") / "lerobot" / "pyproject.toml"}


def test_fork_tree_is_the_draccus_common_layout(trees: dict[str, Path]) -> None:
    lay = from_source_tree(trees["fork"], "0.1.0")
    assert lay is not None
    assert (lay.package, lay.configs, lay.codebase_version) == ("lerobot.common", "draccus", "v2.1")
    assert lay.dataset_module == "lerobot.common.datasets.lerobot_dataset"
    assert lay.entry == "python -m lerobot.scripts.train" and "no lerobot-train console script" in lay.entry_from
    assert lay.smoke and lay.missing == ()
    assert [r["requirement"] for r in lay.requires] == ["datasets>=2.19.0,<=3.6.0"]
    assert "draccus-era" in lay.describe() and "can smoke-test" in lay.describe()


def test_layout_requirement_flags_datasets_4_and_accepts_3_6(trees: dict[str, Path]) -> None:
    lay = from_source_tree(trees["fork"], "0.1.0")
    assert lay is not None
    [(row, have)] = unmet_requirements(lay, {"datasets": "5.2.0"})
    assert have == "5.2.0" and "Column" in row["why"]
    assert unmet_requirements(lay, {"datasets": "3.6.0"}) == []


@pytest.mark.network
def test_sdist_033_is_the_flat_layout_with_lerobot_train(tmp_path: Path) -> None:
    tree = sdist_tree("0.3.3", tmp_path)
    lay = from_source_tree(tree / "pyproject.toml", "0.3.3")
    assert lay is not None
    assert (lay.package, lay.codebase_version, lay.entry) == ("lerobot", "v2.1", "lerobot-train")
    assert lay.train_module == "lerobot.scripts.train" and "lerobot.scripts.train:main" in lay.entry_from
    assert lay.smoke


@pytest.mark.network
def test_pypi_010_cannot_be_smoke_tested_and_says_why(tmp_path: Path) -> None:
    tree = sdist_tree("0.1.0", tmp_path)
    lay = from_source_tree(tree / "pyproject.toml", "0.1.0")
    assert lay is not None
    assert (lay.package, lay.configs, lay.codebase_version) == ("lerobot.common", "hydra", None)
    assert not lay.smoke
    assert {"LeRobotDataset.create", "ACT policy"} <= set(lay.missing)
    text = lay.cannot_smoke()
    assert text.startswith("cannot smoke-test this release: lerobot 0.1.0") and "Hydra-era" in text


def test_dry_run_names_the_fork_layout_entry_point_and_smoke(trees: dict[str, Path], tmp_path: Path) -> None:
    project = trees["fork"].parent.parent
    res = run_envkit("setup", "--profile", "cpu", "--dry-run", "--json", "--prefix", str(tmp_path / "env"),
                     "--lerobot", str(project), env=NO_PIP_CONFIG)
    assert res.code == 0, res.err
    step = next(s for s in json.loads(res.out)["steps"] if s["id"] == "lerobot")
    notes = " ".join(step["notes"])
    assert "lerobot 0.1.0: lerobot.common.* (draccus-era" in notes
    assert "entry point `python -m lerobot.scripts.train`" in notes and "envkit can smoke-test it" in notes
    assert step["commands"][0][-3:] == ["-e", str(project / "lerobot"), "datasets>=2.19.0,<=3.6.0"]
    assert not (tmp_path / "env").exists()


def test_dry_run_of_pypi_010_warns_before_installing() -> None:
    notes, extra = plan_facts("pypi", None, "0.1.0")
    assert extra == () and "envkit cannot smoke-test it" in notes[0] and "--lerobot lerobot==0.4.4" in notes[0]
    assert plan_facts("pypi", None, "0.4.4") == ((), ())


def _probe_of(tree_root: Path, versions: dict[str, str]) -> dict:
    """The probe's lerobot sections for a tree as installed (tree facts read from the real files)."""
    from envkit.targetenv.probe import tree_facts

    return {"dists": {"lerobot": "0.1.0", **versions}, "lerobot": {"dir": str(tree_root), "importable": True, "tree": tree_facts(str(tree_root))},
            "lerobot_dist": {"installed": True, "version": "0.1.0", "console_scripts": {}, "versions": {}}}


def test_layout_check_fails_on_datasets_5_with_the_pin_as_fix(trees: dict[str, Path]) -> None:
    from envkit.doctor.checks.lerobot import entrypoint, layout
    from envkit.doctor.model import Context, Status

    root = trees["fork"].parent / "lerobot"
    bad = layout(Context(probe=_probe_of(root, {"datasets": "5.2.0"}), host={}))
    assert bad.status == Status.FAIL and "datasets>=2.19.0,<=3.6.0 (installed: 5.2.0)" in bad.summary
    assert bad.fix is not None and "'datasets>=2.19.0,<=3.6.0'" in bad.fix
    good_ctx = Context(probe=_probe_of(root, {"datasets": "3.6.0"}), host={})
    assert layout(good_ctx).status == Status.OK
    assert entrypoint(good_ctx).summary.startswith("train with python -m lerobot.scripts.train")
