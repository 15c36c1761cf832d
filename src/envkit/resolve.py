"""Profile + host facts + lerobot source -> one exact tuple, or a conflict with the way out.

Pure: the lerobot source arrives as data (`envkit.source` reads a local tree's pyproject when it
is parsed). Every choice carries a reason, so `envkit resolve` can say why, and every conflict
names the way out. The accelerator is asked once, through its backend, for the torch build and
for its block of the tuple (what install needs); nothing here knows an accelerator by name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from envkit import lerobot_meta, pins, pyversions
from envkit.accel.registry import get_backend
from envkit.accel.base import ARCH_OF_PLATFORM, LEGACY_BLOCK_KEYS, AcceleratorBlock, ChoiceContext, TorchChoice
from envkit.compat import matrix
from envkit.errors import Conflict, EnvkitError
from envkit.pins import overrides
from envkit.source import LerobotSource, parse_project, parse_source, project_version, ref_kind

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from envkit.accel.base import Backend
    from envkit.hostfacts import HostFacts
    from envkit.lerobot_meta import ExtrasOf
    from envkit.profiles import Profile

SCHEMA_VERSION = 1

__all__ = ["Conflict", "Resolved", "resolve", "marker_env_for"]


def marker_env_for(platform: str, python: str) -> dict[str, str]:
    """The PEP 508 environment of the target (not this host), for judging lerobot's markers."""
    arch = ARCH_OF_PLATFORM[platform]
    full = python if python.count(".") == 2 else python + ".0"
    return {
        "implementation_name": "cpython",
        "implementation_version": full,
        "os_name": "posix",
        "platform_machine": arch,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": full,
        "python_version": ".".join(python.split(".")[:2]),
        "sys_platform": "linux",
        "extra": "",
    }


@dataclass(frozen=True)
class Resolved:
    profile: str
    profile_version: int
    profile_digest: str
    platform: str
    arch: str
    accelerator: str
    python: str
    torch: dict[str, Any]
    torchvision: str
    torchcodec: str | None
    video_backend: str
    ffmpeg: dict[str, Any]
    accel: AcceleratorBlock  # the backend's block; its JSON keeps schema 1's "cuda"/"torch_npu" keys
    indexes: list[dict[str, Any]]
    lerobot: dict[str, Any]
    requirements: list[str]
    overrides: list[str]
    conda: dict[str, Any]
    env: dict[str, str]
    exclude_newer: str | None
    warnings: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION
    # For a lerobot tree: the pins plan behind `lerobot.pin_changes` (new text included), so
    # `envkit pins` and setup reuse it instead of planning the file again. Not part of the format.
    pin_plan: Any = field(default=None, compare=False, repr=False)
    pin_source_text: str | None = field(default=None, compare=False, repr=False)  # the text pin_plan judged

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        for key, value in asdict(self).items():
            if key == "pin_source_text":
                continue
            if key == "accel":
                data.update(self.accel.to_json())  # where schema 1 had its per-vendor keys: same JSON, same digests
            elif key not in ("schema_version", "pin_plan"):
                data[key] = value
        return data

    def __getattr__(self, name: str) -> Any:
        # Readers of schema 1's per-vendor attributes (resolved.cuda, resolved.torch_npu): the
        # block under that key, None when another backend resolved the tuple.
        if name.startswith("__"):
            raise AttributeError(name)
        accel = self.__dict__.get("accel")
        if accel is not None and name == accel.key:
            return accel.data
        if name in LEGACY_BLOCK_KEYS:
            return None
        raise AttributeError(f"'Resolved' object has no attribute {name!r}")

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def pin_targets(self) -> dict[str, str | None]:
        """The exact versions lerobot's pins must admit (what pins.py rewrites towards).

        torchcodec is None under the PyAV backend: a torchcodec requirement that applies on the
        target is then a conflict, not something to install silently.
        """
        return _targets(self.torch["version"], self.torchvision, self.torchcodec)

    def marker_env(self) -> dict[str, str]:
        return marker_env_for(self.platform, self.python)

    def index_urls(self) -> dict[str, str | None]:
        """package -> URL of the index it must come from (None: the default index)."""
        out: dict[str, str | None] = {name: None for name in self.pin_targets()}
        for index in self.indexes:
            for package in index.get("packages", []):
                out[package] = index.get("url")
        return out

    def digest(self) -> str:
        """Hash of the tuple that decides what gets installed (warnings and reasons excluded)."""
        data = self.to_dict()
        for key in ("warnings", "reasons"):
            data.pop(key)

        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _targets(torch: str, torchvision: str, torchcodec: str | None) -> dict[str, str | None]:
    return {"torch": torch, "torchvision": torchvision, "torchcodec": torchcodec}


