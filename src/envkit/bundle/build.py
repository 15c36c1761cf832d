"""`envkit bundle`: contents -> fetch -> archive, for a profile and a target platform (any host arch)."""

from __future__ import annotations

import json
import platform as host_platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from envkit import __version__
from envkit.bundle import archive, contents, fetch
from envkit.bundle.contents import Want
from envkit.bundle.manifest import Manifest, Member
from envkit.compat import matrix
from envkit.errors import EnvkitError, StepFailed
from envkit.fsutil import file_digest
from envkit.lock import _resolve as lock_resolve
from envkit.lock import read_lock
from envkit.lerobot_patch import patch_path
from envkit.pipconfig import read_pip_config
from envkit.profiles import load_profile
from envkit.setup.steps.weights import check_weights

ARCH = {"linux-64": "x86_64", "linux-aarch64": "aarch64"}


@dataclass
class BuildResult:
    out: Path
    manifest: Manifest
    sha256: str
    seconds: float
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for m in self.manifest.members:
            kinds[m.kind] = kinds.get(m.kind, 0) + 1
        return {"bundle": str(self.out), "sha256": self.sha256, "bytes": self.out.stat().st_size, "seconds": round(self.seconds, 2),
                "profile": self.manifest.profile, "platform": self.manifest.platform, "python": self.manifest.python,
                "members": kinds, "missing": list(self.manifest.missing), "system": self.manifest.system, "warnings": self.warnings}


def host_conda_platform() -> str | None:
    return {"x86_64": "linux-64", "aarch64": "linux-aarch64"}.get(host_platform.machine()) if sys.platform == "linux" else None


def pip_platform_tags(platform: str) -> list[str]:
    arch = ARCH[platform]
    return [f"manylinux_2_{m}_{arch}" for m in range(28, 16, -1)] + [f"manylinux2014_{arch}"]


def _checkout_root() -> Path | None:
    root = Path(__file__).resolve().parents[3]
    pyproject = root / "pyproject.toml"
    return root if pyproject.is_file() and 'name = "envkit"' in pyproject.read_text() else None


def envkit_wheel(given: Path | None, work: Path) -> Path:
    """envkit's own wheel: the one given, or built from this checkout (hatchling builds are reproducible)."""
    if given is not None:
        if not given.is_file() or not given.name.startswith("envkit-") or given.suffix != ".whl":
            raise EnvkitError(f"--envkit-wheel {given} is not an envkit wheel file", fix="pass dist/envkit-<version>-py3-none-any.whl")
        return given
    root = _checkout_root()
    if root is None:
        raise EnvkitError("this envkit is installed from a wheel, so `envkit bundle` cannot build envkit's own wheel",
                          fix="pass the wheel you installed with --envkit-wheel FILE")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work), str(root)],
                          capture_output=True, text=True, check=False)
    wheels = sorted(work.glob("envkit-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise StepFailed(f"building envkit's wheel from {root} failed: {' '.join(proc.stderr.split()[-40:])}",
                         fix="run `pip wheel --no-deps .` in the checkout to see why")
    return wheels[0]


def envkit_wants(wheel: Path, platform: str, python: str, work: Path) -> list[Want]:
    """envkit's wheel and its dependencies' wheels for the target (pip resolves; envkit fetches by hash)."""
    sha = file_digest(wheel)
    kept = fetch.cache_root() / sha[:2] / sha / wheel.name
    if not kept.is_file():
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wheel, kept)
    report = work / "pip-report.json"
    abi = "cp" + python.replace(".", "")
    argv = [sys.executable, "-m", "pip", "install", "-q", "--dry-run", "--ignore-installed", "--only-binary=:all:",
            "--python-version", python, "--implementation", "cp", "--abi", abi, "--target", str(work / "target"),
            "--report", str(report)]
    for tag in pip_platform_tags(platform):
        argv += ["--platform", tag]
    # pip, setuptools, wheel: `uv venv --seed` and building a locked sdist need them offline too.
    argv += [str(kept), "pip", "setuptools", "wheel"]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.split()[-60:])
        raise StepFailed(f"pip could not find envkit's dependencies for {platform} Python {python}: {tail}",
                         fix="build the bundle on a machine that reaches PyPI (or your mirror, through pip's configuration)")
    return contents.pip_report_members(json.loads(report.read_text()))


def _dataset_wants(dataset: Path | None) -> list[Want]:
    if dataset is None:
        return []
    if not dataset.is_dir():
        raise EnvkitError(f"--dataset {dataset} is not a directory", fix="pass a LeRobot dataset root (meta/, data/, videos/)")
    if not (dataset / "meta" / "info.json").is_file():
        raise EnvkitError(f"--dataset {dataset} has no meta/info.json, so it is not a LeRobot dataset root",
                          fix="pass the directory that holds meta/info.json")
    return contents.dataset_members(dataset, fetch.copy_tree_files(dataset))


