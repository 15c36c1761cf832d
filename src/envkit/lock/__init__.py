"""`envkit lock`: reproducible lockfiles per profile, written to lockfiles/<profile>/.

  conda-lock.yml        both layers, every locked platform (conda-lock's own format and writer)
  pypi-<platform>.txt   uv's requirements with hashes (what setup --from-lock installs)
  manifest.json         the inputs of each (layer, platform), for `--check`

Layers and platforms are independent: locking one keeps the others, so what this machine can
reach (PyPI) is locked here and the rest (conda-forge, the PyTorch CPU index) on a connected CI.
"""

from __future__ import annotations

import concurrent.futures
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envkit.errors import EnvkitError, StepFailed
from envkit.lock import conda, lockfile, manifest, pypi
from envkit.lock.conda import CondaRecord, to_rattler
from envkit.lock.lockfile import LOCKFILE
from envkit.lock.pypi import Unreachable
from envkit.profiles import builtin_dir, list_profiles, load_profile
from envkit.pythons import for_resolve
from envkit.resolve import resolve

if TYPE_CHECKING:
    from envkit.lock.conda import CondaLock
    from envkit.lock.pypi import PypiLock
    from envkit.profiles import Profile
    from envkit.resolve import Resolved

__all__ = ["LAYERS", "LockReport", "LockSet", "check", "lock", "read_lock", "pypi_file"]

LAYERS = ("conda", "pypi")
_MANAGER = {"conda": "conda", "pypi": "pip"}


def pypi_file(platform: str) -> str:
    return f"pypi-{platform}.txt"


@dataclass
class LockReport:
    profile: str
    root: Path
    locked: list[tuple[str, str, int, float]] = field(default_factory=list)  # (layer, platform, packages, seconds)
    failed: list[tuple[str, str, EnvkitError]] = field(default_factory=list)
    skipped: list[tuple[str, str, EnvkitError]] = field(default_factory=list)  # unreachable, with skip_unreachable


@dataclass(frozen=True)
class _Task:
    profile: "Profile"
    resolved: "Resolved"
    layer: str
    exclude_newer: str
    channels: tuple[str, ...]


def _select(refs: list[str] | None, platforms: list[str] | None, layers: list[str]) -> list[tuple["Profile", list[str]]]:
    if refs:
        profiles = [load_profile(ref) for ref in refs]
    else:
        profiles = list_profiles()
    out = []
    for prof in profiles:
        chosen = [p for p in prof.platforms if not platforms or p in platforms]
        if not chosen:
            if refs:
                raise EnvkitError(f"Profile '{prof.name}' targets {', '.join(prof.platforms)}, none of --platform {', '.join(platforms or [])}",
                                  fix=f"pass --platform {prof.platforms[0]}")
            continue
        out.append((prof, chosen))
    return out


def _resolve(prof: "Profile", plat: str, python: str | None) -> "Resolved":
    """The tuple a layer locks: for a venv profile on the Python setup would take on this host (or --python)."""
    minor, pythons = for_resolve(python, prof.environment, other_host=False)
    return resolve(prof, None, None, plat, python=minor, pythons=pythons)