def _choose_platform(profile: "Profile", backend: "Backend", host: "HostFacts | None", platform: str | None) -> tuple[str, list[str]]:
    if platform:
        if platform not in profile.platforms:
            raise EnvkitError(
                f"Profile '{profile.name}' does not target platform {platform}; it targets {', '.join(profile.platforms)}",
                fix=f"pass --platform {profile.platforms[0]} (or another of its platforms)",
            )
        return platform, []
    if host is not None and host.platform in profile.platforms and backend.detected(host):
        return host.platform, []
    chosen = profile.platforms[0]
    if host is None or host.platform == chosen:
        return chosen, []
    why = "is not a target of this profile" if host.platform not in profile.platforms else f"lacks the profile's accelerator ({profile.accelerator})"
    return chosen, [f"this host ({host.platform}) {why}: resolved for the profile's primary platform {chosen} (--platform picks another)"]


def _torch_candidates(view: "Profile", python: str) -> list[str]:
    m = matrix()
    spec = SpecifierSet(view.packages["torch"])
    return [v for v in m.torch_versions() if spec.contains(v, prereleases=True) and m.torch_python_ok(v, python)]


def _choose_torchvision(view: "Profile", torch: str) -> str:
    tv = matrix().torchvision_for(torch)
    spec = SpecifierSet(view.packages.get("torchvision", ""))
    if tv is None:
        raise Conflict(f"The matrix knows no torchvision built for torch {torch}", fix="choose a torch release the matrix lists (envkit resolve --json shows the reasons)")
    if not spec.contains(tv, prereleases=True):
        raise Conflict(
            f"torch {torch} pairs with torchvision {tv} (torchvision's own Requires-Dist), outside the profile's '{spec}'",
            fix=f"set packages.torchvision to admit {tv}, or change packages.torch",
        )
    return tv


def _choose_video(view: "Profile", torch: str, build: str, torchvision: str, arch: str, lerobot_version: str | None) -> tuple[str | None, int, list[str]]:
    """(torchcodec version or None, FFmpeg major, reasons)."""
    m = matrix()
    majors = sorted(view.ffmpeg["majors"])
    if view.video_backend == "pyav":
        ok, why = m.pyav_backend_ok(lerobot_version or "0.0", torchvision)
        if not ok:
            raise Conflict(why, fix="use torchvision <= 0.25 (torch <= 2.10) or the torchcodec backend")
        return None, majors[-1], [f"video: pyav (torchvision {torchvision} still has VideoReader); no torchcodec for this platform/torch"]
    spec = SpecifierSet(view.packages["torchcodec"])
    known = [v for v in m.torchcodec_versions() if spec.contains(v, prereleases=True)]
    # A cu13 torchcodec wheel does not load beside a cu12 torch: pass the build.
    usable = [v for v in m.torchcodec_for(torch, arch, build=build) if v in known]
    if not usable:
        why = [m.torchcodec_pairing(torch, v)[1] for v in known]
        builds = ", ".join(m.torchcodec_for(torch, arch)) or 'none exists, use video_backend = "pyav"'
        raise Conflict(
            f"No torchcodec in '{spec}' works with torch {torch} on {arch}: " + ("; ".join(dict.fromkeys(why)) or "the matrix lists none in that range"),
            fix=f"use a torchcodec built for torch {torch}: {builds}",
        )
    chosen = max(usable, key=Version)
    supported = set(m.torchcodec(chosen).ffmpeg)
    fit = [mj for mj in majors if mj in supported]
    if not fit:
        raise Conflict(
            f"torchcodec {chosen} loads FFmpeg {sorted(supported)}, none of the profile's ffmpeg.majors {majors}",
            fix=f"set ffmpeg.majors to one of {sorted(supported)}",
        )
    return chosen, fit[-1], [f"torchcodec {chosen}: newest in '{spec}' built for torch {torch}; loads FFmpeg {min(supported)}-{max(supported)}"]


