"""The edge of planning: read what `plan.build_plan` needs from disk, so the plan itself stays pure.

Reads: the --wheels directory (which of the accelerator block's wheels it holds), the --from-lock
directory (the lock and the sha256 of the files it installs), the lerobot tree's layout, the
shipped NPU patch's path, and whether the profile is a built-in one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from envkit.accel.base import match_wheels
from envkit.errors import EnvkitError
from envkit.lerobot_patch import patch_path
from envkit.lock import manifest, read_lock
from envkit.setup.plan import PlanInputs, SetupOptions
from envkit.targetenv.layout import plan_facts

if TYPE_CHECKING:
    from envkit.profiles import Profile
    from envkit.resolve import Resolved


def gather(profile: "Profile", resolved: "Resolved", options: SetupOptions) -> PlanInputs:
    local = match_wheels(resolved.accel, resolved.python, resolved.arch, options.wheels) if options.wheels is not None else {}
    lock, hashes = None, {}
    if options.from_lock is not None:
        lock = read_lock(options.from_lock)
        for path in [options.from_lock / "conda-lock.yml", *lock.pip_requirements.values()]:
            if Path(path).is_file():
                hashes[Path(path).name] = manifest.file_sha256(Path(path))
    lr = resolved.lerobot
    kind = lr["source"]["kind"]
    pyproject = Path(lr["source"]["pyproject"]) if kind == "path" else None
    notes, requires = plan_facts(kind, pyproject, lr.get("version"))
    patch_file = None
    if lr.get("patch"):
        try:
            patch_file = str(patch_path(lr["patch"]))
        except EnvkitError:
            patch_file = None  # the plan shows where it would be; the patch step refuses a missing patch
    return PlanInputs(local_wheels=local, lock=lock, lock_hashes=hashes, layout_notes=tuple(notes),
                      layout_requires=tuple(requires), patch_file=patch_file)