def lock(
    profiles: list[str] | None = None,
    platforms: list[str] | None = None,
    layer: str = "all",
    channels: list[str] | None = None,
    exclude_newer: str | None = None,
    wheels: Path | None = None,
    out_dir: Path = Path("lockfiles"),
    jobs: int = 4,
    skip_unreachable: bool = False,
    python: str | None = None,
) -> list[LockReport]:
    """Lock the layers of the selected profiles; write what succeeded; raise StepFailed if any failed."""
    layers = list(LAYERS) if layer == "all" else [layer]
    if any(l not in LAYERS for l in layers):
        raise EnvkitError(f"--layer {layer!r} is not a layer", fix="pass --layer conda, pypi or all")
    tasks: list[_Task] = []
    for prof, plats in _select(profiles, platforms, layers):
        for plat in plats:
            r = _resolve(prof, plat, python)
            date = exclude_newer or r.exclude_newer
            if not date:
                raise EnvkitError(f"Profile '{prof.name}' ({prof.path}) has no [lock] exclude_newer, so a re-lock would not be reproducible",
                                  fix="add [lock] exclude_newer = \"YYYY-MM-DDT00:00:00Z\" to the profile, or pass --exclude-newer DATE")
            for lay in layers:
                tasks.append(_Task(prof, r, lay, pypi.normalize_date(date), tuple(channels or r.conda["channels"])))

    uv = pypi.find_uv() if "pypi" in layers else None
    uv_ver = pypi.uv_version(uv) if uv else ""
    wheel_hashes = pypi.wheel_hashes(wheels) if wheels is not None else None

    def run(task: _Task) -> "PypiLock | CondaLock":
        r = task.resolved
        if task.layer == "pypi":
            return pypi.compile_platform(r, task.exclude_newer, wheels, uv)
        return conda.solve(r.profile, r.platform, list(r.conda["specs"]), list(task.channels),
                           dict(r.conda["virtual_packages"]), task.exclude_newer)

    results: dict[int, Any] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(run, t): i for i, t in enumerate(tasks)}
        for fut in concurrent.futures.as_completed(futures):
            try:
                results[futures[fut]] = fut.result()
            except EnvkitError as exc:
                results[futures[fut]] = exc

    reports: list[LockReport] = []
    by_profile: dict[str, list[tuple[_Task, Any]]] = {}
    for i, task in enumerate(tasks):
        by_profile.setdefault(task.profile.name, []).append((task, results[i]))
    for name, done in by_profile.items():
        report = LockReport(name, out_dir / name)
        ok = [(t, res) for t, res in done if not isinstance(res, EnvkitError)]
        for t, res in done:
            if isinstance(res, EnvkitError):
                bucket = report.skipped if skip_unreachable and isinstance(res, Unreachable) else report.failed
                bucket.append((t.layer, t.resolved.platform, res))
        if ok:
            _write(report.root, ok, uv_ver, wheel_hashes)
        if ok or report.skipped or report.failed:
            _note_missing(report.root, done[0][0].profile, {(lay, plat): exc for lay, plat, exc in report.skipped + report.failed})
        report.locked = [(t.layer, t.resolved.platform, len(getattr(res, "packages", getattr(res, "records", []))), res.seconds) for t, res in ok]
        reports.append(report)
    failures = [f for rep in reports for f in rep.failed]
    if failures:
        first = failures[0][2]
        user_error = [f for f in failures if not isinstance(f[2], StepFailed)]
        if len(failures) == 1 or user_error:
            raise (user_error[0][2] if user_error else first)
        raise StepFailed(_failures_paragraph(failures), fix=first.fix)
    return reports


def _write(root: Path, done: list[tuple[_Task, Any]], uv_ver: str, wheel_hashes: dict[str, str] | None) -> None:
    root.mkdir(parents=True, exist_ok=True)
    man = manifest.read(root) or manifest.empty(done[0][0].profile.name)
    prof = done[0][0].profile
    entries_new = []
    replace: set[tuple[str, str]] = set()
    for task, res in done:
        r, plat = task.resolved, task.resolved.platform
        replace.add((_MANAGER[task.layer], plat))
        if task.layer == "pypi":
            (root / pypi_file(plat)).write_text(res.requirements_txt)
            inputs = manifest.pypi_inputs(prof, r, task.exclude_newer, wheel_hashes)
            entry = {"inputs": inputs, "tools": {"uv": uv_ver}, "packages": len(res.packages), "file": pypi_file(plat),
                     "sha256": manifest.file_sha256(root / pypi_file(plat)), "find_links": list(res.find_links)}
            if r.lerobot.get("patch") and res.lerobot_sdist:
                entry["lerobot_sdist"] = res.lerobot_sdist  # setup --from-lock patches this exact archive
            entries_new += [lockfile.pip_entry(p, plat) for p in res.packages]
        else:
            inputs = manifest.conda_inputs(prof, r, task.exclude_newer, list(task.channels))
            # conda-lock.yml has no field for these; rattler.install wants them back.
            extra = {rec.name: {"build_number": rec.build_number, "noarch": rec.noarch} for rec in res.records}
            entry = {"inputs": inputs, "packages": len(res.records), "records": dict(sorted(extra.items()))}
            entries_new += [lockfile.conda_entry(rec, plat) for rec in res.records]
        man["layers"].setdefault(task.layer, {})[plat] = entry
    path = root / LOCKFILE
    entries = lockfile.kept_entries(path, replace) + entries_new
    platforms = sorted({p for lay in man["layers"].values() for p in lay})
    conda_channels = _channels(man, done)
    content_hash = {p: manifest.inputs_digest({lay: man["layers"][lay][p]["inputs"] for lay in man["layers"] if p in man["layers"][lay]})
                    for p in platforms}
    lockfile.write(path, prof.name, entries, conda_channels, platforms, content_hash, prof.path.name,
                   {"envkit_profile": prof.name, "envkit_manifest": manifest.MANIFEST})
    man["outputs"] = {LOCKFILE: manifest.file_sha256(path)}
    manifest.write(root, man)


