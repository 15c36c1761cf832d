"""Profile + host facts + lerobot source -> one exact tuple, or a conflict with the way out.

Pure: the lerobot source arrives as data (`envkit.source` reads a local tree's pyproject when it
is parsed). Every choice carries a reason, so `envkit resolve` can say why, and every conflict
names the way out. The accelerator is asked once, through its backend, for the torch build and
for its block of the tuple (what install needs); nothing here knows an accelerator by name.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from envkit.backends import get_backend
from envkit.backends.base import ARCH_OF_PLATFORM, LEGACY_BLOCK_KEYS, AcceleratorBlock, Context, TorchChoice
from envkit.errors import Conflict, EnvkitError
from envkit.source import LerobotSource, parse_source, ref_kind

if TYPE_CHECKING:
    from envkit.backends.base import Backend
    from envkit.hostfacts import HostFacts
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
        import hashlib

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
    from packaging.specifiers import SpecifierSet

    from envkit.compat import matrix

    m = matrix()
    spec = SpecifierSet(view.packages["torch"])
    return [v for v in m.torch_versions() if spec.contains(v, prereleases=True) and m.torch_python_ok(v, python)]


def _choose_torchvision(view: "Profile", torch: str) -> str:
    from packaging.specifiers import SpecifierSet

    from envkit.compat import matrix

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
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    from envkit.compat import matrix

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
    from envkit.compat import matrix

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
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    from envkit.compat import matrix
    from envkit.source import parse_project, project_version

    m = matrix()
    if source.kind == "path":
        assert source.pyproject is not None
        version = project_version(source.pyproject, source.pyproject_text)
        assert source.pyproject_text is not None  # read by parse_source
        data = parse_project(source.pyproject_text, source.pyproject)
        requires_python = data.get("project", {}).get("requires-python")
        if requires_python and not SpecifierSet(requires_python).contains(python + ".0", prereleases=True):
            raise Conflict(
                f"lerobot {version} at {source.pyproject} requires Python {requires_python}; profile '{view.name}' uses Python {python}",
                fix="use a lerobot release for this Python (0.4.4 is the newest for Python < 3.12), or a profile with Python >= 3.12",
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
            f"lerobot {version} requires Python {requires_python}; profile '{view.name}' uses Python {python}",
            fix="use lerobot <= 0.4.4 with this profile (0.5+ need Python >= 3.12), or a profile with python = \"3.12\"",
        )


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
    from envkit import pins

    if source.kind == "path":
        assert source.pyproject is not None and source.pyproject_text is not None
        text = source.pyproject_text
        plan = pins.plan_pyproject(text, targets, env, index_urls=index_urls, source_name=str(source.pyproject))
        return [c.to_dict() for c in plan.changes], list(plan.conflicts), plan
    return [c.to_dict() for c in pins.judge_requirements(requires, targets, env)], [], None


def _indexes(view: "Profile", choice: TorchChoice) -> list[dict[str, Any]]:
    from envkit.compat import matrix

    out = []
    for index in view.indexes:
        entry = {"name": index["name"], "url": index.get("url") or matrix().index_url(index["name"]),
                 "packages": list(index.get("packages", [])), "explicit": bool(index.get("explicit", True))}
        out.append(entry)
    if choice.index and not any(i["name"] == choice.index for i in out):
        out.append({"name": choice.index, "url": matrix().index_url(choice.index), "packages": ["torch", "torchvision"], "explicit": True})
    return out


def resolve(
    profile: "Profile",
    host: "HostFacts | None",
    source: LerobotSource | str | None = None,
    platform: str | None = None,
) -> Resolved:
    """Turn a profile's ranges into one exact tuple for its target platform.

    `host` is this machine's facts (or a --host file); it constrains the choice only when it is the
    profile's target platform and has the profile's accelerator, otherwise it yields warnings.
    """
    from envkit.compat import matrix
    from envkit.pins import overrides

    backend = get_backend(profile.accelerator, f"profile {profile.path}")  # the one lookup along resolve and setup
    platform, warnings = _choose_platform(profile, backend, host, platform)
    view = profile.for_platform(platform)
    arch = ARCH_OF_PLATFORM[platform]
    python = view.python
    if isinstance(source, str):
        source = parse_source(source)
    source = source or parse_source(view.lerobot["source"])
    if source.kind == "git" and source.ref and ref_kind(source.ref) == "branch":
        warnings.append(f"lerobot comes from git ref {source.ref!r}, a branch (allowed by --allow-branch): it moves, so this "
                        "environment cannot be rebuilt as it is; pin a commit to make it reproducible")

    target_host = host if host is not None and host.platform == platform and backend.detected(host) else None
    if host is not None:
        warnings += backend.host_warnings(Context(view, target_host, arch, python), host)
    ctx = Context(view, target_host, arch, python)

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
    extras = sorted(set(view.lerobot.get("extras", [])) | set(source.extras))
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
                 "patch": view.lerobot.get("patch"), "git": view.lerobot.get("git"), "pin_changes": pin_changes},
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