def _system_ffmpeg(view: "Profile", torchcodec: str | None, chosen: int, host: "HostFacts | None") -> tuple[int, str]:
    """The system FFmpeg the target host really has (its libavutil soname), when it is one the profile and torchcodec allow."""
    m = matrix()
    allowed = [mj for mj in sorted(view.ffmpeg["majors"]) if torchcodec is None or mj in m.torchcodec(torchcodec).ffmpeg]
    if host is None:
        return chosen, f"system FFmpeg: any of majors {allowed} (the target host is not known here)"
    found = set(getattr(host, "system_ffmpeg", ()) or ())
    present = [mj for mj in allowed if f"libavutil.so.{m.ffmpeg_sonames(mj)['avutil']}" in found]
    if present:
        mj = present[-1]
        return mj, f"system FFmpeg {mj}: libavutil.so.{m.ffmpeg_sonames(mj)['avutil']} is installed on this host"
    if found:
        return chosen, (f"the host's FFmpeg ({', '.join(sorted(found))}) is none of the majors {allowed} torchcodec "
                        f"{torchcodec} loads here: install one of those")
    return chosen, f"no system FFmpeg on this host yet: setup installs the distribution's (any of majors {allowed})"


def _lerobot(view: "Profile", source: LerobotSource, python: str) -> tuple[str | None, list[str], list[str]]:
    """(version, its requirements as PEP 508 strings, reasons); checks lerobot's Python floor."""
    m = matrix()
    if source.kind == "path":
        assert source.pyproject is not None
        version = project_version(source.pyproject, source.pyproject_text)
        assert source.pyproject_text is not None  # read by parse_source
        data = parse_project(source.pyproject_text, source.pyproject)
        requires_python = data.get("project", {}).get("requires-python")
        if requires_python and not SpecifierSet(requires_python).contains(python + ".0", prereleases=True):
            raise Conflict(
                f"lerobot {version} at {source.pyproject} requires Python {requires_python}, not {python}",
                fix=f"pass --python with a version in {requires_python} (a conda profile has any; a venv needs it on the host), or a lerobot tree for Python {python}",
            )
        return version, [], [f"lerobot {version} from the tree at {source.path}"]
    if source.kind == "git":
        version = source.tag_version() or _version_of_commit(view, source)
        if version is None:
            return None, [], [f"lerobot from {source.url}@{source.ref}: version unknown until checkout; pins are judged at setup"]
        row = m.lerobot(version)
        _check_python(view, version, row.requires_python, python)
        return version, list(row.requires), [f"lerobot {version} from {source.url}@{source.ref}"]
    spec = SpecifierSet(source.specifier)
    versions = [v for v in m.lerobot_versions() if spec.contains(v)]
    if not versions:
        raise EnvkitError(
            f"No lerobot release known to envkit matches '{source.requirement}' (known: {', '.join(m.lerobot_versions())})",
            fix="pass an existing release, e.g. --lerobot lerobot==0.4.4",
        )
    fitting = [v for v in versions if m.lerobot(v).requires_python.contains(python + ".0", prereleases=True)]
    if not fitting:
        newest = max(versions, key=Version)
        _check_python(view, newest, m.lerobot(newest).requires_python, python)
    version = max(fitting, key=Version)
    return version, list(m.lerobot(version).requires), [f"lerobot {version}: newest release in '{source.specifier or 'any'}' for Python {python}"]


def _check_python(view: "Profile", version: str, requires_python: Any, python: str) -> None:
    if not requires_python.contains(python + ".0", prereleases=True):
        raise Conflict(
            f"lerobot {version} requires Python {requires_python}, not {python}",
            fix=f"pass --python with a version in {requires_python}, or --lerobot with a release for Python {python}",
        )