def _failures_paragraph(failures: list[tuple[str, str, EnvkitError]]) -> str:
    """Many failed layers as one short paragraph: each distinct cause once, with the layers it stopped."""
    by_cause: dict[str, list[str]] = {}
    for lay, plat, exc in failures:
        # the same unreachable channel or index, whatever profile it stopped
        cause = re.sub(r"^Cannot lock the \w+ layer of profile '[^']+' for [\w-]+: ", "", exc.message)
        cause = re.sub(r"^uv could not lock the PyPI layer of profile '[^']+' for [\w-]+ ", "uv could not lock ", cause)
        cause = re.sub(r"(unreachable from this machine) \(.*\)$", r"\1", cause)  # the transport detail is in --debug
        profile = re.search(r"profile '([^']+)'", exc.message)
        by_cause.setdefault(cause[:300], []).append(f"{profile.group(1) + ' ' if profile else ''}{lay} {plat}")
    parts = [f"{', '.join(layers)}: {cause}" for cause, layers in by_cause.items()]
    return f"{len(failures)} layer(s) could not be locked. " + " ".join(f"({i}) {part}" for i, part in enumerate(parts, 1))


def lock_command(profile: "Profile", layer: str, platform: str) -> str:
    ref = profile.name if Path(profile.path).resolve().parent == builtin_dir().resolve() else str(profile.path)
    return f"envkit lock --profile {ref} --platform {platform} --layer {layer}"


def _note_missing(root: Path, prof: "Profile", failed: dict[tuple[str, str], EnvkitError]) -> None:
    """Record in the manifest every (layer, platform) of the profile that is not locked: why, and the command that locks it."""
    man = manifest.read(root)
    if man is None:
        root.mkdir(parents=True, exist_ok=True)
        man = manifest.empty(prof.name)
    before = man.get("missing", {})
    missing: dict[str, dict[str, Any]] = {}
    for lay in LAYERS:
        for plat in prof.platforms:
            if plat in man["layers"].get(lay, {}):
                continue
            exc = failed.get((lay, plat))
            if exc is not None:
                entry = {"kind": "unreachable" if isinstance(exc, Unreachable) else "failed", "why": exc.message}
            else:
                entry = before.get(lay, {}).get(plat) or {
                    "kind": "not-attempted", "why": f"no `envkit lock` run has locked the {lay} layer for {plat} yet"}
            missing.setdefault(lay, {})[plat] = {**entry, "lock_with": lock_command(prof, lay, plat)}
    man["missing"] = missing
    manifest.write(root, man)


def _channels(man: dict[str, Any], done: list[tuple[_Task, Any]]) -> list[str]:
    for plat_entry in man["layers"].get("conda", {}).values():
        return list(plat_entry["inputs"]["channels"])
    return list(done[0][0].channels)


# -- --check ----------------------------------------------------------------------------------


@dataclass
class LockCheck:
    """What `lock --check` found for one profile's lock directory."""

    profile: str
    root: Path
    stale: list[str] = field(default_factory=list)
    judged: list[tuple[str, str]] = field(default_factory=list)
    unlocked: list[str] = field(default_factory=list)  # missing but recorded unreachable, tolerated by skip_unreachable
    notes: list[str] = field(default_factory=list)  # tool versions that differ, and what re-resolving showed

    @property
    def ok(self) -> bool:
        return not self.stale


