"""`envkit setup --bundle`: check the system, verify every member, unpack into the prefix, set up offline.

Order matters: the system check (FFmpeg, where the profile takes it from the system) and the hash
check of every member come before anything is written, so a damaged or truncated bundle leaves the
prefix as it was. The verified bundle is unpacked into <prefix>/.envkit/bundle/ (setup's own
directory: `setup --undo` removes it) and setup then runs the ordinary --from-lock plan with
every package source pointed at it: uv offline with no index, pip with no index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from envkit.bundle import archive
from envkit.bundle.build import host_conda_platform
from envkit.bundle.manifest import MANIFEST, Manifest
from envkit.errors import EnvkitError
from envkit.pipconfig import PipSources
from envkit.profiles import builtin_dir
from envkit.setup.prefix import prepare_prefix
from envkit.state import STATE_DIR

if TYPE_CHECKING:
    from envkit.pipconfig import PipSources
    from envkit.setup.plan import Plan

BUNDLE_DIR = "bundle"


@dataclass(frozen=True)
class Unpacked:
    root: Path
    manifest: Manifest

    @property
    def from_lock(self) -> Path:
        return self.root / self.manifest.lock

    @property
    def profile_ref(self) -> str:
        """The built-in profile's name when the bundled file is that profile byte for byte, else the bundled file."""
        bundled = self.root / self.manifest.profile_file
        builtin = builtin_dir() / bundled.name
        if builtin.is_file() and builtin.read_bytes() == bundled.read_bytes():
            return self.manifest.profile
        return str(bundled)

    @property
    def weights(self) -> Path | None:
        found = self.manifest.of_kind("weights")
        return self.root / found[0].path if found else None

    @property
    def dataset(self) -> Path | None:
        return self.root / "dataset" if self.manifest.of_kind("dataset") else None

    def sources(self) -> "PipSources":
        """Where uv may take packages from: the bundle's wheel folders, no index."""
        return PipSources(no_index=True, find_links=tuple(str(self.root / d) for d in ("wheels", "envkit") if (self.root / d).is_dir()))

    def offline_env(self) -> dict[str, str]:
        """For every child (uv venv --seed, uv pip, pip download of a patched lerobot's source, the doctor)."""
        links = [str(self.root / d) for d in ("wheels", "envkit", "src") if (self.root / d).is_dir()]
        return {"UV_OFFLINE": "1", "UV_NO_INDEX": "1", "UV_FIND_LINKS": ",".join(links),
                "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": " ".join(links),
                "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def missing_system(manifest: Manifest, loader_listing: str) -> str | None:
    """Why the system lacks what the bundle says it must provide (None: it has it). Pure."""
    ffmpeg = manifest.system.get("ffmpeg")
    if not ffmpeg:
        return None
    known = {line.strip().split(" ", 1)[0] for line in loader_listing.splitlines() if line.strip()}
    if known & set(ffmpeg["sonames"]):
        return None
    return (f"{ffmpeg['why']}, and this system's loader knows none of {', '.join(ffmpeg['sonames'])} (ldconfig -p)")


def check_system(manifest: Manifest, bundle: Path) -> None:
    try:
        listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=False).stdout
    except OSError:
        listing = ""
    why = missing_system(manifest, listing)
    if why:
        install = manifest.system["ffmpeg"]["install"]
        raise EnvkitError(f"bundle {bundle}: {why}; nothing was installed",
                          fix=f"install the system's FFmpeg first (Debian/Ubuntu, from your local mirror: `{install}`), then rerun",
                          exit_code=1)


def check_platform(manifest: Manifest, bundle: Path) -> None:
    here = host_conda_platform()
    if here is not None and here != manifest.platform:
        raise EnvkitError(f"bundle {bundle} is for {manifest.platform} (profile '{manifest.profile}'), and this machine is {here}",
                          fix=f"build one for this machine: envkit bundle --profile {manifest.profile} --platform {here} -o FILE.tar")


