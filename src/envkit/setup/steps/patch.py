"""Step `patch`: envkit's NPU patch applied to a lerobot tree (dry-checked first: a corrupt or
non-applying patch is refused before anything is written); undo reverses it in a user's tree."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from envkit import lerobot_patch
from envkit.setup.context import RunContext
from envkit.setup.kinds import StepKind
from envkit.setup.step import Step
from envkit.state import SetupState

if TYPE_CHECKING:
    from envkit.resolve import Resolved


def build(resolved: "Resolved", tree: Path, patch: str, in_place: bool, patch_file: str | None) -> Step:
    patch_file = patch_file or f"<envkit data>/patches/{patch}"
    return Step(
        "patch", f"apply envkit's NPU patch {patch} to {tree}",
        "lerobot needs the NPU device paths (auto-select, safe device, torch_npu import); the patch is dry-checked first "
        "and refused when corrupt or not applying",
        "patch",
        commands=(("git", "-C", str(tree), "apply", "--check", patch_file), ("git", "-C", str(tree), "apply", patch_file)),
        files=(str(tree),),
        inputs={"tree": str(tree), "patch": patch, "in_place": in_place},
        params={"tree": str(tree), "patch": patch, "in_place": in_place},
    )


def execute(ctx: RunContext, step: Step) -> None:
    tree, patch = Path(step.params["tree"]), lerobot_patch.patch_path(step.params["patch"])
    ctx.write(f"$ git apply --check {shlex.quote(str(patch))}   (in {tree})\n")
    state = lerobot_patch.check_applies(tree, patch)  # raises on a corrupt or non-applying patch: nothing written
    ctx.checkpoint(step.id)
    if state == lerobot_patch.APPLIES:
        ctx.state.add_unique("patched_trees", {"tree": str(tree), "patch": str(patch)})
        ctx.write(f"$ git apply {shlex.quote(str(patch))}   (in {tree})\n")
    ctx.write(f"# patch: {lerobot_patch.apply(tree, patch)}\n")


def undo(prefix: Path, state: SetupState) -> list[str]:
    """Reverse the patch in the user's trees (one inside the prefix goes with the prefix)."""
    done: list[str] = []
    git = shutil.which("git")
    for entry in state.patched_trees:
        tree = Path(entry["tree"])
        if not tree.is_dir():
            done.append(f"left the NPU patch record of {tree}: the tree is gone")
        elif git and not str(tree).startswith(str(prefix)):
            proc = subprocess.run([git, "apply", "--reverse", entry["patch"]], cwd=tree, capture_output=True, text=True, check=False)
            done.append(f"reversed the NPU patch in {tree}" if proc.returncode == 0
                        else f"could not reverse the NPU patch in {tree}: {proc.stderr.strip()}")
    return done


KINDS = {"patch": StepKind(execute, undo=undo)}