def check(
    profiles: list[str] | None = None,
    platforms: list[str] | None = None,
    layer: str = "all",
    channels: list[str] | None = None,
    exclude_newer: str | None = None,
    wheels: Path | None = None,
    out_dir: Path = Path("lockfiles"),
    skip_unreachable: bool = False,
    reresolve: bool = False,
    python: str | None = None,
) -> list[LockCheck]:
    """Judge every (layer, platform) the selection asks for: a missing one is named with its recorded
    reason and the command that locks it; a present one is compared with its inputs. No network.
    skip_unreachable: a layer the manifest records as unlockable because its index/channel was
    unreachable is reported in `unlocked` instead of failing (what this project's CI can check).
    A tool version (uv) that differs from the one that locked a layer is a note, never staleness:
    reresolve=True re-resolves each PyPI layer with today's uv (network) and calls it stale only
    when the packages differ."""
    layers = list(LAYERS) if layer == "all" else [layer]
    if any(l not in LAYERS for l in layers):
        raise EnvkitError(f"--layer {layer!r} is not a layer", fix="pass --layer conda, pypi or all")
    uv_ver: str | None = None
    results = []
    for prof, plats in _select(profiles, platforms, layers):
        root = out_dir / prof.name
        res = LockCheck(prof.name, root)
        results.append(res)
        man = manifest.read(root)
        if man is None:
            if profiles:
                res.stale.append(f"{root} has no {manifest.MANIFEST}: profile '{prof.name}' was never locked there")
            continue
        for name, sha in man.get("outputs", {}).items():
            if not (root / name).is_file() or manifest.file_sha256(root / name) != sha:
                res.stale.append(f"{root / name} was edited or removed after locking")
        for lay in layers:
            for plat in plats:
                if plat in man["layers"].get(lay, {}):
                    continue
                noted = man.get("missing", {}).get(lay, {}).get(plat) or {}
                line = (f"{lay} layer for {plat} is not locked ({noted.get('why') or 'no reason recorded'}); "
                        f"lock it with: {noted.get('lock_with') or lock_command(prof, lay, plat)}")
                (res.unlocked if skip_unreachable and noted.get("kind") == "unreachable" else res.stale).append(line)
            for plat, entry in sorted(man["layers"].get(lay, {}).items()):
                if plat not in plats and plat in prof.platforms:
                    continue
                res.judged.append((lay, plat))
                where = f"{lay} layer for {plat}"
                if plat not in prof.platforms:
                    res.stale.append(f"{where}: profile '{prof.name}' no longer targets {plat}")
                    continue
                old = manifest.inputs_of(entry)
                r = _resolve(prof, plat, python)
                date = pypi.normalize_date(exclude_newer or r.exclude_newer or old.get("exclude_newer", ""))
                edited = False
                if lay == "pypi":
                    hashes = pypi.wheel_hashes(wheels) if wheels is not None else old.get("wheels")
                    new = manifest.pypi_inputs(prof, r, date, hashes)
                    f = root / entry["file"]
                    if not f.is_file() or manifest.file_sha256(f) != entry.get("sha256"):
                        res.stale.append(f"{where}: {f} was edited or removed after locking")
                        edited = True
                else:
                    new = manifest.conda_inputs(prof, r, date, list(channels or r.conda["channels"]))
                ctx = {"profile": prof.name, "platform": plat, "path": str(prof.path),
                       "rows": ", ".join(f"{k} {v}" for k, v in manifest.matrix_keys(r))}
                changed = manifest.differences(old, new)
                for key in changed:
                    res.stale.append(f"{where}: {manifest.describe(key, old.get(key), new.get(key), **ctx)}")
                if lay != "pypi":
                    continue
                recorded_uv = manifest.tools_of(entry).get("uv")
                if uv_ver is None and (recorded_uv or reresolve):
                    uv_ver = pypi.uv_version()
                tool_moved = bool(recorded_uv) and recorded_uv != uv_ver
                if reresolve and not changed and not edited:
                    _reresolve(res, where, r, date, wheels, root / entry["file"], recorded_uv, uv_ver or "")
                elif tool_moved:
                    res.notes.append(f"{where}: locked with uv {recorded_uv}, this is uv {uv_ver}; a tool version is not "
                                     "an input (--resolve re-resolves with it and compares the packages)")
    return results


def _reresolve(res: LockCheck, where: str, r: "Resolved", date: str, wheels: Path | None, locked: Path,
               recorded_uv: str | None, uv_ver: str) -> None:
    """Lock again with today's uv into memory; stale only if the packages (versions, hashes) differ."""
    tool = f"uv {recorded_uv} -> {uv_ver}" if recorded_uv and recorded_uv != uv_ver else f"uv {uv_ver}"
    try:
        again = pypi.compile_platform(r, date, wheels)
    except EnvkitError as exc:
        res.stale.append(f"{where}: re-resolving with {tool} failed: {exc.message}")
        return
    diff = pypi.package_diff(locked.read_text(), again.requirements_txt)
    if diff:
        res.stale.append(f"{where}: {tool}, different packages: {'; '.join(diff[:8])}"
                         + (f" (and {len(diff) - 8} more)" if len(diff) > 8 else ""))
    else:
        res.notes.append(f"{where}: {tool}, same packages: fresh")