def _training_extras(source: LerobotSource, version: str | None, extras_of: "ExtrasOf") -> tuple[list[str], str]:
    """(the extras lerobot-train needs, why) from the release's own Provides-Extra."""
    if source.kind == "path":
        assert source.pyproject is not None and source.pyproject_text is not None
        provided: list[str] | None = lerobot_meta.from_pyproject(parse_project(source.pyproject_text, source.pyproject))
        where = f"the tree's [project.optional-dependencies] ({source.pyproject})"
    elif version is None:
        return [], "unknown until the checkout (the doctor's lerobot.requirements check names a missing one)"
    else:
        provided = extras_of(version)
        where = f"lerobot {version}'s metadata (Provides-Extra)"
    if provided is None:
        return [], (f"unknown: lerobot {version}'s metadata could not be read from the index (offline?); installed without "
                    "extras, the doctor's lerobot.requirements check names a missing one")
    needed = lerobot_meta.training_extras(provided)
    if needed:
        return needed, f"lerobot extras {needed}: {where} provides '{lerobot_meta.TRAINING_EXTRA}', what lerobot-train needs (datasets, video decoding, accelerate)"
    return [], f"no extra needed for training: {where} has no '{lerobot_meta.TRAINING_EXTRA}' extra (its base requirements train)"


def _patch_for(view: "Profile", version: str | None) -> tuple[str | None, str | None]:
    """The profile's patch is written against the profile's own lerobot release: another release from the index goes
    unpatched, said so (a tree or git source still gets it: a fork may be that release under another version)."""
    patch = view.lerobot.get("patch")
    own = view.lerobot.get("source", "")
    own_version = own.split("==", 1)[1] if own.startswith("lerobot==") else None
    if not patch or own_version is None or version is None or version == own_version:
        return patch, None
    return None, (f"envkit's patch {patch} is written for lerobot {own_version}; lerobot {version} is installed without it "
                  "(the doctor's smoke step shows whether it trains on this accelerator)")


def _version_of_commit(view: "Profile", source: LerobotSource) -> str | None:
    """The profile may say which release a pinned commit is (atlas-a2: 58f70b6 = v0.4.2)."""
    git = view.lerobot.get("git")
    profile_source = view.lerobot.get("source", "")
    if git and source.ref and git.endswith("@" + source.ref) and profile_source.startswith("lerobot=="):
        return profile_source.split("==", 1)[1]
    if git and source.ref and git.rpartition("@")[2].startswith(source.ref) and profile_source.startswith("lerobot=="):
        return profile_source.split("==", 1)[1]
    return None


def _pin_changes(source: LerobotSource, requires: list[str], targets: dict[str, str | None], env: dict[str, str],
                 index_urls: dict[str, str | None]) -> tuple[list[dict[str, Any]], list[str], Any]:
    """(changes, conflicts, the PinPlan for a tree or None)."""
    if source.kind == "path":
        assert source.pyproject is not None and source.pyproject_text is not None
        text = source.pyproject_text
        plan = pins.plan_pyproject(text, targets, env, index_urls=index_urls, source_name=str(source.pyproject))
        return [c.to_dict() for c in plan.changes], list(plan.conflicts), plan
    return [c.to_dict() for c in pins.judge_requirements(requires, targets, env)], [], None


def _indexes(view: "Profile", choice: TorchChoice) -> list[dict[str, Any]]:
    out = []
    for index in view.indexes:
        entry = {"name": index["name"], "url": index.get("url") or matrix().index_url(index["name"]),
                 "packages": list(index.get("packages", [])), "explicit": bool(index.get("explicit", True))}
        out.append(entry)
    if choice.index and not any(i["name"] == choice.index for i in out):
        out.append({"name": choice.index, "url": matrix().index_url(choice.index), "packages": ["torch", "torchvision"], "explicit": True})
    return out


def python_minors() -> tuple[str, ...]:
    """The Python minors any torch release in the matrix has wheels for (a profile's range is cut to these)."""
    m = matrix()
    return tuple(py for py in pyversions.KNOWN_MINORS if any(m.torch_python_ok(v, py) for v in m.torch_versions()))


