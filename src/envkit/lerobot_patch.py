"""A profile's lerobot patch (patches/): locate it, dry-check it, apply it, prove it is installed.

A patch (e.g. patches/lerobot-0.4.2-npu.patch) is written against the lerobot *source* tree
(paths like ``src/lerobot/utils/utils.py``); setup applies it to the unpacked sdist or checkout
before ``pip install``. Every added block carries a marker comment, and `verify_installed` looks
for the markers the backends declare (Backend.patch_markers) in the installed package afterwards.

Checks run ``git apply`` with ``cwd=tree``; it works outside a repository like ``patch -p1`` and
never writes anything when any hunk fails, so a refused patch leaves the tree untouched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from envkit.accel.registry import patch_markers
from envkit.errors import EnvkitError, StepFailed
from envkit.resources import data_dir

APPLIES = "applies"
ALREADY_APPLIED = "already-applied"
APPLIED = "applied"

_GIT_TIMEOUT = 60
# Variables that would point git at some other repository than the tree being patched.
_GIT_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_COMMON_DIR")


def patch_path(name: str) -> Path:
    """The shipped patch file `name` (e.g. "lerobot-0.4.2-npu.patch")."""
    try:
        folder = data_dir("patches")
    except FileNotFoundError as exc:
        raise EnvkitError(str(exc), "reinstall envkit; its patches/ data directory is missing") from exc
    path = folder / name
    if not path.is_file():
        shipped = sorted(p.name for p in folder.glob("*.patch"))
        raise EnvkitError(
            f"patch {name!r} is not shipped with envkit (in {folder}: {', '.join(shipped) or 'none'})",
            "fix the profile's [lerobot].patch to name one of the shipped patches",
        )
    return path


# --- parsing (for structure checks and to name the failing hunk) ------------------------------

_HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class Hunk:
    path: str  # source-relative path, the a/ or b/ prefix removed
    index: int  # 1-based within its file
    header: str  # the "@@ -a,b +c,d @@" text
    old_start: int
    new_start: int
    patch_line: int  # 1-based line of the header in the patch file

    def describe(self) -> str:
        return f"hunk #{self.index} ({self.header}) of {self.path}, patch line {self.patch_line}"


def _strip_prefix(name: str) -> str:
    name = name.split("\t", 1)[0].strip()
    return name[2:] if name.startswith(("a/", "b/")) else name


def parse_hunks(text: str, patch_name: str = "patch") -> list[Hunk]:
    """Hunks of a unified diff. Raises EnvkitError when a hunk's body disagrees with its header."""
    lines = text.splitlines()
    hunks: list[Hunk] = []
    path: str | None = None
    per_file = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            new = _strip_prefix(lines[i + 1][4:])
            path = _strip_prefix(line[4:]) if new == "/dev/null" else new
            per_file = 0
            i += 2
            continue
        match = _HUNK_RE.match(line)
        if not match:
            i += 1
            continue
        if path is None:
            raise EnvkitError(
                f"patch {patch_name} is corrupt: hunk at line {i + 1} has no ---/+++ file header",
                "restore the patch file from the envkit release",
            )
        per_file += 1
        old_n = 1 if match.group(2) is None else int(match.group(2))
        new_n = 1 if match.group(4) is None else int(match.group(4))
        hunk = Hunk(path, per_file, match.group(0), int(match.group(1)), int(match.group(3)), i + 1)
        old_seen = new_seen = 0
        j = i + 1
        while j < len(lines) and (old_seen < old_n or new_seen < new_n):
            body = lines[j]
            if body.startswith("\\"):  # "\ No newline at end of file"
                j += 1
                continue
            tag = body[:1]
            if tag in (" ", ""):  # an empty line is context whose leading space was stripped
                old_seen += 1
                new_seen += 1
            elif tag == "-":
                old_seen += 1
            elif tag == "+":
                new_seen += 1
            else:
                break
            j += 1
        if (old_seen, new_seen) != (old_n, new_n):
            raise EnvkitError(
                f"patch {patch_name} is corrupt at {hunk.describe()}: the header declares "
                f"{old_n} old/{new_n} new lines, the body has {old_seen}/{new_seen}",
                "restore the patch file from the envkit release (it was truncated or edited by hand)",
            )
        hunks.append(hunk)
        i = j
    if not hunks:
        raise EnvkitError(
            f"patch {patch_name} is corrupt or empty: it holds no unified-diff hunk",
            "restore the patch file from the envkit release",
        )
    return hunks


# --- git apply -------------------------------------------------------------------------------


def _git_apply(tree: Path, patch: Path, *args: str) -> subprocess.CompletedProcess[str]:
    git = shutil.which("git")
    if git is None:
        raise EnvkitError(
            "git is not installed; envkit applies its lerobot patch with `git apply`",
            "install git (apt-get install git / yum install git) and rerun",
        )
    env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV_DROP}
    # Do not let git discover a repository *above* the tree (e.g. a cache inside a checkout):
    # inside a repository git apply resolves paths from its root and skips the rest silently.
    env["GIT_CEILING_DIRECTORIES"] = str(tree.resolve().parent)
    return subprocess.run(
        [git, "apply", *args, str(patch.resolve())],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=_GIT_TIMEOUT,
        check=False,
    )