# -- reading, for `envkit setup --from-lock` -----------------------------------------------------


@dataclass(frozen=True)
class LockSet:
    """A profile's lockfiles. `pip_requirements[platform]`: uv requirements with hashes (install with
    `uv pip install --require-hashes -r`, plus `--find-links` from `find_links[platform]`)."""

    profile: str
    root: Path
    platforms: tuple[str, ...]
    manifest: dict[str, Any]
    lockfile: Any  # conda_lock.lockfile.v2prelim.models.Lockfile
    pip_requirements: dict[str, Path]
    find_links: dict[str, tuple[str, ...]]

    def layers(self, platform: str) -> list[str]:
        return [lay for lay in LAYERS if platform in self.manifest["layers"].get(lay, {})]

    def missing(self, layer: str, platform: str) -> dict[str, str]:
        """{kind, why, lock_with} for a layer this lock does not hold (a generic entry if none was recorded)."""
        return self.manifest.get("missing", {}).get(layer, {}).get(platform) or {
            "kind": "unknown", "why": "not recorded", "lock_with": f"envkit lock --profile {self.profile} --platform {platform} --layer {layer}"}

    def lerobot_sdist(self, platform: str) -> dict[str, str] | None:
        return self.manifest["layers"].get("pypi", {}).get(platform, {}).get("lerobot_sdist")

    def conda_records(self, platform: str, packages: Path | None = None) -> list[Any]:
        """rattler RepoDataRecords for `rattler.install` (empty when the conda layer is not locked).

        `packages`: a folder holding the locked package files (an unpacked bundle's conda/): each
        record then points at its file there, so the install reads no channel; a missing file is
        an EnvkitError naming it. The hashes stay the lock's, and rattler checks them."""
        extra = self.manifest["layers"].get("conda", {}).get(platform, {}).get("records", {})
        out = []
        for p in self.lockfile.package:
            if p.manager != "conda" or p.platform != platform:
                continue
            info = extra.get(p.name, {})
            subdir = p.url.rsplit("/", 2)[-2]
            url = p.url
            if packages is not None:
                local = Path(packages) / p.url.rsplit("/", 1)[-1]
                if not local.is_file():
                    raise EnvkitError(f"{packages} holds no {local.name}, which the lock lists for {platform}",
                                      fix="use the bundle envkit bundle made for this lock (envkit bundle --check lists what it holds)")
                url = local.absolute().as_uri()
            rec = CondaRecord(p.name, p.version, p.build or "", int(info.get("build_number", 0)), subdir, url,
                              p.hash.md5 or "", p.hash.sha256 or "",
                              tuple(f"{k} {v}".strip() for k, v in p.dependencies.items()),
                              info.get("noarch") or ("generic" if subdir == "noarch" else None))
            out.append(to_rattler(rec))
        return out

    def pip_packages(self, platform: str) -> list[Any]:
        return [p for p in self.lockfile.package if p.manager == "pip" and p.platform == platform]


def read_lock(profile_dir: Path) -> LockSet:
    """Read lockfiles/<profile>/ (conda-lock.yml through conda-lock's parser, manifest, pip files)."""
    root = Path(profile_dir)
    if not root.is_dir():  # not "lock profile <dir name>": the path is what is wrong
        raise EnvkitError(f"{root}: no such lock directory ({'it is a file' if root.exists() else 'it does not exist'})",
                          fix="pass the directory `envkit lock` wrote for the profile, e.g. --from-lock lockfiles/cpu")
    man = manifest.read(root)
    path = root / LOCKFILE
    if man is None or not path.is_file():
        raise EnvkitError(f"{root} holds no lock (conda-lock.yml and manifest.json)",
                          fix=f"lock it first: envkit lock --profile {root.name} --lockfiles {root.parent}")
    lock_data = lockfile.read_checked(path)
    pypi_layer = man["layers"].get("pypi", {})
    return LockSet(
        profile=man["profile"], root=root, platforms=tuple(lock_data.metadata.platforms), manifest=man, lockfile=lock_data,
        pip_requirements={plat: root / e["file"] for plat, e in sorted(pypi_layer.items())},
        find_links={plat: tuple(e.get("find_links", [])) for plat, e in sorted(pypi_layer.items())},
    )