def resolve(
    profile: "Profile",
    host: "HostFacts | None",
    source: LerobotSource | str | None = None,
    platform: str | None = None,
    python: str | None = None,
    pythons: "Mapping[str, str] | None" = None,
    extras_of: "ExtrasOf | None" = None,
) -> Resolved:
    """Turn a profile's ranges into one exact tuple for its target platform.

    `host` is this machine's facts (or a --host file); it constrains the choice only when it is the
    profile's target platform and has the profile's accelerator, otherwise it yields warnings.
    `python` is the user's --python (a minor); `pythons` the interpreters a venv can use on the
    target (minor -> path; None: not known, e.g. a plan for another machine). The Python is the
    first of the profile's (newest first for a range) that lerobot, the torch tuple and the
    accelerator's wheels all support; a venv also needs it on the host. `extras_of` gives a
    release's Provides-Extra (default: its METADATA from the cache or the index, envkit.lerobot_meta).
    """
    extras_of = extras_of or lerobot_meta.from_index
    backend = get_backend(profile.accelerator, f"profile {profile.path}")  # the one lookup along resolve and setup
    platform, warnings = _choose_platform(profile, backend, host, platform)
    view = profile.for_platform(platform)
    if isinstance(source, str):
        source = parse_source(source)
    source = source or parse_source(view.lerobot["source"])
    if source.kind == "git" and source.ref and ref_kind(source.ref) == "branch":
        warnings.append(f"lerobot comes from git ref {source.ref!r}, a branch (allowed by --allow-branch): it moves, so this "
                        "environment cannot be rebuilt as it is; pin a commit to make it reproducible")
    venv_pythons = pythons if view.environment == "venv" else None
    # Only the Pythons some torch in the profile's range has wheels for: the others need no reason each.
    allowed = [py for py in pyversions.candidates(view.python_value, python_minors()) if _torch_candidates(view, py)]
    if python:
        order = [python]
        if python not in allowed:
            warnings.append(f"--python {python} is outside the python of profile '{view.name}' ({view.python}): used as you asked")
    else:
        order = _venv_order(allowed, venv_pythons)
    tried: list[tuple[str, Conflict]] = []
    for py in order:
        try:
            resolved = _resolve_for(profile, backend, platform, list(warnings), source, py, host, extras_of)
        except Conflict as exc:
            tried.append((py, exc))
            continue
        why = _python_reason(view, py, python, venv_pythons, allowed, tried, resolved)
        return replace(resolved, reasons=[why, *resolved.reasons])
    raise _python_conflict(profile, backend, platform, source, host, view, python, allowed, venv_pythons, tried, extras_of)


def _present(pythons: "Mapping[str, str]", py: str) -> bool:
    """An interpreter the host has (not one uv would download); a lazy map is asked without uv."""
    present = getattr(pythons, "present", None)
    found = present(py) if present is not None else pythons.get(py)
    return bool(found) and found != pyversions.UV_DOWNLOAD


def _venv_order(allowed: list[str], pythons: "Mapping[str, str] | None") -> "Iterator[str]":
    """The Pythons to try, lazily: every one when the host is unknown; else the host's interpreters
    first, then (only when none of those fit) the ones uv would download."""
    if pythons is None:
        yield from allowed
        return
    yield from (py for py in allowed if _present(pythons, py))
    yield from (py for py in allowed if not _present(pythons, py) and pythons.get(py) == pyversions.UV_DOWNLOAD)


def _python_reason(view: "Profile", py: str, asked: str | None, venv_pythons: "Mapping[str, str] | None", allowed: list[str],
                   tried: list[tuple[str, Conflict]], resolved: Resolved) -> str:
    exe = venv_pythons.get(py) if venv_pythons is not None else None
    where = "conda provides it" if view.environment == "conda" else (
        "uv downloads it (UV_PYTHON_DOWNLOADS allows)" if exe == pyversions.UV_DOWNLOAD else
        f"{exe} on this host" if exe else f"a venv on the target's python{py}")
    if asked:
        head = f"Python {py}: --python {asked}"
    else:
        rule = "the newest" if not isinstance(view.python_value, list) else "the first"
        head = (f"Python {py}: {rule} of the profile's python ({view.python}"
                + (f"; on this host: {', '.join(_host_list(venv_pythons)) or 'none'}" if venv_pythons is not None else "")
                + f") that lerobot {resolved.lerobot['version'] or '(from its source)'}, torch {resolved.torch['version']} and the "
                f"{resolved.accelerator} wheels all support")
    skipped = "".join(f"; not {p}: {c.message}" for p, c in tried)
    return f"{head}; {where}{skipped}"


def _host_list(pythons: "Mapping[str, str]") -> list[str]:
    probed = getattr(pythons, "probed", None)
    return pyversions.newest_first(probed() if probed is not None else [p for p, e in pythons.items() if e != pyversions.UV_DOWNLOAD])


