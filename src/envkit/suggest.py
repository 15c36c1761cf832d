"""Which profile fits a host: every visible profile's `[hardware.match]`, judged by its backend.

Visible profiles are the built-in ones plus the user's: files or directories given to
`envkit detect --profiles`, and those in ENVKIT_PROFILE_PATH (os.pathsep-separated). A profile
without a [hardware.match] table is never suggested by match; `FALLBACK` is the answer when
nothing matches. Ranking: the match that says most (most keys) wins; a user's profile wins a tie
over a built-in one (it is the more specific choice someone made for this hardware).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from envkit.accel import known
from envkit.accel.registry import get_backend
from envkit.accel.base import ARCH_OF_PLATFORM, ChoiceContext
from envkit.errors import EnvkitError
from envkit.hostfacts import PROFILE_CPU
from envkit.profiles import builtin_dir, load_profile

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    from envkit.hostfacts import HostFacts
    from envkit.profiles import Profile

FALLBACK = PROFILE_CPU  # the built-in profile every machine can run
PATH_VAR = "ENVKIT_PROFILE_PATH"


@dataclass(frozen=True)
class Suggestion:
    profile: str
    reason: str
    warnings: tuple[str, ...] = ()
    profile_file: str | None = None  # a user's profile: pass this to --profile


def _user_files(extra: list[str]) -> list[Path]:
    refs = list(extra) + [p for p in os.environ.get(PATH_VAR, "").split(os.pathsep) if p]
    files: list[Path] = []
    for ref in refs:
        path = Path(ref).expanduser()
        if path.is_dir():
            files += sorted(path.glob("*.toml"))
        elif path.is_file():
            files.append(path)
        else:
            raise EnvkitError(f"profile path {ref} does not exist", fix="pass a profile .toml file or a directory of them")
    return files


def visible_profiles(extra: list[str] | None = None, host: "HostFacts | None" = None) -> tuple[list["Profile"], list[str]]:
    """(built-in and user profiles that load, warnings naming user files that do not).

    With `host`, a profile that cannot be suggested there is not loaded at all (validating every
    profile costs more than detecting the host): one without [hardware.match] and without
    `extends`, or one whose accelerator the host does not have."""
    builtin = sorted(builtin_dir().glob("*.toml"))
    profiles = []
    warnings = []
    for path in [*builtin, *_user_files(extra or [])]:
        if host is not None and not _may_match(path, host):
            continue
        try:
            profiles.append(load_profile(str(path)))
        except EnvkitError as exc:
            if path in builtin:
                raise
            warnings.append(f"profile {path} was not considered: {exc.paragraph()}")
    return profiles, warnings


def _may_match(path: Path, host: "HostFacts") -> bool:
    """A cheap look at the file (no validation): False only when it surely cannot match."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return True  # loading it says what is wrong
    if raw.get("extends"):
        return True  # the match table or the accelerator may come from the parent
    hardware = raw.get("hardware")
    if not isinstance(hardware, dict) or "match" not in hardware:
        return False
    accelerator = raw.get("accelerator")
    return not (isinstance(accelerator, str) and known(accelerator) and not get_backend(accelerator).detected(host))


def suggest(host: "HostFacts", profiles: list["Profile"]) -> Suggestion:
    ranked = []
    for order, profile in enumerate(profiles):
        match = profile.hardware.get("match")
        if match is None:
            continue
        backend = get_backend(profile.accelerator, f"profile {profile.path}")
        reason = backend.matches(match, host)
        if reason is not None:
            ranked.append(((len(match), profile.user_file is not None, -order), profile, backend, reason))
    if not ranked:
        return Suggestion(FALLBACK, "no profile's [hardware.match] fits this host")
    _, profile, backend, reason = max(ranked, key=lambda r: r[0])
    warnings: tuple[str, ...] = ()
    if host.platform in profile.platforms:
        view = profile.for_platform(host.platform)
        python = ".".join(host.python.version.split(".")[:2]) if host.python.version else view.python  # the host's, as resolve would take
        ctx = ChoiceContext(view, host, ARCH_OF_PLATFORM[host.platform], python)
        warnings = tuple(f"profile {profile.name}: {w}" for w in backend.host_warnings(ctx, host))
    return Suggestion(profile.name, reason, warnings, profile.user_file)