def prepare(bundle: Path, prefix: Path, yes: bool) -> Unpacked:
    """Checks first (system, platform, every hash); only an intact bundle reaches the prefix.

    One read of the tar: members are hashed while they are written to a staging directory beside
    the prefix (same filesystem, so it is renamed into place); a damaged member removes the staging
    directory and the prefix is untouched. Where the prefix's parent is not writable, the tar is
    verified first and then unpacked inside the prefix (two reads).
    """
    bundle = Path(bundle).expanduser().absolute()
    manifest = archive.read_manifest(bundle)
    check_platform(manifest, bundle)
    check_system(manifest, bundle)
    target = prefix / STATE_DIR / BUNDLE_DIR
    done = target / MANIFEST
    if done.is_file() and done.read_text() == manifest.to_json():
        archive.verify(bundle)  # a resumed setup: the same bundle, already unpacked; still checked before any step
        return Unpacked(target, manifest)
    sweep_stale_stages(prefix)
    existing = next((p for p in (prefix, *prefix.parents) if p.is_dir()), Path("/"))
    archive.check_free_space(manifest, existing)
    try:
        stage: Path | None = Path(tempfile.mkdtemp(prefix=f"{_stage_stem(prefix)}{os.getpid()}-", dir=prefix.parent))
    except OSError:
        stage = None
    if stage is None:
        archive.verify(bundle)
    else:
        _unpack(bundle, manifest, stage, cleanup=stage)
    created = not os.path.lexists(prefix)
    try:
        prepare_prefix(prefix, yes, created=created)
        if stage is None:
            stage = target.with_name(BUNDLE_DIR + ".tmp")
            _unpack(bundle, manifest, stage, cleanup=stage)
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(stage), str(target))  # a rename on the same filesystem
    except BaseException:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        if created:
            shutil.rmtree(prefix, ignore_errors=True)  # only what this call made: the prefix did not exist
        raise
    return Unpacked(target, manifest)


def _stage_stem(prefix: Path) -> str:
    return f".{prefix.name}.envkit-bundle-"


def sweep_stale_stages(prefix: Path) -> list[Path]:
    """Remove staging directories that a killed `setup --bundle` left beside the prefix (gigabytes
    each). Only envkit's own names qualify, and only where the process that made one is gone."""
    stem, removed = _stage_stem(prefix), []
    try:
        siblings = list(prefix.parent.iterdir())
    except OSError:
        return removed
    for path in siblings:
        pid_text = path.name[len(stem):].split("-", 1)[0] if path.name.startswith(stem) else ""
        if not pid_text.isdigit() or path.is_symlink() or not path.is_dir() or _alive(int(pid_text)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: leave its directory alone
    return True


def _unpack(bundle: Path, manifest: Manifest, stage: Path, cleanup: Path) -> None:
    try:
        if stage.exists() and any(stage.iterdir()):
            shutil.rmtree(stage)
        _, problems = archive.scan(bundle, dest=stage)
        if problems:
            raise archive.refused(bundle, problems)
        (stage / MANIFEST).write_text(manifest.to_json())  # written last: its presence means the unpacking finished
    except BaseException:
        shutil.rmtree(cleanup, ignore_errors=True)
        raise


def adjust_plan(plan: "Plan", unpacked: Unpacked) -> "Plan":
    """The locked conda set installs from the bundle's conda/ folder (no channel); the doctor's smoke
    trains on the bundled dataset when there is one (else on the tiny one it generates)."""
    conda = unpacked.root / "conda" if unpacked.manifest.of_kind("conda") else None

    def adjusted(step):  # type: ignore[no-untyped-def]
        command = tuple(step.commands[0]) if step.commands else ()
        if step.action == "conda" and conda is not None and "install-lock" in command:
            return replace(step, commands=(command + ("--packages", str(conda)),))
        if step.action == "doctor" and unpacked.dataset is not None:
            return replace(step, commands=(command + ("--dataset", str(unpacked.dataset)),))
        return step

    return replace(plan, steps=tuple(adjusted(s) for s in plan.steps))


def bundle_options(bundle: Path, prefix: Path, profile: str | None, weights: Path | None, platform: str | None, yes: bool,
                   dry_run: bool) -> tuple[Unpacked, str, Path, Path | None, str]:
    """setup's inputs for --bundle: (unpacked, profile, from_lock, weights, platform); the environment goes offline."""
    if dry_run:
        raise EnvkitError("--bundle does not combine with --dry-run: a bundle's plan needs its lock unpacked",
                          fix=f"list what the bundle holds with `envkit bundle --check {bundle}`")
    manifest = archive.read_manifest(Path(bundle).expanduser().absolute())
    if profile and profile != manifest.profile:
        raise EnvkitError(f"--bundle {bundle} holds profile '{manifest.profile}', not --profile {profile}",
                          fix="leave --profile out: the bundle names its profile")
    if platform and platform != manifest.platform:
        raise EnvkitError(f"--bundle {bundle} is for {manifest.platform}, not --platform {platform}", fix="leave --platform out")
    conda_gap = next((m for m in manifest.missing if m.get("kind") == "conda"), None)
    if conda_gap is not None:
        # Without a locked conda layer the base (python, FFmpeg) would be solved against a channel: not offline.
        raise EnvkitError(f"--bundle {bundle}: profile '{manifest.profile}' builds a conda environment, and "
                          + conda_gap["why"] + "; nothing was installed",
                          fix="set it up with `envkit setup --from-lock` where the conda channel is reachable (or a mirror of it via "
                              "--channel), or use a venv profile (cpu) offline")
    unpacked = prepare(bundle, prefix, yes)
    os.environ.update(unpacked.offline_env())  # the children (uv, pip, the doctor) inherit it
    return unpacked, unpacked.profile_ref, unpacked.from_lock, weights or unpacked.weights, manifest.platform