def _python_conflict(profile: "Profile", backend: "Backend", platform: str, source: LerobotSource, host: "HostFacts | None",
                     view: "Profile", asked: str | None, allowed: list[str], venv_pythons: "Mapping[str, str] | None",
                     tried: list[tuple[str, Conflict]], extras_of: "ExtrasOf") -> Conflict:
    """No Python fits: say why for each one tried, and the flags that would work (never "write another profile")."""
    if len(tried) == 1 and (asked or (venv_pythons is None and len(allowed) == 1)) and "--python" in tried[0][1].fix:
        return tried[0][1]
    ways: list[str] = []
    # The oldest Python that works: the likeliest to be packaged by the host's distribution.
    others = [py for py in reversed(pyversions.newest_first(list(python_minors()))) if py not in {p for p, _ in tried}
              and _torch_candidates(view, py)]
    for py in others:  # a Python this host lacks, or one outside the profile's list, that resolves
        if not _resolves(profile, backend, platform, source, py, host, extras_of):
            continue
        if venv_pythons is not None and not _present(venv_pythons, py):
            ways.append(f"install Python {py} (apt-get install python{py}-venv, or uv python install {py}) and pass --python {py}")
        else:
            ways.append(f"--python {py}")
        break
    if source.kind == "pypi":  # an older release that resolves on one of the Pythons this profile (and host) allows

        m = matrix()
        for py in [p for p, _ in tried]:
            fitting = [v for v in m.lerobot_versions() if m.lerobot(v).requires_python.contains(py + ".0", prereleases=True)]
            fitting = [v for v in sorted(fitting, key=Version, reverse=True) if f"lerobot=={v}" != source.requirement][:1]
            if fitting and _resolves(profile, backend, platform, parse_source(f"lerobot=={fitting[0]}"), py, host, extras_of):
                ways.append(f"--lerobot lerobot=={fitting[0]} (the newest release for Python {py})")
                break
    # The accelerator's own way out for the newest Python lerobot accepts (e.g. the CANN whose torch_npu has its wheel).
    ways += [c.fix for _, c in tried if "requires Python" not in c.message][:1]
    if not tried:
        have = ", ".join(_host_list(venv_pythons) if venv_pythons is not None else []) or "none"
        message = (f"profile '{view.name}' builds a venv on Python {view.python}, and this host has none of those "
                   f"(its Pythons: {have})")
    else:
        message = (f"No Python fits profile '{view.name}' (python {asked or view.python}): "
                   + "; ".join(f"Python {p}: {c.message}" for p, c in tried))
    fix = "; or ".join(dict.fromkeys(ways)) or (tried[0][1].fix if tried else "pass --python PATH with an interpreter of a version the profile allows")
    return Conflict(message, fix=fix)


def _resolves(profile: "Profile", backend: "Backend", platform: str, source: LerobotSource, python: str,
              host: "HostFacts | None", extras_of: "ExtrasOf") -> bool:
    try:
        _resolve_for(profile, backend, platform, [], source, python, host, extras_of)
    except (Conflict, EnvkitError):
        return False
    return True