def build(profile_ref: str, out: Path, platform: str | None = None, from_lock: Path | None = None, weights: Path | None = None,
          dataset: Path | None = None, envkit_wheel_file: Path | None = None, jobs: int = 4,
          say: Callable[[str], None] = lambda s: None, python: str | None = None) -> BuildResult:
    started = time.monotonic()
    archive.check_output(out)
    prof = load_profile(profile_ref)
    if platform is None:
        here = host_conda_platform()
        platform = here if here in prof.platforms else prof.platforms[0]
    if platform not in prof.platforms:
        raise EnvkitError(f"profile '{prof.name}' targets {', '.join(prof.platforms)}, not --platform {platform}",
                          fix=f"pass --platform {prof.platforms[0]}")
    resolved = lock_resolve(prof, platform, python)  # the Python the lock was made for (venv: this host's, or --python)
    view = prof.for_platform(platform)
    lock_dir = Path(from_lock) if from_lock else Path("lockfiles") / prof.name
    if not (lock_dir / "manifest.json").is_file():
        raise EnvkitError(f"no lock for profile '{prof.name}' at {lock_dir}: a bundle holds exactly what a lock names",
                          fix=f"pass --from-lock lockfiles/{prof.name}, or lock it: envkit lock --profile {profile_ref} --platform {platform} --layer pypi")
    lock = read_lock(lock_dir)
    if lock.profile != prof.name:
        raise EnvkitError(f"--from-lock {lock_dir} locks profile '{lock.profile}', not '{prof.name}'", fix=f"pass lockfiles/{prof.name}")
    layers = lock.layers(platform)
    if "pypi" not in layers:
        gap = lock.missing("pypi", platform)
        raise EnvkitError(f"--from-lock {lock_dir} has no PyPI layer for {platform} ({gap['why']})", fix=f"lock it: {gap['lock_with']}")
    warnings: list[str] = []
    missing: list[dict[str, str]] = []
    patch = resolved.lerobot.get("patch")
    wants = [Want(f"profile/{Path(prof.path).name}", "profile", prof.name, str(prof.version), str(prof.path))]
    wants += contents.lock_members(lock, platform)
    if patch:
        sdist = lock.lerobot_sdist(platform)
        if sdist is None:
            raise EnvkitError(f"--from-lock {lock_dir} records no lerobot source archive for {platform}, and profile '{prof.name}' "
                              "patches lerobot", fix=f"re-lock: envkit lock --profile {profile_ref} --platform {platform} --layer pypi")
        wants += contents.source_members(sdist, patch_path(patch))
    if view.environment == "conda" and "conda" not in layers:
        gap = lock.missing("conda", platform)
        missing.append({"kind": "conda", "name": "conda layer",
                        "why": f"the lock has no conda layer for {platform} ({gap['why']}); lock it with: {gap['lock_with']}"})
    asset = view.assets.get("resnet18", {})
    if weights is not None:
        check_weights(weights, asset.get("sha256"), asset.get("sha256_prefix"))
        wants.append(Want(f"weights/{asset.get('file') or weights.name}", "weights", "resnet18", "", str(weights)))
    else:
        missing.append({"kind": "weights", "name": asset.get("file") or "resnet18",
                        "why": "no --weights given: setup --bundle skips the pretrained backbone (train with "
                               "--policy.pretrained_backbone_weights=null, or rebuild with --weights FILE)"})
    wants += _dataset_wants(dataset)
    with tempfile.TemporaryDirectory(prefix="envkit-bundle-") as tmp:
        work = Path(tmp)
        say("envkit's wheel and its dependencies for " + f"{platform} Python {resolved.python}")
        wants += envkit_wants(envkit_wheel(envkit_wheel_file, work), platform, resolved.python, work)
        wants = _dedupe(wants)
        sources = read_pip_config()
        indexes = tuple(u for u in (sources.index_url, *sources.extra_index_urls) if u)
        say(f"fetching {len(wants)} members (lock URLs, checked against the lock's hashes)")

        def get(want: Want) -> tuple[Want, Path]:
            return want, fetch.fetch(want, sources.find_links, indexes)

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            fetched = list(pool.map(get, wants))
    members, files = [], {}
    for want, path in fetched:
        sha = want.sha256 or file_digest(path)
        members.append(Member(want.path, sha, path.stat().st_size, want.kind, want.name, want.version))
        files[want.path] = path
    system: dict[str, Any] = {}
    if resolved.ffmpeg["source"] == "system":
        majors = resolved.ffmpeg["majors_allowed"]
        system["ffmpeg"] = {"sonames": [f"libavutil.so.{matrix().ffmpeg_sonames(m)['avutil']}" for m in majors],
                            "install": "apt-get install -y --no-install-recommends ffmpeg",
                            "why": f"profile '{prof.name}' takes FFmpeg (majors {majors}) from the system; the bundle does not carry it"}

    manifest = Manifest(prof.name, f"profile/{Path(prof.path).name}", platform, resolved.python, __version__,
                        tuple(members), system, tuple(missing), f"lockfiles/{lock.profile}")
    say(f"writing {out} ({len(members)} members, {manifest.size() >> 20} MiB)")
    archive.write(out, manifest, files)
    return BuildResult(out, manifest, file_digest(out), time.monotonic() - started, warnings)


def _dedupe(wants: list[Want]) -> list[Want]:
    """One member per path (the lock and envkit's dependencies may name the same wheel)."""
    seen: dict[str, Want] = {}
    locked = {(w.path.rsplit("/", 1)[-1], w.sha256) for w in wants if w.kind == "wheel"}
    for w in wants:
        if w.kind == "envkit" and (w.path.rsplit("/", 1)[-1], w.sha256) in locked:
            continue  # the lock's copy serves both: setup finds it through the same --find-links
        if w.path in seen and (seen[w.path].sha256 or w.sha256) and seen[w.path].sha256 != w.sha256:
            raise EnvkitError(f"two different files would be {w.path} in the bundle ({seen[w.path].kind} and {w.kind})",
                              fix="re-lock so both name the same file")
        seen.setdefault(w.path, w)
    return list(seen.values())

