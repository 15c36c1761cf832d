"""Which lerobot this is: package layout, dataset format, training entry point, and whether the
doctor's smoke (tiny dataset, ACT training, resume) can run on it.

Pure apart from reading a source tree's files: the facts come from `probe.tree_facts` (run on the
installed package by the probe, or on a source tree by `setup --dry-run`) and from lerobot's
entry-point metadata, never from the version number alone: forks vendor trees whose pyproject
says "0.1.0" while their code is a 2025 draccus-era lerobot, unlike PyPI's 2024 0.1.0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

from envkit.compat import matrix
from envkit.errors import EnvkitError
from envkit.source import read_project
from envkit.targetenv.probe import tree_facts

TRAIN_SCRIPT = "lerobot-train"
SMOKE_FIX = ("set up a lerobot envkit can smoke-test (envkit setup --lerobot lerobot==0.4.4, any 0.3.x/0.4.x release, "
             "or a fork tree with lerobot/common/datasets/lerobot_dataset.py and lerobot/configs/train.py); "
             "to check this environment without training, run envkit doctor --no-smoke")


@dataclass(frozen=True)
class Layout:
    version: str | None
    package: str | None  # "lerobot" (0.3.2 on) | "lerobot.common" (older trees) | None: not recognised
    configs: str | None  # "draccus" | "hydra" | None
    codebase_version: str | None  # LeRobotDataset.CODEBASE_VERSION: the dataset format it writes and reads
    train_module: str | None
    dataset_module: str | None
    entry: str | None  # the command that trains
    entry_from: str  # where envkit learned it
    missing: tuple[str, ...] = ()  # what the smoke needs and this lerobot lacks
    requires: tuple[dict[str, str], ...] = field(default=())  # extra requirements of its dataset format

    @property
    def smoke(self) -> bool:
        return not self.missing

    @property
    def name(self) -> str:
        if self.package == "lerobot":
            return "lerobot.* (0.3+ layout)"
        if self.package == "lerobot.common":
            era = {"draccus": "draccus-era tree, as forks vendor", "hydra": "Hydra-era, PyPI 0.1.0"}.get(self.configs or "", "unknown configs")
            return f"lerobot.common.* ({era})"
        return "unrecognised layout"

    def describe(self) -> str:
        fmt = f"datasets {self.codebase_version}" if self.codebase_version else "no LeRobotDataset format"
        entry = f"entry point `{self.entry}`" if self.entry else "no training entry point"
        smoke = "envkit can smoke-test it" if self.smoke else "envkit cannot smoke-test it (no " + ", no ".join(self.missing) + ")"
        return f"lerobot {self.version or '?'}: {self.name}, {fmt}, {entry}; {smoke}"

    def cannot_smoke(self) -> str:
        return (f"cannot smoke-test this release: lerobot {self.version or '?'} is {self.name} and has no "
                + ", no ".join(self.missing) + "; the smoke writes a tiny dataset with LeRobotDataset.create, "
                "trains ACT for 3 steps and resumes from the checkpoint")

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "layout": self.name, "package": self.package, "configs": self.configs,
                "codebase_version": self.codebase_version, "entry": self.entry, "entry_from": self.entry_from,
                "train_module": self.train_module, "dataset_module": self.dataset_module, "smoke": self.smoke,
                "missing": list(self.missing), "requires": [r["requirement"] for r in self.requires]}


def layout_requirements(codebase_version: str | None) -> tuple[dict[str, str], ...]:
    """compat.toml [lerobot_layouts]: requirements a dataset format needs beyond a tree's own pins."""
    if not codebase_version:
        return ()

    section = matrix().raw.get("lerobot_layouts") or {}
    out = []
    for row in section.get("rows", []):
        if codebase_version in row.get("codebase", []):
            out += [{"requirement": req, "why": row.get("why", ""), "source": row.get("source", section.get("source", ""))}
                    for req in row.get("requires", [])]
    return tuple(out)