def _first_failure(stderr: str, hunks: list[Hunk]) -> str:
    """Name the first failing hunk from git's error text."""
    for line in stderr.splitlines():
        m = re.match(r"error: patch failed: (.+):(\d+)$", line.strip())
        if m:
            path, start = m.group(1), int(m.group(2))
            for hunk in hunks:
                if hunk.path == path and start in (hunk.old_start, hunk.new_start):
                    return hunk.describe()
            return f"the hunk at {path}:{start}"
        m = re.match(r"error: (.+): No such file or directory$", line.strip())
        if m:
            return f"{m.group(1)} (the file is missing from the tree)"
        m = re.match(r"error: corrupt patch at line (\d+)$", line.strip())
        if m:
            return f"patch line {m.group(1)} (corrupt patch)"
    first = next((ln for ln in stderr.splitlines() if ln.startswith("error:")), stderr.strip())
    return first or "an unknown hunk"


def _target(patch: Path) -> str:
    m = re.match(r"lerobot-(\d+(?:\.\d+)+)-", patch.name)
    if m is None:
        return "the lerobot release this patch targets"
    return f"the lerobot {m.group(1)} source tree this patch targets"


def check_applies(tree: Path, patch: Path) -> str:
    """Dry-check `patch` against the source `tree`; write nothing.

    Returns "applies" or "already-applied". Raises EnvkitError naming the patch and the first
    failing hunk when the patch is corrupt or does not apply (wrong lerobot release, a modified
    or partially patched tree).
    """
    tree, patch = Path(tree), Path(patch)
    if not patch.is_file():
        raise EnvkitError(f"patch {patch} does not exist", "reinstall envkit or fix the profile")
    if not tree.is_dir():
        raise EnvkitError(f"cannot patch {tree}: not a directory", "point envkit at the lerobot source root")
    hunks = parse_hunks(patch.read_text(encoding="utf-8", errors="replace"), patch.name)
    forward = _git_apply(tree, patch, "--check")
    if forward.returncode == 0:
        return APPLIES
    if "corrupt patch" not in forward.stderr:
        reverse = _git_apply(tree, patch, "--check", "--reverse")
        if reverse.returncode == 0:
            return ALREADY_APPLIED
    where = _first_failure(forward.stderr, hunks)
    partial = _scan(tree, patch_markers())[1]
    hint = (
        "the tree looks partially patched (some envkit-npu-patch markers are present); "
        "start again from a fresh lerobot source tree"
        if partial
        else f"use {_target(patch)} (see patches/README.md), unpacked fresh and unmodified"
    )
    raise EnvkitError(f"patch {patch.name} does not apply to {tree}: {where} fails", hint)


def apply(tree: Path, patch: Path) -> str:
    """Apply `patch` to the source `tree`: "applied" or "already-applied" (nothing written).

    The dry check runs first, so a corrupt or non-applying patch leaves the tree untouched.
    """
    tree, patch = Path(tree), Path(patch)
    if check_applies(tree, patch) == ALREADY_APPLIED:
        return ALREADY_APPLIED
    done = _git_apply(tree, patch)
    if done.returncode != 0:
        raise StepFailed(
            f"git apply {patch.name} failed in {tree} after its dry check passed: {done.stderr.strip()}",
            "check the tree is writable and not being changed by another process, then rerun",
        )
    return APPLIED


# --- verification of an installed (or patched source) tree -----------------------------------


def _lerobot_dir(root: Path) -> Path | None:
    for candidate in (root / "src" / "lerobot", root / "lerobot", root):
        if candidate.name == "lerobot" and (candidate / "__init__.py").is_file():
            return candidate
    return None


def _scan(root: Path, wanted: dict[str, tuple[str, ...]]) -> tuple[list[str], list[str]]:
    """(missing entries per file, markers found) for a site-packages dir or source tree."""
    package = _lerobot_dir(root)
    if package is None:
        return [f"lerobot/{rel}: lerobot package not found under {root}" for rel in wanted], []
    missing: list[str] = []
    found: list[str] = []
    for rel, markers in wanted.items():
        path = package / rel
        if not path.is_file():
            missing.append(f"lerobot/{rel}: file not found in {package}")
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        absent = [m for m in markers if m not in text]
        found.extend(m for m in markers if m in text)
        if absent:
            missing.append(f"lerobot/{rel}: missing {', '.join(absent)}")
    return missing, found


def verify_installed(site_or_tree: Path, markers: dict[str, tuple[str, ...]] | None = None) -> list[str]:
    """Which patch markers are missing, one entry per file; an empty list means patched.

    `site_or_tree` is a site-packages directory (holding lerobot/), a lerobot source root
    (holding src/lerobot/) or the lerobot package directory itself. `markers` (file under lerobot/ ->
    marker strings) defaults to those every installed backend declares.
    """
    return _scan(Path(site_or_tree), patch_markers() if markers is None else markers)[0]
