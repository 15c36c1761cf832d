"""Step `lerobot-source`: lerobot's source (sdist or git checkout) fetched into the prefix, patched
with envkit's NPU patch in a temp copy, then given its final name (a kill leaves only the temp)."""

from __future__ import annotations

import os
import shutil
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from envkit import lerobot_patch
from envkit.fsutil import file_digest
from envkit.safetar import safe_member
from envkit.setup.context import CommandFailed, RunContext
from envkit.setup.kinds import StepKind
from envkit.setup.step import PlanInputs, SetupOptions, Step
from envkit.setup.steps import patch as patch_step
from envkit.state import STATE_DIR

if TYPE_CHECKING:
    from envkit.resolve import Resolved


def build(resolved: "Resolved", options: SetupOptions, inputs: PlanInputs) -> Step:
    """The patch is written against lerobot's source tree: fetch it, patch a copy (the lerobot step installs that copy)."""
    lr = resolved.lerobot
    kind, version = lr["source"]["kind"], lr.get("version")
    tree = options.prefix / STATE_DIR / "src" / f"lerobot-{version or 'git'}"
    if kind == "git":
        url, ref = lr["source"].get("url"), lr["source"].get("ref")
        fetch = [("git", "clone", "--no-checkout", "--filter=blob:none", str(url), str(tree) + ".tmp"),
                 ("git", "-C", str(tree) + ".tmp", "checkout", "--detach", str(ref))]
    else:
        fetch = [(options.envkit_python, "-m", "pip", "download", "--no-deps", "--no-binary", "lerobot",
                  "--dest", str(tree.parent), f"lerobot=={version}")]
    step = patch_step.build(resolved, tree, lr["patch"], in_place=False, patch_file=inputs.patch_file)
    return replace(step, id="lerobot-source", action="lerobot-source", title=f"lerobot {version} source with envkit's NPU patch",
                   commands=tuple(fetch) + step.commands, files=(str(tree),),
                   params={**step.params, "kind": kind, "version": version})


def with_locked_sha256(step: Step, sha256: str) -> Step:
    """--from-lock: only the locked source archive may be built from."""
    return replace(step, why=step.why + f"; the downloaded archive must have the lock's sha256 {sha256[:16]}...",
                   inputs={**step.inputs, "sha256": sha256}, params={**step.params, "sha256": sha256})


def execute(ctx: RunContext, step: Step) -> None:
    tree = Path(step.params["tree"])
    patch = lerobot_patch.patch_path(step.params["patch"])
    if tree.is_dir() and not lerobot_patch.verify_installed(tree):
        return
    tmp = tree.with_name(tree.name + ".tmp")
    for stale in (tmp, tree):
        if stale.exists():
            shutil.rmtree(stale)
    if step.params["kind"] == "git":
        for argv in step.commands[:2]:
            ctx.run(step, argv)
    else:
        ctx.run(step, step.commands[0])
        archives = sorted(tree.parent.glob(f"lerobot-{step.params['version']}.tar.gz"))
        if not archives:
            raise CommandFailed(step.commands[0], 1, f"pip download left no lerobot-{step.params['version']}.tar.gz in {tree.parent}")
        if step.params.get("sha256") and file_digest(archives[0]) != step.params["sha256"]:  # --from-lock: the locked archive only
            raise CommandFailed(step.commands[0], 1, f"{archives[0]} has sha256 {file_digest(archives[0])}, not the lock's "
                                f"{step.params['sha256']}: the index served another file; remove it and rerun, or re-lock")
        _unpack_below_top(archives[0], tmp)
    ctx.checkpoint(step.id)
    lerobot_patch.apply(tmp, patch)
    os.replace(tmp, tree)


def _unpack_below_top(archive_path: Path, dest: Path) -> None:
    """An sdist's members below its top folder (lerobot-X.Y.Z/), into `dest`; anything unsafe is skipped."""
    with tarfile.open(archive_path) as archive:
        dest.mkdir(parents=True)
        for member in archive.getmembers():
            parts = Path(member.name).parts
            if len(parts) < 2 or not safe_member(member):
                continue  # the top folder, or anything that could escape the tree
            member.name = str(Path(*parts[1:]))
            archive.extract(member, dest, filter="data") if hasattr(tarfile, "data_filter") else archive.extract(member, dest)


KINDS = {"lerobot-source": StepKind(execute)}