def _resolve_for(profile: "Profile", backend: "Backend", platform: str, warnings: list[str], source: LerobotSource,
                 python: str, host: "HostFacts | None", extras_of: "ExtrasOf") -> Resolved:
    view = profile.for_platform(platform)
    arch = ARCH_OF_PLATFORM[platform]
    target_host = host if host is not None and host.platform == platform and backend.detected(host) else None
    if host is not None:
        warnings += backend.host_warnings(ChoiceContext(view, target_host, arch, python), host)
    ctx = ChoiceContext(view, target_host, arch, python)

    lerobot_version, requires, lerobot_reasons = _lerobot(view, source, python)
    choice = backend.choose_torch(ctx, _torch_candidates(view, python))
    torchvision = _choose_torchvision(view, choice.version)
    torchcodec, ffmpeg_major, video_reasons = _choose_video(view, choice.version, choice.build, torchvision, arch, lerobot_version)

    m = matrix()
    if view.ffmpeg.get("source") == "system":
        ffmpeg_major, said = _system_ffmpeg(view, torchcodec, ffmpeg_major, target_host)
        video_reasons.append(said)
    sonames = m.ffmpeg_sonames(ffmpeg_major)
    indexes = _indexes(view, choice)
    resolved_tv = f"{torchvision}+{choice.local}" if choice.local else torchvision
    targets = _targets(choice.version, torchvision, torchcodec)
    index_urls = {name: None for name in targets}
    for index in indexes:
        for package in index["packages"]:
            index_urls[package] = index["url"]
    env = marker_env_for(platform, python)
    pin_changes, pin_conflicts, pin_plan = _pin_changes(source, requires, targets, env, index_urls)
    if pin_conflicts:
        raise Conflict(
            f"lerobot's pyproject at {source.pyproject} cannot be made consistent with the tuple: " + "; ".join(pin_conflicts),
            fix=f"run 'envkit pins --profile {profile.name} --lerobot {source.path} --diff' to see the rewrite, or edit those entries by hand",
        )

    accel = backend.block(ctx, choice, torchvision)
    requirements = [choice.requirement, f"torchvision=={resolved_tv}"]
    if torchcodec:
        requirements.append(f"torchcodec=={torchcodec}")
    requirements += accel.resolved_requirements
    needed, extras_reason = _training_extras(source, lerobot_version, extras_of)
    if extras_reason.startswith("unknown"):
        warnings.append(f"lerobot {lerobot_version}'s extras are {extras_reason}")
    extras = sorted(set(view.lerobot.get("extras", [])) | set(source.extras) | set(needed))
    patch, patch_note = _patch_for(view, lerobot_version) if source.kind == "pypi" else (view.lerobot.get("patch"), None)
    if patch_note:
        warnings.append(patch_note)
    extra_text = f"[{','.join(extras)}]" if extras else ""
    if source.kind == "pypi":
        requirements.append(f"lerobot{extra_text}=={lerobot_version}")
    elif source.kind == "git":
        requirements.append(f"lerobot{extra_text} @ git+{source.url}@{source.ref}")
    else:
        requirements.append(f"lerobot{extra_text} @ {source.path.as_uri()}" if source.path else "lerobot")

    override_targets = dict(targets)
    override_targets["torch"] = choice.requirement.split("==", 1)[1]
    override_targets["torchvision"] = resolved_tv
    conda = view.conda
    conda_specs = [f"python {python}.*"]
    if view.ffmpeg.get("source") == "conda-forge":
        conda_specs.append(f"ffmpeg {ffmpeg_major}.*")
    env_vars = {**view.env, **accel.hooks.env}

    reasons = [*choice.reasons, f"torchvision {torchvision}: the release built for torch {choice.version}", *video_reasons,
               f"FFmpeg {ffmpeg_major} ({view.ffmpeg.get('source')}): libavutil.so.{sonames['avutil']}", *lerobot_reasons]
    reasons.append(extras_reason)
    if pin_changes:
        reasons.append("lerobot's pins exclude the tuple and must be widened: " + ", ".join(f"{c['package']} '{c['old']}' -> '{c['new']}'" for c in pin_changes))
    else:
        reasons.append("lerobot's pins already admit the tuple: no pin change")

    return Resolved(
        profile=view.name,
        profile_version=view.version,
        profile_digest=profile.digest(),
        platform=platform,
        arch=arch,
        accelerator=view.accelerator,
        python=python,
        torch={"version": choice.version, "build": choice.build, "local": choice.local, "index": choice.index,
               "arch_list": list(choice.arch_list), "ptx": list(choice.ptx)},
        torchvision=torchvision,
        torchcodec=torchcodec,
        video_backend=view.video_backend,
        ffmpeg={"major": ffmpeg_major, "source": view.ffmpeg.get("source"),
                "conda_spec": f"ffmpeg {ffmpeg_major}.*" if view.ffmpeg.get("source") == "conda-forge" else None,
                "majors_allowed": sorted(view.ffmpeg["majors"]), "avutil_soname": f"libavutil.so.{sonames['avutil']}"},
        accel=accel,
        indexes=indexes,
        lerobot={"source": source.to_dict(), "version": lerobot_version, "extras": extras,
                 "patch": patch, "git": view.lerobot.get("git"), "pin_changes": pin_changes},
        requirements=requirements,
        overrides=overrides(override_targets),
        conda={"channels": list(conda.get("channels", ["conda-forge"])), "specs": conda_specs,
               "virtual_packages": dict(conda.get("virtual_packages", {}))},
        env=env_vars,
        exclude_newer=view.lock.get("exclude_newer"),
        warnings=warnings,
        reasons=reasons,
        pin_plan=pin_plan,
        pin_source_text=source.pyproject_text if pin_plan is not None else None,
    )