def classify(tree: dict[str, Any], version: str | None, console_scripts: dict[str, str] | None) -> Layout:
    """A Layout from `probe.tree_facts` output and the distribution's console scripts."""
    scripts = console_scripts or {}
    module = tree.get("train_module")
    if TRAIN_SCRIPT in scripts:
        entry, entry_from = TRAIN_SCRIPT, f"console script {TRAIN_SCRIPT} = {scripts[TRAIN_SCRIPT]} (lerobot's entry-point metadata)"
    elif module:
        entry = f"python -m {module}"
        entry_from = f"{module.replace('.', '/')}.py; lerobot declares no {TRAIN_SCRIPT} console script"
    else:
        entry, entry_from = None, "neither a lerobot-train console script nor lerobot/scripts/(lerobot_)train.py"
    missing = []
    if not tree.get("dataset_create"):
        missing.append("LeRobotDataset.create")
    if not tree.get("act"):
        missing.append("ACT policy")
    if tree.get("configs") != "draccus" or not tree.get("resume"):
        missing.append("resume (draccus TrainPipelineConfig)")
    if entry is None:
        missing.append("training entry point")
    return Layout(version=version, package=tree.get("package"), configs=tree.get("configs"),
                  codebase_version=tree.get("codebase_version"), train_module=module,
                  dataset_module=tree.get("dataset_module"), entry=entry, entry_from=entry_from,
                  missing=tuple(missing), requires=layout_requirements(tree.get("codebase_version")))


def from_probe(probe: dict[str, Any]) -> Layout | None:
    """The installed lerobot's Layout, from the doctor's probe document; None if none is installed."""
    lr = probe.get("lerobot") if isinstance(probe.get("lerobot"), dict) else {}
    dist = probe.get("lerobot_dist") if isinstance(probe.get("lerobot_dist"), dict) else {}
    if not dist.get("installed") and not lr.get("dir"):
        return None
    tree = lr.get("tree")
    if not isinstance(tree, dict):  # a probe from before tree facts: what it did record
        tree = {k: lr[k] for k in ("codebase_version", "train_module") if lr.get(k)}
    version = dist.get("version") or (probe.get("dists") or {}).get("lerobot")
    return classify(tree, version, dist.get("console_scripts"))


def package_dir(project: Path) -> Path | None:
    """Where a source tree keeps the lerobot package: PROJECT/lerobot (flat) or PROJECT/src/lerobot."""
    for candidate in (project / "lerobot", project / "src" / "lerobot"):
        if (candidate / "__init__.py").is_file():
            return candidate
    return None


def from_source_tree(pyproject: Path, version: str | None) -> Layout | None:
    """The Layout a lerobot source tree will install as (for setup's plan); None if unreadable."""
    root = package_dir(pyproject.parent)
    if root is None:
        return None
    data = read_project(pyproject)
    scripts = dict(data.get("project", {}).get("scripts") or {})
    scripts.update(data.get("tool", {}).get("poetry", {}).get("scripts") or {})
    return classify(tree_facts(str(root)), version, {k: str(v) for k, v in scripts.items()})


def unmet_requirements(layout: Layout, versions: dict[str, str]) -> list[tuple[dict[str, str], str | None]]:
    """The layout's extra requirements that the installed versions break: [(row, installed or None)]."""
    out = []
    for row in layout.requires:
        req = Requirement(row["requirement"])
        have = versions.get(req.name)
        if have is None or not req.specifier.contains(have.split("+")[0], prereleases=True):
            out.append((row, have))
    return out


def plan_facts(kind: str, pyproject: Path | None, version: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """For setup's lerobot step: (notes naming layout / version / entry point / smoke support,
    extra requirements the tree's dataset format needs). A tree is read; a release is looked up
    in the matrix and named only when the smoke cannot run on it (the doctor confirms the layout
    once installed)."""
    if kind == "path" and pyproject is not None:
        lay = from_source_tree(pyproject, version)
        if lay is None:
            return (f"no lerobot package found beside {pyproject}: the doctor names the layout once installed",), ()
        notes = [f"tree {pyproject.parent}: {lay.describe()}"]
        notes += [f"also installs {r['requirement']}: the tree's {lay.codebase_version} dataset code needs it, and trees frozen "
                  f"before lerobot pinned it do not say so ({r['why']})" for r in lay.requires]
        return tuple(notes), tuple(r["requirement"] for r in lay.requires)
    if not version:
        return (), ()

    try:
        row = matrix().lerobot(version)
    except (EnvkitError, KeyError, ValueError):
        return (), ()  # resolve already refused or warned about a release the matrix does not know
    if row.codebase_version:
        return (), ()  # a release the smoke handles: nothing to add to the plan
    return (f"lerobot {version} (matrix): no LeRobotDataset format, entry point `{row.train_entry}` ({row.note or 'old layout'}); "
            "envkit cannot smoke-test it, so the doctor step will end red: " + SMOKE_FIX,), ()
